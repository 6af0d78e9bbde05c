"""Every type in every byte order, read from a real pymodbus TCP server and decoded.

The server runs in-process (pymodbus SimDevice) on a free port. The words it holds are
computed here with struct, independently of the decoder. Coil and discrete-input bit order
is pinned by a golden pattern, because pymodbus has changed it between releases.
"""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from collector.modbus.config import RegisterConfig
from collector.modbus.datatypes import Area, ByteOrder
from collector.modbus.decode import BlockDecoder, FieldValue
from collector.modbus.planner import ReadRequest, ValueSpan, plan_reads, split_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEVICE_ID = 1
#: registers of this order carry no byte_order of their own: the device default applies
DEFAULT_ORDER = ByteOrder.CDAB
INPUT_ORDER = ByteOrder.DCBA
HOLE_BLOCK = 3000  # 3000-3001 and 3008 exist, 3002-3007 do not

COIL_PATTERN = [(i * 7) % 3 == 0 or i in (8, 15, 16) for i in range(37)]
DISCRETE_PATTERN = [i % 5 in (1, 4) for i in range(29)]

INT_CODES = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
             "uint64": "Q", "float16": "e", "float32": "f", "float64": "d"}
INF, NAN = float("inf"), float("nan")
f32 = struct.unpack(">f", struct.pack(">f", 3.14159))[0]
#: (type, value) for each byte order: extremes, non-finite floats, the sign of zero
NUMBERS: list[tuple[str, int | float]] = [
    ("int16", -32768), ("int16", 32767), ("int16", -1234),
    ("uint16", 0), ("uint16", 65535), ("uint16", 0x1234),
    ("int32", -(2**31)), ("int32", 2**31 - 1), ("int32", -123456789),
    ("uint32", 0), ("uint32", 2**32 - 1), ("uint32", 0x01020304),
    ("int64", -(2**63)), ("int64", 2**63 - 1), ("int64", -2),
    ("uint64", 0x0102030405060708), ("uint64", 2**63 - 1), ("uint64", 2**64 - 1),
    ("float16", 1.5), ("float16", -0.0), ("float16", 65504.0),
    ("float16", NAN), ("float16", INF), ("float16", -INF),
    ("float32", 1.0), ("float32", f32), ("float32", -0.0), ("float32", 1e-45),
    ("float32", NAN), ("float32", INF), ("float32", -INF),
    ("float64", -2.5), ("float64", -0.0), ("float64", 1.7976931348623157e308),
    ("float64", NAN), ("float64", INF), ("float64", -INF),
]
#: (name, text, encoding, registers)
TEXTS = [("hello", "Hello", "utf-8", 4), ("hangul", "한글", "utf-8", 4),
         ("hangul_cp949", "한글", "cp949", 2), ("full", "ABCD", "utf-8", 2)]


def wire_words(value_bytes: bytes, order: ByteOrder) -> list[int]:
    """How a device sends a value, from its bytes most significant first (Telegraf's rule)."""
    words = [value_bytes[i : i + 2] for i in range(0, len(value_bytes), 2)]
    if order in (ByteOrder.CDAB, ByteOrder.DCBA):
        words.reverse()
    if order in (ByteOrder.BADC, ByteOrder.DCBA):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


@dataclass
class Layout:
    """Registers of one area, the words the server holds for them, and the expected result."""

    area: Area
    registers: list[RegisterConfig] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    fields: dict[str, FieldValue] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def add(self, words: list[int], expected: FieldValue | None, problem: str = "",
            **reg: Any) -> None:
        address = reg.pop("address", len(self.words))
        r = RegisterConfig(area=self.area, address=address, **reg)
        self.registers.append(r)
        if address == len(self.words):
            self.words.extend(words)
        if problem:
            self.problems[r.name] = problem
        else:
            self.fields[r.field_key] = expected  # type: ignore[assignment]


def number_expectation(t: str, value: float) -> tuple[FieldValue | None, str]:
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"not a finite number ({value!r})"
    if t == "uint64" and value > 2**63 - 1:
        return None, "value exceeds the signed 64-bit range"
    return value, ""


