"""Line protocol encoding, checked against a model of the InfluxDB 1.6.7 parser.

The model (scan_line, parse_line) follows what the server does as measured in
tests/datacontract/test_lineprotocol_roundtrip.py: a backslash and the character after it
form a pair wherever they are; names unescape only their own special characters; string
fields unescape ``\\\\`` and ``\\"``; and a line ends at a newline outside a string field,
where "inside a string" is tracked by counting ``=`` and ``,`` once past the first space.
"""

from __future__ import annotations

import enum
import math
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from datacontract import field_key_problem, measurement_problem, tag_key_problem, tag_value_problem
from datacontract.lineprotocol import (
    INT64_MAX,
    INT64_MIN,
    MAX_KEY_BYTES,
    TIME_MAX_NS,
    TIME_MIN_NS,
    SeriesEncoder,
    encode_point,
    field_key,
    format_value,
    measurement_key,
    series_prefix,
    tag_key,
    tag_value,
)

# -- a model of the server's parser ----------------------------------------------------


def scan_line(buf: bytes, i: int = 0) -> tuple[int, bytes]:
    """Where InfluxDB 1.x (models.scanLine) thinks the line starting at i ends."""
    start = i
    quoted = fields = False
    equals = commas = 0
    while i < len(buf):
        c = buf[i : i + 1]
        if c == b"\\" and i + 2 < len(buf):
            i += 2
            continue
        if c == b" ":
            fields = True
        if fields:
            if not quoted and c == b"=":
                i += 1
                equals += 1
                continue
            if not quoted and c == b",":
                i += 1
                commas += 1
                continue
            if c == b'"' and equals > commas:
                i += 1
                quoted = not quoted
                continue
        if c == b"\n" and not quoted:
            break
        i += 1
    return i, buf[start:i]


def _scan(buf: bytes, i: int, stops: bytes) -> tuple[bytes, int]:
    """Bytes from i up to the first unescaped stop character."""
    start = i
    while i < len(buf) and buf[i] not in stops:
        i += 2 if buf[i] == 0x5C else 1
    return buf[start:i], i


def _unescape(raw: bytes, specials: bytes) -> str:
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 1 < len(raw) and raw[i + 1] in specials:
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return out.decode()


def _value(raw: bytes) -> bool | int | float | str:
    if raw.startswith(b'"'):
        assert raw.endswith(b'"') and len(raw) >= 2
        return _unescape(raw[1:-1], b'\\"')
    if raw in (b"true", b"false"):
        return raw == b"true"
    if raw.endswith(b"i"):
        return int(raw[:-1])
    return float(raw)


def parse_line(line: bytes) -> tuple[str, dict[str, str], list[tuple[str, object]], int]:
    raw_name, i = _scan(line, 0, b", ")
    measurement = _unescape(raw_name, b', ="')
    tags: dict[str, str] = {}
    while i < len(line) and line[i : i + 1] == b",":
        raw_key, i = _scan(line, i + 1, b"=")
        raw_val, i = _scan(line, i + 1, b", ")
        tags[_unescape(raw_key, b",= ")] = _unescape(raw_val, b",= ")
    assert line[i : i + 1] == b" ", line
    i += 1
    fields: list[tuple[str, object]] = []
    while True:
        raw_key, i = _scan(line, i, b"=")
        i += 1
        if line[i : i + 1] == b'"':
            j = i + 1
            while line[j : j + 1] != b'"':
                j += 2 if line[j] == 0x5C else 1
            raw_val, i = line[i : j + 1], j + 1
        else:
            raw_val, i = _scan(line, i, b", ")
        fields.append((_unescape(raw_key, b',= "'), _value(raw_val)))
        if line[i : i + 1] != b",":
            break
        i += 1
    assert line[i : i + 1] == b" ", line
    return measurement, tags, fields, int(line[i + 1 :])


def same_value(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)  # type: ignore[arg-type]
    return a == b


# -- what the protocol can carry (the rules docs/influxdb.md states) -----------------------


def carryable(name: str) -> bool:
    if not name or name.endswith("\\") or any(c in name for c in "\n\r\x00"):
        return False
    return not any(name[i] == "\\" and name[i + 1] in ',= "' for i in range(len(name) - 1))


