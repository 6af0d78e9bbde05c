"""MQTT payload mapping: every format, template and time unit; every way a message is refused;
fuzzing that map() only ever returns samples or raises BadMessage; dead letters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.mqtt.config import SubscriptionConfig
from collector.mqtt.deadletter import DeadLetter, DeadLetters, read_dead_letters
from collector.mqtt.jsonpath import MISSING, JsonPathError, compile_path
from collector.mqtt.mapping import BadMessage, Sample, SubscriptionMapper, format_ns, timestamp_ns

NOW = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z
S = 10**9

ISSUE_SUB: dict[str, Any] = {
    "topic": "plant/+/+/telemetry",
    "qos": 1,
    "format": "json",
    "line": "{1}",
    "machine": "{2}",
    "timestamp": {"path": "$.ts", "unit": "ms"},
    "fields": {
        "state": {
            "path": "$.status",
            "role": "state",
            "states": {"RUN": "running", "IDLE": "idle", "ALARM": "fault"},
        },
        "count_total": {"path": "$.counters.total", "role": "count_total", "type": "int"},
        "temperature": {"path": "$.temp", "type": "float"},
    },
}
TOPIC = "plant/line-1/press-01/telemetry"


def mapper(sub: dict[str, Any] | None = None, **overrides: Any) -> SubscriptionMapper:
    cfg = SubscriptionConfig.model_validate({**(sub or ISSUE_SUB), **overrides})
    return SubscriptionMapper(cfg, site_line="site-line", max_payload=4096, max_future_s=300.0)


def doc(**values: Any) -> bytes:
    base: dict[str, Any] = {"ts": NOW // 10**6, "status": "RUN", "counters": {"total": 17}, "temp": 21.5}
    base.update(values)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def one(m: SubscriptionMapper, payload: bytes, topic: str = TOPIC, arrival: int = NOW) -> Sample:
    samples = m.map(topic, payload, arrival)
    assert len(samples) == 1
    return samples[0]


def reason(m: SubscriptionMapper, payload: bytes, topic: str = TOPIC, arrival: int = NOW) -> str:
    with pytest.raises(BadMessage) as info:
        m.map(topic, payload, arrival)
    assert "\n" not in info.value.reason
    return info.value.reason


# --- the issue's example ----------------------------------------------------------------------


def test_issue_example():
    s = one(mapper(), doc())
    assert s == Sample(
        "line-1", "press-01", (("state", "running"), ("count_total", 17), ("temperature", 21.5)), NOW
    )


def test_korean_topic_levels_keys_and_values():
    sub = {
        "topic": "공장/+/+/데이터",
        "line": "{1}",
        "machine": "{2}",
        "fields": {
            "온도": {"path": "$['온도']", "type": "float"},
            "작업지시": {"path": "$.작업.번호", "role": "order_id"},
            "메모": {"path": '$["메모 칸"]'},
        },
    }
    payload = json.dumps({"온도": 36.6, "작업": {"번호": "주문-7"}, "메모 칸": "정상"}, ensure_ascii=False)
    s = one(mapper(sub), payload.encode(), topic="공장/조립라인/프레스1/데이터")
    assert (s.line, s.machine) == ("조립라인", "프레스1")
    assert s.fields == (("온도", 36.6), ("order_id", "주문-7"), ("메모", "정상"))


def test_templates_mix_literals_and_levels():
    s = one(mapper(line="L-{1}", machine="{1}/{2}"), doc())
    assert (s.line, s.machine) == ("L-line-1", "line-1/press-01")
    s = one(mapper(line=None, machine="fixed"), doc())
    assert (s.line, s.machine) == ("site-line", "fixed")


def test_topic_matching():
    m = mapper()
    assert m.topic_matches("plant/a/b/telemetry")
    assert not m.topic_matches("plant/a/b/telemetry/x")
    assert not m.topic_matches("plant/a/telemetry")
    hash_sub = mapper(topic="plant/#", machine="fixed", line=None)
    assert hash_sub.topic_matches("plant") and hash_sub.topic_matches("plant/a/b/c")
    assert not hash_sub.topic_matches("plantx/a")
    everything = mapper(topic="#", machine="fixed", line=None)
    assert everything.topic_matches("a/b") and not everything.topic_matches("$SYS/broker/load")
    assert not mapper(topic="+/+", machine="fixed", line=None).topic_matches("$SYS/x")
    assert mapper(topic="$SYS/#", machine="fixed", line=None).topic_matches("$SYS/x")
    assert mapper(topic="a/+/c", machine="fixed", line=None).topic_matches("a//c")


# --- time stamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "raw", "ns"),
    [
        ("s", NOW // S, NOW),
        ("s", 1714564800.5, NOW + S // 2),
        ("s", "1714564800", NOW),
        ("ms", NOW // 10**6, NOW),
        ("ms", 1714564800000.25, NOW + 250_000),
        ("us", NOW // 1000 + 7, NOW + 7000),
        ("ns", NOW + 123, NOW + 123),
        ("iso", "2024-05-01T12:00:00Z", NOW),
        ("iso", "2024-05-01T21:00:00+09:00", NOW),
        ("iso", "2024-05-01T12:00:00.123456789Z", NOW + 123_456_789),
        ("iso", "2024-05-01T12:00:00,5+00:00", NOW + S // 2),
        ("iso", "2024-05-01 12:00:00.000001Z", NOW + 1000),
        ("iso", "20240501T120000.25Z", NOW + S // 4),
        # a UTC offset may have its own seconds and fraction: not the time of day's
        ("iso", "2024-05-01T12:00:00+00:00:30.5", NOW - 30 * S - S // 2),
    ],
)
def test_timestamp_units(unit, raw, ns):
    m = mapper(timestamp={"path": "$.ts", "unit": unit})
    assert one(m, doc(ts=raw), arrival=NOW + 10 * S).ts_ns == ns


def test_default_time_is_arrival():
    m = mapper(timestamp=None)
    assert one(m, doc(ts=...), arrival=NOW + 5).ts_ns == NOW + 5


def test_same_payload_same_time_stamp_on_redelivery():
    m = mapper(timestamp={"path": "$.ts", "unit": "s"})
    payload = doc(ts=1714564800.123456)
    assert one(m, payload, arrival=NOW + S).ts_ns == one(m, payload, arrival=NOW + 60 * S).ts_ns


@pytest.mark.parametrize(
    ("unit", "raw", "words"),
    [
        ("iso", "2024-05-01T12:00:00", "has no UTC offset"),
        ("iso", "yesterday", "is not ISO 8601"),
        ("iso", "2024-05-01T12:00:00.5.5Z", "is not ISO 8601"),
        ("iso", "0001-01-01T00:00:00-23:59", "timestamp 0001-01-01T23:59:00Z is before 1970"),
        ("iso", 1714564800, "expected ISO 8601 text"),
        ("ms", "soon", "expected a number of ms"),
        ("ms", True, "expected a number of ms"),
        ("s", 32503680000, "timestamp 3000-01-01T00:00:00Z is 356355 days in the future"),
        ("iso", "2999-01-01T00:00:00Z", "timestamp 2999-01-01T00:00:00Z is"),
        ("s", NOW // S + 301, "is 5 minutes in the future"),
        ("s", -1, "timestamp 1969-12-31T23:59:59Z is before 1970"),
        ("iso", "1969-12-31T23:59:59.9Z", "before 1970"),
        ("s", 10**30, "in the future"),
        ("s", "1e999999", "out of range"),
        ("ns", 10**400, "in the future"),
    ],
)
def test_bad_timestamps(unit, raw, words):
    m = mapper(timestamp={"path": "$.ts", "unit": unit})
    assert words in reason(m, doc(ts=raw))


def test_timestamp_missing_or_null():
    assert reason(mapper(), doc(ts=...)) == "timestamp $.ts: missing"
    assert reason(mapper(), doc(ts=None)) == "timestamp $.ts: null"


def test_format_ns():
    assert format_ns(NOW) == "2024-05-01T12:00:00Z"
    assert format_ns(NOW + 1500) == "2024-05-01T12:00:00.0000015Z"
    assert format_ns(10**30).endswith(" ns")
    assert timestamp_ns(1.5, "s") == 1_500_000_000


# --- value conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(17, 17), (17.0, 17), ("17", 17), (" -3 ", -3), ("1.7e1", 17), (2**63 - 1, 2**63 - 1)],
)
def test_int_accepts(raw, stored):
    s = one(mapper(), doc(counters={"total": raw}))
    assert dict(s.fields)["count_total"] == stored and type(dict(s.fields)["count_total"]) is int


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (1.5, "1.5 is not a whole number"),
        (True, "expected an integer, got a boolean"),
        ("abc", "'abc' is not a number"),
        ("1.5", "'1.5' is not a whole number"),
        (2**63, "does not fit a signed 64-bit integer"),
        ("1e30", "does not fit a signed 64-bit integer"),
        ([1], "expected an integer, got an array"),
        ({"a": 1}, "expected an integer, got an object"),
        ("nan", "is not a number"),
        ("１２", "is not a number"),
        ("0x10", "is not a number"),
    ],
)
def test_int_refuses(raw, words):
    r = reason(mapper(), doc(counters={"total": raw}))
    assert r.startswith("$.counters.total: ") and words in r, r


@pytest.mark.parametrize(("raw", "stored"), [(21, 21.0), (21.5, 21.5), ("21.5", 21.5), ("-1e3", -1000.0)])
def test_float_accepts_and_stays_float(raw, stored):
    value = dict(one(mapper(), doc(temp=raw)).fields)["temperature"]
    assert value == stored and type(value) is float


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (True, "got a boolean"),
        ("warm", "is not a number"),
        ("inf", "is not a number"),
        ("1e999", "not a finite"),
    ],
)
def test_float_refuses(raw, words):
    assert words in reason(mapper(), doc(temp=raw))


def test_float_overflow_from_json_is_refused():
    assert "not a finite number" in reason(mapper(), doc(temp=...)[:-1] + b', "temp": 1e400}')
    assert "too large for a float" in reason(mapper(), doc(temp=10**400))


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_refused(constant):
    payload = b'{"ts": 1, "status": "RUN", "counters": {"total": 1}, "temp": ' + constant + b"}"
    assert "is not JSON" in reason(mapper(), payload)


def test_untyped_values():
    sub = {"topic": "t/+", "machine": "{1}", "fields": {"a": {}, "b": {}, "c": {}, "d": {"path": "$.d"}}}
    s = one(mapper(sub), b'{"a": 3, "b": true, "c": "x", "d": 2.5}', topic="t/m")
    assert s.fields == (("a", 3.0), ("b", True), ("c", "x"), ("d", 2.5))
    assert type(dict(s.fields)["a"]) is float


@pytest.mark.parametrize(
    ("raw", "stored"), [(True, True), (False, False), (1, True), (0, False), ("true", True), ("FALSE", False)]
)
def test_bool_type(raw, stored):
    sub = {"topic": "t/+", "machine": "{1}", "fields": {"door": {"type": "bool"}}}
    assert one(mapper(sub), json.dumps({"door": raw}).encode(), topic="t/m").fields == (("door", stored),)


def test_bool_type_refuses_other_numbers():
    sub = {"topic": "t/+", "machine": "{1}", "fields": {"door": {"type": "bool"}}}
    assert "expected true or false, got 2" in reason(mapper(sub), b'{"door": 2}', topic="t/m")


def test_string_type_and_text_roles():
    sub = {
        "topic": "t/+",
        "machine": "{1}",
        "fields": {"order": {"role": "order_id"}, "code": {"type": "string"}, "lot": {"role": "lot_id"}},
    }
    s = one(mapper(sub), b'{"order": 12345, "code": 2.50, "lot": "L\\n1"}', topic="t/m")
    assert s.fields == (("order_id", "12345"), ("code", "2.5"), ("lot_id", "L\n1"))


def test_unpaired_surrogate_is_refused():
    sub = {"topic": "t/+", "machine": "{1}", "fields": {"note": {"type": "string"}}}
    assert "unpaired surrogate" in reason(mapper(sub), b'{"note": "a\\ud800b"}', topic="t/m")


# --- states -------------------------------------------------------------------------------------


def state_sub(states: dict[Any, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"role": "state"}
    if states is not None:
        spec["states"] = states
    return {"topic": "t/+", "machine": "{1}", "fields": {"status": spec}}


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("RUN", (("state", "running"),)),
        (1, (("state", "idle"), ("state_code", 1))),
        (1.0, (("state", "idle"),)),
        ("1", (("state", "idle"),)),
        (9, (("state", "unknown"), ("state_code", 9))),
        ("BROKEN", (("state", "unknown"),)),
        (True, (("state", "unknown"),)),
    ],
)
def test_states_compare_as_text(raw, fields):
    m = mapper(state_sub({"RUN": "running", 1: "idle"}))
    assert one(m, json.dumps({"status": raw}).encode(), topic="t/m").fields == fields


def test_state_without_map_takes_canonical_names_only():
    m = mapper(state_sub(None))
    assert one(m, b'{"status": "fault"}', topic="t/m").fields == (("state", "fault"),)
    assert one(m, b'{"status": "Fault"}', topic="t/m").fields == (("state", "unknown"),)


def test_states_on_a_plain_field_pass_unmapped_values_through():
    sub = {"topic": "t/+", "machine": "{1}", "fields": {"mode": {"states": {1: "auto", 2: "manual"}}}}
    m = mapper(sub)
    assert one(m, b'{"mode": 2}', topic="t/m").fields == (("mode", "manual"),)
    assert one(m, b'{"mode": 7}', topic="t/m").fields == (("mode", "7"),)
    assert "expected a value, got an object" in reason(m, b'{"mode": {}}', topic="t/m")


# --- optional, unmapped, arrays -------------------------------------------------------------------


def test_missing_field_rejects_the_whole_sample():
    assert reason(mapper(), doc(counters={})) == "$.counters.total: missing"
    assert reason(mapper(), doc(temp=None)) == "$.temp: null"
    assert reason(mapper(), doc(counters=[1])) == "$.counters.total: missing"


def test_optional_field_may_be_absent():
    sub = {
        **ISSUE_SUB,
        "fields": {**ISSUE_SUB["fields"], "temperature": {"path": "$.temp", "optional": True}},
    }
    s = one(mapper(sub), doc(temp=...))
    assert [k for k, _ in s.fields] == ["state", "count_total"]
    assert [k for k, _ in one(mapper(sub), doc(temp=None)).fields] == ["state", "count_total"]


def test_nothing_to_store_is_bad():
    sub = {"topic": "t/+", "machine": "{1}", "fields": {"a": {"optional": True}}}
    assert reason(mapper(sub), b'{"b": 1}', topic="t/m").startswith("no field to store")


def test_include_unmapped():
    sub = {**ISSUE_SUB, "include_unmapped": True}
    payload = doc(
        humidity=40,
        door=False,
        mode="auto",
        nested={"x": 1},
        items=[1],
        nothing=None,
        time=5,
        line="x",
        count_good=3,
        state="idle",
        **{"bad\nname": 1, "압력": 2.5},
    )
    s = one(mapper(sub), payload)
    assert s.fields == (
        ("state", "running"),
        ("count_total", 17),
        ("temperature", 21.5),
        ("humidity", 40.0),
        ("door", False),
        ("mode", "auto"),
        ("압력", 2.5),
    )


def test_unmapped_value_that_cannot_be_stored_is_bad():
    sub = {**ISSUE_SUB, "include_unmapped": True}
    assert "'big': " in reason(mapper(sub), doc(big=10**400))


def test_array_of_samples():
    m = mapper()
    payload = json.dumps(
        [
            {"ts": NOW // 10**6, "status": "RUN", "counters": {"total": 1}, "temp": 1},
            {"ts": NOW // 10**6 + 1, "status": "IDLE", "counters": {"total": 2}, "temp": 2},
        ]
    ).encode()
    samples = m.map(TOPIC, payload, NOW)
    assert [s.ts_ns for s in samples] == [NOW, NOW + 10**6]
    assert [dict(s.fields)["state"] for s in samples] == ["running", "idle"]


def test_array_errors():
    m = mapper()
    good = {"ts": 1, "status": "RUN", "counters": {"total": 1}, "temp": 1}
    assert reason(m, b"[]") == "empty JSON array: no samples"
    assert reason(m, json.dumps([good, 3]).encode()) == "element 1: expected a JSON object, got a number"
    bad = {**good, "temp": "hot"}
    assert reason(m, json.dumps([good, bad]).encode()) == "element 1: $.temp: 'hot' is not a number"
    untimed = mapper(timestamp=None)
    assert "without a timestamp path" in reason(untimed, json.dumps([good, good]).encode())
    assert len(untimed.map(TOPIC, json.dumps([good]).encode(), NOW)) == 1


# --- format value ------------------------------------------------------------------------------


VALUE_SUB: dict[str, Any] = {
    "topic": "plant/+/+/sensor/+",
    "format": "value",
    "machine": "{2}",
    "field": "{4}",
}
VALUE_TOPIC = "plant/line-1/press-01/sensor/temperature"


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        (b"21.5", 21.5),
        (b"21", 21.0),
        (b" 21\n", 21.0),
        (b"true", True),
        (b"False", False),
        (b"running hot", "running hot"),
        (b"\xec\x98\xa8\xeb\x8f\x84", "온도"),
        (b"nan", "nan"),
    ],
)
def test_value_format_untyped(payload, value):
    s = one(mapper(VALUE_SUB), payload, topic=VALUE_TOPIC)
    assert (s.line, s.machine, s.fields, s.ts_ns) == ("site-line", "press-01", (("temperature", value),), NOW)
    assert type(s.fields[0][1]) is type(value)


def test_value_format_types_and_roles():
    m = mapper({**VALUE_SUB, "type": "int"})
    assert one(m, b"17", topic=VALUE_TOPIC).fields == (("temperature", 17),)
    assert reason(m, b"1.5", topic=VALUE_TOPIC) == "payload: 1.5 is not a whole number"
    text = mapper({**VALUE_SUB, "type": "string"})
    assert one(text, b"007", topic=VALUE_TOPIC).fields == (("temperature", "007"),)
    fixed = mapper({**VALUE_SUB, "field": None, "role": "power_kw"})
    assert one(fixed, b"3", topic=VALUE_TOPIC).fields == (("power_kw", 3.0),)


def test_value_format_state():
    sub = {
        "topic": "plant/+/+/state",
        "format": "value",
        "machine": "{2}",
        "role": "state",
        "states": {1: "running", "007": "setup"},
    }
    m = mapper(sub)
    topic = "plant/line-1/press-01/state"
    assert one(m, b"1", topic=topic).fields == (("state", "running"), ("state_code", 1))
    assert one(m, b"007", topic=topic).fields == (("state", "setup"), ("state_code", 7))
    assert one(m, b"x", topic=topic).fields == (("state", "unknown"),)


def test_value_format_bad():
    m = mapper(VALUE_SUB)
    assert reason(m, b"  ", topic=VALUE_TOPIC) == "empty payload: nothing to store"
    assert "reserved" in reason(m, b"1", topic="plant/l/m/sensor/time")
    assert "is a role name" in reason(m, b"1", topic="plant/l/m/sensor/count_total")
    assert "not a finite number" in reason(m, b"1e999", topic=VALUE_TOPIC)


# --- topics that cannot become tags -----------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("plant//press-01/telemetry", "line must not be empty"),
        ("plant/line\\/press-01/telemetry", "backslash"),
        ("plant/line-1/a\nb/telemetry", "machine must not contain line breaks"),
        ("other/line-1/press-01/telemetry", "does not match"),
    ],
)
def test_bad_topic_levels(topic, words):
    assert words in reason(mapper(), doc(), topic=topic)


def test_payload_limits_and_encoding():
    m = mapper()
    assert reason(m, b"{" + b" " * 5000 + b"}") == "payload of 5002 bytes exceeds max_payload_bytes (4096)"
    assert reason(m, b'{"a\xff": 1}') == "payload is not UTF-8 at byte 3"
    assert reason(m, b'{"ts": ') == "invalid JSON at line 1 column 8: Expecting value"
    assert reason(m, b"3") == "expected a JSON object or an array of objects, got a number"
    assert reason(m, b"[" * 4000) == "invalid JSON: nested too deeply"
    assert one(m, b"\xef\xbb\xbf" + doc()).ts_ns == NOW  # a UTF-8 byte order mark is tolerated


# --- Sparkplug B helpers ------------------------------------------------------------------------


def test_sparkplug_metrics():
    sub = {
        "topic": "spBv1.0/plant/#",
        "format": "sparkplug_b",
        "fields": {"good": {"path": "Counters/Good", "role": "count_good"}},
    }
    m = mapper(sub)
    sample = SimpleNamespace(metrics={"Counters/Good": 5, "Inputs/Temp": 20, "time": 1}, ts_ns=NOW)
    s = m.map_metrics("spBv1.0/plant/DDATA/node-1/press-01", sample)
    assert s == Sample("site-line", "press-01", (("count_good", 5), ("Inputs/Temp", 20.0)), NOW)
    assert m.line_for("spBv1.0/plant/NDATA/node-1") == "site-line"
    assert m.tags("spBv1.0/plant/NDATA/node-1")[1] == "node-1"
    assert m.map_metrics("spBv1.0/plant/DDATA/n/d", SimpleNamespace(metrics={"time": 1}, ts_ns=NOW)) is None
    with pytest.raises(BadMessage, match="metric 'Counters/Good'"):
        m.map_metrics("spBv1.0/plant/DDATA/n/d", SimpleNamespace(metrics={"Counters/Good": 1.5}, ts_ns=NOW))
    with pytest.raises(TypeError):
        m.map("spBv1.0/plant/DDATA/n/d", b"", NOW)
    device = mapper({**sub, "machine": "{4}"})
    with pytest.raises(BadMessage, match="has no level"):
        device.tags("spBv1.0/plant/NDATA/node-1")


# --- JSONPath -----------------------------------------------------------------------------------


def test_jsonpath_subset():
    d = {"a": {"b c": [10, {"키": "v"}]}, "x'y": 1, "0": "zero"}
    assert compile_path("$").get(d) is d
    assert compile_path("$.a['b c'][1]['키']").get(d) == "v"
    assert compile_path('$.a["b c"][-1].키').get(d) == "v"
    assert compile_path("$['x\\'y']").get(d) == 1
    assert compile_path("$.0").get(d) == "zero"
    assert compile_path("$.a['b c'][5]").get(d) is MISSING
    assert compile_path("$.a.b").get(d) is MISSING
    assert compile_path("$[0]").get(d) is MISSING
    assert compile_path("$.a[0]").get(d) is MISSING
    assert compile_path("$.a['b c'].x").get(d) is MISSING
    for bad in ("a.b", "$.", "$..a", "$[*]", "$[?(@.a)]", "$['a]", "$[1", "$['a\\n']", "$ .a"):
        with pytest.raises(JsonPathError):
            compile_path(bad)


# --- fuzzing ------------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_docs = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
interesting_keys = st.sampled_from(["ts", "status", "counters", "temp", "total", "time", "line", "x"])
shaped_docs = st.dictionaries(
    interesting_keys,
    st.one_of(json_scalars, st.dictionaries(interesting_keys, json_scalars, max_size=3)),
    max_size=6,
)
FUZZ_MAPPERS = [
    mapper(),
    mapper(include_unmapped=True, timestamp={"path": "$.ts", "unit": "iso"}),
    mapper(timestamp=None, include_unmapped=True),
    mapper(VALUE_SUB),
    mapper({**VALUE_SUB, "type": "int"}),
    mapper({"topic": "t/#", "format": "value", "machine": "m", "role": "state", "states": {1: "running"}}),
]
FUZZ_TOPICS = [TOPIC, VALUE_TOPIC, "t/x", "plant//x/telemetry"]


def map_or_bad(m: SubscriptionMapper, topic: str, payload: bytes) -> list[Sample] | None:
    try:
        samples = m.map(topic, payload, NOW)
    except BadMessage as exc:
        assert exc.reason and "\n" not in exc.reason
        return None
    for s in samples:
        assert isinstance(s, Sample) and s.fields and 0 <= s.ts_ns <= NOW + 300 * S
        for key, value in s.fields:
            assert isinstance(key, str) and type(value) in (bool, int, float, str)
            assert not isinstance(value, float) or math.isfinite(value)
    return samples


@FUZZ
@given(
    payload=st.binary(max_size=300),
    which=st.integers(0, len(FUZZ_MAPPERS) - 1),
    topic=st.sampled_from(FUZZ_TOPICS),
)
def test_fuzz_random_bytes(payload, which, topic):
    map_or_bad(FUZZ_MAPPERS[which], topic, payload)


@FUZZ
@given(document=st.one_of(json_docs, shaped_docs, st.lists(shaped_docs, max_size=3)), which=st.integers(0, 2))
def test_fuzz_random_json(document, which):
    map_or_bad(FUZZ_MAPPERS[which], TOPIC, json.dumps(document).encode())


@FUZZ
@given(text=st.text(max_size=40), which=st.integers(3, 5))
def test_fuzz_value_text(text, which):
    map_or_bad(
        FUZZ_MAPPERS[which], VALUE_TOPIC if which < 5 else "t/x", text.encode("utf-8", "surrogatepass")
    )


ROUND_TRIP = mapper(
    {
        "topic": "plant/+/+/telemetry",
        "line": "{1}",
        "machine": "{2}",
        "timestamp": {"path": "$.meta.ts", "unit": "ns"},
        "fields": {
            "count": {"path": "$.c", "type": "int"},
            "temp": {"path": "$.values[0]", "type": "float"},
            "label": {"path": "$['라벨']", "type": "string"},
            "on": {"path": "$.on", "type": "bool"},
            "state": {"path": "$.s", "role": "state", "states": {"A": "running", "B": "idle"}},
        },
    }
)
# names the data contract allows (datacontract.names), beside MQTT's own / + #
tag_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="/+#\\"),
    min_size=1,
    max_size=10,
).filter(lambda s: s == s.strip())


@FUZZ
@given(
    count=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    temp=st.floats(allow_nan=False, allow_infinity=False),
    label=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    on=st.booleans(),
    state=st.sampled_from(["A", "B", "Z"]),
    ts=st.integers(min_value=0, max_value=NOW),
    line=tag_text,
    machine=tag_text,
)
def test_round_trip_of_valid_documents(count, temp, label, on, state, ts, line, machine):
    document = {"c": count, "values": [temp], "라벨": label, "on": on, "s": state, "meta": {"ts": ts}}
    s = one(
        ROUND_TRIP,
        json.dumps(document, ensure_ascii=False).encode(),
        topic=f"plant/{line}/{machine}/telemetry",
    )
    assert (s.line, s.machine, s.ts_ns) == (line, machine, ts)
    expected_state = {"A": "running", "B": "idle"}.get(state, "unknown")
    assert s.fields == (
        ("count", count),
        ("temp", temp),
        ("label", label),
        ("on", on),
        ("state", expected_state),
    )


# --- dead letters -------------------------------------------------------------------------------


def test_dead_letters_round_trip(tmp_path: Path):
    dead = DeadLetters(tmp_path / "dead")
    m = mapper()
    bad = doc(counters={})
    with pytest.raises(BadMessage) as info:
        m.map(TOPIC, bad, NOW)
    day2 = NOW + 86400 * S
    written = dead.write_many(
        [
            DeadLetter(TOPIC, 0, "plant/+/+/telemetry", info.value.reason, bad, NOW),
            ("공장/x", 1, "공장/#", "payload is not UTF-8 at byte 0", b"\xff\x00", NOW + 1),
            ("t", None, None, "big", "가".encode() * 2000, day2),
        ]
    )
    assert written == 3 and dead.written == 3
    assert [p.name for p in dead.files()] == ["deadletter-20240501.jsonl", "deadletter-20240502.jsonl"]
    letters = list(dead.read())
    assert [x.payload for x in letters] == [bad, b"\xff\x00", "가".encode() * 2000]
    assert letters[0].reason == "$.counters.total: missing"
    assert (letters[0].subscription_index, letters[0].subscription_filter) == (0, "plant/+/+/telemetry")
    assert letters[1].topic == "공장/x" and letters[2].subscription_index is None
    assert letters[0].received_ns == NOW and letters[0].received_at.isoformat() == "2024-05-01T12:00:00+00:00"
    records = [json.loads(line) for line in dead.files()[0].read_text(encoding="utf-8").splitlines()]
    assert records[0]["payload_text"] == bad.decode() and records[0]["payload_truncated"] is False
    assert "payload_text" not in records[1]
    big = json.loads(dead.files()[1].read_text(encoding="utf-8"))
    assert big["payload_truncated"] is True and len(big["payload_text"].encode()) <= 4096
    assert big["received_at"] == "2024-05-02T12:00:00.000000Z"


def test_dead_letters_never_raise_for_a_bad_record(tmp_path: Path):
    dead = DeadLetters(tmp_path)
    written = dead.write_many([("t", 0, "t", "r", None, NOW), ("t", 0), ("t", 0, "t", "ok", b"1", NOW)])
    assert written == 1 and dead.failed == 2
    assert [x.reason for x in read_dead_letters(tmp_path)] == ["ok"]


def test_dead_letters_survive_an_unwritable_folder(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    dead = DeadLetters(blocker / "dead")
    assert dead.write(("t", 0, "t", "r", b"x", NOW)) is False
    assert dead.failed == 1


def test_dead_letters_cap_drops_oldest_days_first(tmp_path: Path):
    dead = DeadLetters(tmp_path, max_bytes=3000)
    payload = b"x" * 500
    for day in range(3):
        dead.write(("t", 0, "t", "r", payload, NOW + day * 86400 * S))
    names = [p.name for p in dead.files()]
    assert names == ["deadletter-20240502.jsonl", "deadletter-20240503.jsonl"]
    # today's file is never deleted to make room: beyond the cap new records are dropped
    for _ in range(5):
        dead.write(("t", 0, "t", "r", payload, NOW + 2 * 86400 * S))
    assert dead.dropped > 0
    assert sum(p.stat().st_size for p in dead.files()) <= 3000


def test_torn_last_line_is_skipped(tmp_path: Path):
    dead = DeadLetters(tmp_path)
    dead.write(("t", 0, "t", "r", b"x", NOW))
    with dead.files()[0].open("ab") as f:
        f.write(b'{"received_at": "2024')
    assert len(list(dead.read())) == 1
    with dead.files()[0].open("ab") as f:
        f.write(b"\n")
    with pytest.raises(ValueError, match=":2: not a dead-letter record"):
        list(dead.read())