def add_matrix(layout: Layout, order: ByteOrder) -> None:
    tag = order.value.lower()
    byte_order = None if order is DEFAULT_ORDER else order.value
    for i, (t, value) in enumerate(NUMBERS):
        packed = struct.pack(">" + INT_CODES[t], value)
        words = wire_words(packed, order)
        # what the type can hold: 1e-45 is the float32 1.4e-45
        expected, problem = number_expectation(t, struct.unpack(">" + INT_CODES[t], packed)[0])
        layout.add(words, expected, problem, name=f"{t}_{i}_{tag}", type=t, byte_order=byte_order)
    for name, text, encoding, length in TEXTS:
        raw = text.encode(encoding).ljust(length * 2, b"\0")
        words = [int.from_bytes(raw[k : k + 2], "big") for k in range(0, len(raw), 2)]
        if order.bytes_swapped:
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        layout.add(words, text, name=f"{name}_{tag}", type="string", length=length,
                   encoding=encoding, byte_order=byte_order)
    # one word seen five ways: bits, bytes and bool ignore the byte order
    at = len(layout.words)
    layout.add([0x80FE], True, name=f"bit15_{tag}", type="bit", bit=15, byte_order=byte_order)
    layout.add([], False, name=f"bit0_{tag}", type="bit", bit=0, address=at)
    layout.add([], -128, name=f"int8_{tag}", type="int8", byte="high", address=at,
               byte_order=byte_order)
    layout.add([], 0xFE, name=f"uint8_{tag}", type="uint8", byte="low", address=at)
    layout.add([], True, name=f"bool_{tag}", type="bool", address=at, byte_order=byte_order)


def holding_layout() -> Layout:
    layout = Layout(Area.HOLDING)
    for order in ByteOrder:
        add_matrix(layout, order)
    return layout


def input_layout() -> Layout:
    layout = Layout(Area.INPUT)
    add_matrix(layout, INPUT_ORDER)
    return layout


def bits_layout(area: Area, pattern: list[bool], addresses: Sequence[int]) -> Layout:
    layout = Layout(area)
    for a in addresses:
        layout.registers.append(RegisterConfig(name=f"{area.value}_{a}", area=area, address=a))
        layout.fields[f"{area.value}_{a}"] = pattern[a]
    return layout


HOLDING = holding_layout()
INPUT = input_layout()


