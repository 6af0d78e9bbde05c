"""Sparkplug B host-side session state: births, deaths, aliases, sequence numbers, rebirths.

SparkplugTracker knows nothing about MQTT clients: the caller feeds it every message from
``spBv1.0/#`` with its arrival time and acts on the outcome (write the samples, publish
``rebirth_payload()`` to each rebirth topic, mark devices offline, dead-letter the message
when there are problems). Nothing resolvable is dropped: a sequence gap or a DATA message
from a node we think is offline still yields its samples, because the values are real;
only metrics that cannot be named or typed end up as problems.

Metric values come out as Python values of their Sparkplug datatype (signed integers
already sign-corrected). Null metrics, control metrics ("Node Control/*", "Device
Control/*", "Properties/*", "bdSeq") and, unless ``keep_transient``, metrics flagged
transient (the spec says not to historize them) produce no sample values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from collector.mqtt.sparkplug_codec import (
    DataType,
    Metric,
    Payload,
    SparkplugDecodeError,
    decode_payload,
    encode_payload,
    make_metric,
    metric_value,
)

__all__ = [
    "NAMESPACE",
    "REBIRTH_INTERVAL_NS",
    "SparkplugOutcome",
    "SparkplugSample",
    "SparkplugTracker",
    "rebirth_payload",
    "rebirth_topic",
]

NAMESPACE = "spBv1.0"
REBIRTH_INTERVAL_NS = 5_000_000_000
REBIRTH_METRIC = "Node Control/Rebirth"
_CONTROL_PREFIXES = ("Node Control/", "Device Control/", "Properties/")
_MS = 1_000_000
_MAX_NS = (1 << 63) - 1
_NODE_VERBS = ("NBIRTH", "NDEATH", "NDATA", "NCMD")
_DEVICE_VERBS = ("DBIRTH", "DDEATH", "DDATA", "DCMD")

SampleValue = bool | int | float | str


@dataclass(frozen=True)
class SparkplugSample:
    group: str
    edge_node: str
    device: str | None
    metrics: dict[str, SampleValue]
    ts_ns: int


@dataclass
class SparkplugOutcome:
    samples: list[SparkplugSample] = field(default_factory=list)
    rebirth_topics: list[str] = field(default_factory=list)
    """publish rebirth_payload() to each (NCMD of the node)"""
    offline: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    """(group, edge node, device or None for the node itself, ts_ns)"""
    problems: list[str] = field(default_factory=list)
    """non-empty: part of the message could not be turned into samples; keep it aside"""
    payload_ns: int | None = field(default=None, compare=False)
    """the decoded payload's own time stamp (when it was sent), if it has one"""


def rebirth_topic(group: str, edge_node: str) -> str:
    return f"{NAMESPACE}/{group}/NCMD/{edge_node}"


def rebirth_payload(timestamp_ms: int | None = None) -> bytes:
    """The NCMD payload that asks an edge node to publish its NBIRTH and DBIRTHs again."""
    ts = time.time_ns() // _MS if timestamp_ms is None else timestamp_ms
    metric = make_metric(DataType.Boolean, True, name=REBIRTH_METRIC, timestamp=ts)
    return encode_payload(Payload(timestamp=ts, metrics=(metric,)))


def is_control_metric(name: str) -> bool:
    return name == "bdSeq" or name.startswith(_CONTROL_PREFIXES)


# Session state changes with every message, so these two are deliberately mutable and
# private to the tracker; nothing outside sees them.
@dataclass
class _Definitions:
    """What a BIRTH declared: alias -> (name, datatype) and name -> datatype."""

    by_alias: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    by_name: dict[str, int | None] = field(default_factory=dict)
    online: bool = True

    def learn(self, metrics: tuple[Metric, ...]) -> None:
        self.by_alias.clear()
        self.by_name.clear()
        for m in metrics:
            if m.name is None:
                continue
            self.by_name[m.name] = m.datatype
            if m.alias is not None:
                self.by_alias[m.alias] = (m.name, m.datatype)


@dataclass
class _Node:
    defs: _Definitions | None = None
    """None until the first NBIRTH"""
    devices: dict[str, _Definitions] = field(default_factory=dict)
    bd_seq: int | None = None
    next_seq: int | None = None
    last_rebirth_ns: int | None = None


