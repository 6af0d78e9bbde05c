"""Sparkplug B payloads (protobuf, proto2) decoded and encoded without a protobuf library.

Only what a collector needs is modelled: Payload and Metric with their scalar fields.
Metric metadata, properties, DataSet and Template values are skipped (a metric carrying a
DataSet or Template value is marked ``has_complex_value``), and so is any field number the
schema does not know, as protobuf requires. Malformed input raises SparkplugDecodeError,
never anything else: the payload comes from the network.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum

__all__ = [
    "DataType",
    "Metric",
    "MetricValue",
    "Payload",
    "SparkplugDecodeError",
    "decode_payload",
    "encode_payload",
    "make_metric",
    "metric_value",
]

MetricValue = bool | int | float | str | None

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_MAX_VARINT_BYTES = 10

# protobuf wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class SparkplugDecodeError(ValueError):
    """A payload that is not valid Sparkplug B protobuf, or a value its datatype cannot hold."""


class DataType(IntEnum):
    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19


@dataclass(frozen=True)
class Metric:
    """One Sparkplug metric; at most one of the ``*_value`` fields is set (a protobuf oneof)."""

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    """milliseconds since the epoch, UTC"""
    datatype: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    int_value: int | None = None
    """uint32 on the wire: Int8/16/32 arrive as two's complement, see metric_value()"""
    long_value: int | None = None
    float_value: float | None = None
    double_value: float | None = None
    boolean_value: bool | None = None
    string_value: str | None = None
    bytes_value: bytes | None = None
    has_complex_value: bool = False
    """the value is a DataSet, Template or extension, which this codec does not decode"""


@dataclass(frozen=True)
class Payload:
    timestamp: int | None = None
    """milliseconds since the epoch, UTC: when the message was published"""
    metrics: tuple[Metric, ...] = ()
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


_VALUE_FIELDS = (
    "int_value",
    "long_value",
    "float_value",
    "double_value",
    "boolean_value",
    "string_value",
    "bytes_value",
)


# -- wire format: reading --------------------------------------------------------------


def _read_varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    result = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise SparkplugDecodeError(f"{where}: truncated varint at byte {pos}")
        byte = data[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            # bits past 64 are dropped, as protobuf parsers do
            return result & _U64, pos + i + 1
    raise SparkplugDecodeError(f"{where}: varint longer than {_MAX_VARINT_BYTES} bytes at byte {pos}")


def _fields(data: bytes, where: str) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) per field: an int for varints, bytes otherwise."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = _read_varint(data, pos, where)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise SparkplugDecodeError(f"{where}: field number 0 at byte {pos}")
        if wire == _VARINT:
            value, pos = _read_varint(data, pos, where)
            yield field, wire, value
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if pos + size > end:
                raise SparkplugDecodeError(f"{where}: truncated fixed{size * 8} field {field} at byte {pos}")
            yield field, wire, data[pos : pos + size]
            pos += size
        elif wire == _LEN:
            length, pos = _read_varint(data, pos, where)
            if length > end - pos:
                raise SparkplugDecodeError(
                    f"{where}: field {field} length {length} runs past the end ({end - pos} bytes left)"
                )
            yield field, wire, data[pos : pos + length]
            pos += length
        else:
            # 3 and 4 are proto2 groups, which Sparkplug never uses; 6 and 7 do not exist
            raise SparkplugDecodeError(f"{where}: unsupported wire type {wire} for field {field}")


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SparkplugDecodeError(f"{where}: invalid UTF-8 ({exc.reason} at byte {exc.start})") from None