def sim_device() -> SimDevice:
    regs = SimType.REGISTERS
    return SimDevice(
        id=DEVICE_ID,
        simdata=(
            [SimData(address=0, values=list(COIL_PATTERN), datatype=SimType.BITS)],
            [SimData(address=0, values=list(DISCRETE_PATTERN), datatype=SimType.BITS)],
            [
                SimData(address=0, values=HOLDING.words, datatype=regs),
                SimData(address=HOLE_BLOCK, values=[11, 12], datatype=regs),
                SimData(address=HOLE_BLOCK + 8, values=[13], datatype=regs),
            ],
            [SimData(address=0, values=INPUT.words, datatype=regs)],
        ),
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client() -> AsyncIterator[AsyncModbusTcpClient]:
    server = ModbusTcpServer(sim_device(), address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    port = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cli = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await cli.connect()
    yield cli
    cli.close()
    await server.shutdown()


async def read(cli: AsyncModbusTcpClient, req: ReadRequest) -> Any:
    method = {
        Area.HOLDING: cli.read_holding_registers,
        Area.INPUT: cli.read_input_registers,
        Area.COIL: cli.read_coils,
        Area.DISCRETE: cli.read_discrete_inputs,
    }[req.area]
    return await method(req.start, count=req.count, device_id=DEVICE_ID)


@dataclass
class Outcome:
    fields: dict[str, FieldValue]
    problems: dict[str, str]
    requests: int
    refused: list[tuple[int, int]]  # (start, count) answered with exception 2


async def collect(cli: AsyncModbusTcpClient, layout: Layout, max_gap: int = 10) -> Outcome:
    """Plan, read and decode like the poller: split a block the device refuses."""
    spans = [ValueSpan(i, r.area, r.address, r.width) for i, r in enumerate(layout.registers)]
    pending = plan_reads(spans, max_gap=max_gap)
    out = Outcome({}, {}, 0, [])
    while pending:
        req = pending.pop(0)
        resp = await read(cli, req)
        out.requests += 1
        if resp.isError():
            assert resp.exception_code == 2, resp
            out.refused.append((req.start, req.count))
            halves = split_request(req)
            assert halves is not None, f"{req} refused"
            pending[0:0] = halves
            continue
        values = resp.bits if req.area.is_bit else resp.registers
        fields, problems = BlockDecoder(req, layout.registers, DEFAULT_ORDER).decode(values)
        for key, value in fields:
            assert key not in out.fields
            out.fields[key] = value
        out.problems.update(problems)
    return out


def assert_same(got: dict[str, FieldValue], want: dict[str, FieldValue]) -> None:
    assert got.keys() == want.keys()
    wrong = {}
    for key, value in want.items():
        have = got[key]
        ok = type(have) is type(value) and have == value
        if ok and isinstance(value, float):
            ok = math.copysign(1, have) == math.copysign(1, value)  # type: ignore[arg-type]
        if not ok:
            wrong[key] = (have, value)
    assert not wrong, f"(got, want): {wrong}"


async def test_every_type_in_every_byte_order(client: AsyncModbusTcpClient) -> None:
    out = await collect(client, HOLDING)
    assert_same(out.fields, HOLDING.fields)
    assert out.problems == HOLDING.problems
    assert out.refused == []
    assert out.requests == -(-len(HOLDING.words) // 125)  # contiguous: full blocks of 125


async def test_input_registers(client: AsyncModbusTcpClient) -> None:
    out = await collect(client, INPUT)
    assert_same(out.fields, INPUT.fields)
    assert out.problems == INPUT.problems


async def test_refused_block_is_split_around_the_hole(client: AsyncModbusTcpClient) -> None:
    layout = Layout(Area.HOLDING)
    for k, a in enumerate((HOLE_BLOCK, HOLE_BLOCK + 1, HOLE_BLOCK + 8)):
        layout.registers.append(RegisterConfig(name=f"r{a}", address=a))
        layout.fields[f"r{a}"] = 11 + k
    out = await collect(client, layout, max_gap=10)
    assert out.refused == [(HOLE_BLOCK, 9)]
    assert out.requests == 3
    assert_same(out.fields, layout.fields)


async def test_exception_2_is_a_response_not_an_exception(client: AsyncModbusTcpClient) -> None:
    resp = await client.read_holding_registers(HOLE_BLOCK + 2, count=1, device_id=DEVICE_ID)
    assert resp.isError() and resp.exception_code == 2
    resp = await client.read_holding_registers(len(HOLDING.words), count=1, device_id=DEVICE_ID)
    assert resp.isError() and resp.exception_code == 2  # just past the block


async def test_server_addresses_are_zero_based(client: AsyncModbusTcpClient) -> None:
    resp = await client.read_holding_registers(0, count=3, device_id=DEVICE_ID)
    assert resp.registers == HOLDING.words[:3]
    resp = await client.read_holding_registers(HOLE_BLOCK, count=2, device_id=DEVICE_ID)
    assert resp.registers == [11, 12]


@pytest.mark.parametrize(
    ("area", "pattern"), [(Area.COIL, COIL_PATTERN), (Area.DISCRETE, DISCRETE_PATTERN)]
)
async def test_bit_i_is_address_i(
    client: AsyncModbusTcpClient, area: Area, pattern: list[bool]
) -> None:
    read_bits = client.read_coils if area is Area.COIL else client.read_discrete_inputs
    n = len(pattern)
    resp = await read_bits(0, count=n, device_id=DEVICE_ID)
    assert resp.bits[:n] == pattern
    # the response is padded with False up to a whole byte
    assert len(resp.bits) == -(-n // 8) * 8 and not any(resp.bits[n:])
    for start, count in ((5, 11), (7, 2), (9, 17), (n - 1, 1)):
        resp = await read_bits(start, count=count, device_id=DEVICE_ID)
        assert resp.bits[:count] == pattern[start : start + count], (start, count)
    layout = bits_layout(area, pattern, (0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, n - 1))
    out = await collect(client, layout, max_gap=20)
    assert out.requests == 1
    assert out.fields == layout.fields and out.problems == {}


async def test_written_coils_read_back_in_place(client: AsyncModbusTcpClient) -> None:
    written = [True, False, True, True, False, False, False, True, True]
    resp = await client.write_coils(10, written, device_id=DEVICE_ID)
    assert not resp.isError()
    try:
        resp = await client.read_coils(0, count=len(COIL_PATTERN), device_id=DEVICE_ID)
        expected = COIL_PATTERN[:10] + written + COIL_PATTERN[10 + len(written) :]
        assert resp.bits[: len(COIL_PATTERN)] == expected
    finally:
        restore = COIL_PATTERN[10 : 10 + len(written)]
        await client.write_coils(10, restore, device_id=DEVICE_ID)