def carryable_measurement(name: str) -> bool:
    return carryable(name) and not name.startswith(("#", "\t", "\x00"))


def carryable_field_key(name: str) -> bool:
    return carryable(name) and name != "time" and not name.startswith(("\t", "\x00"))


def carryable_tag_key(name: str) -> bool:
    return carryable(name) and name != "time"


# -- what the encoder takes: the data contract's rule, inside what the protocol can carry ----


def allowed_prefix(measurement: str, tags: dict[str, str]) -> bool:
    ok = measurement_problem(measurement) is None and all(
        tag_key_problem(k) is None and tag_value_problem(v) is None for k, v in tags.items() if v
    )
    if ok:  # the rule never allows what the protocol cannot carry
        assert carryable_measurement(measurement)
        assert all(carryable_tag_key(k) and carryable(v) for k, v in tags.items() if v)
    return ok


def allowed_field_key(name: str) -> bool:
    ok = field_key_problem(name) is None
    if ok:
        assert carryable_field_key(name)
    return ok


# the characters that matter, plus some ordinary and non-ASCII ones
hostile = st.text(
    alphabet=st.sampled_from(list(',= "\\\n\t\r\x00#ab설비')), min_size=0, max_size=8
) | st.just("time")
any_text = st.text(max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)
values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    finite,
    st.text(alphabet=st.sampled_from(list(',= "\\\n\t\r#a설')), max_size=8),
    any_text,
)


@given(hostile | any_text, st.dictionaries(hostile, hostile, max_size=3))
@example("a,b c", {"k=1": 'v,2 "x"'})
@example("a\\b", {"a\\b": "c\\d"})
def test_series_prefix_round_trips_or_refuses(measurement: str, tags: dict[str, str]) -> None:
    expected_ok = allowed_prefix(measurement, tags)
    try:
        prefix = series_prefix(measurement, tags)
    except ValueError:
        assert not expected_ok
        return
    assert expected_ok
    line = encode_point(prefix, [("f", 1)], 1)
    name, got_tags, _, _ = parse_line(line)
    assert name == measurement
    assert got_tags == {k: v for k, v in tags.items() if v}
    assert list(got_tags) == sorted(got_tags)


@given(st.lists(st.tuples(hostile | any_text, values), min_size=1, max_size=4))
@example([("a=b", 'say "hi"\\'), ("c d", 1.0)])
@example([("x", "line\nbreak"), ("y", -0.0)])
def test_fields_round_trip_or_refuse(fields: list[tuple[str, object]]) -> None:
    keys = [k for k, _ in fields]
    expected_ok = all(allowed_field_key(k) for k in keys) and len(set(keys)) == len(keys)
    try:
        line = encode_point(b"m", fields, 123)  # type: ignore[arg-type]
    except ValueError:
        assert not expected_ok
        return
    assert expected_ok
    _, _, got, ts = parse_line(line)
    assert ts == 123
    assert [k for k, _ in got] == keys
    for (_, want), (_, have) in zip(fields, got, strict=True):
        assert same_value(want, have), (want, have)


@given(
    hostile | any_text,
    st.dictionaries(hostile, hostile, max_size=2),
    st.lists(st.tuples(hostile | any_text, values), min_size=1, max_size=3),
)
def test_a_line_never_runs_into_the_next(
    measurement: str, tags: dict[str, str], fields: list[tuple[str, object]]
) -> None:
    """The server finds line ends before parsing; a quote or backslash that confused
    that would join two points into one (seen with unguarded names on 1.6.7)."""
    try:
        line = encode_point(series_prefix(measurement, tags), fields, 5)  # type: ignore[arg-type]
    except ValueError:
        return
    other = b"next f=1i 2"
    body = line + b"\n" + other
    end, first = scan_line(body)
    assert first == line
    assert scan_line(body, end + 1)[1] == other


# -- values ------------------------------------------------------------------------------


@given(finite)
@example(-0.0)
@example(1e300)
@example(5e-324)
@example(1.7976931348623157e308)
def test_floats_are_exact(x: float) -> None:
    text = format_value(x)
    back = float(text)
    assert struct.pack("<d", back) == struct.pack("<d", x)
    assert not text.endswith(b"i")


