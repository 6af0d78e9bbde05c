"""A collector SIGKILLed mid-shift and restarted later, seen through the assessor's KPIs.

Acceptance criterion of issue 9: the time the collector was dead is *unknown*, not
running, for a Modbus source (nothing vouches for it); for an MQTT source with a
persistent session nothing is unknown (the broker kept what the devices sent, and they
sent no death), and a device whose death the broker queued meanwhile is unknown again.

Everything is real: the simulator as a child process (a Modbus machine that runs the
whole time, its counter rising), two Sparkplug B edge nodes that report by exception
with their NDEATH as last will, Mosquitto with persistence, the collector as a child
process (SIGKILLed, then started again with the same configuration, spool and session),
influxd, and the assessor's API in-process.

The criterion speaks of 20 minutes; the suite cannot wait that long, so the collector is
dead for ``DOWNTIME_S`` (20 s). Nothing in the rules depends on the length: the alive
records simply do or do not cover the gap.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assessor.registry.importer import parse_registry
from collector.mqtt.source import LIVENESS_STATE_FILE
from localservices.influxd import InfluxServer, quote_string
from localservices.mosquitto import MosquittoServer
from simulator.sparkplug_node import OnChangeEdgeNode
from tests.support.assessor_env import AssessorEnv
from tests.support.collector_config import SIMULATOR_REGISTERS, collector_yaml, device_yaml
from tests.support.collector_process import CollectorProcess
from tests.support.mqtt_publisher import MqttPeer, wait_for

pytestmark = pytest.mark.slow

FACTORY = "crash-factory"
LINE = "line-1"
GROUP = "crash"
#: the Modbus machine, the Sparkplug device that stays alive, the one that dies meanwhile
PRESS, FILLER, PACKER = "press", "filler", "packer"
NS = 1_000_000_000
DOWNTIME_S = 20.0
FLUSH_S = 1.0
POLL_S = 0.2
#: what the assessor's millisecond time stamps and float sums may be off by
TOL_S = 0.05
#: allowance for a busy test machine on top of "at most one flush interval and one poll
#: of the records is lost in a crash" (a late flush tick, a slow spool write)
SLACK_S = 2.0

#: no calendar: every hour is planned. A 1 s small-stop limit: no stop to reclassify.
REGISTRY = f"""\
factories:
  - id: {FACTORY}
    name: 크래시공장
    small_stop: 1s
    lines:
      - id: {LINE}
        machines:
          - {{id: {PRESS}, ideal_cycle_time: 1s}}
          - {{id: {FILLER}, ideal_cycle_time: 1s}}
          - {{id: {PACKER}, ideal_cycle_time: 1s}}
