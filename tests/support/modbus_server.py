"""Modbus servers for tests: an in-process recording server with fault injection, and the
simulator as a child process that can be killed and restarted.

``RecordingModbusServer`` is a real pymodbus 3.16 TCP server. Values live in a bank owned
by this object (so they survive a restart); the datastore's action hook copies them into
the registers a request is about to read. Requests are recorded through ``trace_pdu``,
which sees every decoded request, including those answered with an exception.

Faults are injected per request in a connection handler of our own. pymodbus's handler
keeps only the *latest* request and stamps a late response with the transaction id of
whichever request arrived last; with a response delay a client that timed out and sent
the next request would accept the old answer as the new one. Our handler serves each
request with its own transaction id, one at a time per connection, as a PLC does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

REPO_ROOT = Path(__file__).resolve().parents[2]

HOLDING, INPUT, COIL, DISCRETE = "holding", "input", "coil", "discrete"
AREAS = (HOLDING, INPUT, COIL, DISCRETE)
#: the area each function code addresses
AREA_OF_FUNCTION: dict[int, str] = {
    1: COIL, 5: COIL, 15: COIL,
    2: DISCRETE,
    3: HOLDING, 6: HOLDING, 16: HOLDING, 22: HOLDING, 23: HOLDING,
    4: INPUT,
}
READ_FUNCTIONS = frozenset({1, 2, 3, 4})


# --------------------------------------------------------------------------- ports


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports free right now (all held open while choosing)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


async def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


# --------------------------------------------------------------------------- values


_STRUCT = {
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q",
    "float32": "f", "float64": "d",
}


def encode_value(value: float, type_: str = "uint16", byte_order: str = "ABCD") -> list[int]:
    """Registers holding ``value`` the way a PLC with ``byte_order`` (Telegraf notation,
    as in the collector config) sends it: CDAB swaps words, BADC bytes, DCBA both."""
    if type_ not in _STRUCT:
        raise ValueError(f"unsupported type {type_!r}; expected one of {', '.join(_STRUCT)}")
    code = _STRUCT[type_]
    raw = struct.pack(">" + code, int(value) if code not in "fd" else float(value))
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if byte_order in ("CDAB", "DCBA"):
        words.reverse()
    if byte_order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _ceil16(n: int) -> int:
    return (n + 15) // 16 * 16


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    function_code: int
    address: int
    count: int
    device_id: int
    transaction_id: int
    #: time.monotonic() on arrival
    at: float

    @property
    def area(self) -> str | None:
        return AREA_OF_FUNCTION.get(self.function_code)


@dataclass(frozen=True)
class RecordedResponse:
    #: the request's function code (without the 0x80 exception flag)
    function_code: int
    #: 0 for a normal response
    exception_code: int
    device_id: int
    transaction_id: int
    at: float


@dataclass(frozen=True)
class Hole:
    """Addresses [start, end] of an area that answer exception 2."""

    area: str
    start: int
    end: int

    def hit(self, area: str, address: int, count: int) -> bool:
        return area == self.area and address <= self.end and self.start < address + max(count, 1)


def _request_count(pdu: ModbusPDU) -> int:
    # write requests leave count at 0 and carry their values instead
    return pdu.count or len(pdu.registers) or len(pdu.bits) or 1


# --------------------------------------------------------------------------- server


class _Handler(ServerRequestHandler):
    """One client connection: queue each decoded request with its own transaction id and
    serve them in order (see the module docstring for why)."""

    def __init__(self, owner: _TcpServer, recorder: RecordingModbusServer):
        super().__init__(owner, owner.trace_packet, owner.trace_pdu, owner.trace_connect)
        self._recorder = recorder
        self._queue: deque[tuple[ModbusPDU, Any]] = deque()
        self._turn = asyncio.Lock()

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        # the base class decodes one frame per call and leaves the rest in the buffer until
        # more bytes arrive: loop, so requests sent back to back are all answered
        used = 0
        while used < len(data):
            n = super().callback_data(data[used:], addr)
            if self.last_pdu is not None:
                # the base class has just scheduled handle_later for this request
                self._queue.append((self.last_pdu, self.last_addr))
            if n <= 0:
                break
            used += n
        return used

    def handle_later(self) -> None:
        if self._queue:
            pdu, addr = self._queue.popleft()
            self._recorder._spawn(self._serve(pdu, addr))

    async def _serve(self, pdu: ModbusPDU, addr: Any) -> None:
        async with self._turn:
            response = await self._recorder._respond(pdu, self.server.context)
            if response is None or self.transport is None:
                return
            response.transaction_id = pdu.transaction_id
            response.dev_id = pdu.dev_id
            self.server_send(response, addr)


class _TcpServer(ModbusTcpServer):
    def __init__(self, recorder: RecordingModbusServer, context: SimDevice, **kwargs: Any):
        self._recorder = recorder
        super().__init__(context, **kwargs)

    def callback_new_connection(self) -> _Handler:
        return _Handler(self, self._recorder)


class RecordingModbusServer:
    """A pymodbus TCP server on 127.0.0.1 that records requests and misbehaves on demand.

    Values: ``holding=``/``input=`` map address -> register (or give a list from 0);
    ``coils=``/``discrete=`` the same with bools. Every area spans ``size`` addresses from
    0 (unset ones read 0); beyond that pymodbus itself answers exception 2.

    Faults, all changeable while running:
    - ``add_hole(start, end, area=)``: requests touching those addresses get exception 2;
    - ``busy_next(k)``: the next k requests get exception 6 (server busy);
    - ``response_delay = seconds``: every answer waits that long;
    - ``go_silent()`` / ``speak()``: connections are accepted, requests read, never answered;
    - ``drop_connections()``: close every client connection (the listener stays);
    - ``stop()`` / ``start()`` / ``restart()``: the same port again, values kept.

    ``unit_ids``: answer only these unit ids (others get exception 0x0B, as a gateway
    does); None answers any.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        holding: Mapping[int, int] | Sequence[int] = (),
        input: Mapping[int, int] | Sequence[int] = (),
        coils: Mapping[int, bool] | Sequence[bool] = (),
        discrete: Mapping[int, bool] | Sequence[bool] = (),
        size: int = 10_000,
        unit_ids: Iterable[int] | None = None,
        holes: Iterable[Hole] = (),
        response_delay: float = 0.0,
    ):
        if not 1 <= size <= 65_536:
            raise ValueError("size must be 1..65536")
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.size = size
        self._regs: dict[str, list[int]] = {HOLDING: [0] * size, INPUT: [0] * size}
        self._bits: dict[str, list[bool]] = {
            COIL: [False] * _ceil16(size),
            DISCRETE: [False] * _ceil16(size),
        }
        initial = {HOLDING: holding, INPUT: input, COIL: coils, DISCRETE: discrete}
        for area, values in initial.items():
            items = values.items() if isinstance(values, Mapping) else enumerate(values)
            for address, value in items:
                self._put(area, address, [value])
        self.unit_ids = None if unit_ids is None else frozenset(unit_ids)
        self.holes: list[Hole] = list(holes)
        self.response_delay = response_delay
        self.silent = False
        self._busy = 0
        self.requests: list[RecordedRequest] = []
        self.responses: list[RecordedResponse] = []
        self.connects = 0
        self.disconnects = 0
        self._server: _TcpServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> RecordingModbusServer:
        if self._server is not None:
            return self
        server = _TcpServer(
            self,
            self._device(),
            address=(self.host, self.port),
            trace_pdu=self._trace_pdu,
            trace_connect=self._trace_connect,
        )
        await server.serve_forever(background=True)
        self._server = server
        return self

    async def stop(self) -> None:
        """Close the listener and every connection; pending answers are dropped."""
        server, self._server = self._server, None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.shutdown()

    async def restart(self, down_for: float = 0.0) -> None:
        await self.stop()
        if down_for:
            await asyncio.sleep(down_for)
        await self.start()

    def drop_connections(self) -> None:
        """Close every client connection; the listener stays."""
        if self._server is not None:
            for conn in list(self._server.active_connections.values()):
                # a local close skips the disconnect callback; call it as pymodbus's
                # own shutdown does, so ``disconnects`` counts these too
                conn.callback_disconnected(None)
                conn.close()

    async def __aenter__(self) -> RecordingModbusServer:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ values

    def _put(self, area: str, address: int, values: Sequence[Any]) -> None:
        if area in self._regs:
            bank: list[Any] = self._regs[area]
            values = [int(v) & 0xFFFF for v in values]
        elif area in self._bits:
            bank = self._bits[area]
            values = [bool(v) for v in values]
        else:
            raise ValueError(f"unknown area {area!r}; expected one of {', '.join(AREAS)}")
        if address < 0 or address + len(values) > self.size:
            raise ValueError(f"{area} {address}+{len(values)} is outside 0..{self.size - 1}")
        bank[address : address + len(values)] = values

    def set_holding(self, address: int, values: int | Sequence[int]) -> None:
        self._put(HOLDING, address, [values] if isinstance(values, int) else values)

    def set_input(self, address: int, values: int | Sequence[int]) -> None:
        self._put(INPUT, address, [values] if isinstance(values, int) else values)

    def set_coils(self, address: int, values: bool | Sequence[bool]) -> None:
        self._put(COIL, address, [values] if isinstance(values, bool) else values)

    def set_discrete(self, address: int, values: bool | Sequence[bool]) -> None:
        self._put(DISCRETE, address, [values] if isinstance(values, bool) else values)

    def set_value(
        self,
        address: int,
        value: float,
        type_: str = "uint16",
        byte_order: str = "ABCD",
        area: str = HOLDING,
    ) -> None:
        """Store a typed value (see :func:`encode_value`) in holding or input registers."""
        self._put(area, address, encode_value(value, type_, byte_order))

    def registers(self, address: int, count: int = 1, area: str = HOLDING) -> list[int]:
        return list(self._regs[area][address : address + count])

    def bits(self, address: int, count: int = 1, area: str = COIL) -> list[bool]:
        return list(self._bits[area][address : address + count])

    # ------------------------------------------------------------------ faults

    def add_hole(self, start: int, end: int | None = None, *, area: str = HOLDING) -> Hole:
        if area not in AREAS:
            raise ValueError(f"unknown area {area!r}")
        hole = Hole(area, start, start if end is None else end)
        self.holes.append(hole)
        return hole

    def clear_holes(self) -> None:
        self.holes.clear()

    def busy_next(self, k: int) -> None:
        """Answer the next ``k`` requests with exception 6 (server busy)."""
        self._busy = k

    def go_silent(self) -> None:
        self.silent = True

    def speak(self) -> None:
        self.silent = False

    # ------------------------------------------------------------------ records

    def reads(self, function_code: int | None = None) -> list[RecordedRequest]:
        """Recorded read requests (function codes 1-4), optionally of one code."""
        return [
            r for r in self.requests
            if r.function_code in READ_FUNCTIONS
            and (function_code is None or r.function_code == function_code)
        ]

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.function_code not in READ_FUNCTIONS]

    def clear_records(self) -> None:
        self.requests.clear()
        self.responses.clear()

    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests were recorded (since the last clear)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.requests)} of {n} requests after {timeout}s")
            await asyncio.sleep(0.01)
        return list(self.requests)

    # ------------------------------------------------------------------ internals

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        now = time.monotonic()
        if sending:
            is_exc = isinstance(pdu, ExceptionResponse)
            self.responses.append(
                RecordedResponse(
                    pdu.function_code & 0x7F, pdu.exception_code if is_exc else 0,
                    pdu.dev_id, pdu.transaction_id, now,
                )
            )
        else:
            self.requests.append(
                RecordedRequest(
                    pdu.function_code, pdu.address, _request_count(pdu), pdu.dev_id,
                    pdu.transaction_id, now,
                )
            )
        return pdu

    def _trace_connect(self, connected: bool) -> None:
        if connected:
            self.connects += 1
        else:
            self.disconnects += 1

    async def _respond(self, pdu: ModbusPDU, context: Any) -> ModbusPDU | None:
        """The answer to one request, or None to stay silent."""
        if self.silent:
            return None
        if self.response_delay > 0:
            await asyncio.sleep(self.response_delay)
            if self.silent:
                return None
        fc = pdu.function_code
        if self._busy > 0:
            self._busy -= 1
            return ExceptionResponse(fc, ExcCodes.DEVICE_BUSY)
        if self.unit_ids is not None and pdu.dev_id not in self.unit_ids:
            return ExceptionResponse(fc, ExcCodes.GATEWAY_NO_RESPONSE)
        area = AREA_OF_FUNCTION.get(fc)
        count = _request_count(pdu)
        if area is not None and any(h.hit(area, pdu.address, count) for h in self.holes):
            return ExceptionResponse(fc, ExcCodes.ILLEGAL_ADDRESS)
        try:
            return await pdu.datastore_update(context, pdu.dev_id)
        except Exception:
            return ExceptionResponse(fc, ExcCodes.DEVICE_FAILURE)

    def _device(self) -> SimDevice:
        # one catch-all device (id 0 answers every unit id); the hook keeps it in step
        # with the bank
        def regs() -> list[SimData]:
            return [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)]

        def bits() -> list[SimData]:
            return [SimData(0, values=[False] * self.size, datatype=DataType.BITS)]

        return SimDevice(id=0, simdata=(bits(), bits(), regs(), regs()), action=self._action)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        area = AREA_OF_FUNCTION.get(function_code)
        if area is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if area in self._regs:
            bank = self._regs[area]
            if set_values:
                bank[address : address + len(set_values)] = [int(v) for v in set_values]
            first = address - start_address
            registers[first : first + count] = bank[address : address + count]
            return None
        # bit areas: address is the bit, count the 16-bit words the request spans
        bits = self._bits[area]
        if set_values:
            bits[address : address + len(set_values)] = [bool(v) for v in set_values]
        word = address // 16
        for w in range(word, min(word + count, len(bits) // 16)):
            value = 0
            for j, bit in enumerate(bits[w * 16 : w * 16 + 16]):
                if bit:
                    value |= 1 << j
            registers[w - start_address] = value
        return None


# --------------------------------------------------------------------------- subprocess


def simulator_config_text(
    ports: Sequence[int],
    *,
    host: str = "127.0.0.1",
    speed: float = 1.0,
    start: str = "now",
    cycle_s: float = 1.0,
    units_per_port: int = 1,
) -> str:
    """A simulator config with machines sim-NN on ``ports`` that produce round the clock
    (no faults, no waits) so tests see counters move at a known pace."""
    lines = [
        f"host: {host}",
        f"speed: {speed}",
        f"start: {start!r}" if start != "now" else "start: now",
        "calendar:",
        "  shifts: [{start: '00:00', end: '00:00', days: daily}]",
        "defaults:",
        f"  ideal_cycle_time: {cycle_s}",
        "  speed_factor: 1.0",
        "  reject_rate: 0.0",
        "  mtbf: 0",
        "  idle_probability: 0",
        "machines:",
    ]
    n = 0
    for port in ports:
        for unit in range(1, units_per_port + 1):
            n += 1
            lines.append(f"  - {{name: sim-{n:02d}, port: {port}, unit: {unit}, seed: {n}}}")
    return "\n".join(lines) + "\n"


class SimulatorProcess:
    """``python -m simulator`` as a child process: start, SIGKILL, restart.

    Output goes to ``log_path`` (read it with :meth:`log`), so a full pipe can never
    stall the child.
    """

    def __init__(self, config_path: Path, ports: Sequence[int], *, host: str = "127.0.0.1",
                 log_path: Path | None = None, extra_args: Sequence[str] = ()):
        self.config_path = Path(config_path)
        self.ports = list(ports)
        self.host = host
        self.log_path = log_path or self.config_path.with_suffix(".log")
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    async def start(self, timeout: float = 15.0) -> SimulatorProcess:
        if self.alive:
            raise RuntimeError(f"simulator already running (pid {self.pid})")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable, "-m", "simulator", "--config", str(self.config_path),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts + 1}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        try:
            await self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    async def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while True:
                if not self.alive:
                    code = self.proc.returncode if self.proc else None
                    raise RuntimeError(f"simulator exited with {code}:\n{self.log()}")
                try:
                    await wait_listening(self.host, port, timeout=0.2)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"simulator not listening on {port} after {timeout}s:\n{self.log()}"
                        ) from None

    def kill(self) -> None:
        """SIGKILL: the PLC vanishes without closing its connections cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 5.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    async def restart(self, *, down_for: float = 0.0, timeout: float = 15.0) -> SimulatorProcess:
        """Kill (if alive) and start again on the same ports."""
        self.kill()
        if down_for:
            await asyncio.sleep(down_for)
        return await self.start(timeout)

    async def stop(self) -> None:
        self.terminate()
