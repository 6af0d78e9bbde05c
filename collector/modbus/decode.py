"""Decoding raw Modbus values into the field values stored in InfluxDB.

Rules
-----
Byte order
    Written in Telegraf's notation: the letters name the bytes of a 32-bit value, ``A`` the
    most significant, in the order they arrive on the wire.

    ======  =====================================  ==========================
    order   32-bit value 0xAABBCCDD on the wire     16-bit value 0xAABB
    ======  =====================================  ==========================
    ABCD    AA BB CC DD                             AA BB
    CDAB    CC DD AA BB (words swapped)             AA BB
    BADC    BB AA DD CC (bytes swapped per word)    BB AA
    DCBA    DD CC BB AA (fully little-endian)       BB AA
    ======  =====================================  ==========================

    The same rule extends to 64-bit values: ``CDAB`` and ``DCBA`` reverse the order of all
    four words, ``BADC`` and ``DCBA`` swap the two bytes inside every word. The order applies
    to 16-, 32- and 64-bit integers and floats; for 16-bit values only the byte swap matters.
    A register's own ``byte_order`` overrides the device's.

``bit``
    Bit N (0 = least significant) of the register value as transmitted (most significant
    byte first on the wire). The byte order is ignored.

``int8`` / ``uint8``
    ``byte: high`` is the first byte on the wire, ``byte: low`` the second. The byte order
    is ignored.

``bool``
    On a coil or discrete input: the bit. On a register: true when the register is not 0.

``string``
    ``length`` registers, two characters each. ``BADC`` and ``DCBA`` swap the two bytes of
    every register; word order does not apply to text. The text ends at the first NUL byte
    and is decoded with the register's ``encoding``; undecodable bytes become U+FFFD.
    Trailing spaces are padding too and are stripped (``"A-100   "`` is ``A-100``).

``float16`` / ``float32`` / ``float64``
    IEEE 754 half, single and double precision.

``scale`` / ``offset``
    The stored value is ``value * scale + offset``, always a float. The field keeps one type
    for its whole life: a field declared float is always written as a float, even when the
    register holds an integer.

``states``
    A map from code to name: the field holds the name. A code the map does not know is
    stored as its decimal text, except for the ``state`` role, which stores ``unknown``. A
    register with the ``state`` role writes two fields: ``state`` (the name) and
    ``state_code`` (the raw code).

``products``
    The same for the ``product`` role: a program or recipe number mapped to the product
    id. An unknown number is stored as its decimal text, so the assessor can name it.

Values that cannot be stored
    InfluxDB cannot store NaN or infinities, nor integers outside the signed 64-bit range
    (a ``uint64`` above 2**63-1). Such a value is left out of the sample and reported as a
    problem (``not a finite number (nan)``, ``value exceeds the signed 64-bit range``); the
    other values of the sample are still written. ``-0.0`` is stored as is.

The field is stored under the register's role if it has one, else under its name.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from collector.modbus.config import RegisterConfig
from collector.modbus.datatypes import ByteOrder, DataType
from collector.modbus.planner import ReadRequest
from datacontract import FieldType

FieldValue = bool | int | float | str
Fields = list[tuple[str, FieldValue]]
Problems = list[tuple[str, str]]

INT64_MAX = 2**63 - 1
TOO_LARGE = "value exceeds the signed 64-bit range"

#: struct codes of the types decoded with struct; the byte order prefix is added per value.
_STRUCT_CODES: dict[DataType, str] = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT16: "e",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

# A reader gets the response three ways and picks the cheapest: ``wire`` holds the words
# packed most significant byte first, ``swapped`` the same words with their two bytes
# exchanged (built only when some value needs it), ``values`` the list pymodbus returned.
Reader = Callable[[bytes, bytes, Sequence[Any]], Any]
# A step decodes one value and appends its field(s) or its problem.
Step = Callable[[bytes, bytes, Sequence[Any], Fields, Problems], None]


def arrange_bytes(words: Sequence[int], order: ByteOrder) -> bytes:
    """The value's bytes, most significant first, from its words as they came off the wire."""
    ordered = list(reversed(words)) if order.words_little else list(words)
    return struct.pack(f"{'<' if order.bytes_swapped else '>'}{len(ordered)}H", *ordered)