"""


def collector_config(influxd: InfluxServer, db: str, spool: Path, modbus_port: int, broker_port: int) -> str:
    press = device_yaml(PRESS, modbus_port, SIMULATOR_REGISTERS, interval=f"{int(POLL_S * 1000)}ms")
    base = collector_yaml(influxd.url, db, spool, [press], factory=FACTORY, flush_timeout="30s")
    return (
        base + f"liveness: {{flush_interval: {int(FLUSH_S * 1000)}ms}}\n" + "mqtt:\n"
        f"  url: mqtt://127.0.0.1:{broker_port}\n"
        # a fixed id and the default MQTT 5 session expiry (1 d): a persistent session
        "  client_id: crash-collector\n"
        f"  dead_letter_path: {spool.parent / 'deadletter'}\n"
        "  subscriptions:\n"
        f"    - topic: spBv1.0/{GROUP}/#\n"
        "      qos: 1\n"
        "      format: sparkplug_b\n"
        "      include_unmapped: false\n"
        "      fields:\n"
        "        state: {path: state, role: state, type: string}\n"
        "        count_total: {path: count_total, role: count_total}\n"
    )


# -- the Sparkplug devices -------------------------------------------------------------------


class Edge:
    """A Sparkplug B edge node with one device, on an MQTT connection of its own whose last
    will is the node's NDEATH. It reports by exception: the state once in the birth (it
    stays ``running``), then a DDATA per unit made (only the counter changed)."""

    def __init__(self, port: int, node: str, device: str, *, bd_seq: int = 0, count: int = 0) -> None:
        self.node = OnChangeEdgeNode(GROUP, node, bd_seq=bd_seq)
        self.name = node
        self.device = device
        self.count = count
        self.peer = MqttPeer(port)
        will_topic, will_payload = self.node.will()
        self.peer.client.will_set(will_topic, will_payload, qos=1)
        self.crashed = False

    def start(self) -> Edge:
        self.peer.start()
        return self

    def _values(self) -> dict[str, Any]:
        return {"state": "running", "count_total": self.count}

    def birth(self) -> None:
        ts_ms = time.time_ns() // 1_000_000
        self.peer.publish_all(self.node.birth(ts_ms, {self.device: self._values()}))

    def produce(self) -> None:
        self.count += 1
        message = self.node.changes(self.device, time.time_ns() // 1_000_000, self._values())
        assert message is not None
        self.peer.publish_all([message])

    def crash(self) -> None:
        """The connection dies without a DISCONNECT, so the broker publishes the will."""
        self.crashed = True
        self.peer.client.loop_stop()
        sock = self.peer.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def stop(self) -> None:
        if not self.crashed:
            self.peer.stop()


# -- what the collector wrote ----------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    start: int
    end: int


def records(influxd: InfluxServer, db: str, machine: str) -> list[Record]:
    """Alive records of ``machine`` (time order)."""
    if "machine_liveness" not in influxd.measurements(db):
        return []
    rows = influxd.points("machine_liveness", db, f'"machine" = {quote_string(machine)}')
    return [
        Record(r["time"], r["time"] + round(r["alive_s"] * NS)) for r in rows if r.get("alive_s") is not None
    ]


def marks(influxd: InfluxServer, db: str, machine: str) -> list[str]:
    if "machine_liveness" not in influxd.measurements(db):
        return []
    rows = influxd.points("machine_liveness", db, f'"machine" = {quote_string(machine)}')
    return [r["down_reason"] for r in rows if r.get("down_reason") is not None]


def reached(influxd: InfluxServer, db: str, machine: str, until: int, *, start_after: int = 0) -> bool:
    return any(r.end >= until and r.start > start_after for r in records(influxd, db, machine))


def state_file_reaches(spool: Path, machine: str, until: int) -> bool:
    """The MQTT liveness state file (what a restart resumes) has ``machine`` up to ``until``."""
    try:
        doc = json.loads((spool / LIVENESS_STATE_FILE).read_text(encoding="utf-8"))
        return doc["records"][f"{LINE}\x00{machine}"][1] >= until
    except (FileNotFoundError, ValueError, KeyError):
        return False


def born(edge: Edge, influxd: InfluxServer, db: str, *, after: int = 0) -> int:
    """Birth ``edge`` and return the start of the alive record it opened. A first collector
    subscribes in its CONNACK callback, so a birth may still beat the subscription: then
    nothing arrives, and the node is born again (as a Sparkplug node does when asked)."""
    for _ in range(6):
        edge.birth()
        try:
            found = wait_for(
                lambda: [r for r in records(influxd, db, edge.device) if r.start > after],
                8,
                f"the birth of {edge.device!r} in machine_liveness",
                step=0.2,
            )
        except AssertionError:
            continue
        return found[0].start
    raise AssertionError(f"{edge.device!r} was never heard")


def produce_until(check: Any, edges: list[Edge], timeout: float, what: str) -> None:
    """Each edge makes a unit about every second until ``check()`` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        for edge in edges:
            edge.produce()
        time.sleep(1.0)


def iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).isoformat()


# -- the test --------------------------------------------------------------------------------


