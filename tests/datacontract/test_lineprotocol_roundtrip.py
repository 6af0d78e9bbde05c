"""Hostile names and values go through the v1 sink into the real influxd 1.6.7 and come
back exactly through /query; what the encoder refuses is shown to be really uncarryable."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from collector.influx.config import InfluxConfig
from collector.influx.sink_v1 import V1Sink
from datacontract.lineprotocol import (
    encode_point,
    field_key,
    measurement_key,
    series_prefix,
    tag_key,
    tag_value,
)
from localservices.influxd import InfluxServer, InfluxServerError, quote_ident

#: names the data contract allows (datacontract.names) that still need escaping or quoting
HOSTILE_NAMES = [
    "a,b",
    "a b",
    'a"b',
    "a=b",
    "it's",
    "설비 온도",
    '라인,1=A "B"',
    'x,y=z "q"',
    "#not-first",
    "=",
    ",",
    '"',
]

#: names line protocol carries but the data contract refuses (no InfluxQL user, registry
#: id or YAML author handles them reliably); string values carry them
REFUSED_BUT_CARRIED = [
    "a\\b",
    "a\\\\b",
    "a\\nb",  # backslash and the letter n, not a line break
    "\\lead",
    " lead",
    "trail ",
    "tab\tinside",
    'x,y=z "q" \\w',
]

STRING_VALUES = [
    *HOSTILE_NAMES,
    *REFUSED_BUT_CARRIED,
    "",
    "trailing\\",
    "\\",
    "\\\\",
    'end"',
    '\\"',
    "line\nbreak",
    "\n",
    "two\n\nbreaks\n",
    "backslash\\\nnewline",
    "crlf\r\n",
    "tab\t",
    "cr\rinside",
    "nul\x00inside",
    "가동 중\n정지",
    "x" * 5000,
]


def write(server: InfluxServer, db: str, lines: Sequence[bytes]) -> None:
    async def go() -> None:
        sink = V1Sink(InfluxConfig(url=server.url, database=db))
        try:
            response = await sink.write(b"\n".join(lines))
        finally:
            await sink.close()
        assert response.status == 204, response

    asyncio.run(go())


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_tag_values(influxd: InfluxServer, influx_db: str) -> None:
    lines = [
        encode_point(series_prefix("m", {"t": v}), [("idx", i)], i + 1)
        for i, v in enumerate(HOSTILE_NAMES)
    ]
    write(influxd, influx_db, lines)
    got = {row["idx"]: row["t"] for row in influxd.points("m", influx_db)}
    assert got == dict(enumerate(HOSTILE_NAMES))


def test_tag_keys(influxd: InfluxServer, influx_db: str) -> None:
    lines = [
        encode_point(series_prefix("m", {k: "v"}), [("idx", i)], i + 1)
        for i, k in enumerate(HOSTILE_NAMES)
    ]
    write(influxd, influx_db, lines)
    keys = {row[0] for row in influxd._rows(influxd.query("SHOW TAG KEYS FROM m", influx_db))}
    assert keys == set(HOSTILE_NAMES)
    for row in influxd.points("m", influx_db):
        carried = [k for k in HOSTILE_NAMES if row.get(k) == "v"]
        assert carried == [HOSTILE_NAMES[row["idx"]]]


def test_field_keys(influxd: InfluxServer, influx_db: str) -> None:
    lines = [
        encode_point(b"m", [("idx", i), (k, i * 10)], i + 1)
        for i, k in enumerate(HOSTILE_NAMES)
        if k != "idx"
    ]
    write(influxd, influx_db, lines)
    assert influxd.field_types("m", influx_db) == dict.fromkeys([*HOSTILE_NAMES, "idx"], "integer")
    for row in influxd.points("m", influx_db):
        assert row[HOSTILE_NAMES[row["idx"]]] == row["idx"] * 10


def test_measurements(influxd: InfluxServer, influx_db: str) -> None:
    names = [n for n in HOSTILE_NAMES if not n.startswith("#")] + ["ok#", "설비"]
    lines = [
        encode_point(series_prefix(n, {"machine": "m1"}), [("idx", i)], i + 1)
        for i, n in enumerate(names)
    ]
    write(influxd, influx_db, lines)
    assert sorted(influxd.measurements(influx_db)) == sorted(names)
    for i, n in enumerate(names):
        # also reachable by name through an InfluxQL quoted identifier
        assert [r["idx"] for r in influxd.points(n, influx_db)] == [i]


def test_string_values(influxd: InfluxServer, influx_db: str) -> None:
    lines = [encode_point(b"m", [("idx", i), ("s", v)], i + 1) for i, v in enumerate(STRING_VALUES)]
    write(influxd, influx_db, lines)
    got = {row["idx"]: row["s"] for row in influxd.points("m", influx_db)}
    assert got == dict(enumerate(STRING_VALUES))


def test_numbers_keep_type_and_bits(influxd: InfluxServer, influx_db: str) -> None:
    floats = [
        -0.0,
        0.0,
        1e300,
        -1e-300,
        5e-324,
        1.7976931348623157e308,
        0.1,
        1 / 3,
        2.0**53 + 2,
        123456789012.0,
        1e21,
    ]
    ints = [0, -1, 2**63 - 1, -(2**63), 2**53 + 1]
    lines = [encode_point(b"f", [("x", v)], i + 1) for i, v in enumerate(floats)]
    lines += [encode_point(b"i", [("x", v)], i + 1) for i, v in enumerate(ints)]
    lines += [encode_point(b"b", [("x", v)], i + 1) for i, v in enumerate([True, False])]
    write(influxd, influx_db, lines)
    assert influxd.field_types("f", influx_db) == {"x": "float"}
    assert influxd.field_types("i", influx_db) == {"x": "integer"}
    assert influxd.field_types("b", influx_db) == {"x": "boolean"}
    got_f = [float(r["x"]) for r in influxd.points("f", influx_db)]
    assert [bits(x) for x in got_f] == [bits(x) for x in floats]
    assert [r["x"] for r in influxd.points("i", influx_db)] == ints
    assert [r["x"] for r in influxd.points("b", influx_db)] == [True, False]


def test_float_field_stays_float_for_whole_numbers(influxd: InfluxServer, influx_db: str) -> None:
    write(influxd, influx_db, [encode_point(b"m", [("v", 1.0), ("n", 1)], 1)])
    # 2.0 looks like an integer; written as "2.0" it does not conflict with the float field
    write(influxd, influx_db, [encode_point(b"m", [("v", 2.0), ("n", 2)], 2)])
    assert influxd.field_types("m", influx_db) == {"v": "float", "n": "integer"}
    rows = influxd.points("m", influx_db)
    assert [(float(r["v"]), r["n"]) for r in rows] == [(1.0, 1), (2.0, 2)]


# -- the limits are real ---------------------------------------------------------------------

# What a naive encoder (escape only the listed characters) would send for names the encoder
# refuses; on 1.6.7 each is refused or, worse, stored under another name.
NAIVE = {
    "measurement": lambda n: n.replace(",", "\\,").replace(" ", "\\ "),
    "key": lambda n: n.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ "),
}

UNCARRYABLE = [
    ("measurement", "trailing\\"),
    ("measurement", "a\\,b"),
    ("measurement", "a\\ b"),
    ("measurement", "a\\=b"),
    ("measurement", 'a\\"b'),
    ("measurement", "#comment"),
    ("measurement", "\tlead"),
    ("measurement", "a\nb"),
    ("tag_value", "trailing\\"),
    ("tag_value", "a\nb"),
    ("tag_key", "trailing\\"),
    ("tag_key", "time"),
    ("field_key", "trailing\\"),
    ("field_key", "a\\,b"),
    ("field_key", "a\\=b"),
    ("field_key", 'a\\"b'),
    ("field_key", "\tlead"),
    ("field_key", "time"),
    ("field_key", "a\nb"),
]


@pytest.mark.parametrize(("context", "name"), UNCARRYABLE)
def test_refused_names_really_do_not_round_trip(
    influxd: InfluxServer, influx_db: str, context: str, name: str
) -> None:
    encoder = {
        "measurement": measurement_key,
        "tag_key": tag_key,
        "tag_value": tag_value,
        "field_key": field_key,
    }[context]
    with pytest.raises(ValueError):
        encoder(name)
    if context == "measurement":
        line = f"{NAIVE['measurement'](name)},t=x f=1i 1"
    elif context == "tag_key":
        line = f"m,{NAIVE['key'](name)}=x f=1i 1"
    elif context == "tag_value":
        line = f"m,t={NAIVE['key'](name)} f=1i 1"
    else:
        line = f"m {NAIVE['key'](name)}=1i 1"
    status, _ = influxd.write(line, influx_db)
    measurements = influxd.measurements(influx_db)
    if context == "measurement":
        assert status != 204 or name not in measurements
        return
    if status != 204 or "m" not in measurements:
        return
    if context == "tag_key":
        keys = [r[0] for r in influxd._rows(influxd.query("SHOW TAG KEYS FROM m", influx_db))]
        assert name not in keys
    elif context == "tag_value":
        assert [r.get("t") for r in influxd.points("m", influx_db)] != [name]
    else:
        assert name not in influxd.field_types("m", influx_db)


def test_names_refused_by_the_contract_alone_would_be_carried(influxd: InfluxServer, influx_db: str) -> None:
    """The contract is stricter than line protocol (docs/data-model.md, "Names"): these
    tag values would come back intact, yet the encoder refuses them like `collector check`."""
    for value in REFUSED_BUT_CARRIED:
        with pytest.raises(ValueError):
            tag_value(value)
    lines = [f"m,t={NAIVE['key'](v)} idx={i}i {i + 1}" for i, v in enumerate(REFUSED_BUT_CARRIED)]
    assert influxd.write("\n".join(lines), influx_db)[0] == 204
    got = {row["idx"]: row["t"] for row in influxd.points("m", influx_db)}
    assert got == dict(enumerate(REFUSED_BUT_CARRIED))


@pytest.mark.parametrize("name", ["cr\rinside", "nul\x00inside"])
def test_cr_and_nul_are_stored_but_cannot_be_queried_by_name(
    influxd: InfluxServer, influx_db: str, name: str
) -> None:
    with pytest.raises(ValueError, match="control characters"):
        measurement_key(name)
    status, _ = influxd.write(f"{name},t=x f=1i 1", influx_db)
    assert status == 204
    assert influxd.measurements(influx_db) == [name]
    with pytest.raises(InfluxServerError, match="error parsing query"):
        influxd.points(name, influx_db)


# -- a few random points against the server ----------------------------------------------------

# Names the contract allows yet line protocol must escape or quote (a blank at either end is
# refused, which keeps some refusals in the mix); backslashes and tabs in names are refused
# outright and covered by the tests above and the unit tests, so leaving them out here keeps
# most examples real round trips.
_names = st.text(alphabet=st.sampled_from(list(',= "#xy설비')), min_size=1, max_size=6)
_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from(list(',= "\\\n\t#x설')), max_size=8),
)
_counter = itertools.count()
_EXAMPLES = 25


def test_random_points_round_trip(influxd: InfluxServer, influx_db: str) -> None:
    trips = 0

    @settings(max_examples=_EXAMPLES, deadline=None)
    @given(
        tags=st.dictionaries(_names, _names, max_size=3),
        fields=st.dictionaries(_names, _values, min_size=1, max_size=3),
    )
    def one_point(tags: dict[str, str], fields: dict[str, object]) -> None:
        nonlocal trips
        measurement = f"h{next(_counter)}"
        try:
            line = encode_point(series_prefix(measurement, tags), list(fields.items()), 42)  # type: ignore[arg-type]
        except ValueError:
            line = None  # refusals are checked against the model in the unit tests
        # a refused example does not count: Hypothesis draws another in its place
        assume(line is not None)
        assert line is not None
        round_trip(influxd, influx_db, measurement, line, tags, fields)
        trips += 1

    one_point()
    # an encoder that refused (nearly) everything would otherwise pass without a single write;
    # half is enough to say so without depending on how Hypothesis schedules its examples
    assert trips >= _EXAMPLES // 2, f"only {trips} of {_EXAMPLES} examples went through influxd"


def round_trip(
    influxd: InfluxServer,
    influx_db: str,
    measurement: str,
    line: bytes,
    tags: dict[str, str],
    fields: dict[str, object],
) -> None:
    write(influxd, influx_db, [line])
    # GROUP BY * keeps tags apart from fields, even when a tag and a field share a key
    rows = influxd.query(f"SELECT * FROM {quote_ident(measurement)} GROUP BY *", influx_db)
    series = rows[0]["series"]
    assert len(series) == 1
    assert series[0].get("tags", {}) == {k: v for k, v in tags.items() if v}
    columns, values = series[0]["columns"], series[0]["values"]
    assert len(values) == 1
    got = dict(zip(columns, values[0], strict=True))
    assert got.pop("time") == 42
    assert set(got) == set(fields)
    types = influxd.field_types(measurement, influx_db)
    for key, want in fields.items():
        have = got[key]
        if isinstance(want, bool):
            assert have is want and types[key] == "boolean"
        elif isinstance(want, int):
            assert have == want and types[key] == "integer"
        elif isinstance(want, float):
            assert bits(float(have)) == bits(want) and types[key] == "float"
        else:
            assert have == want and types[key] == "string"
