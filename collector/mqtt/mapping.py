"""Turn one MQTT message into samples, or refuse it with a one-line reason.

A message is mapped whole or not at all: any problem raises BadMessage, the caller
dead-letters the payload and acknowledges it. Storing part of a message would hide a
broken publisher behind plausible-looking data. The rules are documented in docs/mqtt.md.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, NamedTuple

from collector.mqtt.config import (
    SubscriptionConfig,
    TemplatePart,
    as_text,
    parse_template,
    stored_type,
    topic_filter_levels,
)
from collector.mqtt.jsonpath import MISSING, JsonPath, compile_path, key_path
from collector.mqtt.sparkplug import SparkplugTracker
from datacontract import (
    CANONICAL_STATES,
    FieldType,
    MachineState,
    plain_field_problem,
    tag_value_problem,
)
from datacontract.lineprotocol import INT64_MAX, INT64_MIN, TIME_MAX_NS, FieldValue

log = logging.getLogger(__name__)

_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# a decimal number as text; int() and float() alone would also take "1_000", "nan", "inf"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# longer digit runs than this stay out of int(): Python refuses to convert them anyway
_INTEGER = re.compile(r"[+-]?\d{1,4000}", re.ASCII)
# the fraction of the time of day (not of a UTC offset, which may have one too)
_ISO_FRACTION = re.compile(r"([^T ]+[T ]\d\d:?\d\d:?\d\d)[.,](\d+)", re.ASCII)
_SHOWN_CHARS = 60


class Sample(NamedTuple):
    """One point of one message. A tuple: built for every message, and a frozen dataclass
    costs several times as much to construct."""

    line: str
    machine: str
    fields: tuple[tuple[str, FieldValue], ...]
    ts_ns: int


class Death(NamedTuple):
    """A machine a Sparkplug NDEATH/DDEATH declared dead."""

    line: str
    machine: str
    #: the offline sample's time: the DDEATH's own time stamp, else the arrival
    ts_ns: int
    #: (group, edge node) the machine belongs to
    node: tuple[str, str]
    device: str | None


class SparkplugMapped(NamedTuple):
    """Everything one Sparkplug B message yields (``map_sparkplug_message``)."""

    #: samples to store, a state=offline sample per death included
    samples: list[Sample]
    problems: list[str]
    rebirths: list[str]
    deaths: list[Death]
    #: (line, machine, time) the message shows alive: a BIRTH or DATA at its payload's
    #: time stamp (else the arrival); None for deaths, commands and host state
    life: tuple[str, str, int] | None
    #: (group, edge node) of the topic, None when it is not a node's topic
    node: tuple[str, str] | None


class BadMessage(Exception):
    """A message that cannot be stored; ``reason`` is one line naming the field or path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"payload holds {name}, which is not JSON and cannot be stored")


# built once: json.loads with options constructs a new decoder for every message
_JSON = json.JSONDecoder(parse_constant=_refuse_constant)
TAGS_CACHE = 10_000
#: payload names remembered as logged; beyond, they are logged again (once each)
DROPPED_NAMES_LOGGED = 1_000
#: Sparkplug message types that show the sender alive
_LIFE_VERBS = frozenset({"NBIRTH", "DBIRTH", "NDATA", "DDATA"})


def offline_sample(line: str, machine: str, ts_ns: int) -> Sample:
    """The sample that records a machine's death in its data: ``state`` = offline."""
    return Sample(line, machine, (("state", MachineState.OFFLINE.value),), ts_ns)


