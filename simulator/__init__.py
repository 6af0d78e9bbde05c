"""Simulated machines: a deterministic model and a Modbus TCP server around it.

``main(argv)`` and ``run(config_path)`` serve a simulator YAML file; they load pymodbus
only when called, so history tools can import the model without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from simulator.cli import main
from simulator.machine import (
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
    from simulator.config import SimulatorConfig

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


def run(
    config_path: str | Path | SimulatorConfig,
    *,
    start: str | None = None,
    speed: float | None = None,
    host: str | None = None,
) -> None:
    """Serve a simulator file (or a loaded config) until SIGINT or SIGTERM (blocking)."""
    from simulator.server import run as _run

    _run(config_path, start=start, speed=speed, host=host)