# field number -> (attribute, wire type, kind)
_METRIC_SCHEMA: dict[int, tuple[str, int, str]] = {
    1: ("name", _LEN, "string"),
    2: ("alias", _VARINT, "uint64"),
    3: ("timestamp", _VARINT, "uint64"),
    4: ("datatype", _VARINT, "uint32"),
    5: ("is_historical", _VARINT, "bool"),
    6: ("is_transient", _VARINT, "bool"),
    7: ("is_null", _VARINT, "bool"),
    8: ("metadata", _LEN, "skip"),
    9: ("properties", _LEN, "skip"),
    10: ("int_value", _VARINT, "uint32"),
    11: ("long_value", _VARINT, "uint64"),
    12: ("float_value", _I32, "float"),
    13: ("double_value", _I64, "double"),
    14: ("boolean_value", _VARINT, "bool"),
    15: ("string_value", _LEN, "string"),
    16: ("bytes_value", _LEN, "bytes"),
    17: ("dataset_value", _LEN, "complex"),
    18: ("template_value", _LEN, "complex"),
    19: ("extension_value", _LEN, "complex"),
}

_PAYLOAD_SCHEMA: dict[int, tuple[str, int, str]] = {
    1: ("timestamp", _VARINT, "uint64"),
    2: ("metrics", _LEN, "metric"),
    3: ("seq", _VARINT, "uint64"),
    4: ("uuid", _LEN, "string"),
    5: ("body", _LEN, "bytes"),
}

_WIRE_NAMES = {_VARINT: "varint", _I64: "fixed64", _LEN: "length-delimited", _I32: "fixed32"}


def _convert(kind: str, value: int | bytes, where: str) -> object:
    if kind == "uint64":
        return value
    if kind == "uint32":
        # protobuf truncates an oversized uint32 (e.g. a sign-extended negative) to 32 bits
        assert isinstance(value, int)
        return value & _U32
    if kind == "bool":
        return value != 0
    assert isinstance(value, bytes)
    if kind == "string":
        return _utf8(value, where)
    if kind == "float":
        return struct.unpack("<f", value)[0]
    if kind == "double":
        return struct.unpack("<d", value)[0]
    return value  # bytes


def _decode_metric(data: bytes, where: str) -> Metric:
    values: dict[str, object] = {}
    for field, wire, raw in _fields(data, where):
        spec = _METRIC_SCHEMA.get(field)
        if spec is None:
            continue
        attr, want_wire, kind = spec
        if wire != want_wire:
            raise SparkplugDecodeError(
                f"{where}: field {field} ({attr}) has wire type {_WIRE_NAMES.get(wire, wire)}, "
                f"expected {_WIRE_NAMES[want_wire]}"
            )
        if kind == "skip":
            continue
        if attr in _VALUE_FIELDS or kind == "complex":
            # oneof: the last member on the wire wins
            for other in _VALUE_FIELDS:
                values.pop(other, None)
            values.pop("has_complex_value", None)
            if kind == "complex":
                values["has_complex_value"] = True
                continue
        values[attr] = _convert(kind, raw, f"{where}.{attr}")
    return Metric(**values)  # type: ignore[arg-type]


def decode_payload(data: bytes | bytearray | memoryview) -> Payload:
    """Parse a Sparkplug B payload; SparkplugDecodeError says what is wrong and where."""
    if not isinstance(data, bytes):
        data = bytes(data)
    values: dict[str, object] = {}
    metrics: list[Metric] = []
    for field, wire, raw in _fields(data, "payload"):
        spec = _PAYLOAD_SCHEMA.get(field)
        if spec is None:
            continue
        attr, want_wire, kind = spec
        if wire != want_wire:
            raise SparkplugDecodeError(
                f"payload: field {field} ({attr}) has wire type {_WIRE_NAMES.get(wire, wire)}, "
                f"expected {_WIRE_NAMES[want_wire]}"
            )
        if kind == "metric":
            assert isinstance(raw, bytes)
            metrics.append(_decode_metric(raw, f"metrics[{len(metrics)}]"))
        else:
            values[attr] = _convert(kind, raw, f"payload.{attr}")
    return Payload(metrics=tuple(metrics), **values)  # type: ignore[arg-type]


# -- wire format: writing --------------------------------------------------------------


