"""MQTT loss and duplication under faults, every component real: mosquitto restarted under
load, the collector SIGKILLed as a child process, influxd receiving the result.

Each message carries a sequence number and its own time stamp, so a gap in InfluxDB is a
lost message and a second row for one number a duplicate; a redelivered message has the
same time stamp and overwrites its own point. "Published" means acknowledged by the broker
(PUBACK): see tests/support/mqtt_publisher.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from localservices.influxd import InfluxServer
from localservices.mosquitto import MosquittoServer
from tests.support.collector_process import REPO_ROOT, CollectorProcess
from tests.support.mqtt_publisher import (
    CollectorThread,
    MqttPeer,
    machine_rows,
    mqtt_collector_yaml,
    wait_for,
)

pytestmark = pytest.mark.slow

SEQ_SUBS = """\
    - topic: seq/+/data
      machine: "{1}"
      timestamp: {path: $.ts, unit: ns}
      fields:
        seq: {type: int}
"""


class SteadyPublisher(threading.Thread):
    """Publishes ``{"seq": n, "ts": base + n µs}`` at QoS 1 at a steady rate until stopped,
    whatever the broker is doing: paho keeps what it could not send or was not acknowledged
    and resends it after reconnecting."""

    def __init__(self, peer: MqttPeer, topic: str, rate: float, base_ns: int) -> None:
        super().__init__(name="steady-publisher", daemon=True)
        self.peer = peer
        self.topic = topic
        self.rate = rate
        self.base_ns = base_ns
        self.count = 0
        self.halt = threading.Event()

    def payload(self, seq: int) -> str:
        return json.dumps({"seq": seq, "ts": self.base_ns + seq * 1000})

    def run(self) -> None:
        start = time.monotonic()
        while not self.halt.is_set():
            self.peer.publish(self.topic, self.payload(self.count), qos=1)
            self.count += 1
            ahead = start + self.count / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def finish(self) -> None:
        self.halt.set()
        self.join(10)


def acked_seqs(peer: MqttPeer) -> set[int]:
    return {json.loads(s.payload)["seq"] for s in peer.acked()}


def assert_exactly_once(influx: InfluxServer, db: str, machine: str, acked: set[int], base_ns: int) -> None:
    rows = machine_rows(influx, db).of(machine)
    seqs = [r["seq"] for r in rows]
    assert len(seqs) == len(set(seqs)), "a sequence number is stored twice"
    missing = sorted(acked - set(seqs))
    assert not missing, f"{len(missing)} acknowledged message(s) lost, first {missing[:20]}"
    extra = sorted(set(seqs) - acked)
    assert not extra, f"stored but never acknowledged: {extra[:20]}"
    assert all(r["time"] == base_ns + r["seq"] * 1000 for r in rows), "a sample lost its own time stamp"


def test_broker_restarted_mid_stream_stores_every_acknowledged_message_once(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    text = mqtt_collector_yaml(influxd.url, influx_db, tmp_path / "spool", mosquitto.port, SEQ_SUBS)
    collector = CollectorThread.from_yaml(text).start()
    base_ns = time.time_ns() - 3600 * 10**9
    try:
        with MqttPeer(mosquitto.port, max_inflight=50) as peer:
            publisher = SteadyPublisher(peer, "seq/m1/data", rate=400, base_ns=base_ns)
            publisher.start()
            try:
                for _ in range(2):
                    time.sleep(2.0)
                    before = publisher.count
                    mosquitto.stop()  # SIGTERM: mosquitto saves sessions and queued messages
                    time.sleep(0.5)
                    mosquitto.start()
                    assert publisher.count > before, "the publisher stalled"
                time.sleep(2.0)
            finally:
                publisher.finish()
            # every message goes out and is acknowledged in the end, resent where needed
            peer.wait_all_acked(timeout=20)
            acked = acked_seqs(peer)
            assert acked == set(range(publisher.count))
            assert peer.connects >= 3, "the broker restarts did not reach the publisher"
        wait_for(
            lambda: len(machine_rows(influxd, influx_db).of("m1")) >= len(acked),
            20,
            f"{len(acked)} rows in InfluxDB",
            step=0.2,
        )
        time.sleep(0.5)  # late duplicates, if any, would land now
        assert collector.running
        assert collector.metrics.mqtt_disconnects._value.get() >= 2
    finally:
        collector.stop()
    assert_exactly_once(influxd, influx_db, "m1", acked, base_ns)


def connected_count(proc: CollectorProcess) -> int:
    return proc.log().count("mqtt: connected")


def test_collector_sigkilled_twice_stores_every_acknowledged_message_once(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(
        mqtt_collector_yaml(
            influxd.url, influx_db, tmp_path / "spool", mosquitto.port, SEQ_SUBS, client_id="killed-collector"
        ),
        encoding="utf-8",
    )
    log = tmp_path / "collector.log"
    proc = CollectorProcess(config, log).start()
    base_ns = time.time_ns() - 3600 * 10**9
    lives = 1
    try:
        wait_for(lambda: connected_count(proc) >= lives, 20, "the collector to connect")
        time.sleep(0.3)
        with MqttPeer(mosquitto.port, max_inflight=50) as peer:
            publisher = SteadyPublisher(peer, "seq/m2/data", rate=400, base_ns=base_ns)
            publisher.start()
            try:
                for _ in range(2):
                    time.sleep(2.0)
                    before = publisher.count
                    proc.kill()
                    time.sleep(0.5)
                    proc = CollectorProcess(config, log).start()
                    lives += 1
                    wait_for(
                        lambda p=proc, n=lives: connected_count(p) >= n, 20, "the collector to reconnect"
                    )
                    assert publisher.count > before, "the publisher stalled"
                time.sleep(2.0)
            finally:
                publisher.finish()
            peer.wait_all_acked(timeout=20)
            acked = acked_seqs(peer)
            assert acked == set(range(publisher.count))
        wait_for(
            lambda: len(machine_rows(influxd, influx_db).of("m2")) >= len(acked),
            25,
            f"{len(acked)} rows in InfluxDB",
            step=0.2,
        )
        time.sleep(0.5)
        assert proc.terminate() == 0, proc.log()[-3000:]
    finally:
        proc.ensure_stopped()
    assert "Traceback" not in proc.log(), proc.log()[-3000:]
    assert_exactly_once(influxd, influx_db, "m2", acked, base_ns)


# --- a crash between receiving a message and making it durable --------------------------------

#: MqttSource with a spool stand-in that never finishes an append: the process is then
#: exactly between "message received" and "samples durable" when the test kills it.
STUCK_SOURCE = """
import asyncio, sys
from collector.config import parse_config
from collector.mqtt.deadletter import DeadLetters
from collector.mqtt.source import MqttSource

