"""MQTT end to end: real mosquitto -> collector (in-process) -> real influxd.

Every payload format and time stamp unit, topic templates, Korean names, Sparkplug B
births/aliases/rebirths/deaths, dead letters for bad messages, persistent sessions,
resubscription after a broker restart, credentials from the environment, and a fuzz test
that pushes random payloads through the broker.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from collector.mqtt.mapping import BadMessage, SubscriptionMapper
from collector.mqtt.sparkplug import SparkplugTracker
from collector.mqtt.sparkplug_codec import (
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
    make_metric,
)
from datacontract.lineprotocol import encode_point, series_prefix
from tests.support.mqtt_fuzz import (
    FUZZ_MAX_PAYLOAD,
    FUZZ_SUBS,
    Expected,
    Refused,
    expect_json,
    expect_value,
    json_payload,
    value_payload,
)
from tests.support.mqtt_publisher import (
    CollectorThread,
    MqttPeer,
    machine_rows,
    mqtt_collector_yaml,
    wait_for,
    wait_rows,
)

NS = 10**9
#: 2024-05-01T12:00:00Z
T0 = 1_714_564_800


def start_collector(influxd, db: str, tmp_path: Path, port: int, subs: str, **kw: str) -> CollectorThread:
    text = mqtt_collector_yaml(influxd.url, db, tmp_path / "spool", port, subs, **kw)
    return CollectorThread.from_yaml(text).start()


FORMAT_SUBS = """\
    - topic: plant/+/+/json
      line: "{1}"
      machine: "{2}"
      timestamp: {path: $.ts, unit: ms}
      include_unmapped: true
      fields:
        temperature: {path: $.temp, type: float}
        total: {path: $.counters.total, role: count_total}
        status: {path: $.status, role: state, states: {RUN: running, STOP: stopped}}
    - topic: plant/+/+/batch
      line: "L-{1}"
      machine: "{2}"
      timestamp: {path: "$['t']", unit: s}
      fields:
        temperature: {path: $.temp, type: float}
        code: {path: $.code, role: alarm_code}
    - topic: plant/+/+/value/+
      format: value
      line: "{1}"
      machine: "{2}"
      field: "{4}"
      type: float
    - topic: plant/+/+/state
      format: value
      line: "{1}"
      machine: "{2}"
      role: state
      states: {0: stopped, 1: running, 3: fault}
"""


def test_every_format_and_topic_template_lands_exactly(mosquitto, influxd, influx_db, tmp_path):
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, FORMAT_SUBS)
    try:
        with MqttPeer(mosquitto.port) as pub:
            t_before = time.time_ns()
            pub.publish_all(
                [
                    (
                        "plant/line-1/press-01/json",
                        json.dumps(
                            {
                                "ts": T0 * 1000 + 123,
                                "temp": 21,
                                "counters": {"total": 1234},
                                "status": "RUN",
                                "operator": "kim",
                                "door": True,
                                "nested": {"ignored": 1},
                            }
                        ),
                    ),
                    (
                        "plant/line-2/oven-7/batch",
                        json.dumps(
                            [
                                {"t": T0, "temp": 180.5, "code": 0},
                                {"t": T0 + 1.25, "temp": "181", "code": "17"},
                                {"t": str(T0 + 2), "temp": 182.25, "code": 3.0},
                            ]
                        ),
                    ),
                    ("plant/line-3/pump-2/value/pressure", b" 4.5 "),
                    ("plant/line-3/pump-2/value/flow", b"12"),
                    ("plant/line-3/pump-2/state", b"3"),
                ]
            )
            press = wait_rows(influxd, influx_db, "press-01", 1)
            oven = wait_rows(influxd, influx_db, "oven-7", 3)
            pump = wait_rows(influxd, influx_db, "pump-2", 3)
            t_after = time.time_ns()
        assert collector.running
    finally:
        collector.stop()

    assert len(press) == 1
    row = press[0]
    assert (row["factory"], row["line"], row["machine"]) == ("test-factory", "line-1", "press-01")
    assert row["time"] == (T0 * 1000 + 123) * 10**6
    values = {k: v for k, v in row.items() if v is not None and k not in ("factory", "line", "machine")}
    assert values == {
        "time": (T0 * 1000 + 123) * 10**6,
        "temperature": 21.0,
        "count_total": 1234,
        "state": "running",
        "operator": "kim",
        "door": True,
    }
    types = influxd.field_types("machine_data", influx_db)
    assert types["temperature"] == "float"
    assert types["count_total"] == "integer"
    assert types["alarm_code"] == "integer"
    assert types["state"] == "string"
    assert types["door"] == "boolean"

    assert [(r["line"], r["time"], r["temperature"], r["alarm_code"]) for r in oven] == [
        ("L-line-2", T0 * NS, 180.5, 0),
        ("L-line-2", (T0 + 1) * NS + 250_000_000, 181.0, 17),
        ("L-line-2", (T0 + 2) * NS, 182.25, 3),
    ]

    # value messages take the arrival time; a field per topic level, role state with a map
    assert all(t_before <= r["time"] <= t_after for r in pump)
    merged = {}
    for r in pump:
        assert r["line"] == "line-3"
        merged.update({k: v for k, v in r.items() if v is not None})
    assert merged["pressure"] == 4.5
    assert merged["flow"] == 12.0
    assert merged["state"] == "fault"
    assert merged["state_code"] == 3

    for flt in ("plant/+/+/json", "plant/+/+/batch", "plant/+/+/state"):
        assert collector.counts(flt) == {"received": 1, "stored": 1, "rejected": 0}, flt
    assert collector.counts("plant/+/+/value/+") == {"received": 2, "stored": 2, "rejected": 0}
    assert collector.dead_letters() == []


UNIT_SUBS = (
    "".join(
        f"""\
    - topic: ts/{unit}/+
      line: "{{1}}"
      machine: "{{2}}"
      timestamp: {{path: $.at, unit: {unit}}}
      fields:
        v: {{type: int}}