def _struct_reader(reg: RegisterConfig, order: ByteOrder, offset: int) -> tuple[Reader, bool]:
    t = reg.value_type
    code = _STRUCT_CODES[t]
    pos = offset * 2
    if reg.width == 1:
        # a single word has no word order, and unsigned ABCD/CDAB is the word itself
        if t is DataType.UINT16 and not order.bytes_swapped:
            return (lambda wire, swapped, values: values[offset]), False
        unpack = struct.Struct(("<" if order.bytes_swapped else ">") + code).unpack_from
        return (lambda wire, swapped, values: unpack(wire, pos)[0]), False
    # '<' reverses all bytes (word order and byte order at once); reading the byte-swapped
    # copy undoes the byte swap again, which leaves a pure word swap (CDAB) or, with '>',
    # a pure byte swap (BADC).
    unpack = struct.Struct(("<" if order.words_little else ">") + code).unpack_from
    if order.words_little != order.bytes_swapped:
        return (lambda wire, swapped, values: unpack(swapped, pos)[0]), True
    return (lambda wire, swapped, values: unpack(wire, pos)[0]), False


def _string_reader(reg: RegisterConfig, order: ByteOrder, offset: int) -> tuple[Reader, bool]:
    first, last = offset * 2, (offset + reg.width) * 2
    encoding = reg.encoding

    def read(wire: bytes, swapped: bytes, values: Sequence[Any]) -> str:
        raw = (swapped if order.bytes_swapped else wire)[first:last]
        # PLCs pad fixed-length text with NULs or spaces; an id never ends in a space
        return raw.split(b"\0", 1)[0].decode(encoding, errors="replace").rstrip(" ")

    return read, order.bytes_swapped


def _reader(reg: RegisterConfig, order: ByteOrder, offset: int) -> tuple[Reader, bool]:
    """How to get the raw value of ``reg`` at ``offset``, and whether it needs ``swapped``."""
    if reg.area.is_bit:
        return (lambda wire, swapped, values: bool(values[offset])), False
    t = reg.value_type
    if t is DataType.BOOL:
        return (lambda wire, swapped, values: values[offset] != 0), False
    if t is DataType.BIT:
        mask = 1 << (reg.bit or 0)
        return (lambda wire, swapped, values: values[offset] & mask != 0), False
    if t in (DataType.INT8, DataType.UINT8):
        shift = 8 if reg.byte == "high" else 0
        if t is DataType.UINT8:
            return (lambda wire, swapped, values: values[offset] >> shift & 0xFF), False
        return (lambda wire, swapped, values: (values[offset] >> shift & 0xFF ^ 0x80) - 0x80), False
    if t is DataType.STRING:
        return _string_reader(reg, order, offset)
    return _struct_reader(reg, order, offset)


def _not_finite(value: float) -> str:
    return f"not a finite number ({value!r})"


def _step(reg: RegisterConfig, read: Reader) -> Step:
    """Wrap a reader with what turns its raw value into the stored field(s)."""
    key, name = reg.field_key, reg.name
    t = reg.value_type
    if reg.states is not None or reg.products is not None:
        return _states_step(reg, read)
    if reg.scale is not None or reg.offset is not None:
        scale = 1.0 if reg.scale is None else reg.scale
        offset = reg.offset

        def scaled(
            wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems
        ) -> None:
            v = read(wire, swapped, values) * scale
            if offset is not None:
                v += offset  # only when set, so that a raw -0.0 keeps its sign
            if math.isfinite(v):
                fields.append((key, float(v)))
            else:
                problems.append((name, _not_finite(v)))

        return scaled
    field_type = reg.field_type
    if t in (DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64):

        def checked(
            wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems
        ) -> None:
            v = read(wire, swapped, values)
            if math.isfinite(v):
                fields.append((key, v))
            else:
                problems.append((name, _not_finite(v)))

        return checked
    if field_type is FieldType.FLOAT:  # an integer register under a float role

        def as_float(
            wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems
        ) -> None:
            fields.append((key, float(read(wire, swapped, values))))

        return as_float
    if t is DataType.UINT64:

        def bounded(
            wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems
        ) -> None:
            v = read(wire, swapped, values)
            if v > INT64_MAX:
                problems.append((name, TOO_LARGE))
            else:
                fields.append((key, v))

        return bounded

    def plain(wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems) -> None:
        fields.append((key, read(wire, swapped, values)))

    return plain


