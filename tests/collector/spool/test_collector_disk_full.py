"""A full disk under the spool holds intake back and is reported; it ends no source and loses
nothing. The broker (mosquitto) and InfluxDB are real; only the spool's write fails."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from collector.config import parse_config
from collector.runtime import Collector
from localservices.influxd import InfluxServer
from localservices.mosquitto import MosquittoServer
from tests.support.collector_config import collector_yaml, device_yaml
from tests.support.disk_full import DiskFull
from tests.support.modbus_server import free_port
from tests.support.mqtt_publisher import (
    CollectorThread,
    MqttPeer,
    machine_rows,
    mqtt_collector_yaml,
    wait_for,
)

SEQ_SUBS = """\
    - topic: seq/+/data
      machine: "{1}"
      timestamp: {path: $.ts, unit: ns}
      fields:
        seq: {type: int}
"""


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())


def test_mqtt_intake_waits_out_a_full_disk_and_stores_every_message_once(
    mosquitto: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    text = mqtt_collector_yaml(
        influxd.url, influx_db, tmp_path / "spool", mosquitto.port, SEQ_SUBS, metrics=f"127.0.0.1:{port}"
    )
    disk = DiskFull(monkeypatch)
    base_ns = time.time_ns() - 3600 * 10**9

    def payloads(seqs: range) -> list[tuple[str, str]]:
        return [("seq/m1/data", json.dumps({"seq": n, "ts": base_ns + n * 1000})) for n in seqs]

    def stored() -> list[int]:
        return [r["seq"] for r in machine_rows(influxd, influx_db).of("m1")]

    collector = CollectorThread.from_yaml(text).start()
    try:
        with MqttPeer(mosquitto.port) as peer:
            peer.publish_all(payloads(range(10)))
            wait_for(lambda: len(stored()) >= 10, 20, "the first 10 messages in InfluxDB")
            assert healthz(port)[0] == 200

            disk.full.set()
            peer.publish_all(payloads(range(10, 30)))  # the broker has them; the spool cannot
            wait_for(lambda: disk.failures >= 3, 20, "writes to fail on the full disk")
            status, doc = wait_for(
                lambda: (answer := healthz(port))[1]["status"] == "degraded" and answer,
                10,
                "/healthz to say degraded",
            )
            assert status == 503
            assert any("spool writes failing" in p for p in doc["problems"]), doc
            registry = collector.metrics.registry
            assert registry.get_sample_value("collector_spool_write_failing") == 1
            assert registry.get_sample_value("collector_spool_write_errors_total", {"error": "ENOSPC"}) >= 1
            assert max(stored()) < 10, "stored although the disk was full"

            disk.full.clear()
            peer.publish_all(payloads(range(30, 40)))
            wait_for(lambda: len(stored()) >= 40, 30, "all 40 messages in InfluxDB")
            wait_for(lambda: healthz(port)[0] == 200, 30, "/healthz to be ok again")
            assert registry.get_sample_value("collector_spool_write_failing") == 0
        time.sleep(0.3)  # a late duplicate, if there were one, would land now
        assert collector.running
    finally:
        collector.stop()
    seqs = stored()
    assert sorted(seqs) == list(range(40)), "a message lost or stored twice"


REGISTERS = """\
        - {name: state, address: 0, type: uint16, role: state, store: every_poll,
           states: {0: stopped, 1: running}}
        - {name: total, address: 1, type: uint16, role: count_total}
"""


async def test_modbus_polls_wait_out_a_full_disk_and_every_answered_poll_is_stored_once(
    modbus_server, influxd: InfluxServer, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plc = await modbus_server(holding={0: 1, 1: 0})
    text = collector_yaml(
        influxd.url, influx_db, tmp_path / "spool", [device_yaml("m1", plc.port, REGISTERS, interval="100ms")]
    )
    collector = Collector(parse_config(text + "liveness: {flush_interval: 200ms}\n", env={}))
    disk = DiskFull(monkeypatch)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        await plc.wait_for_requests(5)
        disk.full.set()
        async with asyncio.timeout(20):
            while disk.failures < 3:
                await asyncio.sleep(0.01)
        assert collector.health()["status"] == "degraded"
        assert not task.done()
        disk.full.clear()
        await plc.wait_for_requests(len(plc.requests) + 5, timeout=20)
        assert collector.health()["status"] == "ok", collector.health()
    finally:
        stop.set()
        await task
    answered = len(plc.requests)  # one request per poll, every one answered

    def rows() -> list[dict]:
        return influxd.points("machine_data", influx_db, "machine = 'm1'")

    stored = [r["time"] for r in rows() if r.get("state") is not None]
    assert len(stored) == len(set(stored)) == answered, (len(stored), answered)
    alive = [r for r in influxd.points("machine_liveness", influx_db, "machine = 'm1'") if r.get("alive_s")]
    assert len(alive) == 1, alive  # one record, unbroken by the full disk
    assert alive[0]["time"] == min(stored)
    assert alive[0]["time"] + round(alive[0]["alive_s"] * 1e9) == pytest.approx(max(stored), abs=1000)