"""
        for unit in ("s", "ms", "us", "ns", "iso")
    )
    + """\
    - topic: ts/arrival/+
      line: "{1}"
      machine: "{2}"
      fields:
        v: {type: int}
"""
)

#: (unit, time stamp in the payload, expected nanoseconds)
UNIT_CASES = [
    ("s", T0, T0 * NS),
    ("s", T0 + 0.5, T0 * NS + 500_000_000),
    ("s", 1714564800.123456, T0 * NS + 123_456_000),
    ("s", "1714564801", (T0 + 1) * NS),
    ("ms", T0 * 1000 + 7, T0 * NS + 7_000_000),
    ("ms", T0 * 1000 + 7.5, T0 * NS + 7_500_000),
    ("us", T0 * 10**6 + 123_456, T0 * NS + 123_456_000),
    ("ns", T0 * NS + 123_456_789, T0 * NS + 123_456_789),
    ("ns", str(T0 * NS + 987_654_321), T0 * NS + 987_654_321),
    ("iso", "2024-05-01T12:00:00Z", T0 * NS),
    ("iso", "2024-05-01T21:00:00.123456789+09:00", T0 * NS + 123_456_789),
    ("iso", "2024-05-01T12:00:00.5+00:00", T0 * NS + 500_000_000),
]


def test_every_timestamp_unit_is_stored_to_the_nanosecond(mosquitto, influxd, influx_db, tmp_path):
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, UNIT_SUBS)
    try:
        with MqttPeer(mosquitto.port) as pub:
            messages = [
                (f"ts/{unit}/m{i}", json.dumps({"at": at, "v": i}))
                for i, (unit, at, _) in enumerate(UNIT_CASES)
            ]
            t_before = time.time_ns()
            pub.publish_all([*messages, ("ts/arrival/m-arrival", '{"v": 99}')])
            wait_for(
                lambda: len(machine_rows(influxd, influx_db).rows) == len(UNIT_CASES) + 1,
                15,
                "every time stamp case in InfluxDB",
            )
            t_after = time.time_ns()
    finally:
        collector.stop()
    rows = machine_rows(influxd, influx_db)
    for i, (unit, at, want) in enumerate(UNIT_CASES):
        [row] = rows.of(f"m{i}")
        assert (row["line"], row["v"], row["time"]) == (unit, i, want), (unit, at)
    [arrival] = rows.of("m-arrival")
    assert t_before <= arrival["time"] <= t_after
    assert collector.dead_letters() == []


KOREAN_SUBS = """\
    - topic: 공장/+/+/데이터
      line: "{1}"
      machine: "{2}"
      timestamp: {path: $.시각, unit: iso}
      fields:
        온도: {path: $.온도, type: float}
        메모: {path: "$['작업 메모']", type: string}
        status: {path: $.상태, role: state, states: {가동: running, 정지: stopped}}
    - topic: 공장/+/+/값/+
      format: value
      line: "{1}"
      machine: "{2}"
      field: "{4}"
      type: string
"""


def test_korean_topic_levels_keys_and_values_round_trip(mosquitto, influxd, influx_db, tmp_path):
    collector = start_collector(
        influxd, influx_db, tmp_path, mosquitto.port, KOREAN_SUBS, factory="울산 공장"
    )
    try:
        with MqttPeer(mosquitto.port) as pub:
            t_before = time.time_ns()
            pub.publish_all(
                [
                    (
                        "공장/1라인/프레스-01/데이터",
                        json.dumps(
                            {
                                "시각": "2024-05-01T21:00:00+09:00",
                                "온도": 36.5,
                                "작업 메모": "금형 교체, 점검 완료",
                                "상태": "가동",
                            },
                            ensure_ascii=False,
                        ),
                    ),
                    ("공장/1라인/프레스-01/값/작업자", "김철수 = 반장".encode()),
                ]
            )
            rows = wait_rows(influxd, influx_db, "프레스-01", 2)
            t_after = time.time_ns()
    finally:
        collector.stop()
    by_time = sorted(rows, key=lambda r: r["time"])
    data, value = by_time
    assert (data["factory"], data["line"], data["machine"]) == ("울산 공장", "1라인", "프레스-01")
    assert data["time"] == T0 * NS
    assert (data["온도"], data["메모"], data["state"]) == (36.5, "금형 교체, 점검 완료", "running")
    assert (value["factory"], value["line"]) == ("울산 공장", "1라인")
    assert value["작업자"] == "김철수 = 반장"
    assert t_before <= value["time"] <= t_after
    # the tags are queryable by their Korean values
    found = machine_rows(influxd, influx_db, "\"line\" = '1라인' AND \"machine\" = '프레스-01'")
    assert len(found.rows) == 2


BAD_SUBS = """\
    - topic: bad/+/json
      machine: "{1}"
      timestamp: {path: $.ts, unit: ms}
      fields:
        temp: {type: float}
    - topic: bad/+/int
      format: value
      machine: "{1}"
      field: count
      type: int