class SparkplugTracker:
    """Feed every Sparkplug message in arrival order; one tracker per MQTT subscription."""

    def __init__(self, *, keep_transient: bool = False, rebirth_interval_ns: int = REBIRTH_INTERVAL_NS):
        self.keep_transient = keep_transient
        self.rebirth_interval_ns = rebirth_interval_ns
        self._nodes: dict[tuple[str, str], _Node] = {}

    def knows_node(self, group: str, edge_node: str) -> bool:
        """Whether any message of this edge node was seen (a restarted tracker knows none)."""
        return (group, edge_node) in self._nodes

    def handle(self, topic: str, payload: bytes, arrival_ns: int) -> SparkplugOutcome:
        out = SparkplugOutcome()
        parts = topic.split("/")
        if len(parts) < 2 or parts[0] != NAMESPACE:
            out.problems.append(f"not a Sparkplug B topic: {topic!r}")
            return out
        if parts[1] == "STATE" or (len(parts) >= 3 and parts[2] == "STATE"):
            return out  # host application state (ours or another host's): no machine data
        if len(parts) not in (4, 5) or not all(parts):
            out.problems.append(f"malformed Sparkplug B topic: {topic!r}")
            return out
        group, verb, edge_node = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        if (device is None and verb not in _NODE_VERBS) or (device is not None and verb not in _DEVICE_VERBS):
            out.problems.append(f"unknown Sparkplug B message type {verb!r} in {topic!r}")
            return out
        if verb in ("NCMD", "DCMD"):
            return out  # commands to the node (including our own rebirth requests)

        key = (group, edge_node)
        try:
            decoded = decode_payload(payload)
        except SparkplugDecodeError as exc:
            out.problems.append(f"{topic}: undecodable payload: {exc}")
            if verb != "NDEATH":
                # whatever it carried is lost to us; a rebirth brings the current values back
                self._request_rebirth(key, arrival_ns, out)
            return out
        if decoded.timestamp is not None:
            out.payload_ns = _ms_to_ns(decoded.timestamp)

        if verb == "NBIRTH":
            self._nbirth(key, decoded, arrival_ns, out)
        elif verb == "NDEATH":
            self._ndeath(key, decoded, arrival_ns, out)
        elif verb == "DBIRTH":
            assert device is not None
            self._dbirth(key, device, decoded, arrival_ns, out)
        elif verb == "DDEATH":
            assert device is not None
            self._ddeath(key, device, decoded, arrival_ns, out)
        else:
            self._data(key, device, decoded, arrival_ns, out)
        return out

    # -- message types -------------------------------------------------------------------

    def _nbirth(self, key: tuple[str, str], p: Payload, arrival_ns: int, out: SparkplugOutcome) -> None:
        node = self._nodes.setdefault(key, _Node())
        node.defs = _Definitions()
        node.defs.learn(p.metrics)
        # a new session: every device must be born again before its aliases mean anything
        node.devices.clear()
        node.bd_seq = _bd_seq(p)
        node.next_seq = _next(p.seq if p.seq is not None and p.seq <= 255 else 0)
        self._samples(key, None, p, node.defs, arrival_ns, out)

    def _ndeath(self, key: tuple[str, str], p: Payload, arrival_ns: int, out: SparkplugOutcome) -> None:
        node = self._nodes.get(key)
        death_bd_seq = _bd_seq(p)
        if node is not None and None not in (node.bd_seq, death_bd_seq) and node.bd_seq != death_bd_seq:
            # the will of an earlier connection, delivered after the node came back
            return
        group, edge_node = key
        # the will's own timestamp dates from when the node connected, not from its death
        out.offline.append((group, edge_node, None, arrival_ns))
        if node is None:
            return
        if node.defs is not None:
            node.defs.online = False
        for device, defs in node.devices.items():
            if defs.online:
                out.offline.append((group, edge_node, device, arrival_ns))
                defs.online = False
        node.next_seq = None

    def _dbirth(
        self, key: tuple[str, str], device: str, p: Payload, arrival_ns: int, out: SparkplugOutcome
    ) -> None:
        node = self._nodes.setdefault(key, _Node())
        defs = _Definitions()
        defs.learn(p.metrics)
        node.devices[device] = defs
        if node.defs is None or not node.defs.online:
            # the node's own birth was missed: its session (seq, bdSeq) is unknown
            self._request_rebirth(key, arrival_ns, out)
        else:
            self._check_seq(key, node, p, arrival_ns, out)
        self._samples(key, device, p, defs, arrival_ns, out)

    def _ddeath(
        self, key: tuple[str, str], device: str, p: Payload, arrival_ns: int, out: SparkplugOutcome
    ) -> None:
        node = self._nodes.get(key)
        if node is not None:
            self._check_seq(key, node, p, arrival_ns, out)
            defs = node.devices.get(device)
            if defs is not None:
                defs.online = False
        ts_ns = _ms_to_ns(p.timestamp) if p.timestamp is not None else None
        out.offline.append((key[0], key[1], device, ts_ns if ts_ns is not None else arrival_ns))

    def _data(
        self, key: tuple[str, str], device: str | None, p: Payload, arrival_ns: int, out: SparkplugOutcome
    ) -> None:
        node = self._nodes.get(key)
        defs: _Definitions | None = None
        if node is not None:
            defs = node.defs if device is None else node.devices.get(device)
        if node is None or node.defs is None or not node.defs.online or defs is None or not defs.online:
            # a BIRTH or DEATH went missing; aliases from an earlier birth may still resolve
            self._request_rebirth(key, arrival_ns, out)
        else:
            self._check_seq(key, node, p, arrival_ns, out)
        self._samples(key, device, p, defs, arrival_ns, out)

    # -- helpers ---------------------------------------------------------------------------

    def _check_seq(
        self, key: tuple[str, str], node: _Node, p: Payload, arrival_ns: int, out: SparkplugOutcome
    ) -> None:
        if p.seq is None:
            return  # nothing to compare; such a sender gets no gap detection
        if node.next_seq is not None and p.seq == node.next_seq:
            node.next_seq = _next(p.seq)
            return
        # a lost, duplicated or reordered message: the node's state may have moved on
        # without us; resynchronise on this message and ask for the full picture
        node.next_seq = _next(p.seq) if p.seq <= 255 else None
        self._request_rebirth(key, arrival_ns, out)

    def _request_rebirth(self, key: tuple[str, str], now_ns: int, out: SparkplugOutcome) -> None:
        node = self._nodes.setdefault(key, _Node())
        last = node.last_rebirth_ns
        # message time, not wall time; a clock that went backwards must not mute requests
        if last is not None and last <= now_ns < last + self.rebirth_interval_ns:
            return
        node.last_rebirth_ns = now_ns
        out.rebirth_topics.append(rebirth_topic(*key))

    def _samples(
        self,
        key: tuple[str, str],
        device: str | None,
        p: Payload,
        defs: _Definitions | None,
        arrival_ns: int,
        out: SparkplugOutcome,
    ) -> None:
        where = f"{NAMESPACE}/{key[0]}/{key[1]}" + (f"/{device}" if device else "")
        payload_ns = _ms_to_ns(p.timestamp) if p.timestamp is not None else None
        by_ts: dict[int, dict[str, SampleValue]] = {}
        birth_incomplete = False
        for index, m in enumerate(p.metrics):
            name, birth_type, known = _resolve(m, defs)
            # a metric the BIRTH did not declare means our picture of the node is out of date
            birth_incomplete = birth_incomplete or not known
            if name is None:
                reason = "no BIRTH seen" if defs is None else "alias not in the BIRTH"
                out.problems.append(f"{where}: metric #{index} (alias {m.alias}) unresolved: {reason}")
                continue
            if is_control_metric(name) or (m.is_transient and not self.keep_transient):
                continue
            try:
                value = metric_value(m, birth_type)
            except SparkplugDecodeError as exc:
                out.problems.append(f"{where}: metric {name!r}: {exc}")
                continue
            if value is None:
                continue  # an explicit null: there is nothing to store
            if m.timestamp is not None:
                ts_ns = _ms_to_ns(m.timestamp)
            elif payload_ns is not None:
                ts_ns = payload_ns
            else:
                ts_ns = arrival_ns
            if ts_ns is None:
                out.problems.append(f"{where}: metric {name!r}: timestamp out of range")
                continue
            by_ts.setdefault(ts_ns, {})[name] = value
        if birth_incomplete:
            self._request_rebirth(key, arrival_ns, out)
        out.samples.extend(
            SparkplugSample(key[0], key[1], device, metrics, ts_ns) for ts_ns, metrics in by_ts.items()
        )


def _resolve(m: Metric, defs: _Definitions | None) -> tuple[str | None, int | None, bool]:
    """(name, datatype from the BIRTH, declared in the BIRTH) of a metric; the name is None
    when nothing names it."""
    if defs is not None:
        if m.alias is not None and m.alias in defs.by_alias:
            return (*defs.by_alias[m.alias], True)
        if m.name is not None and m.name in defs.by_name and m.alias is None:
            return m.name, defs.by_name[m.name], True
    # a sender without aliases names each metric, and carries its own datatype if we are lucky
    return m.name, None, False


def _bd_seq(p: Payload) -> int | None:
    for m in p.metrics:
        if m.name == "bdSeq":
            try:
                value = metric_value(m, DataType.UInt64)
            except SparkplugDecodeError:
                return None
            return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


def _next(seq: int) -> int:
    return (seq + 1) % 256


def _ms_to_ns(ms: int) -> int | None:
    ns = ms * _MS
    return ns if ns <= _MAX_NS else None
