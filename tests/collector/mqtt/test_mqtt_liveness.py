"""MQTT liveness rules (collector/mqtt/liveness.py), the status format, max_silence and
sync_topic in the configuration, and what the mapping hands to liveness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.config import ConfigError, parse_config
from collector.mqtt.config import SubscriptionConfig
from collector.mqtt.liveness import MqttLiveness, Session, read_state, write_state
from collector.mqtt.mapping import BadMessage, Death, SubscriptionMapper
from collector.mqtt.sparkplug import SparkplugTracker
from collector.mqtt.sparkplug_codec import DataType, Payload, encode_payload, make_metric

S = 1_000_000_000
T0 = 1_714_564_800 * S
A = ("line-1", "press-1")
B = ("line-1", "dev-9")
LIMIT = 15 * S


# -- reading what the recorder wrote, as InfluxDB keeps it ---------------------------------


def parse(line: bytes) -> tuple[tuple[str, str], dict[str, str], int]:
    head, fields, ts = line.decode().rsplit(" ", 2)
    tags = dict(t.split("=", 1) for t in head.split(",")[1:])
    return (tags["line"], tags["machine"]), dict(f.split("=", 1) for f in fields.split(",")), int(ts)


class Db:
    """Points by (machine, time), the last write of a field winning."""

    def __init__(self) -> None:
        self.points: dict[tuple[tuple[str, str], int], dict[str, str]] = {}

    def write(self, lines: list[bytes]) -> Db:
        for line in lines:
            key, fields, ts = parse(line)
            self.points.setdefault((key, ts), {}).update(fields)
        return self

    def records(self, key: tuple[str, str]) -> list[tuple[int, int]]:
        """(start, end) of the alive records of ``key``, in time order."""
        out = []
        for (k, ts), fields in sorted(self.points.items()):
            if k == key and "alive_s" in fields:
                out.append((ts, ts + round(float(fields["alive_s"]) * S)))
        return out

    def marks(self, key: tuple[str, str]) -> list[tuple[int, str]]:
        return [
            (ts, fields["down_reason"].strip('"'))
            for (k, ts), fields in sorted(self.points.items())
            if k == key and "down_reason" in fields
        ]


def connected(live: MqttLiveness, at: int, *, session_present: bool = False) -> bool:
    return live.connected(session_present, at)


# -- messages, ticks, silence --------------------------------------------------------------


def test_messages_every_2s_make_one_growing_record_then_silence_cuts_it_back() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    for i in range(5):
        t = T0 + 2 * i * S
        live.message(A, t, t, 3 * S)
        live.tick(t + S)  # the session vouches up to the tick
        db.write(live.flush())
    assert db.records(A) == [(T0, T0 + 9 * S)]
    # nothing arrives any more: after max_silence the record ends at the last message
    live.tick(T0 + 11 * S)
    live.tick(T0 + 12 * S)
    assert not live.recorder.is_alive(A)
    db.write(live.flush())
    assert db.records(A) == [(T0, T0 + 8 * S)]
    assert db.marks(A) == [(T0 + 12 * S, "silent")]
    # the next message starts a new record
    live.message(A, T0 + 20 * S, T0 + 20 * S, 3 * S)
    live.tick(T0 + 21 * S)
    assert db.write(live.flush()).records(A) == [(T0, T0 + 8 * S), (T0 + 20 * S, T0 + 21 * S)]


def test_silence_is_measured_on_arrival_but_the_record_ends_at_the_sample_time() -> None:
    # a publisher whose clock runs 60 s behind is not silent as long as it keeps sending
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    for i in range(1, 10):
        arrival = T0 + 70 * S + 10 * i * S
        live.message(A, arrival - 60 * S, arrival, LIMIT)
        live.tick(arrival + S)
    assert live.recorder.is_alive(A)
    live.tick(T0 + 200 * S)
    assert db.write(live.flush()).records(A) == [(T0 + 20 * S, T0 + 100 * S)]
    assert db.marks(A) == [(T0 + 200 * S, "silent")]


def test_a_gap_in_the_messages_themselves_is_silence_too() -> None:
    # e.g. the queue read after a reconnect: the arrival times say nothing there
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(A, T0, T0, LIMIT)
    live.message(A, T0 + 10 * S, T0 + 10 * S, LIMIT)
    live.message(A, T0 + 40 * S, T0 + 41 * S, LIMIT)
    live.message(A, T0 + 45 * S, T0 + 41 * S, LIMIT)
    assert live.urgent
    assert db.write(live.flush()).records(A) == [(T0, T0 + 10 * S), (T0 + 40 * S, T0 + 45 * S)]
    assert db.marks(A) == [(T0 + 25 * S, "silent")]


def test_without_max_silence_a_quiet_machine_stays_alive_while_the_session_is_up() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(B, T0 + S, T0 + S, None)
    for i in range(2, 400):
        live.tick(T0 + i * 10 * S)
    # one record an hour at most: the next starts where the last ended
    assert db.write(live.flush()).records(B) == [(T0 + S, T0 + 3601 * S), (T0 + 3601 * S, T0 + 3990 * S)]


def test_the_longest_silence_limit_of_a_machine_wins_and_none_means_never() -> None:
    live = MqttLiveness("f", client_id="c")
    connected(live, T0)
    live.message(A, T0, T0, 5 * S)
    live.message(A, T0 + S, T0 + S, 20 * S)
    live.tick(T0 + 15 * S)
    assert live.recorder.is_alive(A)
    live.message(A, T0 + 16 * S, T0 + 16 * S, None)
    live.message(A, T0 + 17 * S, T0 + 17 * S, 5 * S)
    live.tick(T0 + 1000 * S)
    assert live.recorder.is_alive(A)


def test_records_from_old_time_stamps_grow_by_messages_only() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    old = T0 - 86400 * S
    live.message(B, old, T0 + S, None)
    live.message(B, old + 2 * S, T0 + 2 * S, None)
    live.tick(T0 + 10 * S)
    live.tick(T0 + 20 * S)
    assert db.write(live.flush()).records(B) == [(old, old + 2 * S)]
    assert db.marks(B) == []


def test_a_death_ends_the_record_where_it_was_vouched_and_marks_the_arrival() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(B, T0, T0, None, node=("g", "edge"))
    live.tick(T0 + 10 * S)
    db.write(live.flush())
    assert live.node_machines(("g", "edge")) == [B]
    live.death(B, T0 + 12 * S)
    assert live.urgent
    db.write(live.flush())
    assert not live.urgent
    assert db.records(B) == [(T0, T0 + 10 * S)]
    assert db.marks(B) == [(T0 + 12 * S, "death")]
    assert live.node_machines(("g", "edge")) == []
    # a DDEATH's own time stamp may end it earlier than the last tick
    live.message(B, T0 + 20 * S, T0 + 20 * S, None)
    live.tick(T0 + 30 * S)
    live.death(B, T0 + 31 * S, alive_until_ns=T0 + 25 * S)
    assert db.write(live.flush()).records(B)[-1] == (T0 + 20 * S, T0 + 25 * S)


# -- the connection ----------------------------------------------------------------------------


def test_nothing_is_vouched_while_disconnected_and_a_lost_session_ends_every_record() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(B, T0, T0, None)
    live.tick(T0 + 10 * S)
    live.disconnected()
    live.tick(T0 + 20 * S)
    live.tick(T0 + 30 * S)
    assert db.write(live.flush()).records(B) == [(T0, T0 + 10 * S)]
    assert connected(live, T0 + 35 * S) is False
    assert live.session is Session.CONNECTED
    assert db.write(live.flush()).records(B) == [(T0, T0 + 10 * S)]
    assert db.marks(B) == [(T0 + 35 * S, "session_lost")]
    live.message(B, T0 + 36 * S, T0 + 36 * S, None)
    live.tick(T0 + 40 * S)
    assert db.write(live.flush()).records(B) == [(T0, T0 + 10 * S), (T0 + 36 * S, T0 + 40 * S)]


def test_a_kept_session_is_bridged_after_the_marker_except_for_machines_whose_death_was_queued() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(A, T0, T0, LIMIT)
    live.message(B, T0, T0, None)
    dead = ("line-1", "dev-dead")
    live.message(dead, T0, T0, None)
    live.tick(T0 + 10 * S)
    live.disconnected()
    assert connected(live, T0 + 30 * S, session_present=True) is True
    assert live.session is Session.SYNCING
    # the queue: A sent at 12 s, dead's will; no vouching before the marker is back
    live.message(A, T0 + 12 * S, T0 + 31 * S, LIMIT)
    live.death(dead, T0 + 31 * S)
    live.tick(T0 + 32 * S)
    assert live.recorder.last_alive_ns(B) == T0 + 10 * S
    assert live.marker(T0 + 33 * S) is True
    assert live.marker(T0 + 34 * S) is False  # a second copy changes nothing
    db.write(live.flush())
    assert db.records(A) == [(T0, T0 + 33 * S)]
    assert db.records(B) == [(T0, T0 + 33 * S)]
    assert db.records(dead) == [(T0, T0 + 10 * S)]  # the time of the death is unknown
    assert db.marks(dead) == [(T0 + 31 * S, "death")]


def test_a_kept_session_with_a_machine_silent_for_too_long_is_not_bridged() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(A, T0, T0, LIMIT)
    live.tick(T0 + 10 * S)
    live.disconnected()
    assert connected(live, T0 + 60 * S, session_present=True)
    live.marker(T0 + 61 * S)
    assert db.write(live.flush()).records(A) == [(T0, T0)]  # its only message
    assert db.marks(A) == [(T0 + 61 * S, "silent")]


def test_machines_of_qos_0_subscriptions_are_never_bridged() -> None:
    # the broker queues nothing of theirs while we are away, their wills neither
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(A, T0, T0, None, queued=False)
    live.message(B, T0, T0, None)
    live.tick(T0 + 10 * S)
    db.write(live.flush())
    doc = json.loads(json.dumps(live.state_doc()))
    live.disconnected()
    assert connected(live, T0 + 20 * S, session_present=True)
    live.marker(T0 + 21 * S)
    db.write(live.flush())
    assert db.records(A) == [(T0, T0 + 10 * S)]
    assert db.marks(A) == [(T0 + 20 * S, "session_lost")]
    assert db.records(B) == [(T0, T0 + 21 * S)]
    again = MqttLiveness("f", client_id="c")
    assert again.restore(doc) == 2
    again.connected(True, T0 + 40 * S)
    again.marker(T0 + 41 * S)
    assert not again.recorder.is_alive(A) and again.recorder.is_alive(B)


def test_a_kept_session_with_nothing_to_bridge_needs_no_marker() -> None:
    live = MqttLiveness("f", client_id="c")
    assert connected(live, T0, session_present=True) is False
    assert live.session is Session.CONNECTED


# -- restarts ----------------------------------------------------------------------------------


def run_until_killed() -> tuple[dict[str, Any], Db]:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(B, T0, T0, None, node=("g", "edge"))
    live.message(A, T0, T0, LIMIT)
    live.tick(T0 + 10 * S)
    db.write(live.flush())
    doc = json.loads(json.dumps(live.state_doc()))  # as it goes through the file
    live.tick(T0 + 20 * S)  # not flushed: lost with the process
    return doc, db


def test_a_restart_with_the_session_kept_continues_the_records() -> None:
    doc, db = run_until_killed()
    live = MqttLiveness("f", client_id="c")
    assert live.restore(doc) == 2
    assert live.node_machines(("g", "edge")) == []  # not alive until resumed
    assert connected(live, T0 + 40 * S, session_present=True)
    assert live.node_machines(("g", "edge")) == [B]
    live.message(A, T0 + 14 * S, T0 + 41 * S, LIMIT)  # queued while the collector was away
    live.marker(T0 + 42 * S)
    db.write(live.flush())
    assert db.records(A) == [(T0, T0 + 42 * S)]
    assert db.records(B) == [(T0, T0 + 42 * S)]
    assert db.marks(B) == []


def test_a_restart_with_the_session_lost_resumes_nothing() -> None:
    doc, db = run_until_killed()
    live = MqttLiveness("f", client_id="c")
    assert live.restore(doc) == 2
    assert connected(live, T0 + 40 * S) is False
    live.tick(T0 + 50 * S)
    db.write(live.flush())
    assert db.records(B) == [(T0, T0 + 10 * S)]
    assert db.marks(B) == [(T0 + 40 * S, "session_lost")]
    assert live.state_doc()["records"] == {}


def test_a_clean_stop_marks_the_machines_and_a_restart_continues_over_the_mark() -> None:
    live, db = MqttLiveness("f", client_id="c"), Db()
    connected(live, T0)
    live.message(B, T0, T0, None)
    live.vouch(T0 + 10 * S)
    db.write(live.flush())
    doc = live.state_doc()  # saved before the marks
    live.stopped(T0 + 10 * S)
    db.write(live.flush())
    assert db.marks(B) == [(T0 + 10 * S, "collector_stopped")]
    again = MqttLiveness("f", client_id="c")
    again.restore(doc)
    again.connected(True, T0 + 30 * S)
    again.marker(T0 + 31 * S)
    assert db.write(again.flush()).records(B) == [(T0, T0 + 31 * S)]


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"version": 99},
        {"version": 1, "client_id": "other", "vouched_since": 0, "records": {}, "machines": {}},
        {"version": 1, "client_id": "c", "records": {}, "machines": {}},
        {"version": 1, "client_id": "c", "vouched_since": 0, "records": {"x": [1, 2]}, "machines": []},
        {"version": 1, "client_id": "c", "vouched_since": 0, "records": {"l\x00m": [2, 1]}, "machines": {}},
    ],
)
def test_unusable_state_resumes_nothing(doc: object) -> None:
    live = MqttLiveness("f", client_id="c")
    assert live.restore(doc) == 0
    assert connected(live, T0, session_present=True) is False


def test_state_file_round_trip_and_damage(tmp_path: Path) -> None:
    doc, _ = run_until_killed()
    path = tmp_path / "state.json"
    assert read_state(path) is None
    write_state(path, doc)
    assert read_state(path) == doc
    assert not (tmp_path / "state.json.tmp").exists()
    path.write_text('{"version": 1, "rec', encoding="utf-8")  # torn by something outside
    assert read_state(path) is None


# -- a property: what the records claim is always vouched for -------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(0, 20)),
        st.tuples(st.just("msg"), st.sampled_from([A, B])),
        st.tuples(st.just("tick"), st.none()),
        st.tuples(st.just("disconnect"), st.none()),
        st.tuples(st.just("connect"), st.booleans()),
        st.tuples(st.just("marker"), st.none()),
        st.tuples(st.just("death"), st.sampled_from([A, B])),
    ),
    max_size=80,
)


@settings(max_examples=1000, deadline=None)
@given(ops=OPS)
@example(ops=[("msg", B), ("disconnect", None), ("advance", 1), ("connect", False), ("msg", B)])
@example(ops=[("msg", A), ("tick", None), ("advance", 16), ("tick", None)])
def test_records_never_cover_a_lost_session_nor_a_silence(ops: list[tuple[str, Any]]) -> None:
    live, db = MqttLiveness("f", client_id="c", max_record_ns=100 * S), Db()
    now, up, disconnected_at = T0, True, T0
    connected(live, now)
    arrivals: dict[tuple[str, str], list[int]] = {A: [], B: []}
    lost_gaps: list[tuple[int, int]] = []
    limits = {A: LIMIT, B: None}
    for op, arg in ops:
        if op == "advance":
            now += arg * S
        elif op == "msg" and up:
            live.message(arg, now, now, limits[arg])
            arrivals[arg].append(now)
        elif op == "tick":
            live.tick(now)
        elif op == "disconnect" and up:
            up, disconnected_at = False, now
            live.disconnected()
        elif op == "connect" and not up:
            up = True
            if not arg:
                lost_gaps.append((disconnected_at, now))
            live.connected(arg, now)
        elif op == "marker":
            live.marker(now)
        elif op == "death":
            live.death(arg, now)
        db.write(live.flush())
    for key in (A, B):
        for start, end in db.records(key):
            assert end - start <= 100 * S
            assert end <= now
            for gap_start, gap_end in lost_gaps:
                assert end <= gap_start or start >= gap_end, (key, start, end, gap_start, gap_end)
            if limits[key] is not None:
                # the end is vouched by a message no longer than max_silence before it
                assert any(a <= end <= a + LIMIT for a in arrivals[key]), (start, end)


# -- configuration --------------------------------------------------------------------------

BASE = """\
site: {factory: f, line: line-1}
mqtt:
  client_id: edge-1
  subscriptions:
