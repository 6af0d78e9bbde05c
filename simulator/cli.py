"""``simulator`` command line (also ``python -m simulator``): serve a simulator file's
machines over Modbus TCP. The MQTT machines: ``python -m simulator.mqtt_publisher``."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``--config FILE [--start ISO|now] [--speed X] [--host ADDR]``."""
    # pymodbus loads only here, so history tools can import the model without it
    from simulator.server import main as _main

    return _main(argv)
