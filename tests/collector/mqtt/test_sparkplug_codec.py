"""The Sparkplug B protobuf codec: known-good bytes assembled by hand, signed integers,
malformed input, and hypothesis round trips and fuzzing."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.mqtt.sparkplug_codec import (
    DataType,
    Metric,
    Payload,
    SparkplugDecodeError,
    decode_payload,
    encode_payload,
    make_metric,
    metric_value,
)

TS = 1486144502122  # 2017-02-03T17:55:02.122Z, the timestamp of the specification's examples

# Payload { timestamp, metrics: [Supply Voltage (Float), alias 8 (Int16 -300)], seq 2 }
# assembled field by field; key byte = field number << 3 | wire type
TS_VARINT = bytes.fromhex("ea f2 f5 a8 a0 2b")  # 1486144502122 in 7-bit groups, low first
METRIC_0 = (
    b"\x0a\x0e" + b"Supply Voltage"  # field 1 name, length-delimited (2), 14 bytes
    + b"\x10\x07"  # field 2 alias, varint (0): 7
    + b"\x18" + TS_VARINT  # field 3 timestamp, varint
    + b"\x20\x09"  # field 4 datatype, varint: 9 = Float
    + b"\x65" + bytes.fromhex("9a 99 41 41")  # field 12 float_value, fixed32 (5): 12.1f little-endian
)  # fmt: skip
METRIC_1 = (
    b"\x10\x08"  # field 2 alias: 8
    + b"\x20\x02"  # field 4 datatype: 2 = Int16
    + b"\x50" + bytes.fromhex("d4 fd ff ff 0f")  # field 10 int_value, varint: 0xFFFFFED4 = -300 as int32
    + b"\xa2\x01\x02hi"  # field 20, unknown to the schema (length-delimited, 2 bytes): skipped
)  # fmt: skip
HAND_ASSEMBLED = (
    b"\x08" + TS_VARINT  # field 1 timestamp, varint
    + b"\x12" + bytes([len(METRIC_0)]) + METRIC_0  # field 2 metrics, length-delimited (32 bytes)
    + b"\x12" + bytes([len(METRIC_1)]) + METRIC_1  # field 2 metrics again (repeated)
    + b"\x18\x02"  # field 3 seq: 2
    + b"\x30\x05"  # field 6, an extension (varint): skipped
)  # fmt: skip

EXPECTED = Payload(
    timestamp=TS,
    metrics=(
        Metric(
            name="Supply Voltage",
            alias=7,
            timestamp=TS,
            datatype=DataType.Float,
            float_value=struct.unpack("<f", struct.pack("<f", 12.1))[0],
        ),
        Metric(alias=8, datatype=DataType.Int16, int_value=0xFFFFFED4),
    ),
    seq=2,
)


def test_decode_hand_assembled_payload() -> None:
    assert len(METRIC_0) == 32
    decoded = decode_payload(HAND_ASSEMBLED)
    assert decoded == EXPECTED
    assert metric_value(decoded.metrics[0]) == pytest.approx(12.1, rel=1e-6)
    assert metric_value(decoded.metrics[1]) == -300


def test_encode_writes_the_same_bytes_without_the_unknown_fields() -> None:
    without_unknown = HAND_ASSEMBLED.replace(b"\xa2\x01\x02hi", b"").replace(b"\x30\x05", b"")
    without_unknown = without_unknown.replace(
        b"\x12" + bytes([len(METRIC_1)]), b"\x12" + bytes([len(METRIC_1) - 5])
    )
    assert encode_payload(EXPECTED) == without_unknown


def test_decode_a_rebirth_command_as_published_by_a_gateway() -> None:
    # an NCMD printed in a gateway vendor's manual; it sends seq as uint64 "-1"
    raw = bytes.fromhex(
        "08 9f af b8 f8 8d 31 12 23 0a 14 4e 6f 64 65 20 43 6f 6e 74 72 6f 6c 2f 52 65 62 69"
        " 72 74 68 18 9f af b8 f8 8d 31 20 0b 38 00 70 01 18 ff ff ff ff ff ff ff ff ff 01"
    )
    p = decode_payload(raw)
    assert p.timestamp == 1687369422751
    assert p.seq == 2**64 - 1
    (m,) = p.metrics
    assert (m.name, m.timestamp, m.datatype, m.is_null) == ("Node Control/Rebirth", 1687369422751, 11, False)
    assert metric_value(m) is True


@pytest.mark.parametrize(
    ("datatype", "field", "raw", "expected"),
    [
        (DataType.Int8, "int_value", 0xFFFFFFFB, -5),  # sign-extended to 32 bits
        (DataType.Int8, "int_value", 0xFB, -5),  # two's complement in 8 bits
        (DataType.Int8, "int_value", 0x7F, 127),
        (DataType.Int8, "int_value", 0xFFFFFF80, -128),
        (DataType.Int16, "int_value", 0xFFFF8000, -32768),
        (DataType.Int16, "int_value", 0x8000, -32768),
        (DataType.Int32, "int_value", 0x80000000, -(2**31)),
        (DataType.Int32, "int_value", 0x7FFFFFFF, 2**31 - 1),
        (DataType.Int32, "long_value", 2**64 - 5, -5),  # some senders use the 64-bit field
        (DataType.Int64, "long_value", 2**64 - 1, -1),
        (DataType.Int64, "long_value", 2**63, -(2**63)),
        (DataType.UInt8, "int_value", 255, 255),
        (DataType.UInt16, "int_value", 65535, 65535),
        (DataType.UInt32, "int_value", 2**32 - 1, 2**32 - 1),
        (DataType.UInt32, "long_value", 2**32 - 1, 2**32 - 1),
        (DataType.UInt64, "long_value", 2**64 - 1, 2**64 - 1),
        (DataType.DateTime, "long_value", TS, TS),
    ],
)
def test_integers_by_datatype(datatype: DataType, field: str, raw: int, expected: int) -> None:
    m = decode_payload(encode_payload(Payload(metrics=(Metric(datatype=datatype, **{field: raw}),)))).metrics[
        0
    ]
    assert metric_value(m) == expected


@pytest.mark.parametrize(
    ("datatype", "raw"),
    [(DataType.Int8, 0x100), (DataType.Int8, 0xFFFF0000), (DataType.UInt8, 256), (DataType.UInt16, 65536)],
)
def test_integer_out_of_range_for_its_datatype(datatype: DataType, raw: int) -> None:
    with pytest.raises(SparkplugDecodeError, match="out of range"):
        metric_value(Metric(datatype=datatype, int_value=raw))


def test_uint32_field_keeps_the_low_32_bits_of_a_sign_extended_varint() -> None:
    # Int8 -5 written as a 64-bit sign-extended varint (10 bytes) into the uint32 field
    raw = b"\x12\x0d" + b"\x20\x01" + b"\x50" + bytes.fromhex("fb ff ff ff ff ff ff ff ff 01")
    m = decode_payload(raw).metrics[0]
    assert m.int_value == 0xFFFFFFFB
    assert metric_value(m) == -5


def test_other_values_by_datatype() -> None:
    assert metric_value(Metric(datatype=DataType.Double, double_value=0.1)) == 0.1
    assert metric_value(Metric(datatype=DataType.Float, double_value=0.1)) == 0.1
    assert metric_value(Metric(datatype=DataType.Boolean, boolean_value=False)) is False
    for dt in (DataType.String, DataType.Text, DataType.UUID):
        assert metric_value(Metric(datatype=dt, string_value="ä/b")) == "ä/b"
    assert metric_value(Metric(datatype=DataType.Int32, is_null=True)) is None
    # DATA messages leave the datatype to the BIRTH
    assert metric_value(Metric(alias=3, int_value=0xFFFFFFFF), DataType.Int32) == -1
    # the metric's own datatype wins over the one passed in
    assert metric_value(Metric(datatype=DataType.UInt32, int_value=0xFFFFFFFF), DataType.Int32) == 2**32 - 1


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        (Metric(int_value=1), "no datatype"),
        (Metric(datatype=DataType.Int32, string_value="1"), "carries string_value"),
        (Metric(datatype=DataType.Boolean, int_value=1), "carries int_value"),
        (Metric(datatype=DataType.Double), "carries no value"),
        (Metric(datatype=DataType.DataSet, has_complex_value=True), "unsupported datatype DataSet"),
        (Metric(datatype=DataType.Bytes, bytes_value=b"x"), "unsupported datatype Bytes"),
        (Metric(datatype=24, bytes_value=b"\x01\x00\x00\x00"), "unsupported datatype 24"),
        (Metric(datatype=2**32 - 1, int_value=1), "unsupported datatype"),
    ],
)
def test_values_the_collector_cannot_store(metric: Metric, reason: str) -> None:
    with pytest.raises(SparkplugDecodeError, match=reason):
        metric_value(metric)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x08\x80", "truncated varint"),
        (b"\x08", "truncated varint"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x12\x05\x0a\x01", "length 5 runs past the end"),
        (b"\x12\xff\xff\xff\xff\x0f", "runs past the end"),
        (b"\x09\x00\x00\x00", "truncated fixed64"),
        (b"\x0d\x00\x00\x00\x00", "field 1 \\(timestamp\\) has wire type fixed32, expected varint"),
        (b"\x1a\x00", "field 3 \\(seq\\) has wire type length-delimited"),
        (b"\x10\x01", "field 2 \\(metrics\\) has wire type varint"),
        (b"\x12\x02\x0a\x01", "metrics\\[0\\]: field 1 length 1 runs past the end"),
        (b"\x12\x03\x0a\x01\xff", "metrics\\[0\\].name: invalid UTF-8"),
        (b"\x12\x02\x60\x00", "metrics\\[0\\]: field 12 \\(float_value\\) has wire type varint"),
        (b"\x12\x02\x40\x00", "field 8 \\(metadata\\) has wire type varint"),
        (b"\x22\x02\xc3\x28", "payload.uuid: invalid UTF-8"),
        (b"\x00\x00", "field number 0"),
        (b"\x0b\x0c", "wire type 3"),
        (b"\x0e", "wire type 6"),
    ],
)
def test_malformed_input_says_why(data: bytes, reason: str) -> None:
    with pytest.raises(SparkplugDecodeError, match=reason):
        decode_payload(data)


def test_empty_and_unknown_only_payloads() -> None:
    assert decode_payload(b"") == Payload()
    # extension fields of every wire type, including a large field number, are skipped
    unknown = (
        b"\x30\x01" + b"\x39" + bytes(8) + b"\x42\x01x" + b"\x4d" + bytes(4) + b"\xf8\xff\xff\xff\x0f\x07"
    )
    assert decode_payload(unknown) == Payload()


def test_oneof_last_value_on_the_wire_wins() -> None:
    raw = b"\x12\x08" + b"\x50\x05" + b"\x7a\x02ab" + b"\x70\x01"  # int_value, string_value, boolean_value
    assert decode_payload(raw).metrics[0] == Metric(boolean_value=True)
    # a DataSet after a scalar replaces it too
    raw = b"\x12\x05" + b"\x50\x05" + b"\x8a\x01\x00"
    assert decode_payload(raw).metrics[0] == Metric(has_complex_value=True)
    raw = b"\x12\x05" + b"\x8a\x01\x00" + b"\x50\x05"
    assert decode_payload(raw).metrics[0] == Metric(int_value=5)


def test_metadata_and_properties_are_skipped() -> None:
    properties = b"\x0a\x07Quality\x12\x04\x08\x03\x18\x00"  # PropertySet { keys, values }
    raw_metric = (
        b"\x0a\x01t" + b"\x42\x02\x12\x00" + b"\x4a" + bytes([len(properties)]) + properties + b"\x50\x01"
    )
    m = decode_payload(b"\x12" + bytes([len(raw_metric)]) + raw_metric).metrics[0]
    assert m == Metric(name="t", int_value=1)


def test_encode_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="several values"):
        encode_payload(Payload(metrics=(Metric(int_value=1, string_value="x"),)))
    with pytest.raises(ValueError, match="uint32"):
        encode_payload(Payload(metrics=(Metric(int_value=-1),)))
    with pytest.raises(ValueError, match="32-bit float"):
        encode_payload(Payload(metrics=(Metric(float_value=1e300),)))
    with pytest.raises(ValueError, match="out of range"):
        encode_payload(Payload(seq=-1))


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.Int8, -128),
        (DataType.Int16, -1),
        (DataType.Int32, -(2**31)),
        (DataType.Int64, -(2**63)),
        (DataType.UInt64, 2**64 - 1),
        (DataType.DateTime, TS),
        (DataType.Float, 0.5),
        (DataType.Double, -0.1),
        (DataType.Boolean, True),
        (DataType.Text, "long text"),
        (DataType.Int32, None),
    ],
)
def test_make_metric_round_trips(datatype: DataType, value: object) -> None:
    m = make_metric(datatype, value, name="m", alias=1, timestamp=TS)  # type: ignore[arg-type]
    back = decode_payload(encode_payload(Payload(metrics=(m,)))).metrics[0]
    assert back == m
    assert metric_value(back) == value


def test_make_metric_checks_range_and_type() -> None:
    with pytest.raises(ValueError, match="does not fit Int8"):
        make_metric(DataType.Int8, 128)
    with pytest.raises(ValueError, match="does not fit UInt32"):
        make_metric(DataType.UInt32, -1)
    with pytest.raises(TypeError):
        make_metric(DataType.Int32, True)
    with pytest.raises(TypeError):
        make_metric(DataType.Boolean, 1)
    with pytest.raises(TypeError):
        make_metric(DataType.String, 1)
    with pytest.raises(ValueError):
        make_metric(99, 1)


# -- hypothesis ---------------------------------------------------------------------------

UINT64 = st.integers(0, 2**64 - 1)
FLOAT32 = st.floats(width=32, allow_nan=False)
VALUES = st.one_of(
    st.just({}),
    st.builds(lambda v: {"int_value": v}, st.integers(0, 2**32 - 1)),
    st.builds(lambda v: {"long_value": v}, UINT64),
    st.builds(lambda v: {"float_value": v}, FLOAT32),
    st.builds(lambda v: {"double_value": v}, st.floats(allow_nan=False)),
    st.builds(lambda v: {"boolean_value": v}, st.booleans()),
    st.builds(lambda v: {"string_value": v}, st.text(max_size=20)),
    st.builds(lambda v: {"bytes_value": v}, st.binary(max_size=20)),
)
METRICS = st.builds(
    lambda values, **kw: Metric(**kw, **values),
    VALUES,
    name=st.none() | st.text(max_size=20),
    alias=st.none() | UINT64,
    timestamp=st.none() | UINT64,
    datatype=st.none() | st.integers(0, 2**32 - 1),
    is_historical=st.booleans(),
    is_transient=st.booleans(),
    is_null=st.booleans(),
)
PAYLOADS = st.builds(
    Payload,
    timestamp=st.none() | UINT64,
    metrics=st.lists(METRICS, max_size=5).map(tuple),
    seq=st.none() | UINT64,
    uuid=st.none() | st.text(max_size=20),
    body=st.none() | st.binary(max_size=20),
)


@given(PAYLOADS)
def test_round_trip(payload: Payload) -> None:
    assert decode_payload(encode_payload(payload)) == payload


INTEGER_TYPES = [
    (DataType.Int8, -(2**7), 2**7 - 1),
    (DataType.Int16, -(2**15), 2**15 - 1),
    (DataType.Int32, -(2**31), 2**31 - 1),
    (DataType.Int64, -(2**63), 2**63 - 1),
    (DataType.UInt8, 0, 2**8 - 1),
    (DataType.UInt16, 0, 2**16 - 1),
    (DataType.UInt32, 0, 2**32 - 1),
    (DataType.UInt64, 0, 2**64 - 1),
]


@given(st.sampled_from(INTEGER_TYPES).flatmap(lambda t: st.tuples(st.just(t[0]), st.integers(t[1], t[2]))))
def test_integer_values_round_trip(case: tuple[DataType, int]) -> None:
    datatype, value = case
    m = decode_payload(encode_payload(Payload(metrics=(make_metric(datatype, value),)))).metrics[0]
    assert metric_value(m) == value


@given(st.floats(width=32))
def test_float_values_round_trip(value: float) -> None:
    m = decode_payload(encode_payload(Payload(metrics=(make_metric(DataType.Float, value),)))).metrics[0]
    got = metric_value(m)
    assert isinstance(got, float)
    assert got == value or (math.isnan(got) and math.isnan(value))


def _decodes_or_refuses(data: bytes) -> None:
    try:
        payload = decode_payload(data)
    except SparkplugDecodeError:
        return
    assert isinstance(payload, Payload)
    for m in payload.metrics:
        with contextlib.suppress(SparkplugDecodeError):
            metric_value(m, DataType.Int32)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decodes_or_refuses(data)


@settings(max_examples=300)
@given(PAYLOADS, st.data())
def test_fuzz_damaged_payloads(payload: Payload, data: st.DataObject) -> None:
    raw = bytearray(encode_payload(payload))
    if raw:
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    _decodes_or_refuses(bytes(raw))