class Stuck:
    async def append(self, points, **_options):
        print("appending", len(points), flush=True)
        await asyncio.Event().wait()

async def main():
    cfg = parse_config(open(sys.argv[1], encoding="utf-8").read(), env={})
    source = MqttSource(cfg.mqtt, factory=cfg.site.factory, site_line=cfg.site.line, appender=Stuck(),
                        deadletters=DeadLetters(sys.argv[2]), metrics=None)
    await source.start()
    while not source.connected.is_set():
        await asyncio.sleep(0.01)
    print("connected", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class StuckSource:
    def __init__(self, config: Path, dead: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", STUCK_SOURCE, str(config), str(dead)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace"))

    def said(self, word: str) -> bool:
        return any(line.startswith(word) for line in self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.mark.parametrize("qos", [1, 2])
def test_a_crash_before_the_samples_are_durable_loses_nothing(
    qos: int, mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    subs = f"""\
    - topic: crash/+/v
      format: value
      qos: {qos}
      machine: "{{1}}"
      field: v
      type: int
"""
    text = mqtt_collector_yaml(
        influxd.url, influx_db, tmp_path / "spool", mosquitto.port, subs, client_id=f"crash-{qos}"
    )
    config = tmp_path / "collector.yaml"
    config.write_text(text, encoding="utf-8")
    stuck = StuckSource(config, tmp_path / "dead-stuck")
    try:
        wait_for(lambda: stuck.said("connected"), 20, f"the stuck source to connect: {stuck.lines}")
        time.sleep(0.3)
        with MqttPeer(mosquitto.port) as peer:
            peer.publish_all([("crash/m3/v", b"42")], qos=qos)
        wait_for(lambda: stuck.said("appending"), 10, "the message to reach the spool stand-in")
    finally:
        stuck.kill()
    # the real collector takes over the session: the broker must deliver the message again
    collector = CollectorThread.from_yaml(text).start()
    try:
        rows = wait_for(lambda: machine_rows(influxd, influx_db).of("m3"), 5, "the redelivered message")
    finally:
        collector.stop()
    assert [r["v"] for r in rows] == [42]
