"""A small JSONPath subset for picking values out of MQTT payloads.

Supported: ``$`` (the document), ``.key``, ``['key']`` / ``["key"]`` (any text, with
``\\'``, ``\\"`` and ``\\\\`` as escapes), ``[0]`` and ``[-1]`` (array index). Nothing is
evaluated: a path compiles once into a tuple of steps, and ``get`` walks them. Filters,
wildcards and recursive descent are refused rather than half-supported, since a path that
silently selects something else would store wrong data.
"""

from __future__ import annotations

import re
from typing import Any, Final

# a dotted key stops where the next step or a quote begins; Korean and other text is fine
_DOT_KEY = re.compile(r"[^.\[\]'\"\s*?@()]+")
_INDEX = re.compile(r"-?\d+")


class _Missing:
    """The value of a path that leads nowhere (unlike JSON null, which is a value)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class JsonPathError(ValueError):
    """A path outside the supported subset; the message names the position."""


class JsonPath:
    """A compiled path; ``steps`` holds keys (str) and array indexes (int)."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str, steps: tuple[str | int, ...]) -> None:
        self.text = text
        self.steps = steps

    def get(self, doc: Any) -> Any:
        """The value at this path, or MISSING when a key, an index or the type along the
        way does not fit (a key step on a list or an index step on an object)."""
        node = doc
        for step in self.steps:
            if type(step) is str:
                if type(node) is not dict:
                    return MISSING
                node = node.get(step, MISSING)
                if node is MISSING:
                    return MISSING
            else:
                if type(node) is not list:
                    return MISSING
                try:
                    node = node[step]  # type: ignore[index]
                except IndexError:
                    return MISSING
        return node

    @property
    def first_key(self) -> str | None:
        """The top-level object key the path starts with, if any."""
        return self.steps[0] if self.steps and type(self.steps[0]) is str else None  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonPath) and other.steps == self.steps

    def __hash__(self) -> int:
        return hash(self.steps)


def key_path(key: str) -> JsonPath:
    """The path of one top-level key, written the way ``compile_path`` reads it back."""
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return JsonPath(f"$['{escaped}']", (key,))


def compile_path(text: str) -> JsonPath:
    """Parse ``text``; raises JsonPathError naming the first position it cannot read."""
    if not isinstance(text, str):
        raise JsonPathError(f"a JSON path must be text, got {type(text).__name__}")
    if not text.startswith("$"):
        raise JsonPathError(f"a JSON path starts with '$', got {text!r}")
    steps: list[str | int] = []
    pos = 1
    end = len(text)
    while pos < end:
        ch = text[pos]
        if ch == ".":
            if text.startswith("..", pos):
                raise JsonPathError(f"{text!r}: recursive descent '..' is not supported (position {pos})")
            m = _DOT_KEY.match(text, pos + 1)
            if m is None:
                raise JsonPathError(f"{text!r}: expected a key after '.' at position {pos}")
            steps.append(m.group())
            pos = m.end()
        elif ch == "[":
            pos = _bracket(text, pos, steps)
        else:
            raise JsonPathError(f"{text!r}: unexpected {ch!r} at position {pos}")
    return JsonPath(text, tuple(steps))


def _bracket(text: str, start: int, steps: list[str | int]) -> int:
    """Read one ``[...]`` step beginning at ``start``; returns the position after it."""
    pos = start + 1
    if pos < len(text) and text[pos] in "'\"":
        quote = text[pos]
        pos += 1
        chars: list[str] = []
        while True:
            if pos >= len(text):
                raise JsonPathError(f"{text!r}: unterminated quoted key starting at position {start}")
            ch = text[pos]
            if ch == "\\":
                if pos + 1 >= len(text) or text[pos + 1] not in "\\'\"":
                    raise JsonPathError(
                        f"{text!r}: only \\\\, \\' and \\\" are escapes in a quoted key (position {pos})"
                    )
                chars.append(text[pos + 1])
                pos += 2
            elif ch == quote:
                pos += 1
                break
            else:
                chars.append(ch)
                pos += 1
        steps.append("".join(chars))
    else:
        m = _INDEX.match(text, pos)
        if m is None:
            raise JsonPathError(
                f"{text!r}: expected an array index or a quoted key after '[' at position {start} "
                "(wildcards and filters are not supported)"
            )
        steps.append(int(m.group()))
        pos = m.end()
    if pos >= len(text) or text[pos] != "]":
        raise JsonPathError(f"{text!r}: expected ']' at position {pos}")
    return pos + 1
