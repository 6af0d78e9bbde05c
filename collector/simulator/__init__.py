"""Simulated machines: a deterministic model and a Modbus TCP server around it.

``main(argv)`` and ``run(config_path)`` serve a simulator YAML file; they load pymodbus
only when called, so history tools can import the model without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from collector.simulator.machine import (
    Calendar,
    DailyWindow,
    Episode,
    MachineModel,
    MachineParams,
    MachineSnapshot,
    Regime,
    Totals,
    history,
    summarize,
)

if TYPE_CHECKING:
    from collector.simulator.config import SimulatorConfig

__all__ = [
    "Calendar",
    "DailyWindow",
    "Episode",
    "MachineModel",
    "MachineParams",
    "MachineSnapshot",
    "Regime",
    "Totals",
    "history",
    "main",
    "run",
    "summarize",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--config FILE [--start ISO|now] [--speed X] [--host ADDR]``."""
    from collector.simulator.server import main as _main

    return _main(argv)


def run(
    config_path: str | Path | SimulatorConfig,
    *,
    start: str | None = None,
    speed: float | None = None,
    host: str | None = None,
) -> None:
    """Serve a simulator file (or a loaded config) until SIGINT or SIGTERM (blocking)."""
    from collector.simulator.server import run as _run

    _run(config_path, start=start, speed=speed, host=host)