"""


def test_bad_messages_are_dead_lettered_counted_and_never_block_good_ones(
    mosquitto, influxd, influx_db, tmp_path
):
    collector = start_collector(
        influxd, influx_db, tmp_path, mosquitto.port, BAD_SUBS, mqtt_extra="  max_payload_bytes: 1KiB\n"
    )
    now_ms = time.time_ns() // 10**6
    good = [json.dumps({"ts": now_ms - 1000 + i, "temp": 20 + i}) for i in range(8)]
    bad: list[tuple[str, bytes, str]] = [
        ("bad/m1/json", b'{"ts": 1, "temp": ', "invalid JSON at line 1 column 19"),
        ("bad/m2/json", b'{"ts": 1, "temp": "\xff\xfe"}', "payload is not UTF-8 at byte 19"),
        ("bad/m3/json", json.dumps({"ts": now_ms}).encode(), "$['temp']: missing"),
        (
            "bad/m4/json",
            json.dumps({"ts": now_ms, "temp": "hot"}).encode(),
            "$['temp']: 'hot' is not a number",
        ),
        ("bad/m5/json", b'{"ts": 1714564800000, "temp": NaN}', "payload holds NaN"),
        (
            "bad/m6/json",
            json.dumps({"ts": now_ms + 3600_000, "temp": 1}).encode(),
            "in the future",
        ),
        (
            "bad/m7/json",
            json.dumps({"ts": now_ms, "temp": 1, "pad": "x" * 1100}).encode(),
            "exceeds max_payload_bytes (1024)",
        ),
        ("bad/m8/int", b"1.5", "payload: 1.5 is not a whole number"),
        ("bad/m8/int", b"", "empty payload"),
    ]
    try:
        with MqttPeer(mosquitto.port) as pub:
            messages: list[tuple[str, bytes | str]] = []
            for i, (topic, payload, _reason) in enumerate(bad):
                messages.append((topic, payload))
                # a good message right behind each bad one, on the same connection
                messages.append(("bad/ok/json", good[i]) if i < len(good) else ("bad/ok/int", b"7"))
            pub.publish_all(messages)
            rows = wait_rows(influxd, influx_db, "ok", len(good) + 1)
            wait_for(lambda: len(collector.dead_letters()) == len(bad), 10, "every dead letter")
        assert collector.running
    finally:
        collector.stop()

    assert sorted(r["temp"] for r in rows if r.get("temp") is not None) == [20.0 + i for i in range(8)]
    assert [r["count"] for r in rows if r.get("count") is not None] == [7]
    letters = collector.dead_letters()
    assert [(d.topic, d.payload) for d in letters] == [(t, p) for t, p, _ in bad]
    for letter, (_t, _p, reason) in zip(letters, bad, strict=True):
        assert reason in letter.reason, (letter.topic, letter.reason)
        assert letter.subscription_filter == ("bad/+/int" if letter.topic.endswith("/int") else "bad/+/json")
    assert collector.counts("bad/+/json") == {"received": 15, "stored": 8, "rejected": 7}
    assert collector.counts("bad/+/int") == {"received": 3, "stored": 1, "rejected": 2}
    # nothing of a refused message reached InfluxDB
    assert {r["machine"] for r in machine_rows(influxd, influx_db).rows} == {"ok"}


def test_persistent_session_delivers_what_was_published_while_stopped(
    mosquitto, influxd, influx_db, tmp_path
):
    subs = """\
    - topic: away/+/data
      machine: "{1}"
      timestamp: {path: $.ts, unit: ns}
      fields:
        seq: {type: int}
"""
    text = mqtt_collector_yaml(influxd.url, influx_db, tmp_path / "spool", mosquitto.port, subs)
    # the first run creates the session and its subscription, then goes away
    CollectorThread.from_yaml(text).start().stop()
    base = time.time_ns() - 60 * NS
    with MqttPeer(mosquitto.port) as pub:
        pub.publish_all([("away/m/data", json.dumps({"ts": base + i, "seq": i})) for i in range(20)])
    collector = CollectorThread.from_yaml(text).start()
    try:
        rows = wait_rows(influxd, influx_db, "m", 20)
    finally:
        collector.stop()
    assert [(r["seq"], r["time"]) for r in rows] == [(i, base + i) for i in range(20)]


def test_resubscribes_after_the_broker_forgot_the_session(mosquitto_factory, influxd, influx_db, tmp_path):
    # no persistence: a restarted broker knows neither the session nor its subscription
    broker = mosquitto_factory(persistence=False)
    subs = """\
    - topic: re/+/v
      format: value
      machine: "{1}"
      field: v
      type: int