def _varint(value: int) -> bytes:
    if not 0 <= value <= _U64:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len_field(field: int, raw: bytes) -> bytes:
    return _key(field, _LEN) + _varint(len(raw)) + raw


def _encode_metric(m: Metric) -> bytes:
    set_values = [f for f in _VALUE_FIELDS if getattr(m, f) is not None]
    if len(set_values) > 1:
        raise ValueError(f"metric {m.name or m.alias!r} sets several values: {set_values}")
    if m.has_complex_value:
        raise ValueError("DataSet and Template values cannot be encoded by this codec")
    out = bytearray()
    if m.name is not None:
        out += _len_field(1, m.name.encode("utf-8"))
    for field, attr in ((2, "alias"), (3, "timestamp"), (4, "datatype")):
        value = getattr(m, attr)
        if value is not None:
            out += _key(field, _VARINT) + _varint(value)
    for field, flag in ((5, m.is_historical), (6, m.is_transient), (7, m.is_null)):
        if flag:
            out += _key(field, _VARINT) + b"\x01"
    if m.int_value is not None:
        if not 0 <= m.int_value <= _U32:
            raise ValueError(f"int_value is a uint32: {m.int_value} (use make_metric for signed values)")
        out += _key(10, _VARINT) + _varint(m.int_value)
    elif m.long_value is not None:
        out += _key(11, _VARINT) + _varint(m.long_value)
    elif m.float_value is not None:
        try:
            out += _key(12, _I32) + struct.pack("<f", m.float_value)
        except OverflowError as exc:
            raise ValueError(f"float_value does not fit a 32-bit float: {m.float_value}") from exc
    elif m.double_value is not None:
        out += _key(13, _I64) + struct.pack("<d", m.double_value)
    elif m.boolean_value is not None:
        out += _key(14, _VARINT) + (b"\x01" if m.boolean_value else b"\x00")
    elif m.string_value is not None:
        out += _len_field(15, m.string_value.encode("utf-8"))
    elif m.bytes_value is not None:
        out += _len_field(16, m.bytes_value)
    return bytes(out)


def encode_payload(payload: Payload) -> bytes:
    """Serialize a Payload (fields in field-number order, as protobuf libraries write them)."""
    out = bytearray()
    if payload.timestamp is not None:
        out += _key(1, _VARINT) + _varint(payload.timestamp)
    for metric in payload.metrics:
        out += _len_field(2, _encode_metric(metric))
    if payload.seq is not None:
        out += _key(3, _VARINT) + _varint(payload.seq)
    if payload.uuid is not None:
        out += _len_field(4, payload.uuid.encode("utf-8"))
    if payload.body is not None:
        out += _len_field(5, payload.body)
    return bytes(out)


# -- values by datatype ----------------------------------------------------------------

_SIGNED_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}
_UNSIGNED_BITS = {DataType.UInt8: 8, DataType.UInt16: 16, DataType.UInt32: 32, DataType.UInt64: 64}
_STRING_TYPES = (DataType.String, DataType.Text, DataType.UUID)


def _type_name(datatype: int) -> str:
    try:
        return DataType(datatype).name
    except ValueError:
        return f"datatype {datatype}"


def _carried(m: Metric) -> str:
    for f in _VALUE_FIELDS:
        if getattr(m, f) is not None:
            return f
    return "a DataSet/Template value" if m.has_complex_value else "no value"


def _integer(m: Metric, datatype: DataType) -> int:
    if m.int_value is not None:
        raw, field_bits = m.int_value, 32
    elif m.long_value is not None:
        raw, field_bits = m.long_value, 64
    else:
        raise SparkplugDecodeError(f"{datatype.name} metric carries {_carried(m)}")
    if datatype in _UNSIGNED_BITS:
        bits = _UNSIGNED_BITS[datatype]
        if raw >> bits:
            raise SparkplugDecodeError(f"{datatype.name} value out of range: {raw}")
        return raw
    bits = _SIGNED_BITS[datatype]
    # the sender sign-extended to the field's width (what the reference implementation does)
    signed = raw - (1 << field_bits) if raw >> (field_bits - 1) else raw
    if -(1 << (bits - 1)) <= signed < 1 << (bits - 1):
        return signed
    # or wrote the two's complement in the type's own width (e.g. 0xFB for Int8 -5)
    if not raw >> bits:
        return raw - (1 << bits) if raw >> (bits - 1) else raw
    raise SparkplugDecodeError(f"{datatype.name} value out of range: {raw:#x} in {field_bits}-bit field")


