"""Sparkplug B mapping (tracker + SubscriptionMapper) against an oracle written from
docs/mqtt.md and the tracker's documented rules, on hundreds of random message sequences
of one edge node and its devices.

The oracle works on the messages as drawn (before encoding) and knows only: a BIRTH
declares the names and aliases of its metrics (an NBIRTH forgets the devices' births), a
DATA metric is named by a declared alias, else by a declared name sent without alias,
else by its own name; one it cannot name is a problem; bdSeq is not data; metrics are
grouped by time stamp (metric's, else payload's, else arrival); every value is stored
under its name as a float, bool or text; deaths write ``state = offline`` for the node
(at arrival) and its live devices, a DDEATH for its device at the payload's time.
A message with problems and nothing stored is refused; with both it is partial."""

from __future__ import annotations

import time

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.mqtt.config import SubscriptionConfig
from collector.mqtt.mapping import SubscriptionMapper
from collector.mqtt.sparkplug import SparkplugTracker
from collector.mqtt.sparkplug_codec import DataType, Payload, encode_payload, make_metric
from tests.support.mqtt_fuzz import FUZZ_SUBS

ARRIVAL = time.time_ns() | 1
BASE_MS = ARRIVAL // 10**6 - 3_600_000
SPARKPLUG_SUBS = [s for s in yaml.safe_load(FUZZ_SUBS) if s["topic"].startswith("spBv1.0/")]
CATALOGUE = [
    ("f_temp", DataType.Double, st.floats(allow_nan=False, allow_infinity=False)),
    ("f_speed", DataType.Float, st.floats(width=32, allow_nan=False, allow_infinity=False)),
    ("f_count", DataType.Int64, st.integers(-(2**63), 2**63 - 1)),
    ("f_small", DataType.Int8, st.integers(-128, 127)),
    ("f_u32", DataType.UInt32, st.integers(0, 2**32 - 1)),
    ("b_door", DataType.Boolean, st.booleans()),
    ("s_mode", DataType.String, st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10)),
]


@st.composite
def message(draw: st.DrawFn) -> dict:
    verb = draw(st.sampled_from(["NBIRTH", "DBIRTH", "NDATA", "DDATA", "DDATA", "DDEATH", "NDEATH"]))
    device = f"d{draw(st.integers(0, 1))}"
    msg: dict = {"verb": verb, "device": device, "ts": BASE_MS + draw(st.integers(0, 600_000)), "metrics": []}
    if verb in ("NDEATH", "DDEATH"):
        return msg
    for index in draw(st.lists(st.integers(0, len(CATALOGUE) - 1), min_size=1, max_size=4, unique=True)):
        name, datatype, values = CATALOGUE[index]
        how = (
            "both" if verb.endswith("BIRTH") else draw(st.sampled_from(["alias", "name", "both", "unknown"]))
        )
        msg["metrics"].append(
            {
                "name": name if how in ("name", "both") else None,
                "alias": {"alias": index + 1, "both": index + 1, "unknown": 99}.get(how),
                "datatype": datatype,
                "value": draw(values | st.none()),
                "ts": None
                if verb.endswith("BIRTH")
                else draw(st.none() | st.integers(BASE_MS, BASE_MS + 600_000)),
            }
        )
    return msg


def topic_of(msg: dict) -> str:
    device = f"/{msg['device']}" if msg["verb"].startswith("D") else ""
    return f"spBv1.0/fz/{msg['verb']}/n1{device}"


def encode(msg: dict) -> bytes:
    metrics = [
        make_metric(m["datatype"], m["value"], name=m["name"], alias=m["alias"], timestamp=m["ts"])
        for m in msg["metrics"]
    ]
    if msg["verb"] in ("NBIRTH", "NDEATH"):
        metrics.insert(0, make_metric(DataType.UInt64, 0, name="bdSeq"))
    ts = None if msg["verb"] == "NDEATH" else msg["ts"]
    return encode_payload(
        Payload(timestamp=ts, seq=None if msg["verb"] == "NDEATH" else 0, metrics=tuple(metrics))
    )


class Oracle:
    def __init__(self) -> None:
        self.node: dict[int, str] | None = None  # alias -> name of the NBIRTH, None before one
        self.node_online = False
        self.devices: dict[str, dict[int, str]] = {}
        self.device_online: dict[str, bool] = {}

    def expect(self, msg: dict) -> tuple[list[tuple[str, dict, int]], bool]:
        verb, device = msg["verb"], msg["device"]
        machine = device if verb.startswith("D") else "n1"
        offline = {"state": "offline"}
        if verb == "NDEATH":
            out = [("n1", offline, ARRIVAL)]
            out += [(d, offline, ARRIVAL) for d, alive in self.device_online.items() if alive]
            self.node_online = False
            self.device_online = dict.fromkeys(self.device_online, False)
            return out, False
        if verb == "DDEATH":
            if device in self.device_online:
                self.device_online[device] = False
            return [(device, offline, msg["ts"] * 10**6)], False
        aliases = {m["alias"]: m["name"] for m in msg["metrics"]}
        if verb == "NBIRTH":
            self.node, self.node_online = aliases, True
            self.devices, self.device_online = {}, {}
        elif verb == "DBIRTH":
            self.devices[device], self.device_online[device] = aliases, True
        declared = self.node if verb.startswith("N") else self.devices.get(device)
        by_ts: dict[int, dict] = {}
        problem = False
        for m in msg["metrics"]:
            if declared is not None and m["alias"] in declared:
                name = declared[m["alias"]]
            elif declared is not None and m["alias"] is None and m["name"] in declared.values():
                name = m["name"]
            else:
                name = m["name"]
            if name is None:
                problem = True
                continue
            if m["value"] is None:
                continue
            value = m["value"] if type(m["value"]) in (bool, str) else float(m["value"])
            ts = (m["ts"] if m["ts"] is not None else msg["ts"]) * 10**6
            by_ts.setdefault(ts, {})[name] = value
        return [(machine, fields, ts) for ts, fields in by_ts.items()], problem


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(message(), min_size=1, max_size=12))
def test_sparkplug_mapping_matches_the_documented_rules(messages: list[dict]) -> None:
    mappers = [
        SubscriptionMapper(
            SubscriptionConfig.model_validate(sub), site_line="line-1", max_payload=10_000, max_future_s=300.0
        )
        for sub in SPARKPLUG_SUBS
    ]
    tracker, oracle = SparkplugTracker(), Oracle()
    for msg in messages:
        topic = topic_of(msg)
        mapper = next(m for m in mappers if m.topic_matches(topic))
        samples, problems, _ = mapper.map_sparkplug(tracker, topic, encode(msg), ARRIVAL)
        got = [(s.machine, dict(s.fields), s.ts_ns) for s in samples]
        want, problem = oracle.expect(msg)
        assert normal(got) == normal(want), (msg, problems)
        assert bool(problems) == problem, (msg, problems)


def normal(samples: list[tuple[str, dict, int]]) -> list[tuple[str, int, str]]:
    return sorted((m, ts, repr(sorted(f.items(), key=lambda kv: kv[0]))) for m, f, ts in samples)
