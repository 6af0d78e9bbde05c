"""Modbus areas, value types and byte orders known to the collector."""

from __future__ import annotations

from enum import StrEnum


class Area(StrEnum):
    HOLDING = "holding"  # function code 3
    INPUT = "input"  # function code 4
    COIL = "coil"  # function code 1
    DISCRETE = "discrete"  # function code 2

    @property
    def is_bit(self) -> bool:
        return self in (Area.COIL, Area.DISCRETE)


#: The only function codes the collector may ever send: reads.
READ_FUNCTION_CODES: dict[Area, int] = {
    Area.COIL: 1,
    Area.DISCRETE: 2,
    Area.HOLDING: 3,
    Area.INPUT: 4,
}


class DataType(StrEnum):
    BOOL = "bool"  # a coil/discrete bit, or a register that is non-zero
    BIT = "bit"  # one bit (``bit: 0..15``) of a register
    INT8 = "int8"  # one byte (``byte: high|low``) of a register
    UINT8 = "uint8"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"  # ``length`` registers, two characters each


#: Width in 16-bit registers; STRING takes its ``length``.
REGISTER_WIDTH: dict[DataType, int] = {
    DataType.BOOL: 1,
    DataType.BIT: 1,
    DataType.INT8: 1,
    DataType.UINT8: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT16: 1,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
}

INTEGER_TYPES = frozenset(
    {
        DataType.INT8,
        DataType.UINT8,
        DataType.INT16,
        DataType.UINT16,
        DataType.INT32,
        DataType.UINT32,
        DataType.INT64,
        DataType.UINT64,
    }
)
FLOAT_TYPES = frozenset({DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64})


class ByteOrder(StrEnum):
    """Telegraf's notation: the letters name the bytes of a 32-bit value, A most significant,
    in the order they arrive on the wire. The same rule extends to 16 and 64 bits:
    the first letter pair says the word order, the letters within a pair the byte order."""

    ABCD = "ABCD"  # big-endian words, big-endian bytes
    DCBA = "DCBA"  # little-endian words, little-endian bytes
    BADC = "BADC"  # big-endian words, bytes swapped in each word
    CDAB = "CDAB"  # little-endian words (word swap), big-endian bytes

    @property
    def words_little(self) -> bool:
        return self in (ByteOrder.DCBA, ByteOrder.CDAB)

    @property
    def bytes_swapped(self) -> bool:
        return self in (ByteOrder.DCBA, ByteOrder.BADC)
