"""The collector's json and value mapping against an oracle written from docs/mqtt.md
(tests/support/mqtt_fuzz.py), on hundreds of random payloads: the payloads the broker fuzz
test of tests/collector/mqtt/test_collector_mqtt.py sends, and value texts of every shape."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.mqtt.config import SubscriptionConfig
from collector.mqtt.mapping import BadMessage, SubscriptionMapper
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

ORACLE = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW_MS = time.time_ns() // 10**6
#: odd, so no payload time stamp (whole or half milliseconds) ever equals it
ARRIVAL = NOW_MS * 10**6 + 1
SUBS = {s["topic"]: s for s in yaml.safe_load(FUZZ_SUBS)}


def mapper(topic_filter: str) -> SubscriptionMapper:
    cfg = SubscriptionConfig.model_validate(SUBS[topic_filter])
    return SubscriptionMapper(cfg, site_line="line-1", max_payload=FUZZ_MAX_PAYLOAD, max_future_s=300.0)


JSON = mapper("fz/json/+/+")
VALUE = mapper("fz/value/+/+")


def mapped(m: SubscriptionMapper, topic: str, payload: bytes) -> list[Expected] | None:
    try:
        samples = m.map(topic, payload, ARRIVAL)
    except BadMessage:
        return None
    for s in samples:
        assert len({k for k, _ in s.fields}) == len(s.fields), f"a field stored twice: {s.fields}"
        assert s.line == "line-1"
    return [Expected(s.machine, dict(s.fields), s.ts_ns) for s in samples]


def predicted(oracle, topic: str, payload: bytes) -> list[Expected] | None:
    try:
        return oracle(topic, payload, ARRIVAL)
    except Refused:
        return None


def same(got: list[Expected] | None, want: list[Expected] | None) -> None:
    assert (got is None) == (want is None), f"stored {got}" if want is None else f"refused, expected {want}"
    if got is None or want is None:
        return
    assert got == want
    # equal values of another type would be another field type in InfluxDB
    for g, w in zip(got, want, strict=True):
        assert {k: type(v) for k, v in g.fields.items()} == {k: type(v) for k, v in w.fields.items()}


@ORACLE
@given(payload=json_payload(NOW_MS))
def test_json_mapping_matches_the_documented_rules(payload: bytes) -> None:
    topic = "fz/json/e1/7"
    same(mapped(JSON, topic, payload), predicted(expect_json, topic, payload))


@ORACLE
@given(payload=value_payload())
def test_value_mapping_matches_the_documented_rules(payload: bytes) -> None:
    topic = "fz/value/e1/7"
    same(mapped(VALUE, topic, payload), predicted(expect_value, topic, payload))


@pytest.mark.parametrize(
    ("payload", "fields", "ts_ms"),
    [
        # golden cases, worked out from docs/mqtt.md by hand: they pin the oracle itself
        (b'{"ts": 1714564800000, "v": 21}', {"v": 21.0}, 1714564800000),
        (b'{"ts": "1714564800000", "v": " -3.5 ", "n": "1.7e1"}', {"v": -3.5, "n": 17}, 1714564800000),
        (
            b'{"ts": 1714564800000.5, "v": 1, "s": 2.0, "ok": "FALSE"}',
            {"v": 1.0, "s": "2", "ok": False},
            None,
        ),
        (b'{"ts": 1714564800000, "v": 1, "n": null, "s": true}', {"v": 1.0, "s": "true"}, 1714564800000),
        (b'{"ts": 1714564800000, "v": 1}', {"v": 1.0}, 1714564800000),
    ],
)
def test_oracle_golden_json(payload: bytes, fields: dict[str, object], ts_ms: int | None) -> None:
    (want,) = expect_json("fz/json/a/b", payload, ARRIVAL)
    assert want.machine == "a-b" and want.fields == fields
    assert want.ts_ns == (ts_ms * 10**6 if ts_ms is not None else 1714564800000_500000)
    assert mapped(JSON, "fz/json/a/b", payload) == [want]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"ts": 1714564800000, "v": true}',
        b'{"ts": 1714564800000, "v": "nan"}',
        b'{"ts": 1714564800000, "v": 1e400}',
        b'{"ts": 1714564800000, "v": NaN}',
        b'{"ts": 1714564800000, "v": 1, "n": 1.5}',
        b'{"ts": 1714564800000, "v": 1, "n": 9223372036854775808}',
        b'{"ts": 1714564800000, "v": 1, "ok": 2}',
        b'{"ts": 1714564800000, "v": 1, "s": [1]}',
        b'{"ts": 1714564800000}',
        b'{"v": 1}',
        b'{"ts": -1, "v": 1}',
        b'{"ts": true, "v": 1}',
        b"[]",
        b"[1]",
        b"17",
        b"\xff",
    ],
)
def test_oracle_golden_json_refusals(payload: bytes) -> None:
    with pytest.raises(Refused):
        expect_json("fz/json/a/b", payload, ARRIVAL)
    assert mapped(JSON, "fz/json/a/b", payload) is None


def test_oracle_refuses_the_far_future() -> None:
    ahead_ms = ARRIVAL // 10**6 + 301_000
    payload = b'{"ts": %d, "v": 1}' % ahead_ms
    with pytest.raises(Refused):
        expect_json("fz/json/a/b", payload, ARRIVAL)
    assert mapped(JSON, "fz/json/a/b", payload) is None


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        (b" 12 ", 12.0),
        (b"-0.5e1", -5.0),
        (b"\xef\xbb\xbf7", 7.0),
        (b"true", None),
        (b"1_000", None),
        ("１２".encode(), None),
        (b"nan", None),
        (b"", None),
        (b"0x10", None),
    ],
)
def test_oracle_golden_value(payload: bytes, value: float | None) -> None:
    want = None if value is None else [Expected("a-b", {"v": value}, ARRIVAL)]
    assert predicted(expect_value, "fz/value/a/b", payload) == want
    same(mapped(VALUE, "fz/value/a/b", payload), want)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=12) | st.from_regex(r"\s*[+-]?[0-9.]{0,6}([eE][+-]?[0-9]{0,4})?\s*", fullmatch=True)
)
def test_value_text_of_every_shape(text: str) -> None:
    payload = text.encode()
    same(mapped(VALUE, "fz/value/a/b", payload), predicted(expect_value, "fz/value/a/b", payload))