"""
    collector = start_collector(influxd, influx_db, tmp_path, broker.port, subs)
    try:
        with MqttPeer(broker.port) as pub:
            pub.publish_all([("re/m/v", b"1")])
            wait_rows(influxd, influx_db, "m", 1)
        broker.restart()
        assert collector.collector.mqtt is not None
        wait_for(lambda: collector.metrics.mqtt_disconnects._value.get() >= 1, 10, "the disconnect")
        wait_for(collector.collector.mqtt.connected.is_set, 15, "the reconnect")
        time.sleep(0.3)
        with MqttPeer(broker.port) as pub:
            pub.publish_all([("re/m/v", b"2")])
            rows = wait_rows(influxd, influx_db, "m", 2)
    finally:
        collector.stop()
    assert [r["v"] for r in rows] == [1, 2]


def test_credentials_from_the_environment_and_never_logged(
    mosquitto_factory, influxd, influx_db, tmp_path, caplog
):
    from localservices.mosquitto import make_password_file

    secret = "s3cret-Pa55-콜렉터"
    wrong = "wrong-Pa55-that-must-not-leak"
    pwfile = make_password_file(tmp_path / "passwd", {"collector": secret, "sensor": "sensor-pw"})
    broker = mosquitto_factory(password_file=pwfile)
    subs = """\
    - topic: auth/+/v
      format: value
      machine: "{1}"
      field: v
      type: int
"""
    extra = "  username: collector\n  password: ${MQTT_PASSWORD}\n"
    text = mqtt_collector_yaml(
        influxd.url, influx_db, tmp_path / "spool", broker.port, subs, mqtt_extra=extra
    )
    caplog.set_level(logging.DEBUG)

    refused = CollectorThread.from_yaml(text, env={"MQTT_PASSWORD": wrong}).start(wait_connected=False)
    try:
        wait_for(lambda: "refused" in caplog.text, 10, "the broker to refuse the wrong password")
        assert refused.running
    finally:
        refused.stop()

    collector = CollectorThread.from_yaml(text, env={"MQTT_PASSWORD": secret}).start()
    try:
        with MqttPeer(broker.port, auth=("sensor", "sensor-pw")) as pub:
            pub.publish_all([("auth/m/v", b"42")])
            rows = wait_rows(influxd, influx_db, "m", 1)
    finally:
        collector.stop()
    assert rows[0]["v"] == 42
    assert "mqtt: connected" in caplog.text
    for record in caplog.records:
        text_of = record.getMessage()
        assert secret not in text_of and wrong not in text_of, record
    assert secret not in caplog.text and wrong not in caplog.text


def test_an_array_with_one_bad_element_is_refused_whole(mosquitto, influxd, influx_db, tmp_path):
    """A NaN inside an otherwise valid array refuses the whole message, not one element."""
    subs = """\
    - topic: arr/+/json
      machine: "{1}"
      timestamp: {path: $.ts, unit: s}
      fields:
        x: {type: float}
"""
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, subs)
    try:
        with MqttPeer(mosquitto.port) as pub:
            pub.publish_all(
                [
                    ("arr/a/json", '[{"ts": 1714564800, "x": 1}, {"ts": 1714564801, "x": NaN}]'),
                    ("arr/b/json", '[{"ts": 1714564800, "x": 1}, {"ts": 1714564801, "x": 2}]'),
                ]
            )
            wait_rows(influxd, influx_db, "b", 2)
            wait_for(lambda: len(collector.dead_letters()) == 1, 10, "the dead letter")
    finally:
        collector.stop()
    rows = machine_rows(influxd, influx_db)
    assert rows.of("a") == []
    assert [(r["time"], r["x"]) for r in rows.of("b")] == [(T0 * NS, 1.0), ((T0 + 1) * NS, 2.0)]
    [letter] = collector.dead_letters()
    assert (letter.topic, letter.reason) == (
        "arr/a/json",
        "payload holds NaN, which is not JSON and cannot be stored",
    )


def test_a_payload_key_too_long_for_a_name_is_left_out_and_logged_with_its_topic(
    mosquitto, influxd, influx_db, tmp_path, caplog
):
    # element 1 carries an unlisted key longer than a name may be (datacontract.names); it
    # used to pass the mapping and fail at encoding, which dead-lettered the whole message
    subs = """\
    - topic: enc/+/json
      machine: "{1}"
      timestamp: {path: $.ts, unit: s}
      include_unmapped: true
      fields:
        x: {type: float}
"""
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, subs)
    long_key = "k" * 70_000
    try:
        caplog.set_level(logging.WARNING, logger="collector.mqtt.mapping")
        with MqttPeer(mosquitto.port) as pub:
            pub.publish_all(
                [
                    ("enc/a/json", json.dumps([{"ts": T0, "x": 1}, {"ts": T0 + 1, "x": 2, long_key: 1}])),
                    ("enc/b/json", json.dumps({"ts": T0, "x": 3})),
                ]
            )
            wait_rows(influxd, influx_db, "b", 1)
            wait_rows(influxd, influx_db, "a", 2)
    finally:
        collector.stop()
    assert collector.dead_letters() == []
    assert collector.counts("enc/+/json") == {"received": 2, "stored": 2, "rejected": 0}
    assert [r["x"] for r in machine_rows(influxd, influx_db).fields("a")] == [1.0, 2.0]
    logged = [r.getMessage() for r in caplog.records if "enc/a/json" in r.getMessage()]
    assert len(logged) == 1 and "at most 256" in logged[0] and len(logged[0]) < 400, logged


# --- Sparkplug B ---------------------------------------------------------------------------------

SPARKPLUG_SUBS = """\
    - topic: spBv1.0/g1/#
      format: sparkplug_b
      fields:
        temperature: {path: Temperature, type: float}
        total: {path: Count, role: count_total}
        status: {path: State, role: state, states: {0: stopped, 1: running}}
