"""Serve simulated machines over Modbus TCP with pymodbus 3.16's simulator datastore.

Each machine is a ``SimDevice`` whose ``action`` hook runs on every register access: it
advances the model to the current simulated time and rewrites the registers the request
is about to read, so every read sees the machine as it is at that instant. The model
itself never looks at a clock; the server's clock decides what "now" is.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulator import register_map as rm
from simulator.config import (
    SimulatorConfig,
    SimulatorConfigError,
    load_simulator_config,
    parse_start,
)
from simulator.machine import UINT32, MachineModel, MachineSnapshot

log = logging.getLogger(__name__)

#: Simulated epoch seconds "now".
Clock = Callable[[], float]

# function codes by the area they address (the simulator datastore maps them the same way)
_HOLDING_CODES = frozenset({3, 6, 16, 22, 23})
_INPUT_CODES = frozenset({4})
_DISCRETE_CODES = frozenset({2})
_COIL_CODES = frozenset({1, 5, 15})


@dataclass
class SimClock:
    """Simulated time running ``speed`` times faster than the monotonic clock."""

    start_s: float
    speed: float = 1.0
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def __call__(self) -> float:
        return self.start_s + (time.monotonic() - self._t0) * self.speed


def pack_bits(bits: Sequence[bool]) -> list[int]:
    """Bits into 16-bit words, bit 0 in the least significant position (the layout the
    simulator datastore keeps coils and discrete inputs in)."""
    words = []
    for i in range(0, len(bits), 16):
        word = 0
        for j, bit in enumerate(bits[i : i + 16]):
            if bit:
                word |= 1 << j
        words.append(word)
    return words


class MachineDevice:
    """One model behind one unit id. Holds the read sequence counter, which the server,
    not the model, owns: it counts requests, not machine events."""

    def __init__(self, name: str, unit: int, model: MachineModel, clock: Clock):
        self.name = name
        self.unit = unit
        self.model = model
        self.clock = clock
        self.read_sequence = 0

    def sim_device(self) -> SimDevice:
        return SimDevice(id=self.unit, simdata=_blocks(readonly=True), action=self.action)

    def current(self) -> MachineSnapshot:
        """Advance the model to now and return its snapshot."""
        # a clock that steps back (a test's fake clock) must not break the model
        self.model.advance(max(self.clock(), self.model.now_s))
        return self.model.snapshot()

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this on every access, after the address check and before it
        slices the response out of ``registers``. For bit areas ``address`` is the bit
        address but ``count`` is the number of 16-bit words the bits span."""
        if set_values is not None:
            # holding and input blocks are read-only in the datastore, but pymodbus does
            # not apply that flag to bit blocks: refuse coil writes the same way
            return ExcCodes.ILLEGAL_ADDRESS
        snap = self.current()
        if function_code in _HOLDING_CODES:
            if rm.covers(address, count, rm.HOLDING_READ_SEQUENCE, 2):
                self.read_sequence = (self.read_sequence + 1) % UINT32
            image = rm.holding_registers(snap, self.read_sequence)
        elif function_code in _INPUT_CODES:
            image = rm.input_registers(snap)
        elif function_code in _DISCRETE_CODES:
            image = pack_bits(rm.discrete_inputs(snap))
        elif function_code in _COIL_CODES:
            image = pack_bits(rm.coils(snap))
        else:
            return ExcCodes.ILLEGAL_FUNCTION
        registers[: len(image)] = image
        return None


