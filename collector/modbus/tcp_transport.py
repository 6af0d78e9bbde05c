"""A lean Modbus TCP reader (MBAP framing) for the hot path.

Why not pymodbus's client here: polling 500 PLCs once a second, pymodbus spends about
0.4 ms of CPU per request (framer objects, transaction manager, trace hooks), which
alone is most of the collector's budget. This reader sends a 12-byte request and parses
the answer in place, for about a tenth of that. It can only build the four read
requests (function codes 1-4): there is no way to send a write through it.
Serial RTU and RTU-over-TCP still go through pymodbus (`client.py`).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque

_REQUEST = struct.Struct(">HHHBBHH")  # transaction, protocol 0, length 6, unit, fc, address, count
_MBAP = struct.Struct(">HHHB")  # transaction, protocol, length, unit
READ_FUNCTIONS = frozenset({1, 2, 3, 4})
_BIT_FUNCTIONS = frozenset({1, 2})
_MAX_FRAME = 260


class FrameError(Exception):
    """The peer sent something that is not a well-formed answer to our request."""


class ExceptionReply(Exception):
    def __init__(self, code: int):
        self.code = code
        super().__init__(f"Modbus exception {code}")


class _ReaderProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        #: frames received and not yet taken (one read may bring several)
        self._frames: deque[tuple[int, int, int, bytes]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc or 'closed by peer'}"))

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= 7:
            tid, proto, length, unit = _MBAP.unpack_from(buf)
            if proto != 0 or not 2 <= length <= _MAX_FRAME - 6:
                self._fail(FrameError(f"bad MBAP header (protocol {proto}, length {length})"))
                return
            end = 6 + length
            if len(buf) < end:
                return
            pdu = bytes(buf[7:end])
            del buf[:end]
            self._frames.append((tid, unit, pdu[0], pdu[1:]))
        waiter = self._waiter
        if self._frames and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def discard_stale(self) -> None:
        """Before a new request nothing is outstanding: anything queued is a late answer."""
        self._frames.clear()

    def next_frame(self) -> tuple[int, int, int, bytes] | None:
        return self._frames.popleft() if self._frames else None

    def arm(self) -> asyncio.Future[None]:
        self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter


def _expire(waiter: asyncio.Future[object], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no answer within {timeout}s"))


class ModbusTcpReader:
    """One TCP connection; the caller keeps one request in flight at a time."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._proto: _ReaderProtocol | None = None
        self._tid = 0

    @property
    def connected(self) -> bool:
        p = self._proto
        return p is not None and p.transport is not None and not p.lost.done()

    async def connect(self) -> bool:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(_ReaderProtocol, self.host, self.port), timeout=self.timeout
        )
        self._proto = proto
        return True

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None

    async def read(self, function: int, unit: int, address: int, count: int) -> list[int] | list[bool]:
        """Registers (fc 3, 4) or bits (fc 1, 2); raises ExceptionReply, FrameError,
        ConnectionError or TimeoutError."""
        if function not in READ_FUNCTIONS:
            raise ValueError(f"function code {function} is not a read")
        proto = self._proto
        if proto is None or proto.transport is None:
            raise ConnectionError("not connected")
        self._tid = tid = (self._tid + 1) & 0xFFFF
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        proto.discard_stale()
        proto.transport.write(_REQUEST.pack(tid, 0, 6, unit, function, address, count))
        while True:
            frame = proto.next_frame()
            if frame is None:
                waiter = proto.arm()
                # one timer handle instead of wait_for's wrapper: this runs 500 times a second
                timer = loop.call_at(deadline, _expire, waiter, self.timeout)
                try:
                    await waiter
                finally:
                    timer.cancel()
                continue
            r_tid, r_unit, r_fc, body = frame
            if r_tid == tid:
                break
            # a late answer to an earlier, timed-out request: skip it, wait for ours
        if r_fc == function | 0x80:
            raise ExceptionReply(body[0] if body else 0)
        if r_fc != function or r_unit != unit:
            raise FrameError(
                f"answer for unit {r_unit} function {r_fc}, asked unit {unit} function {function}"
            )
        if not body or body[0] != len(body) - 1:
            raise FrameError("byte count does not match the frame")
        data = body[1:]
        if function in _BIT_FUNCTIONS:
            if len(data) != (count + 7) // 8:
                raise FrameError(f"{len(data)} bytes for {count} bits")
            return [bool(data[i >> 3] >> (i & 7) & 1) for i in range(count)]
        if len(data) != 2 * count:
            raise FrameError(f"{len(data)} bytes for {count} registers")
        return list(struct.unpack(f">{count}H", data))
