"""Modbus liveness and store-on-change end to end: real pymodbus servers -> collector -> real
influxd. The alive records must cover exactly the polled time, end at the last answered
poll when a device goes away, and a crash of the collector must leave its downtime unknown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.config import parse_config
from collector.runtime import Collector
from localservices.influxd import InfluxServer
from tests.support.collector_config import collector_yaml, device_yaml
from tests.support.collector_process import CollectorProcess
from tests.support.modbus_server import RecordingModbusServer

pytestmark = pytest.mark.slow

#: one holding block (one request per poll): the state and a counter share its time stamp
REGISTERS = """\
        - {name: state, address: 0, type: uint16, role: state,
           states: {0: stopped, 1: running, 2: idle, 3: fault, 4: setup, 5: planned_stop}}
        - {name: total, address: 1, type: uint16, role: count_total}
"""
RUNNING, IDLE = 1, 2
NS = 1_000_000_000


@dataclass(frozen=True)
class Record:
    start: int
    alive_s: float

    @property
    def end(self) -> int:
        return self.start + round(self.alive_s * NS)

    def covers(self, t: int) -> bool:
        # alive_s is a float of seconds: allow its rounding (well under a microsecond)
        return self.start <= t <= self.end + 1000


def records(influx: InfluxServer, db: str, machine: str) -> list[Record]:
    rows = influx.points("machine_liveness", db, f"machine = '{machine}'")
    return [Record(r["time"], r["alive_s"]) for r in rows if r.get("alive_s") is not None]


def marks(influx: InfluxServer, db: str, machine: str) -> list[tuple[int, str]]:
    rows = influx.points("machine_liveness", db, f"machine = '{machine}'")
    return [(r["time"], r["down_reason"]) for r in rows if r.get("down_reason") is not None]


def samples(influx: InfluxServer, db: str, machine: str, field: str) -> list[tuple[int, Any]]:
    rows = influx.points("machine_data", db, f"machine = '{machine}'")
    return [(r["time"], r[field]) for r in rows if r.get(field) is not None]


async def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``check`` (which queries influxd) off the event loop: the loop serves the PLC."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.1)


def config_text(influx: InfluxServer, db: str, spool: Path, devices: list[str], flush: str) -> str:
    text = collector_yaml(influx.url, db, spool, devices, flush_timeout="30s")
    return text + f"liveness: {{flush_interval: {flush}}}\n"


async def test_records_cover_the_polled_time_outage_ends_them_state_only_at_changes(
    modbus_server, influxd, influx_db, tmp_path
):
    flaky: RecordingModbusServer = await modbus_server(holding={0: RUNNING, 1: 0})
    steady: RecordingModbusServer = await modbus_server(holding={0: RUNNING, 1: 0})
    devices = [device_yaml("flaky", flaky.port, REGISTERS), device_yaml("steady", steady.port, REGISTERS)]
    text = config_text(influxd, influx_db, tmp_path / "spool", devices, "500ms")
    collector = Collector(parse_config(text, env={}))
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        for plc in (flaky, steady):
            await plc.wait_for_requests(5)
        flaky.set_holding(0, IDLE)  # one change of state
        await flaky.wait_for_requests(len(flaky.requests) + 5)
        await flaky.stop()
        lost_at = time.time_ns()  # no answer comes after this
        # the device is gone for a few seconds: the collector must notice (one timeout)
        await asyncio.sleep(3)
        back_at = time.time_ns()
        flaky.clear_records()
        await flaky.start()
        # reconnect backoff is at most 1 s (device_yaml): polled again well within this
        await flaky.wait_for_requests(5, timeout=30)
    finally:
        stop.set()
        await task
    stopped_at = time.time_ns()

    # steady: one record that covers every sample, ended by the clean stop
    recs = records(influxd, influx_db, "steady")
    assert len(recs) == 1, recs
    times = [t for t, _ in samples(influxd, influx_db, "steady", "count_total")]
    assert len(times) >= 10
    assert recs[0].start == times[0] and all(recs[0].covers(t) for t in times)
    assert recs[0].end == pytest.approx(times[-1], abs=1000)  # ends at the last answered poll
    assert [r for _, r in marks(influxd, influx_db, "steady")] == ["collector_stopped"]
    # state stored once: it never changed
    assert [v for _, v in samples(influxd, influx_db, "steady", "state")] == ["running"]

    # flaky: a record up to the last poll answered before the outage, a no_answer mark,
    # a new record from the first poll answered after it
    recs = records(influxd, influx_db, "flaky")
    assert len(recs) == 2, recs
    before, after = recs
    times = [t for t, _ in samples(influxd, influx_db, "flaky", "count_total")]
    assert all(before.covers(t) or after.covers(t) for t in times)
    last_before = max(t for t in times if t < lost_at)
    first_after = min(t for t in times if t > back_at)
    assert before.start == times[0] and before.end == pytest.approx(last_before, abs=1000)
    assert after.start == first_after
    assert not [t for t in times if before.end + 1000 < t < after.start]
    found = marks(influxd, influx_db, "flaky")
    assert [r for _, r in found] == ["no_answer", "collector_stopped"], found
    assert before.end < found[0][0] < after.start
    assert after.end < found[1][0] <= stopped_at
    # the state only at its change, and again at the first poll after the outage
    states = samples(influxd, influx_db, "flaky", "state")
    assert [v for _, v in states] == ["running", "idle", "idle"], states
    assert states[2][0] == after.start
    codes = samples(influxd, influx_db, "flaky", "state_code")
    assert [t for t, _ in codes] == [t for t, _ in states]


async def test_sigkill_leaves_the_downtime_unknown_and_earlier_records_intact(
    modbus_server, influxd, influx_db, tmp_path
):
    plc: RecordingModbusServer = await modbus_server(holding={0: RUNNING, 1: 0})
    config = tmp_path / "collector.yaml"
    devices = [device_yaml("m1", plc.port, REGISTERS)]
    config.write_text(config_text(influxd, influx_db, tmp_path / "spool", devices, "1s"), encoding="utf-8")
    first = CollectorProcess(config, tmp_path / "c1.log").start()
    try:
        await wait_for(
            lambda: any(r.alive_s >= 2 for r in records(influxd, influx_db, "m1")), "a 2 s alive record"
        )
        seen = records(influxd, influx_db, "m1")
        await asyncio.to_thread(first.kill)
        killed_at = time.time_ns()
    finally:
        first.ensure_stopped()
    await asyncio.sleep(15)
    restarted_at = time.time_ns()
    second = CollectorProcess(config, tmp_path / "c2.log").start()
    try:
        await wait_for(
            lambda: any(r.start > restarted_at and r.alive_s >= 1 for r in records(influxd, influx_db, "m1")),
            "a record after the restart",
        )
        # waited for in a thread: the in-process PLC must keep answering the last poll
        assert await asyncio.to_thread(second.terminate) == 0, second.log()
    finally:
        second.ensure_stopped()

    recs = records(influxd, influx_db, "m1")
    old = [r for r in recs if r.start < killed_at]
    new = [r for r in recs if r.start > killed_at]
    assert len(old) == 1 and len(new) == 1, recs
    # the record written before the kill is still there, at most grown by what was spooled
    assert old[0].start == seen[0].start and old[0].alive_s >= seen[0].alive_s
    assert old[0].end <= killed_at
    # what happened while no collector ran is unknown: no record, no mark covers it
    assert new[0].start - old[0].end >= restarted_at - killed_at
    found = marks(influxd, influx_db, "m1")
    assert [r for _, r in found] == ["collector_stopped"], found
    assert found[0][0] > new[0].end
    # the restarted collector stores the unchanged state again at its first poll
    states = samples(influxd, influx_db, "m1", "state")
    assert [v for _, v in states] == ["running", "running"]
    assert states[1][0] == new[0].start


async def test_run_once_writes_a_zero_length_record_and_the_stopped_mark(
    modbus_server, influxd, influx_db, tmp_path
):
    plc: RecordingModbusServer = await modbus_server(holding={0: RUNNING, 1: 7})
    devices = [device_yaml("m1", plc.port, REGISTERS)]
    text = config_text(influxd, influx_db, tmp_path / "spool", devices, "10s")
    result = await Collector(parse_config(text, env={})).run(asyncio.Event(), once=True)
    assert result.delivered_all
    ((sample_time, _),) = samples(influxd, influx_db, "m1", "state")
    assert records(influxd, influx_db, "m1") == [Record(sample_time, 0.0)]
    found = marks(influxd, influx_db, "m1")
    assert [r for _, r in found] == ["collector_stopped"] and found[0][0] > sample_time