def _states_step(reg: RegisterConfig, read: Reader) -> Step:
    states = dict(reg.states if reg.states is not None else reg.products or {})
    name = reg.name
    if reg.role == "state":

        def state(
            wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems
        ) -> None:
            code = read(wire, swapped, values)
            fields.append(("state", states.get(code, "unknown")))
            if code > INT64_MAX:
                problems.append((name, TOO_LARGE))
            else:
                fields.append(("state_code", code))

        return state
    key = reg.field_key

    def named(wire: bytes, swapped: bytes, values: Sequence[Any], fields: Fields, problems: Problems) -> None:
        code = read(wire, swapped, values)
        label = states.get(code)
        fields.append((key, str(code) if label is None else label))

    return named


def decode_value(words: Sequence[int], reg: RegisterConfig, order: ByteOrder) -> FieldValue:
    """Raw value of ``reg`` from its words (or its bit), before scale, offset and states.

    ``order`` is the device's byte order; the register's own one wins.
    """
    read, _ = _reader(reg, reg.byte_order or order, 0)
    if reg.area.is_bit:
        return read(b"", b"", words)
    wire = struct.pack(f">{len(words)}H", *words)
    swapped = struct.pack(f"<{len(words)}H", *words)
    return read(wire, swapped, words)


class BlockDecoder:
    """Compiled once per ReadRequest; decodes a response fast."""

    __slots__ = ("_bits", "_count", "_pack_swapped", "_pack_wire", "_steps")

    def __init__(
        self,
        request: ReadRequest,
        registers: Sequence[RegisterConfig],
        default_order: ByteOrder,
    ) -> None:
        self._count = request.count
        self._bits = request.area.is_bit
        steps: list[Step] = []
        needs_swapped = False
        for span in request.spans:
            reg = registers[span.index]
            if reg.area is not request.area or reg.width != span.width:
                raise ValueError(
                    f"register {reg.name!r} ({reg.area.value}, {reg.width} wide) does not "
                    f"match its span ({span.area.value}, {span.width} wide)"
                )
            offset = span.start - request.start
            if offset < 0 or span.start + span.width > request.start + request.count:
                raise ValueError(f"register {reg.name!r} lies outside its request")
            read, swapped = _reader(reg, reg.byte_order or default_order, offset)
            needs_swapped = needs_swapped or swapped
            steps.append(_step(reg, read))
        self._steps = tuple(steps)
        self._pack_wire = struct.Struct(f">{self._count}H").pack
        self._pack_swapped = struct.Struct(f"<{self._count}H").pack if needs_swapped else None

    def decode(self, values: Sequence[int] | Sequence[bool]) -> tuple[Fields, Problems]:
        """Fields ``(key, value)`` of one response, and ``(register, reason)`` problems.

        ``values`` is ``response.registers`` or ``response.bits`` (bits may run past the
        request, padded to a whole byte).
        """
        n = self._count
        if len(values) < n:
            raise ValueError(f"response holds {len(values)} values, the request asked for {n}")
        fields: Fields = []
        problems: Problems = []
        if self._bits:
            wire = swapped = b""
        else:
            if len(values) > n:
                values = values[:n]
            wire = self._pack_wire(*values)  # also rejects anything that is not a 16-bit word
            swapped = self._pack_swapped(*values) if self._pack_swapped else b""
        for step in self._steps:
            step(wire, swapped, values, fields, problems)
        return fields, problems