async def test_downtime_is_unknown_for_modbus_and_bridged_by_a_kept_mqtt_session(
    simulator_process: Any,
    mosquitto: MosquittoServer,
    influxd: InfluxServer,
    influx_db: str,
    assessor_env: AssessorEnv,
    tmp_path: Path,
) -> None:
    assessor_env.store.upsert_factories(parse_registry(REGISTRY))
    sim = await simulator_process(machines=1)  # runs the whole time, one unit a second
    spool = tmp_path / "spool"
    config = tmp_path / "collector.yaml"
    config.write_text(
        collector_config(influxd, influx_db, spool, sim.ports[0], mosquitto.port), encoding="utf-8"
    )
    first = CollectorProcess(config, tmp_path / "first.log").start()
    second: CollectorProcess | None = None
    observer = MqttPeer(mosquitto.port)
    filler = Edge(mosquitto.port, "edge-a", FILLER)
    packer = Edge(mosquitto.port, "edge-b", PACKER)
    packer_again: Edge | None = None
    try:
        wait_for(lambda: "mqtt: connected" in first.log(), 30, "the collector to connect", step=0.1)
        observer.start().subscribe(f"spBv1.0/{GROUP}/NDEATH/#")
        filler.start()
        packer.start()
        filler_born = born(filler, influxd, influx_db)
        packer_born = born(packer, influxd, influx_db)
        wait_for(lambda: records(influxd, influx_db, PRESS), 30, "the press's first record", step=0.2)

        # the window opens while every machine is known to be running ...
        window_start = time.time_ns()
        before_kill = window_start + 3 * NS
        produce_until(
            lambda: (
                all(reached(influxd, influx_db, m, before_kill) for m in (PRESS, FILLER, PACKER))
                and all(state_file_reaches(spool, m, before_kill) for m in (FILLER, PACKER))
            ),
            [filler, packer],
            30,
            "three seconds of alive records (and the MQTT state file) in the window",
        )

        # ... then the collector dies without a word: no last flush, no down mark
        first.kill()
        killed_at = time.time_ns()
        # while it is away the packer's connection dies: the broker queues its will
        packer.crash()
        wait_for(
            lambda: observer.messages(f"spBv1.0/{GROUP}/NDEATH/edge-b"), 15, "the packer's will", step=0.1
        )
        # and the filler goes on making units (its DDATA wait in the collector's session)
        made_while_down = 0
        while time.time_ns() - killed_at < DOWNTIME_S * NS:
            filler.produce()
            made_while_down += 1
            time.sleep(1.0)

        restarted_at = time.time_ns()
        second = CollectorProcess(config, tmp_path / "second.log").start()
        wait_for(lambda: "caught up with the broker's queue" in second.log(), 60, "the sync marker", step=0.2)
        wait_for(lambda: "death" in marks(influxd, influx_db, PACKER), 30, "the packer's death mark")
        # the packer comes back: a new connection, a new birth
        packer_again = Edge(mosquitto.port, "edge-b", PACKER, bd_seq=1, count=packer.count).start()
        packer_reborn = born(packer_again, influxd, influx_db, after=restarted_at)

        # the window closes while every machine is known to be running again
        window_end = time.time_ns() + 3 * NS
        produce_until(
            lambda: (
                reached(influxd, influx_db, PRESS, window_end, start_after=restarted_at)
                and reached(influxd, influx_db, FILLER, window_end)
                and reached(influxd, influx_db, PACKER, window_end, start_after=restarted_at)
            ),
            [filler, packer_again],
            60,
            "alive records past the window's end",
        )
        assert second.terminate() == 0, second.log()[-3000:]
    finally:
        first.ensure_stopped()
        if second is not None:
            second.ensure_stopped()
        for edge in (filler, packer, packer_again):
            if edge is not None:
                edge.stop()
        observer.stop()
    for proc in (first, second):
        assert "Traceback" not in proc.log(), proc.log()[-3000:]

    r = await assessor_env.client.get(
        f"/api/v1/factories/{FACTORY}/kpis",
        params={"start": iso(window_start), "end": iso(window_end), "group": "machine"},
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    rows = {row["machine"]: row for row in body["rows"]}
    window_s = body["end"] - body["start"]
    lo, hi = round(body["start"] * NS), round(body["end"] * NS)
    downtime_s = (restarted_at - killed_at) / NS
    for machine in (PRESS, FILLER, PACKER):
        assert rows[machine]["planned_time_s"] == pytest.approx(window_s, abs=TOL_S), rows[machine]

    # Modbus: nothing vouches for the downtime. The press's alive records are one before the
    # kill and one from the first poll after the restart; the time between them is unknown.
    press = rows[PRESS]
    recs = records(influxd, influx_db, PRESS)
    assert_no_record_over(recs, killed_at, restarted_at)
    assert press["unknown_time_s"] == pytest.approx(uncovered_s(recs, lo, hi), abs=TOL_S), (press, recs)
    assert press["unknown_time_s"] >= downtime_s - TOL_S, press
    # the crash lost at most the last flush interval (and a poll) of what was vouched for
    last_vouched = max(x.end for x in recs if x.start < killed_at)
    assert (killed_at - last_vouched) / NS <= FLUSH_S + POLL_S + SLACK_S, (killed_at, recs)
    # the machine ran the whole time it was known; the downtime is not in its run time ...
    assert press["run_time_s"] == pytest.approx(window_s - press["unknown_time_s"], abs=TOL_S), press
    assert press["run_time_s"] <= window_s - downtime_s + TOL_S, press
    # ... nor counted as a stop: availability, if shown, is that of the known time
    assert_availability_of_known_time(press)
    # units made while nobody watched are in no ratio
    assert press["unattributed_count"] > 0, press

    # MQTT, session kept, no death queued: one record from the birth over the whole window
    filler_row = rows[FILLER]
    recs = records(influxd, influx_db, FILLER)
    assert any(x.start == filler_born and x.start <= lo and x.end >= hi for x in recs), (recs, lo, hi)
    assert filler_row["unknown_time_s"] == pytest.approx(0.0, abs=1.0), filler_row
    # the state of the birth held over the downtime: running
    assert filler_row["run_time_s"] == pytest.approx(window_s, abs=1.0), filler_row
    assert filler_row["availability"] == pytest.approx(1.0, abs=0.02), filler_row
    assert not [f for f in filler_row["flags"] if f["reason"] == "coverage"], filler_row
    # the units it made while the collector was away came through the queue, while running
    assert filler_row["unattributed_count"] == 0, filler_row
    assert filler_row["total_count"] >= made_while_down, (filler_row, made_while_down)

    # MQTT, control: the broker queued the packer's death, so from the end of its record
    # until its new birth nothing vouches for it
    packer_row = rows[PACKER]
    recs = records(influxd, influx_db, PACKER)
    assert [x.start for x in recs if x.start < killed_at] == [packer_born], recs
    assert any(x.start == packer_reborn for x in recs), (recs, packer_reborn)
    assert_no_record_over(recs, killed_at, packer_reborn)
    assert packer_row["unknown_time_s"] == pytest.approx(uncovered_s(recs, lo, hi), abs=TOL_S), packer_row
    assert packer_row["unknown_time_s"] >= downtime_s - TOL_S, packer_row
    assert packer_row["run_time_s"] == pytest.approx(window_s - packer_row["unknown_time_s"], abs=TOL_S)
    assert_availability_of_known_time(packer_row)


def assert_no_record_over(recs: list[Record], lo: int, hi: int) -> None:
    """No alive record vouches for any part of ``(lo, hi)``."""
    assert all(x.end <= lo or x.start >= hi for x in recs), (recs, lo, hi)


def uncovered_s(recs: list[Record], lo: int, hi: int) -> float:
    """Seconds of ``[lo, hi)`` that no alive record covers: what must be unknown."""
    covered, reach = 0, lo
    for x in sorted(recs, key=lambda x: x.start):
        start, end = max(x.start, reach), min(x.end, hi)
        if end > start:
            covered += end - start
            reach = end
    return (hi - lo - covered) / NS


def assert_availability_of_known_time(row: dict[str, Any]) -> None:
    """A machine that ran whenever it was known: availability 1 over the known time, or
    left out (a ``coverage`` flag) when too little of the window is known. Never the
    run time over the whole planned time, which would count unknown time as down."""
    known = row["planned_time_s"] - row["unknown_time_s"]
    assert row["coverage"] == pytest.approx(known / row["planned_time_s"], abs=0.01), row
    flagged = [f for f in row["flags"] if f["kpi"] == "availability"]
    if row["availability"] is None:
        assert [f["reason"] for f in flagged] == ["coverage"], row
        assert flagged[0]["value"] == pytest.approx(1.0, abs=0.02), row
    else:
        assert not flagged and row["availability"] == pytest.approx(1.0, abs=0.02), row