def metric_value(m: Metric, datatype: int | None = None) -> MetricValue:
    """The metric's value as a Python value of its datatype; None when it is null.

    ``datatype`` is used when the metric carries none (DATA messages usually leave it to
    the BIRTH). Raises SparkplugDecodeError for a datatype this collector cannot store
    (arrays, DataSet, Template, Bytes, File) or a value that does not fit it.
    """
    if m.is_null:
        return None
    dt_raw = m.datatype if m.datatype is not None else datatype
    if dt_raw is None:
        raise SparkplugDecodeError("metric has no datatype and none is known from its BIRTH")
    try:
        dt = DataType(dt_raw)
    except ValueError:
        raise SparkplugDecodeError(f"unsupported {_type_name(dt_raw)}") from None
    if dt in _SIGNED_BITS or dt in _UNSIGNED_BITS:
        return _integer(m, dt)
    if dt == DataType.DateTime:
        if m.long_value is not None:
            return m.long_value
        if m.int_value is not None:
            return m.int_value
    elif dt in (DataType.Float, DataType.Double):
        # both widths are accepted for either type: senders mix them up, and no value is lost
        if m.double_value is not None:
            return m.double_value
        if m.float_value is not None:
            return m.float_value
    elif dt == DataType.Boolean:
        if m.boolean_value is not None:
            return m.boolean_value
    elif dt in _STRING_TYPES:
        if m.string_value is not None:
            return m.string_value
    else:
        raise SparkplugDecodeError(f"unsupported datatype {dt.name}")
    raise SparkplugDecodeError(f"{dt.name} metric carries {_carried(m)}")


def make_metric(
    datatype: int,
    value: MetricValue,
    *,
    name: str | None = None,
    alias: int | None = None,
    timestamp: int | None = None,
    is_historical: bool = False,
    is_transient: bool = False,
) -> Metric:
    """A Metric with ``value`` in the field its datatype uses (None makes a null metric).

    Signed integers are written sign-extended to the field's width, as the reference
    implementation does: Int8 -5 becomes int_value 0xFFFFFFFB.
    """
    base = Metric(
        name=name,
        alias=alias,
        timestamp=timestamp,
        datatype=int(datatype),
        is_historical=is_historical,
        is_transient=is_transient,
    )
    if value is None:
        return replace(base, is_null=True)
    dt = DataType(datatype)
    if dt in _SIGNED_BITS or dt in _UNSIGNED_BITS or dt == DataType.DateTime:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{dt.name} needs an int, got {value!r}")
        signed = dt in _SIGNED_BITS
        bits = _SIGNED_BITS.get(dt) or _UNSIGNED_BITS.get(dt, 64)
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not low <= value <= high:
            raise ValueError(f"{value} does not fit {dt.name}")
        if bits <= 32:
            return replace(base, int_value=value & _U32)
        return replace(base, long_value=value & _U64)
    if dt == DataType.Float and isinstance(value, int | float) and not isinstance(value, bool):
        return replace(base, float_value=float(value))
    if dt == DataType.Double and isinstance(value, int | float) and not isinstance(value, bool):
        return replace(base, double_value=float(value))
    if dt == DataType.Boolean and isinstance(value, bool):
        return replace(base, boolean_value=value)
    if dt in _STRING_TYPES and isinstance(value, str):
        return replace(base, string_value=value)
    raise TypeError(f"cannot make a {dt.name} metric from {value!r}")