def test_float_spellings() -> None:
    assert format_value(-0.0) == b"-0.0"
    assert format_value(1e300) == b"1e+300"
    assert format_value(2.0) == b"2.0"  # stays a float field, not an integer
    assert format_value(0.1) == b"0.1"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="cannot store"):
        format_value(bad)


def test_bool_is_checked_before_int() -> None:
    assert format_value(True) == b"true"
    assert format_value(False) == b"false"
    assert format_value(1) == b"1i"
    assert format_value(0) == b"0i"


def test_int_range() -> None:
    assert format_value(2**63 - 1) == b"9223372036854775807i"
    assert format_value(-(2**63)) == b"-9223372036854775808i"
    for bad in (2**63, -(2**63) - 1):
        with pytest.raises(ValueError, match="64-bit"):
            format_value(bad)


def test_enum_subclasses() -> None:
    class Code(enum.IntEnum):
        RUN = 3

    class State(enum.StrEnum):
        IDLE = "idle"

    class Flag(enum.IntFlag):
        A = 1

    assert format_value(Code.RUN) == b"3i"
    assert format_value(State.IDLE) == b'"idle"'
    assert format_value(Flag.A) == b"1i"


def test_strings() -> None:
    assert format_value('a"b\\c') == b'"a\\"b\\\\c"'
    assert format_value("two\nlines") == b'"two\nlines"'
    assert format_value("설비 가동") == '"설비 가동"'.encode()
    assert format_value("") == b'""'


def test_unsupported_type() -> None:
    with pytest.raises(TypeError):
        format_value(b"raw")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_value(None)  # type: ignore[arg-type]


def test_lone_surrogate_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid Unicode"):
        format_value("\ud800")


# -- names -------------------------------------------------------------------------------


def test_series_prefix_sorts_and_skips_empty_tags() -> None:
    prefix = series_prefix("machine_data", {"machine": "m 1", "factory": "f,1", "line": ""})
    assert prefix == b"machine_data,factory=f\\,1,machine=m\\ 1"


def test_escaping_per_context() -> None:
    assert measurement_key('a,b c=d"e') == b'a\\,b\\ c=d"e'
    assert tag_key("a,b c=d") == b"a\\,b\\ c\\=d"
    assert tag_value("a,b c=d") == b"a\\,b\\ c\\=d"
    assert field_key("a,b c=d") == b"a\\,b\\ c\\=d"
    assert field_key("온도") == "온도".encode()
    # the protocol would carry a lone backslash; the contract refuses it (datacontract.names)
    with pytest.raises(ValueError, match="backslash"):
        field_key("a\\b")


