"""Where each snapshot value lives in the simulated PLC (documented in docs/simulator.md).

Addresses are 0-based protocol addresses, exactly as they go into a request (holding 10 is
what a Modicon manual calls 40011). Counters are uint32 in CDAB order (low word first), as
many PLCs store them; the read sequence counter is ABCD so both orders get exercised.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.modbus.datatypes import Area, ByteOrder, DataType
from simulator.machine import REASON_NAMES, STATE_CODES, MachineSnapshot

HOLDING_STATE = 0
HOLDING_REASON = 1
HOLDING_PROGRAM = 2
HOLDING_TOTAL = 10
HOLDING_REJECTS = 12
HOLDING_ENERGY_WH = 20
HOLDING_POWER_W = 22
HOLDING_IDEAL_CYCLE_MS = 30
HOLDING_LAST_CYCLE_MS = 31
HOLDING_READ_SEQUENCE = 40
HOLDING_PRODUCT_TEXT = 50
PRODUCT_TEXT_LENGTH = 8  # registers: 16 characters, NUL padded
INPUT_TEMPERATURE_X10 = 0
DISCRETE_DOOR_OPEN = 3

#: Registers (or bits) each area answers for, from address 0. Unused addresses inside
#: read as 0, so a collector may join requests across the gaps; beyond them the server
#: answers exception 2 (illegal data address).
HOLDING_SIZE = 64
INPUT_SIZE = 16
DISCRETE_SIZE = 16
COIL_SIZE = 16

COUNTER_ORDER = ByteOrder.CDAB
SEQUENCE_ORDER = ByteOrder.ABCD

U16_MAX = 0xFFFF


@dataclass(frozen=True)
class RegisterSpec:
    """One value of the map, in the collector's vocabulary."""

    name: str
    area: Area
    address: int
    type: DataType
    description: str
    byte_order: ByteOrder | None = None
    role: str | None = None
    scale: float | None = None
    unit: str | None = None
    states: dict[int, str] | None = None


STATE_NAMES: dict[int, str] = {code: state.value for state, code in STATE_CODES.items()}

REGISTER_MAP: tuple[RegisterSpec, ...] = (
    RegisterSpec(
        "state",
        Area.HOLDING,
        HOLDING_STATE,
        DataType.UINT16,
        "machine state code",
        role="state",
        states=STATE_NAMES,
    ),
    RegisterSpec(
        "reason",
        Area.HOLDING,
        HOLDING_REASON,
        DataType.UINT16,
        "fault or downtime reason code, 0 while running",
        role="downtime_reason",
        states=dict(REASON_NAMES),
    ),
    RegisterSpec(
        "total",
        Area.HOLDING,
        HOLDING_TOTAL,
        DataType.UINT32,
        "units produced, wraps at 2**32",
        byte_order=COUNTER_ORDER,
        role="count_total",
    ),
    RegisterSpec(
        "rejects",
        Area.HOLDING,
        HOLDING_REJECTS,
        DataType.UINT32,
        "units rejected, wraps at 2**32",
        byte_order=COUNTER_ORDER,
        role="count_reject",
    ),
    RegisterSpec(
        "energy",
        Area.HOLDING,
        HOLDING_ENERGY_WH,
        DataType.UINT32,
        "energy meter in Wh, wraps at 2**32",
        byte_order=COUNTER_ORDER,
        role="energy_kwh",
        scale=0.001,
        unit="kWh",
    ),
    RegisterSpec(
        "power",
        Area.HOLDING,
        HOLDING_POWER_W,
        DataType.UINT16,
        "power in W (saturates at 65535)",
        role="power_kw",
        scale=0.001,
        unit="kW",
    ),
    RegisterSpec(
        "ideal_cycle_time",
        Area.HOLDING,
        HOLDING_IDEAL_CYCLE_MS,
        DataType.UINT16,
        "ideal cycle time in ms",
        scale=0.001,
        unit="s",
    ),
    RegisterSpec(
        "cycle_time",
        Area.HOLDING,
        HOLDING_LAST_CYCLE_MS,
        DataType.UINT16,
        "last cycle time in ms",
        role="cycle_time_s",
        scale=0.001,
        unit="s",
    ),
    RegisterSpec(
        "read_seq",
        Area.HOLDING,
        HOLDING_READ_SEQUENCE,
        DataType.UINT32,
        "incremented by the server on every read that covers it",
        byte_order=SEQUENCE_ORDER,
    ),
    RegisterSpec(
        "temperature",
        Area.INPUT,
        INPUT_TEMPERATURE_X10,
        DataType.INT16,
        "temperature in 0.1 degC",
        scale=0.1,
        unit="degC",
    ),
    RegisterSpec(
        "door_open",
        Area.DISCRETE,
        DISCRETE_DOOR_OPEN,
        DataType.BOOL,
        "guard door open (setup and repairs)",
    ),
)