def _show(value: Any) -> str:
    """A value for a reason: repr keeps it on one line; long text is cut."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _checked_text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadMessage(f"text holds an unpaired surrogate at character {exc.start}") from None
    return value


def _checked_int(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadMessage(f"{_show(value)} does not fit a signed 64-bit integer")
    return value


def _finite(value: float, raw: Any) -> float:
    if not math.isfinite(value):
        raise BadMessage(f"{_show(raw)} is not a finite number")
    return value


# --- value conversion: each raises BadMessage without the path; the caller prefixes it -----


def _to_int(raw: Any) -> int:
    kind = type(raw)
    if kind is int:
        return _checked_int(raw)
    if kind is float:
        _finite(raw, raw)
        if not raw.is_integer():
            raise BadMessage(f"{_show(raw)} is not a whole number")
        return _checked_int(int(raw))
    if kind is str:
        text = raw.strip()
        if _NUMBER.fullmatch(text):
            number = Decimal(text)
            # a huge exponent would make int() build an enormous number first
            if number.adjusted() > 18:
                raise BadMessage(f"{_show(raw)} does not fit a signed 64-bit integer")
            if number != number.to_integral_value():
                raise BadMessage(f"{_show(raw)} is not a whole number")
            return _checked_int(int(number))
        raise BadMessage(f"{_show(raw)} is not a number")
    raise BadMessage(f"expected an integer, got {_kind(raw)}")


def _to_float(raw: Any) -> float:
    kind = type(raw)
    if kind is float:
        return _finite(raw, raw)
    if kind is int:
        try:
            return float(raw)
        except OverflowError:
            raise BadMessage(f"{_show(raw)} is too large for a float") from None
    if kind is str:
        text = raw.strip()
        if _NUMBER.fullmatch(text):
            return _finite(float(text), raw)
        raise BadMessage(f"{_show(raw)} is not a number")
    raise BadMessage(f"expected a number, got {_kind(raw)}")


def _to_bool(raw: Any) -> bool:
    kind = type(raw)
    if kind is bool:
        return raw
    if kind is int and raw in (0, 1):
        return bool(raw)
    if kind is str:
        text = raw.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    raise BadMessage(f"expected true or false, got {_show(raw)}")


def _to_text(raw: Any) -> str:
    if type(raw) in (str, int, float, bool):
        if type(raw) is float:
            _finite(raw, raw)
        return _checked_text(as_text(raw))
    raise BadMessage(f"expected a value, got {_kind(raw)}")


def _untyped(raw: Any) -> FieldValue:
    """No type given: numbers are stored as float, so a field never changes type between
    a message with ``3`` and one with ``3.5``."""
    kind = type(raw)
    if kind is float or kind is int:
        return _to_float(raw)
    if kind is bool:
        return raw
    if kind is str:
        return _checked_text(raw)
    raise BadMessage(f"expected a value, got {_kind(raw)}")


_CONVERT: dict[FieldType, Callable[[Any], FieldValue]] = {
    FieldType.INTEGER: _to_int,
    FieldType.FLOAT: _to_float,
    FieldType.BOOLEAN: _to_bool,
    FieldType.STRING: _to_text,
}


def _scalar_from_text(text: str) -> bool | int | float | str:
    """A value-format payload read as the value a publisher most likely meant."""
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    return text


class _Field:
    """One configured value: where it is, what it is stored as, and under which name."""

    __slots__ = ("convert", "is_state", "key", "label", "optional", "path", "states")

    def __init__(
        self,
        key: str,
        label: str,
        path: JsonPath | None,
        *,
        role: str | None,
        type_: str | None,
        states: dict[str, str] | None,
        optional: bool,
    ) -> None:
        self.key = key
        self.label = label
        self.path = path
        self.optional = optional
        self.states = states
        self.is_state = role == "state"
        want = stored_type(role, type_, states)
        self.convert = _untyped if want is None else _CONVERT[want]

    def values(self, raw: Any, text: str | None = None) -> list[tuple[str, FieldValue]]:
        """The stored (name, value) pairs; ``text`` is the payload as sent, for format value."""
        if self.states is None and not self.is_state:
            return [(self.key, self.convert(raw))]
        if type(raw) not in (str, int, float, bool):
            raise BadMessage(f"expected a value, got {_kind(raw)}")
        states = self.states or {}
        # the exact text first, so "007" can be mapped although it also reads as 7
        code = text if text is not None and text in states else _to_text(raw)
        name = states.get(code)
        if name is None:
            if self.is_state:
                known = self.states is None and code in CANONICAL_STATES
                name = code if known else MachineState.UNKNOWN.value
            else:
                name = code
        out: list[tuple[str, FieldValue]] = [(self.key, name)]
        if self.is_state and type(raw) is int:
            out.append(("state_code", _checked_int(raw)))
        return out


class SubscriptionMapper:
    """Maps the messages of one subscription. Built once; ``map`` is called per message."""

    def __init__(
        self, sub: SubscriptionConfig, *, site_line: str, max_payload: int, max_future_s: float
    ) -> None:
        self.sub = sub
        self._tags_cache: dict[str, tuple[str, str]] = {}
        #: payload names already logged as not stored (once each, not once per message)
        self._dropped_names: set[str] = set()
        self._filter = topic_filter_levels(sub.topic)
        self._line = parse_template(sub.line) if sub.line is not None else (site_line,)
        # None: Sparkplug's default, the device id or else the edge node id
        self._machine = parse_template(sub.machine) if sub.machine is not None else None
        self._max_payload = max_payload
        self._max_future_ns = int(max_future_s * 1e9)
        self._timestamp: tuple[JsonPath, str] | None = None
        if sub.timestamp is not None:
            self._timestamp = (compile_path(sub.timestamp.path), sub.timestamp.unit)
        self._fields: list[_Field] = []
        self._value: _Field | None = None
        self._value_name: tuple[TemplatePart, ...] = ()
        if sub.format == "value":
            key = sub.role or ""
            if sub.field is not None:
                self._value_name = parse_template(sub.field)
            self._value = _Field(
                key, "payload", None, role=sub.role, type_=sub.type, states=sub.code_map, optional=False
            )
        else:
            for name, spec in sub.fields.items():
                if sub.format == "json":
                    path = compile_path(spec.path) if spec.path is not None else key_path(name)
                    label = path.text
                else:
                    path = None
                    label = spec.path or name
                self._fields.append(
                    _Field(
                        spec.role or name,
                        label,
                        path,
                        role=spec.role,
                        type_=spec.type,
                        states=spec.code_map,
                        optional=spec.optional,
                    )
                )
        self._unmapped = sub.unmapped
        # keys a configured value already comes from or is stored under are not stored again
        skip: set[str] = set()
        for f in self._fields:
            skip.add(f.key)
            if f.is_state:
                skip.add("state_code")
            if f.path is not None and f.path.first_key is not None:
                skip.add(f.path.first_key)
        if self._timestamp is not None and self._timestamp[0].first_key is not None:
            skip.add(self._timestamp[0].first_key)
        self._skip = frozenset(skip)
        self._metrics = {
            (spec.path or name): f for (name, spec), f in zip(sub.fields.items(), self._fields, strict=True)
        }
        self._online = sub.online_words
        self._offline = sub.offline_words

    # --- topics ---------------------------------------------------------------------------

    def topic_matches(self, topic: str) -> bool:
        """MQTT filter semantics: ``+`` is one level, ``#`` the rest (also none: ``a/#``
        matches ``a``); topics starting with ``$`` are not matched by a leading wildcard."""
        levels = topic.split("/")
        flt = self._filter
        if topic.startswith("$") and flt[0] in ("+", "#"):
            return False
        for i, want in enumerate(flt):
            if want == "#":
                return True
            if i >= len(levels):
                return False
            if want != "+" and want != levels[i]:
                return False
        return len(levels) == len(flt)

    def tags(self, topic: str) -> tuple[str, str]:
        """(line, machine) for a topic; BadMessage when it does not match or a level
        cannot be a tag value. Cached per topic: a line publishes on a few topics."""
        cached = self._tags_cache.get(topic)
        if cached is not None:
            return cached
        result = self._tags_uncached(topic)
        if len(self._tags_cache) >= TAGS_CACHE:
            self._tags_cache.clear()
        self._tags_cache[topic] = result
        return result

    def _tags_uncached(self, topic: str) -> tuple[str, str]:
        if not self.topic_matches(topic):
            raise BadMessage(f"topic {_show(topic)} does not match {self.sub.topic!r}")
        return self.tags_of_levels(topic)

    def tags_of_levels(self, topic: str) -> tuple[str, str]:
        """(line, machine) rendered from a topic's levels without checking it against the
        filter: for a Sparkplug death, whose devices' data came on other topics."""
        levels = topic.split("/")
        line = self._render(self._line, levels, "line", topic)
        if self._machine is not None:
            machine = self._render(self._machine, levels, "machine", topic)
        else:
            machine = levels[4] if len(levels) > 4 else levels[min(3, len(levels) - 1)]
        for what, value in (("line", line), ("machine", machine)):
            if problem := tag_value_problem(value, what):
                raise BadMessage(f"{problem} (topic {_show(topic)})")
        return line, machine

    def line_for(self, topic: str) -> str:
        return self.tags(topic)[0]

    @staticmethod
    def _render(parts: tuple[TemplatePart, ...], levels: list[str], what: str, topic: str) -> str:
        try:
            if len(parts) == 1 and type(parts[0]) is int:
                return levels[parts[0]]  # type: ignore[index]
            return "".join(p if type(p) is str else levels[p] for p in parts)  # type: ignore[index,misc]
        except IndexError:
            # only Sparkplug templates can reach past a topic: node messages have no device level
            raise BadMessage(f"{what}: topic {_show(topic)} has no level the template names") from None

    # --- messages -------------------------------------------------------------------------

    def map(self, topic: str, payload: bytes, arrival_ns: int) -> list[Sample]:
        """Samples of one json or value message, in payload order; raises BadMessage."""
        if self.sub.format == "sparkplug_b":
            raise TypeError("sparkplug_b payloads are decoded by the Sparkplug tracker; use map_metrics")
        if self.sub.format == "status":
            raise TypeError("status payloads carry no data; use status()")
        self._check_size(payload)
        line, machine = self.tags(topic)
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadMessage(f"payload is not UTF-8 at byte {exc.start}") from None
        text = text.removeprefix("\ufeff")
        if self._value is not None:
            return [self._map_value(topic, text, line, machine, arrival_ns)]
        doc = self._parse_json(text)
        if type(doc) is dict:
            return [self._sample(doc, topic, line, machine, arrival_ns)]
        if type(doc) is not list:
            raise BadMessage(f"expected a JSON object or an array of objects, got {_kind(doc)}")
        if not doc:
            raise BadMessage("empty JSON array: no samples")
        if len(doc) > 1 and self._timestamp is None:
            # every sample would get the arrival time, and each would overwrite the one before
            raise BadMessage(
                f"array of {len(doc)} samples without a timestamp path: they would overwrite each other"
            )
        samples: list[Sample] = []
        for i, item in enumerate(doc):
            if type(item) is not dict:
                raise BadMessage(f"element {i}: expected a JSON object, got {_kind(item)}")
            try:
                samples.append(self._sample(item, topic, line, machine, arrival_ns))
            except BadMessage as exc:
                raise BadMessage(f"element {i}: {exc.reason}") from None
        return samples

    @staticmethod
    def _parse_json(text: str) -> Any:
        try:
            return _JSON.decode(text)
        except _NotJson as exc:
            raise BadMessage(str(exc)) from None
        except json.JSONDecodeError as exc:
            raise BadMessage(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise BadMessage("invalid JSON: nested too deeply") from None
        except ValueError as exc:
            # e.g. an integer with more digits than Python converts
            raise BadMessage(f"invalid JSON: {str(exc).splitlines()[0]}") from None

    def _sample(self, obj: dict[str, Any], topic: str, line: str, machine: str, arrival_ns: int) -> Sample:
        fields: list[tuple[str, FieldValue]] = []
        for f in self._fields:
            raw = f.path.get(obj)  # type: ignore[union-attr]
            if raw is MISSING or raw is None:
                if f.optional:
                    continue
                raise BadMessage(f"{f.label}: {'missing' if raw is MISSING else 'null'}")
            try:
                fields.extend(f.values(raw))
            except BadMessage as exc:
                raise BadMessage(f"{f.label}: {exc.reason}") from None
        if self._unmapped:
            fields.extend(self._extra(obj.items(), topic))
        if not fields:
            raise BadMessage("no field to store: every configured field is absent")
        if self._timestamp is None:
            ts = arrival_ns
        else:
            path, unit = self._timestamp
            raw = path.get(obj)
            if raw is MISSING or raw is None:
                raise BadMessage(f"timestamp {path.text}: {'missing' if raw is MISSING else 'null'}")
            ts = self._check_time(timestamp_ns(raw, unit, path.text), arrival_ns)
        return Sample(line, machine, tuple(fields), ts)

    def _extra(self, items: Iterable[tuple[str, Any]], topic: str) -> list[tuple[str, FieldValue]]:
        """Values not listed under fields, stored under their own names. Names the data
        contract does not allow (``time``, a tag or role name, a backslash, a line break)
        are left out and logged once with the topic: often structure the publisher added
        (a ``machine`` key), not measurements, so the rest of the message is kept."""
        out: list[tuple[str, FieldValue]] = []
        skip = self._skip
        for key, raw in items:
            if key in skip or type(raw) not in (int, float, bool, str):
                continue
            if (problem := plain_field_problem(key)) is not None:
                self._log_dropped(key, problem, topic)
                continue
            try:
                out.append((key, _untyped(raw)))
            except BadMessage as exc:
                raise BadMessage(f"{_show(key)}: {exc.reason}") from None
        return out

    def _log_dropped(self, key: str, problem: str, topic: str) -> None:
        # remembered by its start, in a bounded set: a publisher may send any number of keys
        seen = key[:_SHOWN_CHARS]
        if seen in self._dropped_names:
            return
        if len(self._dropped_names) >= DROPPED_NAMES_LOGGED:
            self._dropped_names.clear()
        self._dropped_names.add(seen)
        log.warning(
            "subscription %r, topic %s: %s; that value is not stored (logged once per name)",
            self.sub.topic,
            _show(topic),
            problem,
        )

    def _map_value(self, topic: str, text: str, line: str, machine: str, arrival_ns: int) -> Sample:
        spec = self._value
        assert spec is not None
        value_text = text.strip()
        if not value_text:
            raise BadMessage("empty payload: nothing to store")
        if self._value_name:
            name = self._render(self._value_name, topic.split("/"), "field", topic)
            if problem := plain_field_problem(name):
                raise BadMessage(f"field: {problem} (topic {_show(topic)})")
        else:
            name = spec.key
        # with type string the text is kept as sent: "007" must not become "7"
        plain_text = self.sub.type == "string" and self.sub.code_map is None
        raw = value_text if plain_text else _scalar_from_text(value_text)
        try:
            pairs = spec.values(raw, value_text)
        except BadMessage as exc:
            raise BadMessage(f"payload: {exc.reason}") from None
        fields = tuple((name if k == spec.key else k, v) for k, v in pairs)
        return Sample(line, machine, fields, arrival_ns)

    def _check_time(self, ts: int, arrival_ns: int) -> int:
        if ts < 0:
            raise BadMessage(f"timestamp {format_ns(ts)} is before 1970")
        ahead = ts - arrival_ns
        if ahead > self._max_future_ns:
            raise BadMessage(f"timestamp {format_ns(ts)} is {_span(ahead)} in the future")
        if ts > TIME_MAX_NS:
            raise BadMessage(f"timestamp {format_ns(ts)} is outside InfluxDB's time range")
        return ts

    # --- Sparkplug B ------------------------------------------------------------------------

    def map_metrics(self, topic: str, sample: Any) -> Sample | None:
        """A Sample from one decoded Sparkplug sample (``metrics``: name -> value, ``ts_ns``),
        or None when none of its metrics is stored."""
        line, machine = self.tags(topic)
        fields = self.fields_from_metrics(sample.metrics.items(), topic)
        if not fields:
            return None
        return Sample(line, machine, fields, sample.ts_ns)

    def _check_size(self, payload: bytes) -> None:
        if len(payload) > self._max_payload:
            raise BadMessage(
                f"payload of {len(payload)} bytes exceeds max_payload_bytes ({self._max_payload})"
            )

    def map_sparkplug(
        self, tracker: SparkplugTracker, topic: str, payload: bytes, arrival_ns: int
    ) -> tuple[list[Sample], list[str], list[str]]:
        """(samples, problems, rebirth topics) of one Sparkplug B message, through the
        node's alias tables and sequence in ``tracker``. Problems beside samples mean a
        message used in part, problems alone one to dead-letter; either way the rebirth
        requests are due (BadMessage only for a payload over the size limit)."""
        mapped = self.map_sparkplug_message(tracker, topic, payload, arrival_ns)
        return mapped.samples, mapped.problems, mapped.rebirths

    def map_sparkplug_message(
        self, tracker: SparkplugTracker, topic: str, payload: bytes, arrival_ns: int
    ) -> SparkplugMapped:
        """``map_sparkplug`` with what liveness needs beside: deaths and the sign of life."""
        self._check_size(payload)
        outcome = tracker.handle(topic, payload, arrival_ns)
        problems = list(outcome.problems)
        latest = arrival_ns + self._max_future_ns
        samples = []
        for s in outcome.samples:
            mapped = self.map_metrics(topic, s)
            if mapped is None or not mapped.fields:
                continue
            if mapped.ts_ns > latest:
                ahead = (mapped.ts_ns - arrival_ns) / 1e9
                problems.append(
                    f"metrics of {mapped.machine}: time stamp {ahead:.0f} s in the future (max_future)"
                )
                continue
            samples.append(mapped)
        deaths = []
        for group, node, device, ts in outcome.offline:
            # the same templates as data, so "offline" lands on the machine its data went to
            kind, tail = ("DDATA", f"{node}/{device}") if device else ("NDATA", node)
            line, machine = self.tags_of_levels(f"spBv1.0/{group}/{kind}/{tail}")
            samples.append(offline_sample(line, machine, ts))
            deaths.append(Death(line, machine, ts, (group, node), device))
        levels = topic.split("/")
        node_of = (levels[1], levels[3]) if len(levels) in (4, 5) else None
        return SparkplugMapped(
            samples,
            problems,
            list(outcome.rebirth_topics),
            deaths,
            self._sparkplug_life(topic, levels, outcome.payload_ns, arrival_ns, latest),
            node_of,
        )

    def _sparkplug_life(
        self, topic: str, levels: list[str], payload_ns: int | None, arrival_ns: int, latest: int
    ) -> tuple[str, str, int] | None:
        """A BIRTH or DATA shows its machine alive when it was sent: the payload's time
        stamp (metric time stamps may be when a value last changed), else the arrival."""
        if len(levels) not in (4, 5) or levels[2] not in _LIFE_VERBS:
            return None
        try:
            line, machine = self.tags(topic)
        except BadMessage:
            return None
        ts = payload_ns if payload_ns is not None and payload_ns <= latest else arrival_ns
        return line, machine, ts

    # --- format status ------------------------------------------------------------------------

    def status(self, topic: str, payload: bytes) -> tuple[str, str, bool]:
        """(line, machine, online) of a status message; BadMessage for any other payload."""
        self._check_size(payload)
        line, machine = self.tags(topic)
        try:
            word = payload.decode("utf-8").removeprefix("\ufeff").strip().lower()
        except UnicodeDecodeError as exc:
            raise BadMessage(f"payload is not UTF-8 at byte {exc.start}") from None
        if word in self._online:
            return line, machine, True
        if word in self._offline:
            return line, machine, False
        raise BadMessage(
            f"status {_show(word)} is neither online ({', '.join(self._online)}) "
            f"nor offline ({', '.join(self._offline)})"
        )

    def fields_from_metrics(
        self, metrics: Iterable[tuple[str, Any]], topic: str = ""
    ) -> tuple[tuple[str, FieldValue], ...]:
        """Fields for decoded Sparkplug metrics (name, value): listed metrics as configured,
        others under their own names when include_unmapped is on. A metric absent from a
        message is simply not written (Sparkplug reports by exception)."""
        fields: list[tuple[str, FieldValue]] = []
        extra: list[tuple[str, Any]] = []
        for name, raw in metrics:
            f = self._metrics.get(name)
            if f is None:
                extra.append((name, raw))
                continue
            if raw is None:
                continue
            try:
                fields.extend(f.values(raw))
            except BadMessage as exc:
                raise BadMessage(f"metric {_show(name)}: {exc.reason}") from None
        if self._unmapped:
            fields.extend(self._extra(extra, topic))
        return tuple(fields)


# --- time stamps ---------------------------------------------------------------------------


def timestamp_ns(raw: Any, unit: str, label: str = "timestamp") -> int:
    """Nanoseconds since 1970 from a payload value; BadMessage names ``label``."""
    if unit == "iso":
        if type(raw) is not str:
            raise BadMessage(f"timestamp {label}: expected ISO 8601 text, got {_kind(raw)}")
        return _iso_ns(raw)
    factor = _NS_PER_UNIT[unit]
    kind = type(raw)
    if kind is int:
        return raw * factor
    if kind is float:
        if not math.isfinite(raw):
            raise BadMessage(f"timestamp {label}: {_show(raw)} is not a finite number")
        # the shortest repr reads back the publisher's digits, so the result is exact and
        # the same on every delivery
        number = Decimal(repr(raw))
    elif kind is str and _NUMBER.fullmatch(raw.strip()):
        number = Decimal(raw.strip())
    else:
        raise BadMessage(f"timestamp {label}: expected a number of {unit}, got {_show(raw)}")
    if number.adjusted() > 30:
        raise BadMessage(f"timestamp {label}: {_show(raw)} {unit} is out of range")
    try:
        return int((number * factor).to_integral_value(ROUND_HALF_EVEN))
    except InvalidOperation:
        raise BadMessage(f"timestamp {label}: {_show(raw)} {unit} is out of range") from None


def _iso_ns(raw: str) -> int:
    text = raw.strip()
    fraction_ns = 0
    # datetime keeps microseconds; the digits beyond are read here, for nanosecond stamps
    m = _ISO_FRACTION.match(text)
    if m is not None:
        fraction_ns = int((m.group(2) + "000000000")[:9])
        text = text[: m.end(1)] + text[m.end(2) :]
    try:
        if m is not None and text[m.end(1) : m.end(1) + 1] in (".", ","):
            raise ValueError("a second fraction")
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadMessage(f"timestamp {_show(raw)} is not ISO 8601") from None
    if when.utcoffset() is None:
        raise BadMessage(
            f"timestamp {_show(raw)} has no UTC offset: the time zone would be a guess (add Z or +09:00)"
        )
    delta = when - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    return micros * 1000 + fraction_ns


def format_ns(ts: int) -> str:
    """ISO 8601 UTC for a reason, or the raw number when no calendar date fits."""
    seconds, fraction = divmod(ts, 10**9)
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{_show(ts)} ns"
    text = when.replace(tzinfo=None).isoformat(timespec="seconds")
    if fraction:
        text += f".{fraction:09d}".rstrip("0")
    return text + "Z"


def _span(ns: int) -> str:
    seconds = ns // 10**9  # integer arithmetic: a absurd time stamp is too big for a float
    for size, unit in ((86400, "days"), (3600, "hours"), (60, "minutes")):
        if seconds >= 2 * size:
            return f"{_show(seconds // size)} {unit}"
    return f"{seconds} seconds"