"""


def sp(ts_ms: int | None, seq: int | None, *metrics: Metric) -> bytes:
    return encode_payload(Payload(timestamp=ts_ms, seq=seq, metrics=metrics))


def rebirths(peer: MqttPeer) -> list[str]:
    """Topics of the rebirth requests seen on the broker, checking each payload."""
    topics = []
    for m in peer.messages("spBv1.0/"):
        payload = decode_payload(m.payload)
        [metric] = payload.metrics
        assert (metric.name, metric.boolean_value) == ("Node Control/Rebirth", True)
        topics.append(m.topic)
    return topics


def test_sparkplug_births_aliases_gaps_rebirths_and_deaths(mosquitto, influxd, influx_db, tmp_path):
    ms = T0 * 1000
    with MqttPeer(mosquitto.port) as host:
        host.subscribe("spBv1.0/+/NCMD/+", qos=0)
        collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, SPARKPLUG_SUBS)
        try:
            with MqttPeer(mosquitto.port) as edge:
                edge.publish_all(
                    [
                        (
                            "spBv1.0/g1/NBIRTH/edge1",
                            sp(
                                ms,
                                0,
                                make_metric(DataType.UInt64, 0, name="bdSeq"),
                                make_metric(DataType.Boolean, False, name="Node Control/Rebirth"),
                                make_metric(DataType.Int64, 5, name="Uptime", alias=100),
                            ),
                        ),
                        (
                            "spBv1.0/g1/DBIRTH/edge1/press1",
                            sp(
                                ms + 1000,
                                1,
                                make_metric(DataType.Double, 20.0, name="Temperature", alias=1),
                                make_metric(DataType.Int64, 100, name="Count", alias=2),
                                make_metric(DataType.Int32, 1, name="State", alias=3),
                                make_metric(DataType.String, "자동", name="Mode", alias=4),
                            ),
                        ),
                        # by alias only, as an edge node sends its data after the births
                        (
                            "spBv1.0/g1/DDATA/edge1/press1",
                            sp(
                                ms + 2000,
                                2,
                                make_metric(DataType.Double, 21.5, alias=1),
                                make_metric(DataType.Int64, 101, alias=2),
                                make_metric(DataType.Int32, 0, alias=3),
                            ),
                        ),
                    ]
                )
                wait_rows(influxd, influx_db, "press1", 2)
                assert rebirths(host) == []
                edge.publish_all(
                    [
                        # seq 3 and 4 went missing: stored all the same, and a rebirth is asked for
                        (
                            "spBv1.0/g1/DDATA/edge1/press1",
                            sp(ms + 3000, 5, make_metric(DataType.Int64, 105, alias=2)),
                        ),
                        # data before any birth: aliases cannot be resolved, names can
                        (
                            "spBv1.0/g1/DDATA/edge2/dev9",
                            sp(ms + 3000, 7, make_metric(DataType.Double, 1.0, alias=1)),
                        ),
                        (
                            "spBv1.0/g1/DDATA/edge3/dev3",
                            sp(ms + 5000, 9, make_metric(DataType.Double, 30.0, name="Temperature")),
                        ),
                        ("spBv1.0/g1/DDEATH/edge1/press1", sp(ms + 4000, 6)),
                    ]
                )
                wait_rows(influxd, influx_db, "press1", 4)
                wait_rows(influxd, influx_db, "dev3", 1)
                wait_for(lambda: len(collector.dead_letters()) == 1, 10, "the dead letter")
                wait_for(lambda: len(rebirths(host)) == 3, 10, "three rebirth requests")
            assert collector.running
        finally:
            collector.stop()

    assert sorted(rebirths(host)) == [
        "spBv1.0/g1/NCMD/edge1",
        "spBv1.0/g1/NCMD/edge2",
        "spBv1.0/g1/NCMD/edge3",
    ]
    rows = machine_rows(influxd, influx_db)
    assert rows.fields("edge1") == [{"time": T0 * NS, "Uptime": 5.0}]
    assert rows.fields("press1") == [
        {
            "time": (T0 + 1) * NS,
            "temperature": 20.0,
            "count_total": 100,
            "state": "running",
            "state_code": 1,
            "Mode": "자동",
        },
        {"time": (T0 + 2) * NS, "temperature": 21.5, "count_total": 101, "state": "stopped", "state_code": 0},
        {"time": (T0 + 3) * NS, "count_total": 105},
        {"time": (T0 + 4) * NS, "state": "offline"},
    ]
    assert rows.fields("dev3") == [{"time": (T0 + 5) * NS, "temperature": 30.0}]
    assert rows.of("dev9") == []
    assert {r["line"] for r in rows.rows} == {"line-1"}
    [letter] = collector.dead_letters()
    assert letter.topic == "spBv1.0/g1/DDATA/edge2/dev9"
    assert "unresolved: no BIRTH seen" in letter.reason
    assert letter.subscription_filter == "spBv1.0/g1/#"
    counts = collector.counts("spBv1.0/g1/#")
    assert counts["rejected"] == 1
    # the collector's own rebirth requests come back through spBv1.0/g1/# as well
    assert counts["received"] == 7 + 3
    assert influxd.field_types("machine_data", influx_db)["count_total"] == "integer"


def test_sparkplug_death_marks_the_machine_named_by_the_template_offline(
    mosquitto, influxd, influx_db, tmp_path
):
    subs = """\
    - topic: spBv1.0/g2/+/+
      format: sparkplug_b
      machine: "{3}"
    - topic: spBv1.0/g2/+/+/+
      format: sparkplug_b
      machine: "{3}-{4}"
