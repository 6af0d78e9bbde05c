"""The collector end to end: real pymodbus servers -> collector -> real influxd."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.config import parse_config
from collector.runtime import Collector
from tests.support.collector_config import collector_yaml, device_yaml
from tests.support.modbus_server import READ_FUNCTIONS, encode_value, free_port


def example_values() -> dict[str, object]:
    return {
        "holding": {
            0: 1,
            **dict(enumerate(encode_value(123456, "uint32", "CDAB"), 10)),
            **dict(enumerate(encode_value(789, "uint32", "CDAB"), 12)),
        },
        "input": {0: encode_value(-125, "int16")[0]},
        "discrete": {3: True},
    }


async def run_collector(text: str, *, seconds: float | None = None) -> Collector:
    collector = Collector(parse_config(text, env={}))
    stop = asyncio.Event()
    if seconds is None:
        await collector.run(stop, once=True)
    else:
        task = asyncio.create_task(collector.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task
    return collector


async def test_issue_example_lands_decoded_tagged_and_timed(modbus_server, influxd, influx_db, tmp_path):
    plc = await modbus_server(**example_values())
    text = collector_yaml(influxd.url, influx_db, tmp_path / "spool", [device_yaml("press-01", plc.port)])
    t0 = time.time_ns()
    await run_collector(text)
    t1 = time.time_ns()
    rows = influxd.points("machine_data", influx_db)
    assert rows, "nothing written"
    merged: dict[str, object] = {}
    for row in rows:
        assert row["factory"] == "test-factory"
        assert row["line"] == "line-1"
        assert row["machine"] == "press-01"
        assert t0 <= row["time"] <= t1, "timestamp must be taken at request time"
        merged.update({k: v for k, v in row.items() if v is not None})
    assert merged["state"] == "running"
    assert merged["state_code"] == 1
    assert merged["count_total"] == 123456
    assert merged["count_reject"] == 789
    assert merged["temperature"] == pytest.approx(-12.5)
    assert merged["door_open"] is True
    types = influxd.field_types("machine_data", influx_db)
    assert types == {
        "state": "string",
        "state_code": "integer",
        "count_total": "integer",
        "count_reject": "integer",
        "temperature": "float",
        "door_open": "boolean",
    }
    # the planner merged holding 0..13 into one request; input and discrete are one each
    assert sorted((r.function_code, r.address, r.count) for r in plc.requests) == [
        (2, 3, 1),
        (3, 0, 14),
        (4, 0, 1),
    ]


async def test_collector_never_sends_a_write_function_code(modbus_server, influxd, influx_db, tmp_path):
    plc = await modbus_server(**example_values())
    plc.add_hole(5, 6)  # forces the exception-2 split path too
    text = collector_yaml(
        influxd.url,
        influx_db,
        tmp_path / "spool",
        [device_yaml("press-01", plc.port, interval="50ms")],
    )
    stop = asyncio.Event()
    collector_task = asyncio.create_task(Collector(parse_config(text, env={})).run(stop))
    try:
        await wait_until(lambda: len(plc.requests) >= 5, "five requests")
        plc.drop_connections()  # reconnect path
        await wait_until(lambda: plc.connects >= 2 and len(plc.requests) > 10, "requests after a reconnect")
    finally:
        stop.set()
        await collector_task
    assert {r.function_code for r in plc.requests} <= READ_FUNCTIONS
    assert plc.writes() == []


def test_collector_source_calls_no_modbus_write_function():
    """Belt and braces for the test above: no write call exists in the collector's code."""
    root = Path(__file__).resolve().parents[3] / "collector"
    pattern = re.compile(r"\b(write_(registers?|coils?)|mask_write_register|readwrite_registers)\b")
    offenders = [
        f"{p.relative_to(root.parent)}:{n}"
        for p in root.rglob("*.py")
        if "simulator" not in p.parts
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


async def test_exception_2_splits_the_block_and_reads_the_rest(modbus_server, influxd, influx_db, tmp_path):
    values = example_values()
    plc = await modbus_server(**values)
    plc.add_hole(5, 9)  # inside the merged 0..13 block, between state and the counters
    text = collector_yaml(influxd.url, influx_db, tmp_path / "spool", [device_yaml("press-01", plc.port)])
    collector = await run_collector(text)
    rows = influxd.points("machine_data", influx_db)
    fields = {k for row in rows for k, v in row.items() if v is not None}
    assert {"state", "count_total", "count_reject", "temperature", "door_open"} <= fields
    assert collector.pollers[0].unreadable == set()
    reads = [(r.function_code, r.address, r.count) for r in plc.requests if r.function_code == 3]
    assert reads[0] == (3, 0, 14)
    assert (3, 0, 1) in reads and (3, 10, 4) in reads


async def test_register_in_a_hole_is_reported_and_the_rest_still_read(
    modbus_server, influxd, influx_db, tmp_path, caplog
):
    plc = await modbus_server(**example_values())
    plc.add_hole(12, 13)  # the rejects counter itself is refused
    text = collector_yaml(influxd.url, influx_db, tmp_path / "spool", [device_yaml("press-01", plc.port)])
    collector = await run_collector(text)
    assert collector.pollers[0].unreadable == {"rejects"}
    assert "register=rejects" in caplog.text
    fields = {k for row in influxd.points("machine_data", influx_db) for k, v in row.items() if v is not None}
    assert "count_total" in fields and "count_reject" not in fields


async def test_busy_device_is_asked_again(modbus_server, influxd, influx_db, tmp_path):
    plc = await modbus_server(**example_values())
    plc.busy_next(2)
    text = collector_yaml(influxd.url, influx_db, tmp_path / "spool", [device_yaml("press-01", plc.port)])
    await run_collector(text)
    fields = {k for row in influxd.points("machine_data", influx_db) for k, v in row.items() if v is not None}
    assert {"state", "count_total", "temperature", "door_open"} <= fields
    # three blocks, two of the answers were "busy" and asked again
    assert len(plc.requests) == 3 + 2


async def test_dead_or_slow_device_does_not_delay_another(modbus_server, influxd, influx_db, tmp_path):
    good = await modbus_server(**example_values())
    slow = await modbus_server(**example_values())
    slow.go_silent()
    dead_port = free_port()
    devices = [
        device_yaml("good", good.port, interval="100ms"),
        device_yaml("slow", slow.port, interval="100ms", timeout="1s"),
        device_yaml("dead", dead_port, interval="100ms"),
    ]
    text = collector_yaml(influxd.url, influx_db, tmp_path / "spool", devices)
    collector = Collector(parse_config(text, env={}))
    m = collector.metrics
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        # measured against the collector's own clock: three timeouts of 1 s of the slow
        # device, and the dead one refused
        await wait_until(lambda: m.poll_errors.labels("slow", "timeout")._value.get() >= 3, "3 timeouts")
        await wait_until(lambda: m.poll_errors.labels("dead", "connect")._value.get() >= 1, "a refusal")
        good_polls = m.values.labels("good")._value.get() / 6  # six values per poll
    finally:
        stop.set()
        await task
    # polled in turn behind the slow device, the good one would get about one poll per
    # timeout (3); on its own it gets about 30 at 100 ms. 8 leaves a wide margin for load.
    assert good_polls >= 8, good_polls
    # count_total: a counter is stored at every poll (the state only when it changes)
    rows = influxd.query("SELECT count(count_total) FROM machine_data GROUP BY machine", influx_db)[0].get(
        "series", []
    )
    counts = {s["tags"]["machine"]: s["values"][0][1] for s in rows}
    assert counts.get("good", 0) >= good_polls, counts
    assert "slow" not in counts and "dead" not in counts


async def test_metrics_endpoint(modbus_server, influxd, influx_db, tmp_path):
    """The scraped figures match the traffic: polls until the PLC falls silent, every point
    polled accepted, spooled and written (counted in InfluxDB), then timeouts counted."""
    plc = await modbus_server(**example_values())
    port = free_port()
    text = collector_yaml(
        influxd.url,
        influx_db,
        tmp_path / "spool",
        [device_yaml("press-01", plc.port, interval="100ms", timeout="300ms")],
        metrics=f"127.0.0.1:{port}",
    )
    collector = Collector(parse_config(text, env={}))
    m = collector.metrics
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        # a poll reads three blocks, each stored as its own point: two polls are six points
        await wait_until(lambda: m.accepted.labels("modbus")._value.get() >= 6, "two polls accepted")
        plc.go_silent()
        # no answer from now on: nothing more is accepted once a poll has timed out
        await wait_until(lambda: m.poll_errors.labels("press-01", "timeout")._value.get() >= 1, "a timeout")
        await wait_until(
            lambda: m.written._value.get() == m.accepted.labels("modbus")._value.get(), "the spool drained"
        )
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        )
    finally:
        stop.set()
        await task
    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    stored = len(influxd.points("machine_data", influx_db))
    accepted = scraped[("collector_points_accepted_total", (("source", "modbus"),))]
    assert accepted == stored >= 6
    assert scraped[("collector_points_written_total", ())] == accepted
    assert scraped[("collector_spool_pending_points", ())] == 0
    polls = scraped[("collector_poll_duration_seconds_count", (("machine", "press-01"),))]
    assert polls >= 3  # two that read everything, one that timed out
    # six register values and three requests per full poll, one more request unanswered
    assert scraped[("collector_values_read_total", (("machine", "press-01"),))] >= 12
    assert scraped[("collector_modbus_requests_total", (("machine", "press-01"),))] >= 7
    assert scraped[("collector_poll_errors_total", (("kind", "timeout"), ("machine", "press-01")))] >= 1
    assert scraped[("collector_points_dropped_total", ())] == 0
    assert scraped[("collector_points_quarantined_total", ())] == 0
    assert "collector_reconnects_total" in body and "collector_spool_oldest_age_seconds" in body


async def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    """Wait for something the code under test makes true; the deadline only ends a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {timeout:.0f} s: {what}"
        await asyncio.sleep(0.02)
