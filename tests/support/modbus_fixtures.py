"""Modbus fixtures: in-process recording servers, the simulator as a child process, ports.

    async def test_reads(modbus_server):
        plc = await modbus_server(holding={0: 1, 10: 42})
        plc.busy_next(2)
        ...  # point a client at plc.host, plc.port; inspect plc.requests

    async def test_plc_dies(simulator_process):
        sim = await simulator_process(machines=2)   # ports in sim.ports
        sim.kill()
        await sim.restart()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support import modbus_server as support
from tests.support.modbus_server import (
    RecordingModbusServer,
    SimulatorProcess,
    free_ports,
    simulator_config_text,
)

ModbusServerFactory = Callable[..., Awaitable[RecordingModbusServer]]
SimulatorFactory = Callable[..., Awaitable[SimulatorProcess]]


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return support.free_port()


@pytest_asyncio.fixture
async def modbus_server() -> AsyncIterator[ModbusServerFactory]:
    """Factory: ``await modbus_server(**kwargs)`` starts a RecordingModbusServer (same
    keywords as its constructor); all are stopped at teardown."""
    servers: list[RecordingModbusServer] = []

    async def start(**kwargs: Any) -> RecordingModbusServer:
        server = RecordingModbusServer(**kwargs)
        servers.append(server)
        return await server.start()

    yield start
    for server in reversed(servers):
        await server.stop()


@pytest_asyncio.fixture
async def simulator_process(tmp_path: Path) -> AsyncIterator[SimulatorFactory]:
    """Factory: ``await simulator_process(machines=1, ...)`` runs the simulator as a
    child process on fresh ports (``.ports``), round-the-clock machines by default.

    Keywords: ``machines`` (one port each), ``units_per_port``, ``speed``, ``cycle_s``,
    ``start``; or ``config=`` (YAML text or a path) with ``ports=`` it listens on.
    Every process is terminated at teardown.
    """
    procs: list[SimulatorProcess] = []

    async def start(
        *,
        machines: int = 1,
        units_per_port: int = 1,
        speed: float = 1.0,
        cycle_s: float = 1.0,
        start: str = "now",
        config: str | Path | None = None,
        ports: list[int] | None = None,
        extra_args: list[str] | None = None,
    ) -> SimulatorProcess:
        n = len(procs)
        if config is None:
            ports = free_ports(machines)
            text = simulator_config_text(
                ports, speed=speed, cycle_s=cycle_s, start=start, units_per_port=units_per_port
            )
            path = tmp_path / f"simulator-{n}.yaml"
            path.write_text(text, encoding="utf-8")
        else:
            if not ports:
                raise ValueError("config= needs ports= (where the child will listen)")
            if isinstance(config, Path):
                path = config
            else:
                path = tmp_path / f"simulator-{n}.yaml"
                path.write_text(config, encoding="utf-8")
        proc = SimulatorProcess(
            path, ports, log_path=tmp_path / f"simulator-{n}.log", extra_args=extra_args or ()
        )
        procs.append(proc)
        return await proc.start()

    yield start
    for proc in reversed(procs):
        await proc.stop()
