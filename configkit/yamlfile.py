"""Reading a YAML settings file so that every problem names its key path and its line.

The collector's file, the assessor's file and the registry file are read through here:
``load_yaml`` (syntax errors with line and column), ``interpolate_env`` (``${VAR}`` and
``${VAR:-default}``), ``LineIndex`` (key path -> line) and ``pydantic_errors`` (one
``key.path: message (line N)`` per validation error).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

#: libyaml parses a 500-device file in well under a second; the pure-Python loader takes ~10 s
FAST_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KeyPath = tuple[str | int, ...]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# a validator's message that starts with a deeper key path ("registers[3].products: ...")
_PATH_PREFIX = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.*)$", re.S)


class ConfigFileError(Exception):
    """A settings file that cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


def key_path(path: KeyPath | list[str | int]) -> str:
    """``modbus.devices[0].registers[2].name`` from its parts."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def read_text(
    path: str | Path, error: type[ConfigFileError] = ConfigFileError, *, bom: bool = False
) -> str:
    """The file's text; ``error`` names an unreadable file or one that is not UTF-8.
    ``bom``: accept a byte order mark in front (Windows editors like to write one)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            str(path), [f"not UTF-8 text: {exc.reason} at byte {exc.start}; save the file as UTF-8"]
        ) from None


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """``line L, column C: not valid YAML: ...`` for a parser error."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"{where}not valid YAML: {getattr(exc, 'problem', None) or exc}"


def load_yaml(
    text: str, source: str, error: type[ConfigFileError] = ConfigFileError, loader: type = FAST_LOADER
) -> Any:
    """The document in ``text``; ``error`` names the line and column of a syntax error."""
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise error(source, [yaml_error_line(exc)]) from None


class LineIndex:
    """Key paths of a YAML text mapped to their 1-based line numbers."""

    def __init__(self, text: str, loader: type = yaml.SafeLoader):
        self.lines: dict[KeyPath, int] = {}
        try:
            root = yaml.compose(text, Loader=loader)
        except yaml.YAMLError:
            return
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: Any, path: KeyPath) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                self._walk(value, (*path, i))

    def line_of(self, path: KeyPath | list[str | int]) -> int | None:
        """The line of ``path``, else of the nearest enclosing key that has one."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None

    def at(self, path: KeyPath | list[str | int], message: str) -> str:
        """``key.path: message (line N)``."""
        line = self.line_of(path)
        suffix = f" (line {line})" if line is not None else ""
        return f"{key_path(path) or '(top level)'}: {message}{suffix}"


def interpolate_env(node: Any, env: Mapping[str, str], errors: list[str], path: KeyPath = ()) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in string values; an unset variable
    without a default is one line in ``errors``."""
    if isinstance(node, dict):
        return {k: interpolate_env(v, env, errors, (*path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_env(v, env, errors, (*path, i)) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(f"{key_path(path)}: environment variable {name} is not set and has no default")
        return ""

    return _ENV.sub(sub, node)


#: (pydantic error, key path) -> message, or None for the default message
Explain = Callable[[Mapping[str, Any], KeyPath], str | None]


def pydantic_error(err: Mapping[str, Any], lines: LineIndex, explain: Explain | None = None) -> str:
    """One validation error as ``key.path: message (line N)``. A message that starts with
    a deeper key path (``registers[3].products: ...``) is attached to that key."""
    loc = list(err["loc"])
    if "[key]" in loc:
        # a mapping's key was refused: name the key as written, not as a list index
        at = loc.index("[key]")
        loc = [*loc[: at - 1], str(loc[at - 1])]
    path: list[str | int] = [
        p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "json-"))
    ]
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    custom = explain(err, tuple(path)) if explain is not None else None
    if custom is not None:
        msg = custom
    elif err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    if (m := _PATH_PREFIX.match(msg)) is not None:
        extra = re.findall(r"[A-Za-z_]\w*|\[\d+\]", m.group(1))
        path += [int(p[1:-1]) if p.startswith("[") else p for p in extra]
        msg = m.group(2)
    return lines.at(path, msg)


def pydantic_errors(exc: ValidationError, lines: LineIndex, explain: Explain | None = None) -> list[str]:
    return [pydantic_error(e, lines, explain) for e in exc.errors()]