@pytest.mark.parametrize(
    ("func", "name", "match"),
    [
        (measurement_key, "", "empty"),
        (measurement_key, "a\nb", "line break"),
        (measurement_key, "a\\", "backslash"),
        (measurement_key, "a\\,b", "backslash"),
        (measurement_key, "a\\ b", "backslash"),
        (measurement_key, "a\\=b", "backslash"),
        (measurement_key, 'a\\"b', "backslash"),
        (measurement_key, "#m", "comment"),
        (measurement_key, "\tm", "control characters"),
        (tag_key, "time", "reserved"),
        (tag_key, "k\\", "backslash"),
        (tag_value, "v\n", "line break"),
        (tag_value, "v\rw", "control characters"),
        (field_key, "f\x00", "control characters"),
        (tag_value, "v\\", "backslash"),
        (tag_value, "v\\=w", "backslash"),
        (field_key, "time", "reserved"),
        (field_key, "\tf", "control characters"),
        (field_key, "factory", "reserved"),
        (field_key, "machine", "reserved"),
        (tag_value, " v", "blanks"),
        (tag_value, "v" * 257, "at most 256"),
        (field_key, "f\\", "backslash"),
        (field_key, 'f\\"', "backslash"),
    ],
)
def test_uncarryable_names_refused(func, name: str, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        func(name)


def test_series_prefix_checks_tags() -> None:
    with pytest.raises(ValueError, match="line break"):
        series_prefix("m", {"machine": "a\nb"})


# -- points ------------------------------------------------------------------------------


def test_encode_point_both_field_forms() -> None:
    prefix = series_prefix("m", {"t": "x"})
    plain = encode_point(prefix, [("temp", 21.5), ("count", 3), ("ok", True), ("s", "a b")], 7)
    assert plain == b'm,t=x temp=21.5,count=3i,ok=true,s="a b" 7'
    encoded = [(field_key("temp"), format_value(21.5)), (b"count", b"3i")]
    assert encode_point(prefix, encoded, 7) == b"m,t=x temp=21.5,count=3i 7"
    mixed = [(b"temp", 21.5), ("count", b"3i")]
    assert encode_point(prefix, mixed, 7) == b"m,t=x temp=21.5,count=3i 7"  # type: ignore[arg-type]


def test_encode_point_refusals() -> None:
    with pytest.raises(ValueError, match="at least one field"):
        encode_point(b"m", [], 1)
    with pytest.raises(ValueError, match="duplicate"):
        encode_point(b"m", [("a", 1), ("a", 2)], 1)
    with pytest.raises(ValueError, match="time range"):
        encode_point(b"m", [("a", 1)], TIME_MAX_NS + 1)
    with pytest.raises(ValueError, match="time range"):
        encode_point(b"m", [("a", 1)], TIME_MIN_NS - 1)
    with pytest.raises(TypeError):
        encode_point(b"m", [("a", 1)], 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_point(b"m", [("a", 1)], True)
    with pytest.raises(ValueError, match="key limit"):
        encode_point(b"m,t=" + b"x" * 65526, [("ff", 1)], 1)
    assert encode_point(b"m,t=" + b"x" * 65526, [("f", 1)], 1)
    assert encode_point(b"m", [("a", 1)], TIME_MIN_NS).endswith(b" -9223372036854775806")


# -- limits and the per-device encoder ---------------------------------------------------------


def test_time_range_is_int64_without_its_two_extremes() -> None:
    """1.x refuses INT64_MIN, INT64_MIN + 1 and INT64_MAX as times ("time outside range")."""
    prefix = series_prefix("m", {})
    for ts in (INT64_MIN + 2, INT64_MAX - 1):
        assert encode_point(prefix, [("v", 1)], ts).endswith(b" %d" % ts)
    for ts in (INT64_MIN + 1, INT64_MAX):
        with pytest.raises(ValueError, match="time range"):
            encode_point(prefix, [("v", 1)], ts)


@pytest.mark.parametrize(("name", "key"), [("a,b", b"a\\,b"), ("a b", b"a\\ b"), ("a, b", b"a\\,\\ b")])
def test_measurement_comma_or_space_alone_is_escaped(name: str, key: bytes) -> None:
    assert measurement_key(name) == key


field_values = st.one_of(
    st.booleans(),
    st.integers(INT64_MIN, INT64_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8),
)


@given(
    fields=st.dictionaries(st.sampled_from(["state", "count total", "t,x", "v=1"]), field_values, min_size=1),
    ts=st.integers(TIME_MIN_NS, TIME_MAX_NS),
)
def test_series_encoder_writes_what_encode_point_writes(fields: dict[str, object], ts: int) -> None:
    prefix = series_prefix("machine_data", {"machine": "press 01"})
    encoder = SeriesEncoder(prefix, ["state", "count total", "t,x", "v=1"])
    assert encoder.encode(list(fields.items()), ts) == encode_point(prefix, list(fields.items()), ts)


def test_series_encoder_refusals() -> None:
    prefix = series_prefix("m", {"machine": "a"})
    encoder = SeriesEncoder(prefix, ["v"])
    with pytest.raises(ValueError, match="at least one field"):
        encoder.encode([], 1)
    for ts in (INT64_MAX, INT64_MIN + 1):
        with pytest.raises(ValueError, match="time range"):
            encoder.encode([("v", 1)], ts)
    # the key limit counts the series key, "#!~#" and the longest field key
    long_prefix = b"m,t=" + b"v" * (MAX_KEY_BYTES - len("m,t=") - len("#!~#") - 10)
    SeriesEncoder(long_prefix, ["v", "k" * 10])
    with pytest.raises(ValueError, match="key limit"):
        SeriesEncoder(long_prefix, ["v", "k" * 11])