"""
    ms = T0 * 1000
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, subs)
    try:
        with MqttPeer(mosquitto.port) as edge:
            edge.publish_all(
                [
                    ("spBv1.0/g2/NBIRTH/edge", sp(ms, 0, make_metric(DataType.UInt64, 0, name="bdSeq"))),
                    (
                        "spBv1.0/g2/DBIRTH/edge/dev",
                        sp(ms + 1000, 1, make_metric(DataType.Double, 1.0, name="x")),
                    ),
                    ("spBv1.0/g2/DDEATH/edge/dev", sp(ms + 2000, 2)),
                ]
            )
            wait_for(lambda: len(machine_rows(influxd, influx_db).rows) >= 2, 10, "the birth and the death")
            time.sleep(0.5)
    finally:
        collector.stop()
    rows = machine_rows(influxd, influx_db)
    assert rows.fields("edge-dev") == [
        {"time": (T0 + 1) * NS, "x": 1.0},
        {"time": (T0 + 2) * NS, "state": "offline"},
    ]


def test_sparkplug_payload_over_max_payload_bytes_is_dead_lettered(mosquitto, influxd, influx_db, tmp_path):
    subs = """\
    - topic: spBv1.0/g3/#
      format: sparkplug_b
"""
    collector = start_collector(
        influxd, influx_db, tmp_path, mosquitto.port, subs, mqtt_extra="  max_payload_bytes: 1KiB\n"
    )
    try:
        with MqttPeer(mosquitto.port) as edge:
            big = sp(T0 * 1000, 0, make_metric(DataType.String, "x" * 2000, name="note"))
            small = sp(T0 * 1000, 0, make_metric(DataType.String, "ok", name="note"))
            edge.publish_all([("spBv1.0/g3/NDATA/big", big), ("spBv1.0/g3/NDATA/small", small)])
            wait_rows(influxd, influx_db, "small", 1)
            time.sleep(0.3)
    finally:
        collector.stop()
    assert machine_rows(influxd, influx_db).of("big") == []
    assert [d.topic for d in collector.dead_letters()] == ["spBv1.0/g3/NDATA/big"]


def test_sparkplug_far_future_timestamp_is_refused(mosquitto, influxd, influx_db, tmp_path):
    subs = """\
    - topic: spBv1.0/g4/#
      format: sparkplug_b
"""
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, subs)
    future_ms = (time.time_ns() // 10**6) + 86_400_000 * 365
    try:
        with MqttPeer(mosquitto.port) as edge:
            edge.publish_all(
                [
                    (
                        "spBv1.0/g4/NDATA/future",
                        sp(future_ms, 0, make_metric(DataType.Double, 1.0, name="x")),
                    ),
                    ("spBv1.0/g4/NDATA/now", sp(None, 0, make_metric(DataType.Double, 2.0, name="x"))),
                ]
            )
            wait_rows(influxd, influx_db, "now", 1)
            time.sleep(0.3)
    finally:
        collector.stop()
    assert machine_rows(influxd, influx_db).of("future") == []
    [letter] = collector.dead_letters()
    assert "in the future" in letter.reason


def test_sparkplug_partly_resolvable_message_is_counted_once(mosquitto, influxd, influx_db, tmp_path):
    subs = """\
    - topic: spBv1.0/g5/+/+/+
      format: sparkplug_b
