"""One read of every configured Modbus device, printed as the line protocol the collector
would store: ``collector test``. Nothing is spooled, nothing is sent to InfluxDB, and as
everywhere in the collector only read requests reach the device.

Telegraf's ``--test`` does the same for its inputs; it is how a commissioning engineer
checks a register map against the machine before letting the collector write anything.
MQTT subscriptions are not sampled here: a subscription waits for the machine to speak,
which a one-shot command cannot promise (``collector run`` and the broker's own tools do).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from collector.config import CollectorConfig
from collector.modbus.client import ModbusEndpoint, endpoint_key
from collector.modbus.poller import DevicePoller, PollStats


@dataclass(frozen=True)
class DeviceReading:
    line: str
    machine: str
    stats: PollStats

    @property
    def clean(self) -> bool:
        """Every planned request answered with data: the register map fits the device."""
        return self.stats.requests > 0 and not self.stats.errors


async def read_each_once(cfg: CollectorConfig, emit: Callable[[bytes], None]) -> list[DeviceReading]:
    """Poll every device once, in configuration order, handing each encoded point to ``emit``."""
    endpoints: dict[tuple[str, str], ModbusEndpoint] = {}
    readings: list[DeviceReading] = []

    async def accept(points: list[bytes]) -> None:
        for p in points:
            emit(p)

    try:
        for dev in cfg.modbus.devices:
            key = endpoint_key(dev)
            if key not in endpoints:
                endpoints[key] = ModbusEndpoint(dev, rng=random.Random(0))
            poller = DevicePoller(
                dev, factory=cfg.site.factory, line=cfg.line_of(dev), endpoint=endpoints[key], accept=accept
            )
            readings.append(DeviceReading(cfg.line_of(dev), dev.machine, await poller.poll_once()))
    finally:
        await asyncio.gather(*(ep.close() for ep in endpoints.values()), return_exceptions=True)
    return readings