"""
SUB = "mqtt.subscriptions[0]"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    return info.value.errors


def test_max_silence_defaults_per_format_and_can_be_switched_off() -> None:
    text = BASE + (
        '    - {topic: a/+, machine: "{1}", fields: {x: {type: int}}}\n'
        '    - {topic: b/+, format: value, machine: "{1}", field: v}\n'
        "    - {topic: spBv1.0/g/#, format: sparkplug_b}\n"
        '    - {topic: d/+, format: status, machine: "{1}"}\n'
        '    - {topic: e/+, machine: "{1}", fields: {x: {type: int}}, max_silence: 3s}\n'
        '    - {topic: f/+, machine: "{1}", fields: {x: {type: int}}, max_silence: null}\n'
        '    - {topic: g/+, machine: "{1}", fields: {x: {type: int}}, max_silence: none}\n'
        "    - {topic: spBv1.0/h/#, format: sparkplug_b, max_silence: 2m}\n"
    )
    cfg = parse_config(text, env={})
    assert cfg.mqtt is not None
    assert [s.silence_limit for s in cfg.mqtt.subscriptions] == [
        900.0,
        900.0,
        None,
        None,
        3.0,
        None,
        None,
        120.0,
    ]
    assert cfg.mqtt.sync_topic_name == "factorylens/sync/edge-1"


def test_status_format_words() -> None:
    text = (
        BASE
        + '    - {topic: st/+, format: status, machine: "{1}", online: [UP, 1, "true"], offline: [down]}\n'
    )
    cfg = parse_config(text, env={})
    assert cfg.mqtt is not None
    sub = cfg.mqtt.subscriptions[0]
    assert (sub.online_words, sub.offline_words) == (("up", "1", "true"), ("down",))
    default = parse_config(BASE + '    - {topic: st/+, format: status, machine: "{1}"}\n', env={})
    assert default.mqtt is not None
    assert default.mqtt.subscriptions[0].offline_words == ("offline", "0", "false")


@pytest.mark.parametrize(
    ("sub", "path", "words"),
    [
        ('{topic: st/+, format: status, machine: "{1}", online: []}', f"{SUB}.online", "empty"),
        ('{topic: st/+, format: status, machine: "{1}", online: [" "]}', f"{SUB}.online", "empty word"),
        ('{topic: st/+, format: status, machine: "{1}", online: [{a: 1}]}', f"{SUB}.online", "expected text"),
        (
            '{topic: st/+, format: status, machine: "{1}", offline: [on]}',
            f"{SUB}.offline",
            'quote the word ("on")',
        ),
        (
            '{topic: st/+, format: status, machine: "{1}", online: [a], offline: [A]}',
            f"{SUB}.offline",
            "also",
        ),
        ('{topic: st/+, format: status, machine: "{1}", fields: {x: {}}}', f"{SUB}.fields", "no data"),
        ('{topic: st/+, format: status, machine: "{1}", field: x}', f"{SUB}.field", "no data"),
        (
            '{topic: st/+, format: status, machine: "{1}", timestamp: {path: $.t, unit: s}}',
            f"{SUB}.timestamp",
            "",
        ),
        ("{topic: st/+, format: status}", f"{SUB}.machine", "required"),
        ('{topic: a/+, machine: "{1}", include_unmapped: true, online: [up]}', f"{SUB}.online", "only for"),
        (
            '{topic: a/+, machine: "{1}", include_unmapped: true, max_silence: 0}',
            f"{SUB}.max_silence",
            "null",
        ),
        ('{topic: a/+, machine: "{1}", include_unmapped: true, max_silence: soon}', f"{SUB}.max_silence", ""),
    ],
)
def test_status_and_silence_errors_name_their_place(sub: str, path: str, words: str) -> None:
    text = BASE + f"    - {sub}\n"
    errs = errors_of(text)
    assert any(e.startswith(path) and words in e for e in errs), errs


@pytest.mark.parametrize(
    ("value", "words"),
    [("a/+/b", "wildcard"), ("$SYS/x", "'$'"), ('""', "empty"), ("s/{client_id}/#", "wildcard")],
)
def test_sync_topic_must_be_publishable(value: str, words: str) -> None:
    text = BASE.replace("  subscriptions:", f"  sync_topic: {value}\n  subscriptions:")
    errs = errors_of(text + '    - {topic: a/+, machine: "{1}", include_unmapped: true}\n')
    assert any(e.startswith("mqtt.sync_topic:") and words in e for e in errs), errs


def test_sync_topic_names_the_client() -> None:
    text = BASE.replace(
        "  subscriptions:", "  sync_topic: plant/collectors/{client_id}/sync\n  subscriptions:"
    )
    cfg = parse_config(text + '    - {topic: a/+, machine: "{1}", include_unmapped: true}\n', env={})
    assert cfg.mqtt is not None and cfg.mqtt.sync_topic_name == "plant/collectors/edge-1/sync"


# -- what the mapping hands to liveness ----------------------------------------------------------


def mapper(**sub: Any) -> SubscriptionMapper:
    return SubscriptionMapper(
        SubscriptionConfig(**sub), site_line="line-1", max_payload=1024, max_future_s=300.0
    )


def test_status_payloads() -> None:
    m = mapper(topic="st/+/+", format="status", line="{1}", machine="{2}")
    assert m.status("st/l2/press", b"online") == ("l2", "press", True)
    assert m.status("st/l2/press", b" OFFLINE\n") == ("l2", "press", False)
    assert m.status("st/l2/press", b"\xef\xbb\xbf1") == ("l2", "press", True)
    assert m.status("st/l2/press", b"False") == ("l2", "press", False)
    for bad, words in [(b"maybe", "neither online"), (b"\xff", "not UTF-8"), (b"", "neither")]:
        with pytest.raises(BadMessage, match=words):
            m.status("st/l2/press", bad)
    with pytest.raises(BadMessage, match="exceeds"):
        m.status("st/l2/press", b"x" * 2000)
    with pytest.raises(TypeError):
        m.map("st/l2/press", b"online", T0)


def sp(ts_ms: int | None, seq: int | None, *metrics: Any) -> bytes:
    return encode_payload(Payload(timestamp=ts_ms, seq=seq, metrics=tuple(metrics)))


def test_sparkplug_life_and_deaths() -> None:
    m = mapper(topic="spBv1.0/g/#", format="sparkplug_b")
    tracker = SparkplugTracker()
    ms = T0 // 1_000_000
    birth = m.map_sparkplug_message(
        tracker, "spBv1.0/g/NBIRTH/edge", sp(ms, 0, make_metric(DataType.UInt64, 0, name="bdSeq")), T0 + S
    )
    # no sample (bdSeq is a control metric), but alive at the payload's time stamp
    assert birth.samples == [] and birth.life == ("line-1", "edge", T0) and birth.node == ("g", "edge")
    dbirth = m.map_sparkplug_message(
        tracker,
        "spBv1.0/g/DBIRTH/edge/press",
        # the metric's own time stamp says when the value last changed: not a sign of life
        sp(ms + 1000, 1, make_metric(DataType.Double, 1.0, name="x", timestamp=ms - 60_000)),
        T0 + 2 * S,
    )
    assert dbirth.life == ("line-1", "press", T0 + S)
    assert [s.ts_ns for s in dbirth.samples] == [T0 - 60 * S]
    no_time = m.map_sparkplug_message(tracker, "spBv1.0/g/DDATA/edge/press", sp(None, 2), T0 + 3 * S)
    assert no_time.life == ("line-1", "press", T0 + 3 * S)
    death = m.map_sparkplug_message(
        tracker,
        "spBv1.0/g/NDEATH/edge",
        sp(None, None, make_metric(DataType.UInt64, 0, name="bdSeq")),
        T0 + 9 * S,
    )
    assert death.life is None
    assert sorted(death.deaths) == sorted(
        [
            Death("line-1", "edge", T0 + 9 * S, ("g", "edge"), None),
            Death("line-1", "press", T0 + 9 * S, ("g", "edge"), "press"),
        ]
    )
    assert {s.machine for s in death.samples} == {"edge", "press"}
    # the old three-part result is unchanged
    samples, problems, rebirths = m.map_sparkplug(tracker, "spBv1.0/g/NCMD/edge", sp(ms, None), T0)
    assert (samples, problems, rebirths) == ([], [], [])
