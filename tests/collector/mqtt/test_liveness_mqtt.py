"""Liveness of MQTT machines end to end: real mosquitto -> collector -> real influxd.

Alive records grow while messages come and the session is up, end at a death, a silence
or a lost session, and continue over a collector restart (SIGKILL included) or a broker
restart when the broker kept the collector's session and no death was queued meanwhile.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from collector.mqtt.source import LIVENESS_STATE_FILE
from collector.mqtt.sparkplug_codec import DataType, Metric, Payload, encode_payload, make_metric
from localservices.influxd import InfluxServer, quote_string
from localservices.mosquitto import MosquittoServer
from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto_fixtures import MosquittoFactory
from tests.support.mqtt_publisher import (
    CollectorThread,
    MqttPeer,
    machine_rows,
    mqtt_collector_yaml,
    wait_for,
)

S = 10**9
LIVENESS = "liveness: {flush_interval: 500ms}\n"

SPARKPLUG_SUBS = """\
    - topic: spBv1.0/lv/#
      format: sparkplug_b
      fields:
        state: {path: State, role: state, states: {0: stopped, 1: running, 3: fault}}
"""


def config(influxd: InfluxServer, db: str, tmp_path: Path, port: int, subs: str, **kw: str) -> str:
    return mqtt_collector_yaml(influxd.url, db, tmp_path / "spool", port, subs, **kw) + LIVENESS


Record = tuple[int, int]


def liveness(influxd: InfluxServer, db: str, machine: str) -> tuple[list[Record], list[tuple[int, str]]]:
    """(alive records as (start, end) ns, down marks as (time, reason)) of a machine."""
    if "machine_liveness" not in influxd.measurements(db):
        return [], []
    rows = influxd.points("machine_liveness", db, f'"machine" = {quote_string(machine)}')
    records = [(r["time"], r["time"] + round(r["alive_s"] * S)) for r in rows if r.get("alive_s") is not None]
    marks = [(r["time"], r["down_reason"]) for r in rows if r.get("down_reason") is not None]
    return records, marks


def wait_record(
    influxd: InfluxServer, db: str, machine: str, *, start: int | None = None, until: int, timeout: float = 20
) -> list[Record]:
    """Wait until a record of ``machine`` (starting at ``start``, if given) reaches ``until``."""

    def reached() -> list[Record] | None:
        records, _ = liveness(influxd, db, machine)
        hit = any(end >= until and (start is None or s == start) for s, end in records)
        return records if hit else None

    return wait_for(reached, timeout, f"a record of {machine!r} reaching {until}", step=0.2)


def wait_mark(influxd: InfluxServer, db: str, machine: str, reason: str, timeout: float = 20) -> int:
    def found() -> int | None:
        _, marks = liveness(influxd, db, machine)
        return next((t for t, r in marks if r == reason), None)

    return wait_for(found, timeout, f"a {reason!r} mark of {machine!r}", step=0.2)


def sp(ts_ns: int | None, seq: int | None, *metrics: Metric) -> bytes:
    ts_ms = None if ts_ns is None else ts_ns // 1_000_000
    return encode_payload(Payload(timestamp=ts_ms, seq=seq, metrics=metrics))


def birth(edge: MqttPeer, node: str = "edge", device: str = "dev") -> int:
    """NBIRTH and DBIRTH now; returns the DBIRTH's time stamp (ns, whole ms)."""
    now = time.time_ns()
    edge.publish_all(
        [
            (f"spBv1.0/lv/NBIRTH/{node}", sp(now, 0, make_metric(DataType.UInt64, 0, name="bdSeq"))),
            (
                f"spBv1.0/lv/DBIRTH/{node}/{device}",
                sp(now, 1, make_metric(DataType.Int32, 1, name="State", alias=1)),
            ),
        ]
    )
    return now // 1_000_000 * 1_000_000