"""
    collector = start_collector(influxd, influx_db, tmp_path, mosquitto.port, subs)
    try:
        with MqttPeer(mosquitto.port) as edge:
            edge.publish_all(
                [
                    (
                        "spBv1.0/g5/DDATA/edge/dev",
                        sp(
                            T0 * 1000,
                            0,
                            make_metric(DataType.Double, 1.0, name="named"),
                            make_metric(DataType.Double, 2.0, alias=9),
                        ),
                    )
                ]
            )
            wait_rows(influxd, influx_db, "dev", 1)
            wait_for(lambda: len(collector.dead_letters()) == 1, 10, "the dead letter")
    finally:
        collector.stop()
    # the resolvable metric is kept and the whole message is dead-lettered beside it (by design)
    assert machine_rows(influxd, influx_db).fields("dev") == [{"time": T0 * NS, "named": 1.0}]
    counts = collector.counts("spBv1.0/g5/+/+/+")
    assert counts["received"] == 1
    assert counts["stored"] + counts["rejected"] == counts["received"], counts


# --- fuzz: random payloads through the real broker ---------------------------------------------
#
# Each example publishes about 20 payloads at QoS 1, every one on a topic of its own (so a
# machine tag of its own). The expected outcome of each message comes from the
# oracle of tests/support/mqtt_fuzz.py (json, value) or the collector's own Sparkplug code:
# the test checks that the path broker -> source -> spool -> InfluxDB keeps every decision,
# loses nothing, duplicates nothing and survives everything.

FUZZ_SETTINGS = settings(
    # hundreds of examples of the mapping run against the oracle in
    # tests/collector/mqtt/test_mqtt_fuzz_oracle.py; here each example is a round trip
    max_examples=20,
    # each example costs a round trip through broker, spool and InfluxDB: report, do not shrink
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
SPARKPLUG_FILTERS = [line.split("topic: ")[1] for line in FUZZ_SUBS.splitlines() if "spBv1.0" in line]


class FuzzRun:
    """A collector, a publisher and the predicted fate of each message.

    json and value messages are predicted by the oracle of tests/support/mqtt_fuzz.py,
    written from docs/mqtt.md without the collector's mapping code, so a mapping bug shows
    as a difference. Sparkplug messages are predicted by the collector's own tracker and
    mapper (checked against an oracle on hundreds of message sequences in
    tests/collector/mqtt/test_sparkplug_oracle.py): there this test is about the path through the broker —
    every message counted, stored as mapped or dead-lettered, nothing lost or blocking."""

    def __init__(self, collector: CollectorThread, pub: MqttPeer, influxd, db: str) -> None:
        self.collector = collector
        self.pub = pub
        self.influxd = influxd
        self.db = db
        self.examples = itertools.count()
        cfg = collector.cfg.mqtt
        assert cfg is not None
        self.mappers = [
            SubscriptionMapper(
                s, site_line="line-1", max_payload=cfg.max_payload_bytes, max_future_s=cfg.max_future
            )
            for s in cfg.subscriptions
        ]
        self.tracker = SparkplugTracker()
        self.arrival = 0

    def mapper(self, topic: str) -> SubscriptionMapper:
        return next(m for m in self.mappers if m.topic_matches(topic))

    def expect(self, topic: str, payload: bytes) -> tuple[bool, bool, list[Expected]]:
        """(stored, rejected, samples) the collector should reach for one message."""
        oracle = {"json": expect_json, "value": expect_value}.get(topic.split("/")[1])
        if oracle is not None:
            try:
                return True, False, oracle(topic, payload, self.arrival)
            except Refused:
                return False, True, []
        mapper = self.mapper(topic)
        try:
            samples, problems, _ = mapper.map_sparkplug(self.tracker, topic, payload, self.arrival)
            if problems and not samples:
                return False, True, []
            for s in samples:
                encode_point(series_prefix("machine_data", {"machine": s.machine}), list(s.fields), s.ts_ns)
        except (BadMessage, ValueError):
            return False, True, []
        return True, bool(problems), [Expected(s.machine, dict(s.fields), s.ts_ns) for s in samples]

    def check(self, filters: list[str], messages: list[tuple[str, bytes]]) -> None:
        before = {f: self.collector.counts(f) for f in filters}
        letters_before = len(self.collector.dead_letters())
        # the local stand-in for the arrival time is odd, so no payload time stamp (whole
        # milliseconds, or half of one) is ever taken for it
        self.arrival = time.time_ns() | 1
        expected = [(topic, payload, *self.expect(topic, payload)) for topic, payload in messages]
        self.pub.publish_all(messages)

        def delta() -> dict[str, int]:
            out = dict.fromkeys(("received", "stored", "rejected", "partial"), 0)
            for f in filters:
                for k, v in self.collector.counts(f).items():
                    out[k] += v - before[f].get(k, 0)
            return out

        wait_for(lambda: delta()["received"] >= len(messages), 15, "every message at the collector")
        assert self.collector.running, "the collector stopped"
        stored = sum(1 for *_, ok, _bad, _s in expected if ok)
        partial = sum(1 for *_, ok, bad, _s in expected if ok and bad)
        rejected = sum(1 for *_, bad, _s in expected if bad) - partial
        want = {"received": len(messages), "stored": stored, "rejected": rejected, "partial": partial}
        wait_for(lambda: delta() == want, 5, f"counts {want}, have {delta()}")
        # every message stored or refused; partly usable ones are stored and also counted
        # as partial, with their leftovers in the dead letters
        assert want["stored"] + want["rejected"] == len(messages)
        letters = self.collector.dead_letters()[letters_before:]
        assert sorted((d.topic, d.payload) for d in letters) == sorted(
            (t, p) for t, p, _ok, bad, _s in expected if bad
        )
        self.check_rows(expected)

    def check_rows(self, expected: list[tuple[str, bytes, bool, bool, list[Expected]]]) -> None:
        timed: dict[str, dict[int, dict[str, object]]] = {}
        arrival: dict[str, list[dict[str, object]]] = {}
        for _t, _p, _ok, _bad, samples in expected:
            for s in samples:
                if s.ts_ns == self.arrival:
                    # stamped with the real arrival time by the collector: compared without time
                    arrival.setdefault(s.machine, []).append(dict(s.fields))
                else:
                    # samples of one series with one time stamp are one point in InfluxDB
                    timed.setdefault(s.machine, {}).setdefault(s.ts_ns, {}).update(s.fields)
        machines = set(timed) | set(arrival)
        if not machines:
            return

        def have() -> dict[str, list[dict[str, object]]]:
            rows = machine_rows(self.influxd, self.db)
            return {m: rows.fields(m) for m in machines}

        def complete() -> bool:
            got = have()
            return all(len(got[m]) >= len(timed.get(m, {})) + len(arrival.get(m, [])) for m in machines)

        wait_for(complete, 15, "the accepted samples in InfluxDB", step=0.2)
        got = have()
        for machine in machines:
            want_timed = timed.get(machine, {})
            want_arrival = arrival.get(machine, [])
            floats = {
                k for f in [*want_timed.values(), *want_arrival] for k, v in f.items() if type(v) is float
            }
            # one series per machine here, so a time identifies a row
            rows = {r.pop("time"): r for r in (as_stored(r, floats) for r in got[machine])}
            assert {t: r for t, r in rows.items() if t in want_timed} == want_timed, machine
            rest = sorted(repr(r) for t, r in rows.items() if t not in want_timed)
            assert rest == sorted(map(repr, want_arrival)), machine


def as_stored(row: dict[str, object], floats: set[str]) -> dict[str, object]:
    """InfluxDB's JSON writes a float such as 4.650740188807303e16 as 46507401888073030,
    which Python reads as an int: read such values back as floats where a float is expected."""
    return {k: float(v) if k in floats and type(v) is int else v for k, v in row.items()}


#: "now" for generated time stamps, fixed so that hypothesis can replay an example exactly
FUZZ_NOW_MS = time.time_ns() // 10**6


@pytest.fixture
def fuzz_run(mosquitto, influxd, influx_db, tmp_path):
    collector = start_collector(
        influxd,
        influx_db,
        tmp_path,
        mosquitto.port,
        FUZZ_SUBS,
        mqtt_extra=f"  max_payload_bytes: {FUZZ_MAX_PAYLOAD}\n",
    )
    try:
        with MqttPeer(mosquitto.port) as pub:
            yield FuzzRun(collector, pub, influxd, influx_db)
        assert collector.running
    finally:
        collector.stop()


@pytest.mark.slow
@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzz_json_payloads(fuzz_run: FuzzRun, data: st.DataObject) -> None:
    ex = next(fuzz_run.examples)
    payloads = data.draw(st.lists(json_payload(FUZZ_NOW_MS), min_size=15, max_size=25))
    fuzz_run.check(["fz/json/+/+"], [(f"fz/json/e{ex}/{i}", p) for i, p in enumerate(payloads)])


@pytest.mark.slow
@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzz_value_payloads(fuzz_run: FuzzRun, data: st.DataObject) -> None:
    ex = next(fuzz_run.examples)
    payloads = data.draw(st.lists(value_payload(), min_size=15, max_size=25))
    fuzz_run.check(["fz/value/+/+"], [(f"fz/value/e{ex}/{i}", p) for i, p in enumerate(payloads)])


#: metric catalogue: the name's prefix pins the stored type, so examples never conflict in InfluxDB
CATALOGUE = [
    ("f_temp", DataType.Double),
    ("f_speed", DataType.Float),
    ("f_count", DataType.Int64),
    ("f_small", DataType.Int8),
    ("f_u32", DataType.UInt32),
    ("b_door", DataType.Boolean),
    ("s_mode", DataType.String),
]


def metric_values(datatype: DataType) -> st.SearchStrategy[object]:
    if datatype in (DataType.Double, DataType.Float):
        return st.floats(width=32 if datatype == DataType.Float else 64) | st.none()
    if datatype == DataType.Int64:
        return st.integers(-(2**63), 2**63 - 1)
    if datatype == DataType.Int8:
        return st.integers(-128, 127)
    if datatype == DataType.UInt32:
        return st.integers(0, 2**32 - 1)
    if datatype == DataType.Boolean:
        return st.booleans()
    return st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)


@st.composite
def sparkplug_message(draw: st.DrawFn, node: str, base_ms: int) -> tuple[str, bytes]:
    verb = draw(st.sampled_from(["NBIRTH", "DBIRTH", "NDATA", "DDATA", "DDATA", "DDEATH", "NDEATH", "bytes"]))
    device = f"{node}d{draw(st.integers(0, 2))}"
    ts_ms = base_ms + draw(st.integers(0, 600_000))
    seq = draw(st.integers(0, 255))
    if verb == "bytes":
        topic = draw(st.sampled_from([f"spBv1.0/fz/DDATA/{node}/{device}", f"spBv1.0/fz/NDATA/{node}"]))
        return topic, draw(st.binary(max_size=40))
    topic = f"spBv1.0/fz/{verb}/{node}" + (f"/{device}" if verb.startswith("D") else "")
    if verb in ("NDEATH", "DDEATH"):
        metrics = [make_metric(DataType.UInt64, 0, name="bdSeq")] if verb == "NDEATH" else []
        return topic, sp(ts_ms if verb == "DDEATH" else None, None if verb == "NDEATH" else seq, *metrics)
    chosen = draw(st.lists(st.sampled_from(range(len(CATALOGUE))), min_size=1, max_size=4, unique=True))
    metrics = []
    for index in chosen:
        name, datatype = CATALOGUE[index]
        value = draw(metric_values(datatype))
        if verb.endswith("BIRTH"):
            metrics.append(make_metric(datatype, value, name=name, alias=index + 1))
            continue
        how = draw(st.sampled_from(["alias", "name", "both", "unknown alias"]))
        stamp = draw(st.none() | st.integers(base_ms, base_ms + 600_000))
        metrics.append(
            make_metric(
                datatype,
                value,
                name=name if how in ("name", "both") else None,
                alias={"alias": index + 1, "both": index + 1, "unknown alias": 99}.get(how),
                timestamp=stamp,
            )
        )
    if verb == "NBIRTH":
        metrics.insert(0, make_metric(DataType.UInt64, 0, name="bdSeq"))
    return topic, sp(ts_ms, 0 if verb == "NBIRTH" else seq, *metrics)


@pytest.mark.slow
@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzz_sparkplug_payloads(fuzz_run: FuzzRun, data: st.DataObject) -> None:
    ex = next(fuzz_run.examples)
    base_ms = FUZZ_NOW_MS - 3_600_000
    messages = data.draw(st.lists(sparkplug_message(f"n{ex}x", base_ms), min_size=15, max_size=25))
    fuzz_run.check(SPARKPLUG_FILTERS, messages)
