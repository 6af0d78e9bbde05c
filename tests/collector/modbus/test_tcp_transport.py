"""The lean Modbus TCP reader against a real pymodbus server, and against a peer that
sends broken frames."""

from __future__ import annotations

import asyncio
import struct

import pytest

from collector.modbus.tcp_transport import ExceptionReply, FrameError, ModbusTcpReader


async def test_reads_registers_and_bits(modbus_server):
    plc = await modbus_server(holding={0: 1, 1: 0xFFFF, 124: 7}, coils={0: True, 9: True, 1999: True})
    reader = ModbusTcpReader(plc.host, plc.port, 1.0)
    await reader.connect()
    try:
        regs = await reader.read(3, 1, 0, 125)
        assert regs[:2] == [1, 0xFFFF] and regs[124] == 7 and len(regs) == 125
        bits = await reader.read(1, 1, 0, 2000)
        assert len(bits) == 2000
        assert [i for i, b in enumerate(bits) if b] == [0, 9, 1999]
    finally:
        reader.close()
    assert [(r.function_code, r.address, r.count) for r in plc.requests] == [(3, 0, 125), (1, 0, 2000)]


async def test_exception_reply(modbus_server):
    plc = await modbus_server(holding={0: 1})
    plc.add_hole(5, 6)
    reader = ModbusTcpReader(plc.host, plc.port, 1.0)
    await reader.connect()
    try:
        with pytest.raises(ExceptionReply) as info:
            await reader.read(3, 1, 0, 10)
        assert info.value.code == 2
        plc.busy_next(1)
        with pytest.raises(ExceptionReply) as info:
            await reader.read(3, 1, 0, 1)
        assert info.value.code == 6
    finally:
        reader.close()


async def test_late_answer_is_never_taken_for_the_next_request(modbus_server):
    plc = await modbus_server(holding={0: 111, 10: 222})
    plc.response_delay = 0.3
    reader = ModbusTcpReader(plc.host, plc.port, 0.1)
    await reader.connect()
    try:
        with pytest.raises(TimeoutError):
            await reader.read(3, 1, 0, 1)
        plc.response_delay = 0.0
        reader.timeout = 1.0
        # the answer to the first request (111) arrives while we wait for this one
        assert await reader.read(3, 1, 10, 1) == [222]
    finally:
        reader.close()


def test_write_functions_cannot_be_built():
    reader = ModbusTcpReader("127.0.0.1", 1, 1.0)
    for fc in (5, 6, 15, 16, 22, 23):
        with pytest.raises(ValueError):
            asyncio.run(reader.read(fc, 1, 0, 1))


async def _peer(reply: bytes) -> tuple[asyncio.base_events.Server, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        request = await r.readexactly(12)
        tid = struct.unpack(">H", request[:2])[0]
        w.write(reply.replace(b"TI", struct.pack(">H", tid)))
        await w.drain()
        await asyncio.sleep(1)
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("reply", "names"),
    [
        (b"TI\x00\x01\x00\x05\x01\x03\x02\x00\x01", "bad MBAP header"),  # protocol id 1
        (b"TI\x00\x00\x00\x05\x01\x03\x04\x00\x01", "byte count"),  # byte count says 4, frame holds 2
        (b"TI\x00\x00\x00\x07\x01\x03\x04\x00\x01\x00\x02", "4 bytes for 1 registers"),  # two for one
        (b"TI\x00\x00\x00\x05\x01\x04\x02\x00\x01", "function 4"),  # answer for another function
        (b"TI\x00\x00\x00\x05\x09\x03\x02\x00\x01", "unit 9"),  # answer from another unit
    ],
)
async def test_malformed_answers_are_errors_not_data(reply, names):
    server, port = await _peer(reply)
    # The timeout is far beyond the peer's one second, after which it hangs up: a reader that
    # let the bad frame pass by would end in ConnectionError (or TimeoutError), never in
    # FrameError, so only rejecting the frame itself, when it arrives, passes.
    reader = ModbusTcpReader("127.0.0.1", port, 30.0)
    await reader.connect()
    try:
        with pytest.raises(FrameError, match=names):
            await reader.read(3, 1, 0, 1)
    finally:
        reader.close()
        server.close()
        await server.wait_closed()
