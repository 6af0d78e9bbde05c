"""Read a collector YAML file: environment interpolation, validation, key-path errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from collector.config.model import CollectorConfig

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PATH_PREFIX = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.*)$", re.S)


# libyaml parses a 500-device file in well under a second; the pure-Python loader takes ~10 s
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(Exception):
    """A configuration that cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


def _join(path: list[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _interpolate(node: Any, env: Mapping[str, str], path: list[str | int], errors: list[str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in string values."""
    if isinstance(node, dict):
        return {k: _interpolate(v, env, [*path, str(k)], errors) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, [*path, i], errors) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        errors.append(f"{_join(path)}: environment variable {name} is not set and has no default")
        return ""

    return _ENV.sub(sub, node)


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map key paths to 1-based line numbers, so errors can point into the file."""
    index: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _format(err: Mapping[str, Any], lines: dict[tuple[str | int, ...], int]) -> str:
    loc = [p for p in err["loc"] if isinstance(p, int) or not str(p).startswith(("function-", "json-"))]
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    if (m := _PATH_PREFIX.match(msg)) is not None:
        extra = re.findall(r"[A-Za-z_]\w*|\[\d+\]", m.group(1))
        loc += [int(p[1:-1]) if p.startswith("[") else p for p in extra]
        msg = m.group(2)
    where = _join(loc) or "(top level)"
    line = None
    for n in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            break
    suffix = f" (line {line})" if line is not None else ""
    return f"{where}: {msg}{suffix}"


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> CollectorConfig:
    """Validate YAML text; raise ConfigError listing every problem by key path."""
    env = os.environ if env is None else env
    try:
        raw = yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(source, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(top level): expected a mapping of sections (site, influx, ...)"])
    errors: list[str] = []
    raw = _interpolate(raw, env, [], errors)
    if errors:
        raise ConfigError(source, errors)
    try:
        return CollectorConfig.model_validate(raw)
    except ValidationError as exc:
        lines = _line_index(text)
        raise ConfigError(source, [_format(e, lines) for e in exc.errors()]) from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> CollectorConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"not UTF-8 text: {exc.reason} at byte {exc.start}"]) from None
    return parse_config(text, str(path), env)
