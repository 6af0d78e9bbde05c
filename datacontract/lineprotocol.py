"""InfluxDB line protocol: escaping and encoding of single points.

Called for every sample, so the common case (plain ASCII names, no escapes) takes the
shortest path. Names (measurement, tag keys and values, field keys) must follow the data
contract's rule (datacontract.names, docs/data-model.md "Names"): the one `collector check`
applies, so a name the configuration accepted never fails here. What the rule refuses
raises ValueError here rather than reaching the server, where it would be rejected
(HTTP 400) or, worse, silently stored under a different name. The rule keeps well inside
what InfluxDB 1.6.7 can carry; docs/influxdb.md has the measured limits:

- A backslash directly before a character that needs escaping (comma, space, equals sign,
  double quote) or at the end of a name: the 1.x parser reads it as an escape, so the name
  comes back changed, or it throws the point away, or it joins the point with the next line.
  The rule refuses every backslash (no InfluxQL user can name them reliably either).
- A line break in any name or tag value (string field values may hold them). CR and NUL
  are carried, but InfluxQL cannot name them in a query afterwards; the rule refuses every
  control character.
- A measurement starting with ``#`` (the line is taken as a comment and dropped without an
  error), or a measurement or field key starting with a tab or NUL (stripped as whitespace).
- The key ``time`` for tags and fields, and series key + field key over 64 KiB (names of
  at most 256 characters cannot reach it; checked anyway, it costs a comparison).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from datacontract.names import field_key_problem, measurement_problem, tag_key_problem, tag_value_problem

FieldValue = bool | int | float | str

#: longest "series key" + "#!~#" + field key the 1.x storage engine accepts
MAX_KEY_BYTES = 65535
_FIELD_KEY_SEPARATOR_LEN = len("#!~#")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: 1.x refuses the two extreme int64 nanosecond values ("time outside range")
TIME_MIN_NS = INT64_MIN + 2
TIME_MAX_NS = INT64_MAX - 1

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _check(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} {text!r} is not valid Unicode text: {exc}") from None


def measurement_key(measurement: str) -> bytes:
    """The escaped measurement name."""
    _check(measurement_problem(measurement))
    if "," in measurement or " " in measurement:
        measurement = measurement.translate(_MEASUREMENT_ESCAPES)
    return measurement.encode()


def tag_key(key: str) -> bytes:
    """An escaped tag key."""
    _check(tag_key_problem(key))
    return _escape_key(key)


def tag_value(value: str) -> bytes:
    """An escaped tag value (must not be empty: leave the tag out instead)."""
    _check(tag_value_problem(value))
    return _escape_key(value)


def field_key(key: str) -> bytes:
    """An escaped field key; ``time`` and the contract's tag keys are reserved."""
    _check(field_key_problem(key))
    return _escape_key(key)


def _escape_key(text: str) -> bytes:
    # the name rule has refused unpaired surrogates: every name encodes
    if "," in text or "=" in text or " " in text:
        text = text.translate(_KEY_ESCAPES)
    return text.encode()