#: The product of a machine with a product schedule (``products:``): its program number
#: (read it with a ``products:`` map) and the product id as text. Both are 0 / empty on a
#: machine without a schedule, so a collector reads them only where a schedule runs.
PRODUCT_REGISTERS: tuple[RegisterSpec, ...] = (
    RegisterSpec(
        "program",
        Area.HOLDING,
        HOLDING_PROGRAM,
        DataType.UINT16,
        "program number of the current product (0: no product schedule)",
        role="product",
    ),
    RegisterSpec(
        "product_text",
        Area.HOLDING,
        HOLDING_PRODUCT_TEXT,
        DataType.STRING,
        f"current product id, {PRODUCT_TEXT_LENGTH} registers of text (ASCII/UTF-8, NUL padded)",
        byte_order=ByteOrder.ABCD,
    ),
)


def text_words(text: str, length: int) -> list[int]:
    """``length`` registers holding ``text`` (UTF-8, two bytes per register, first byte
    high), NUL padded; text that does not fit is cut at a character boundary."""
    raw = text.encode("utf-8")
    while len(raw) > length * 2:
        text = text[:-1]
        raw = text.encode("utf-8")
    raw = raw.ljust(length * 2, b"\0")
    return [raw[i] << 8 | raw[i + 1] for i in range(0, len(raw), 2)]


def u32_words(value: int, order: ByteOrder) -> list[int]:
    """Two registers holding ``value``; CDAB puts the low word first."""
    value %= 1 << 32
    high, low = value >> 16, value & U16_MAX
    words = [low, high] if order.words_little else [high, low]
    if order.bytes_swapped:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


def u32_value(words: list[int], order: ByteOrder) -> int:
    if order.bytes_swapped:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    first, second = words
    return (second << 16 | first) if order.words_little else (first << 16 | second)


def _u16(value: int) -> int:
    return max(0, min(U16_MAX, value))


def holding_registers(snap: MachineSnapshot, read_sequence: int) -> list[int]:
    """The whole holding area (HOLDING_SIZE registers) for one instant."""
    regs = [0] * HOLDING_SIZE
    regs[HOLDING_STATE] = snap.state_code
    regs[HOLDING_REASON] = snap.reason_code
    regs[HOLDING_PROGRAM] = snap.product_code
    regs[HOLDING_TOTAL : HOLDING_TOTAL + 2] = u32_words(snap.total, COUNTER_ORDER)
    regs[HOLDING_REJECTS : HOLDING_REJECTS + 2] = u32_words(snap.rejects, COUNTER_ORDER)
    regs[HOLDING_ENERGY_WH : HOLDING_ENERGY_WH + 2] = u32_words(snap.energy_wh, COUNTER_ORDER)
    regs[HOLDING_POWER_W] = _u16(snap.power_w)
    regs[HOLDING_IDEAL_CYCLE_MS] = _u16(snap.ideal_cycle_ms)
    regs[HOLDING_LAST_CYCLE_MS] = _u16(snap.cycle_ms)
    regs[HOLDING_READ_SEQUENCE : HOLDING_READ_SEQUENCE + 2] = u32_words(read_sequence, SEQUENCE_ORDER)
    if snap.product:
        end = HOLDING_PRODUCT_TEXT + PRODUCT_TEXT_LENGTH
        regs[HOLDING_PRODUCT_TEXT:end] = text_words(snap.product, PRODUCT_TEXT_LENGTH)
    return regs


def input_registers(snap: MachineSnapshot) -> list[int]:
    regs = [0] * INPUT_SIZE
    # int16 two's complement; clamp first so a runaway value cannot wrap to a cold one
    regs[INPUT_TEMPERATURE_X10] = max(-32768, min(32767, snap.temperature_x10)) & U16_MAX
    return regs


def discrete_inputs(snap: MachineSnapshot) -> list[bool]:
    bits = [False] * DISCRETE_SIZE
    bits[DISCRETE_DOOR_OPEN] = snap.door_open
    return bits


def coils(_snap: MachineSnapshot) -> list[bool]:
    return [False] * COIL_SIZE


def covers(address: int, count: int, first: int, width: int) -> bool:
    """Whether a request for [address, address + count) touches [first, first + width)."""
    return address < first + width and first < address + count


def decode_holding(regs: list[int], base: int = 0) -> dict[str, int]:
    """Read back holding values from registers starting at ``base`` (tests, tools)."""

    def at(address: int, width: int = 1) -> list[int]:
        return regs[address - base : address - base + width]

    return {
        "state_code": at(HOLDING_STATE)[0],
        "reason_code": at(HOLDING_REASON)[0],
        "product_code": at(HOLDING_PROGRAM)[0],
        "total": u32_value(at(HOLDING_TOTAL, 2), COUNTER_ORDER),
        "rejects": u32_value(at(HOLDING_REJECTS, 2), COUNTER_ORDER),
        "energy_wh": u32_value(at(HOLDING_ENERGY_WH, 2), COUNTER_ORDER),
        "power_w": at(HOLDING_POWER_W)[0],
        "ideal_cycle_ms": at(HOLDING_IDEAL_CYCLE_MS)[0],
        "cycle_ms": at(HOLDING_LAST_CYCLE_MS)[0],
        "read_sequence": u32_value(at(HOLDING_READ_SEQUENCE, 2), SEQUENCE_ORDER),
    }