@dataclass
class PortServer:
    """One listening port with one or more machines as unit ids."""

    host: str
    port: int
    devices: list[MachineDevice]
    server: ModbusTcpServer | None = None

    async def start(self) -> None:
        sim = [d.sim_device() for d in self.devices]
        if all(d.unit != 0 for d in self.devices):
            # without a device 0 pymodbus answers an unknown unit id with exception 4
            # and an error log; a gateway answers 0x0B instead
            sim.append(_absent_units())
        server = ModbusTcpServer(sim, address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            raise RuntimeError(f"cannot listen on {self.host}:{self.port} (in use?)") from None
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None


def _blocks(readonly: bool) -> tuple[list[SimData], ...]:
    """Separate blocks per area (the tuple form), each from address 0: holding 0 and
    input 0 are different registers, and coil/discrete addresses count bits."""

    def regs(size: int) -> list[SimData]:
        return [SimData(0, count=size, values=0, datatype=DataType.REGISTERS, readonly=readonly)]

    def bits(size: int) -> list[SimData]:
        return [SimData(0, values=[False] * size, datatype=DataType.BITS, readonly=readonly)]

    return (
        bits(rm.COIL_SIZE),
        bits(rm.DISCRETE_SIZE),
        regs(rm.HOLDING_SIZE),
        regs(rm.INPUT_SIZE),
    )


def _absent_units() -> SimDevice:
    async def no_such_unit(*_args: object) -> ExcCodes:
        return ExcCodes.GATEWAY_NO_RESPONSE

    return SimDevice(id=0, simdata=_blocks(readonly=False), action=no_such_unit)


class LineServer:
    """All machines of a simulator config, one pymodbus server per port."""

    def __init__(self, devices: Sequence[MachineDevice], ports: dict[str, int], host: str):
        by_port: dict[int, list[MachineDevice]] = {}
        for d in devices:
            by_port.setdefault(ports[d.name], []).append(d)
        self.devices = {d.name: d for d in devices}
        self.ports = [PortServer(host, port, devs) for port, devs in sorted(by_port.items())]

    @classmethod
    def from_config(
        cls,
        config: SimulatorConfig,
        *,
        clock: Clock | None = None,
        start_time_s: float | None = None,
        speed: float | None = None,
        host: str | None = None,
    ) -> LineServer:
        """Build models at the configured start (or ``start_time_s``) and a clock that
        runs at the configured speed (or ``speed``), unless a ``clock`` is given."""
        if clock is None:
            start = start_time_s if start_time_s is not None else config.start_time_s(time.time())
            clock = SimClock(start, speed if speed is not None else config.speed)
        t0 = clock()
        devices = [MachineDevice(m.name, m.unit, config.build_model(m, t0), clock) for m in config.machines]
        return cls(devices, {m.name: m.port for m in config.machines}, host or config.host)

    async def start(self) -> None:
        started: list[PortServer] = []
        try:
            for ps in self.ports:
                await ps.start()
                started.append(ps)
                names = ", ".join(f"{d.name} (unit {d.unit})" for d in ps.devices)
                log.info("listening on %s:%d: %s", ps.host, ps.port, names)
        except BaseException:
            for ps in started:
                await ps.stop()
            raise

    async def stop(self) -> None:
        for ps in self.ports:
            await ps.stop()

    async def __aenter__(self) -> LineServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


async def serve(
    config: SimulatorConfig,
    *,
    start_time_s: float | None = None,
    speed: float | None = None,
    host: str | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when run from :func:`run`)."""
    stop = stop or asyncio.Event()
    line = LineServer.from_config(config, start_time_s=start_time_s, speed=speed, host=host)
    async with line:
        await stop.wait()


def _as_config(source: str | Path | SimulatorConfig) -> SimulatorConfig:
    if isinstance(source, SimulatorConfig):
        return source
    return load_simulator_config(source)


def run(
    config_path: str | Path | SimulatorConfig,
    *,
    start: str | None = None,
    speed: float | None = None,
    host: str | None = None,
) -> None:
    """Blocking entry point: serve a simulator config until SIGINT or SIGTERM."""
    config = _as_config(config_path)
    start_time_s = None if start in (None, "now") else parse_start(start).timestamp()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, start_time_s=start_time_s, speed=speed, host=host, stop=stop)

    asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="simulator",
        description="Serve simulated machines over Modbus TCP.",
    )
    parser.add_argument("--config", required=True, help="simulator YAML, such as configs/simulated-line.yaml")
    parser.add_argument("--start", help="simulated start time, 'now' or ISO with offset")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second")
    parser.add_argument("--host", help="address to listen on (overrides the file)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if args.speed is not None and args.speed <= 0:
        parser.error("--speed must be positive")
    # every check before logging is set up: a bad invocation leaves the process untouched
    try:
        config = load_simulator_config(args.config)
        if args.start not in (None, "now"):
            parse_start(args.start)
    except SimulatorConfigError as exc:
        print("\n".join([f"{exc.source}: invalid simulator config", *exc.errors]), file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pymodbus narrates every listen and connection at info; keep that for --log-level debug
    if level > logging.DEBUG:
        logging.getLogger("pymodbus").setLevel(max(level, logging.WARNING))
    try:
        run(config, start=args.start, speed=args.speed, host=args.host)
    except RuntimeError as exc:
        # a port that cannot be opened
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