def series_prefix(measurement: str, tags: Mapping[str, str]) -> bytes:
    """``measurement,tag=value,...`` escaped, tags sorted by key (InfluxDB's canonical order,
    which saves the server a sort); tags with an empty value are left out."""
    parts = [measurement_key(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(tag_key(key) + b"=" + tag_value(value))
    return b",".join(parts)


def format_value(value: FieldValue) -> bytes:
    """A field value in line protocol: ``true``/``false``, ``123i``, a float that reads
    back bit for bit, or a quoted string."""
    kind = type(value)
    # exact type checks first: cheapest, and bool never passes for int here
    if kind is float:
        return _format_float(value)  # type: ignore[arg-type]
    if kind is int:
        return _format_int(value)  # type: ignore[arg-type]
    if kind is str:
        return _format_str(value)  # type: ignore[arg-type]
    if kind is bool:
        return b"true" if value else b"false"
    # subclasses (IntEnum, StrEnum, ...); bool before int, since bool is an int
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return _format_int(int(value))
    if isinstance(value, float):
        return _format_float(float(value))
    if isinstance(value, str):
        return _format_str(str(value))
    raise TypeError(f"unsupported field value type {kind.__name__}: {value!r}")


def _format_float(value: float) -> bytes:
    if not math.isfinite(value):
        raise ValueError(f"InfluxDB cannot store the float {value!r}")
    # repr is the shortest text that parses back to the same double; the server's
    # parser (Go's strconv.ParseFloat) accepts every form repr produces
    return repr(value).encode()


def _format_int(value: int) -> bytes:
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"integer {value} does not fit InfluxDB's signed 64-bit integers")
    return b"%di" % value


def _format_str(value: str) -> bytes:
    if "\\" in value or '"' in value:
        value = value.translate(_STRING_ESCAPES)
    return b'"' + _encode(value, "string field value") + b'"'


def encode_point(
    prefix: bytes,
    fields: Sequence[tuple[bytes, bytes]] | Sequence[tuple[str, FieldValue]],
    ts_ns: int,
) -> bytes:
    """One line of line protocol, without the trailing newline.

    ``prefix`` comes from series_prefix(). Each field is either (key, value) to be escaped
    and formatted here, or already encoded bytes from field_key() and format_value(), which
    lets a caller encode the fixed parts of a point once.
    """
    if not fields:
        raise ValueError("a point needs at least one field")
    if type(ts_ns) is not int:
        if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
            raise TypeError(f"timestamp must be an int of nanoseconds, got {ts_ns!r}")
        ts_ns = int(ts_ns)
    if not TIME_MIN_NS <= ts_ns <= TIME_MAX_NS:
        raise ValueError(f"timestamp {ts_ns} ns is outside InfluxDB's time range")
    keys: list[bytes] = []
    parts: list[bytes] = []
    for key, value in fields:
        k = key if type(key) is bytes else field_key(key)  # type: ignore[arg-type]
        v = value if type(value) is bytes else format_value(value)  # type: ignore[arg-type]
        keys.append(k)
        parts.append(k + b"=" + v)
    if len(keys) > 1 and len(set(keys)) != len(keys):
        raise ValueError(f"duplicate field keys in one point: {sorted(k.decode() for k in keys)}")
    longest = max(map(len, keys))
    if len(prefix) + _FIELD_KEY_SEPARATOR_LEN + longest > MAX_KEY_BYTES:
        raise ValueError(
            f"series key ({len(prefix)} bytes) plus field key ({longest} bytes) exceed "
            f"InfluxDB's {MAX_KEY_BYTES}-byte key limit"
        )
    return b"%s %s %d" % (prefix, b",".join(parts), ts_ns)


class SeriesEncoder:
    """Encodes points of one series whose field keys are known up front (a Modbus device):
    the series key and every ``key=`` are escaped and checked once, not per sample."""

    def __init__(self, prefix: bytes, field_keys: Iterable[str]) -> None:
        self.prefix = prefix
        self._keys = {k: field_key(k) + b"=" for k in field_keys}
        longest = max((len(k) - 1 for k in self._keys.values()), default=0)
        if len(prefix) + _FIELD_KEY_SEPARATOR_LEN + longest > MAX_KEY_BYTES:
            raise ValueError(f"series key plus field key exceed InfluxDB's {MAX_KEY_BYTES}-byte key limit")

    def encode(self, fields: Sequence[tuple[str, FieldValue]], ts_ns: int) -> bytes:
        """One line; ``fields`` must use the keys given at construction, each at most once."""
        if not fields:
            raise ValueError("a point needs at least one field")
        if not TIME_MIN_NS <= ts_ns <= TIME_MAX_NS:
            raise ValueError(f"timestamp {ts_ns} ns is outside InfluxDB's time range")
        keys = self._keys
        body = b",".join([keys[k] + format_value(v) for k, v in fields])
        return b"%s %s %d" % (self.prefix, body, ts_ns)
