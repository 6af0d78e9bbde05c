"""Modbus request stamps from the collector's clock, through a real pymodbus server."""

from __future__ import annotations

import time

from collector import clock as clock_module
from collector.clock import SampleClock
from collector.config import parse_config
from collector.modbus.client import ModbusEndpoint
from collector.modbus.poller import DevicePoller

CONFIG = """\
site: {{factory: f1}}
modbus:
  devices:
    - machine: m1
      host: 127.0.0.1
      port: {port}
      registers:
        - {{name: total, address: 1, role: count_total}}
"""


def make_poller(port: int, spooled: list[bytes], **kw) -> DevicePoller:
    dev = parse_config(CONFIG.format(port=port), env={}).modbus.devices[0]

    async def accept(points: list[bytes]) -> None:
        spooled.extend(points)

    return DevicePoller(dev, factory="f1", line="line-1", endpoint=ModbusEndpoint(dev), accept=accept, **kw)


def stamps(points: list[bytes]) -> list[int]:
    return [int(p.rsplit(b" ", 1)[1]) for p in points]


async def test_a_wall_clock_stepped_back_does_not_stamp_readings_in_the_past(modbus_server, monkeypatch):
    """The edge box's clock is set back an hour between two polls: the second reading is
    stamped after the first, not an hour before it among older readings."""
    plc = await modbus_server(holding={1: 7})
    offset = [0]
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() + offset[0])
    monkeypatch.setattr(clock_module.CLOCK, "_wall", time.time_ns)
    monkeypatch.setattr(clock_module.CLOCK, "check_interval_ns", 0)
    spooled: list[bytes] = []
    poller = make_poller(plc.port, spooled)
    await poller.poll_once()
    offset[0] = -3600 * 10**9
    await poller.poll_once()
    first, second = stamps(spooled)
    assert first <= second < first + 60 * 10**9
    assert clock_module.CLOCK.steps_back >= 1


async def test_polls_are_held_until_the_clock_is_synchronised_when_required(modbus_server):
    plc = await modbus_server(holding={1: 7})
    status = [False]
    held = SampleClock(sync_status=lambda: status[0], check_interval_ns=0, require_sync=True)
    spooled: list[bytes] = []
    poller = make_poller(plc.port, spooled, clock=held)
    stats = await poller.poll_once()
    assert stats.errors == ["clock_unsynced"] and stats.requests == 0
    assert plc.requests == [] and spooled == []
    status[0] = True
    stats = await poller.poll_once()
    assert stats.errors == [] and stats.answered == 1 and len(spooled) == 1