def ndeath() -> bytes:
    return sp(None, None, make_metric(DataType.UInt64, 0, name="bdSeq"))


# -- messages, silence, deaths, status --------------------------------------------------------


def test_json_source_grows_one_record_and_a_silence_cuts_it_back(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    # published every 2 s; max_silence 5 s leaves room for a slow test machine
    subs = """\
    - topic: live/+/data
      machine: "{1}"
      timestamp: {path: $.ts, unit: ns}
      max_silence: 5s
      fields:
        seq: {type: int}
"""
    collector = CollectorThread.from_yaml(config(influxd, influx_db, tmp_path, mosquitto.port, subs)).start()
    sent: list[int] = []
    try:
        with MqttPeer(mosquitto.port) as pub:
            for seq in range(5):
                ts = time.time_ns()
                pub.publish_all([("live/m1/data", json.dumps({"seq": seq, "ts": ts}))])
                sent.append(ts)
                if seq == 2:
                    # the record is rewritten in place: one point, growing
                    grown = wait_record(influxd, influx_db, "m1", start=sent[0], until=ts)
                    assert len(grown) == 1
                time.sleep(2.0)
        mark = wait_mark(influxd, influx_db, "m1", "silent")
        records, marks = liveness(influxd, influx_db, "m1")
        assert collector.running
    finally:
        collector.stop()
    # cut back to the last message: the silence is not vouched for
    assert records == [(sent[0], sent[-1])]
    assert mark >= sent[-1] + 5 * S
    assert [r for _, r in marks] == ["silent"]
    assert len(machine_rows(influxd, influx_db).of("m1")) == 5


def test_sparkplug_ndeath_ends_the_records_of_the_node_and_its_device(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    collector = CollectorThread.from_yaml(
        config(influxd, influx_db, tmp_path, mosquitto.port, SPARKPLUG_SUBS)
    ).start()
    try:
        with MqttPeer(mosquitto.port) as edge:
            born = birth(edge)
            data_ts = time.time_ns()
            edge.publish_all(
                [
                    (
                        "spBv1.0/lv/DDATA/edge/dev",
                        sp(data_ts, 2, Metric(alias=1, datatype=DataType.Int32, int_value=0)),
                    )
                ]
            )
            wait_record(influxd, influx_db, "dev", start=born, until=data_ts + S)
            before_death = time.time_ns()
            edge.publish_all([("spBv1.0/lv/NDEATH/edge", ndeath())])
        marks = {m: wait_mark(influxd, influx_db, m, "death") for m in ("dev", "edge")}
        time.sleep(1.5)  # flush ticks after the death must not grow the records again
        found = {m: liveness(influxd, influx_db, m) for m in ("dev", "edge")}
    finally:
        collector.stop()
    for machine, (records, _) in found.items():
        assert len(records) == 1, machine
        start, end = records[0]
        # ticks vouch only for what was handled: never past the death's arrival
        assert start == born and data_ts <= end <= marks[machine], machine
        assert before_death <= marks[machine], machine
    states = [r.get("state") for r in machine_rows(influxd, influx_db).of("dev")]
    assert states == ["running", "stopped", "offline"]


def test_status_topic_online_and_offline(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    subs = """\
    - topic: st/+/status
      format: status
      machine: "{1}"
      online: [up, "1"]
      offline: [down, "0"]
"""
    collector = CollectorThread.from_yaml(config(influxd, influx_db, tmp_path, mosquitto.port, subs)).start()
    try:
        with MqttPeer(mosquitto.port) as pub:
            t_online = time.time_ns()
            pub.publish_all([("st/m2/status", "UP")])
            wait_record(influxd, influx_db, "m2", until=t_online + S)
            t_offline = time.time_ns()
            pub.publish_all([("st/m2/status", "down"), ("st/m2/status", "sideways")])
            mark = wait_mark(influxd, influx_db, "m2", "death")
            wait_for(lambda: collector.dead_letters(), 10, "the dead letter")
            t_back = time.time_ns()
            pub.publish_all([("st/m2/status", "1")])
            records = wait_record(influxd, influx_db, "m2", start=None, until=t_back + S)
        assert collector.counts("st/+/status") == {"received": 4, "stored": 3, "rejected": 1}
    finally:
        collector.stop()
    first, second = sorted(records)
    assert t_online <= first[0] and first[1] <= mark
    assert t_offline <= mark <= t_back
    assert second[0] >= t_back
    [letter] = collector.dead_letters()
    assert "neither online" in letter.reason
    assert machine_rows(influxd, influx_db).rows == []  # status stores no machine data


# -- restarts: the collector's ------------------------------------------------------------------


def state_records(spool: Path) -> dict[str, list[int]]:
    try:
        return json.loads((spool / LIVENESS_STATE_FILE).read_text(encoding="utf-8"))["records"]
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def caught_up(proc: CollectorProcess) -> int:
    return proc.log().count("caught up with the broker's queue")


@pytest.mark.slow
@pytest.mark.parametrize("while_down", ["quiet", "change", "death"])
def test_sigkilled_collector_continues_the_records_of_a_kept_session(
    while_down: str, mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(
        config(
            influxd, influx_db, tmp_path, mosquitto.port, SPARKPLUG_SUBS, client_id=f"killed-{while_down}"
        ),
        encoding="utf-8",
    )
    log = tmp_path / "collector.log"
    proc = CollectorProcess(cfg, log).start()
    try:
        wait_for(lambda: "mqtt: connected" in proc.log(), 20, "the collector to connect")
        time.sleep(0.3)
        with MqttPeer(mosquitto.port) as edge:
            born = birth(edge)
            wait_record(influxd, influx_db, "dev", start=born, until=born + 2 * S)
            key = "line-1\x00dev"
            wait_for(lambda: state_records(spool).get(key, [0, 0])[1] >= born + 2 * S, 10, "the state file")
            proc.kill()  # SIGKILL: no down mark, no last flush
            t_kill = time.time_ns()
            # an on-change device: quiet, or one change, or its node's will while we are away
            if while_down == "change":
                change_ts = time.time_ns()
                # by name: the restarted collector has not seen the birth's aliases
                change = sp(change_ts, 2, make_metric(DataType.Int32, 3, name="State"))
                edge.publish_all([("spBv1.0/lv/DDATA/edge/dev", change)])
            elif while_down == "death":
                edge.publish_all([("spBv1.0/lv/NDEATH/edge", ndeath())])
            time.sleep(8.0)
            t_restart = time.time_ns()
            proc = CollectorProcess(cfg, log).start()
            wait_for(lambda: caught_up(proc) >= 1, 20, "the marker round trip")
            if while_down == "death":
                wait_mark(influxd, influx_db, "dev", "death")
                time.sleep(1.5)  # flush ticks after the restart must not extend it
            else:
                wait_record(influxd, influx_db, "dev", start=born, until=t_restart + 2 * S)
            records, marks = liveness(influxd, influx_db, "dev")
        assert proc.terminate() == 0, proc.log()[-3000:]
    finally:
        proc.ensure_stopped()
    assert "Traceback" not in proc.log(), proc.log()[-3000:]
    assert len(records) == 1
    start, end = records[0]
    assert start == born
    if while_down == "death":
        # the will was queued: when the device died is unknown, and stays unknown
        assert end <= t_kill
        assert [r for _, r in marks] == ["death"]
    else:
        # no gap: the record continues over the time the collector was dead
        assert end >= t_restart + 2 * S
        assert marks == []
    states = [(r["time"], r.get("state")) for r in machine_rows(influxd, influx_db).of("dev")]
    if while_down == "change":
        assert states == [(born, "running"), (change_ts // 1_000_000 * 1_000_000, "fault")]
    after, marks_after = liveness(influxd, influx_db, "dev")
    if while_down != "death":
        assert ("collector_stopped" in [r for _, r in marks_after]) and len(after) == 1


def test_clean_stop_marks_the_machines_and_a_restart_continues_over_the_mark(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    text = config(influxd, influx_db, tmp_path, mosquitto.port, SPARKPLUG_SUBS, client_id="stopped")
    collector = CollectorThread.from_yaml(text).start()
    with MqttPeer(mosquitto.port) as edge:
        born = birth(edge)
        wait_record(influxd, influx_db, "dev", start=born, until=born + S)
    stopped_at = time.time_ns()
    collector.stop()
    mark = wait_mark(influxd, influx_db, "dev", "collector_stopped")
    assert mark >= stopped_at
    assert "line-1\x00dev" in state_records(tmp_path / "spool")
    collector = CollectorThread.from_yaml(text).start()
    try:
        t_restart = time.time_ns()
        records = wait_record(influxd, influx_db, "dev", start=born, until=t_restart + S)
    finally:
        collector.stop()
    assert len(records) == 1 and records[0][0] == born  # one record, over the mark


# -- restarts: the broker's ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("persistence", [True, False])
def test_broker_restart_is_bridged_only_when_the_session_survived(
    persistence: bool,
    mosquitto_factory: MosquittoFactory,
    influxd: InfluxServer,
    influx_db: str,
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory(persistence=persistence)
    subs = """\
    - topic: br/+/v
      format: value
      machine: "{1}"
      field: v
      type: int
"""
    collector = CollectorThread.from_yaml(config(influxd, influx_db, tmp_path, broker.port, subs)).start()
    source = collector.collector.mqtt
    assert source is not None
    try:
        with MqttPeer(broker.port) as pub:
            first = time.time_ns()
            pub.publish_all([("br/m3/v", "1")])
        wait_record(influxd, influx_db, "m3", until=first + S)
        t_down = time.time_ns()
        broker.restart()  # SIGTERM: with persistence, mosquitto keeps the session
        t_up = time.time_ns()
        wait_for(lambda: collector.metrics.mqtt_disconnects._value.get() >= 1, 10, "the disconnect")
        wait_for(source.connected.is_set, 15, "the reconnect")
        if persistence:
            records = wait_record(influxd, influx_db, "m3", until=t_up + 2 * S)
            _, marks = liveness(influxd, influx_db, "m3")
        else:
            mark = wait_mark(influxd, influx_db, "m3", "session_lost")
            time.sleep(0.3)  # the subscription is renewed with the CONNACK's callback
            with MqttPeer(broker.port) as pub:
                again = time.time_ns()
                pub.publish_all([("br/m3/v", "2")])
            records = wait_record(influxd, influx_db, "m3", until=again + S)
            _, marks = liveness(influxd, influx_db, "m3")
        assert collector.running
    finally:
        collector.stop()
    if persistence:
        assert len(records) == 1 and records[0][1] >= t_up + 2 * S
        assert marks == []
    else:
        # nothing vouches for the outage: the first record ends before the broker came back
        first_record, second_record = sorted(records)
        assert first_record[1] < t_up
        assert second_record[0] >= again
        assert t_down <= mark and [r for _, r in marks] == ["session_lost"]


def test_a_dead_lettered_message_is_no_sign_of_life(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    subs = """\
    - topic: nl/+/v
      format: value
      machine: "{1}"
      field: v
      type: int
"""
    collector = CollectorThread.from_yaml(config(influxd, influx_db, tmp_path, mosquitto.port, subs)).start()
    try:
        with MqttPeer(mosquitto.port) as pub:
            pub.publish_all([("nl/m4/v", "not a number"), ("nl/m5/v", "5")])
        wait_record(influxd, influx_db, "m5", until=time.time_ns() + S)
        assert len(collector.dead_letters()) == 1
        assert liveness(influxd, influx_db, "m4") == ([], [])
    finally:
        collector.stop()
