"""MQTT sources: subscribe, map each message to samples, spool them, then acknowledge.

paho's network loop runs in its own thread (``loop_forever``: the measured fast path);
messages cross into the asyncio loop in batches. A QoS 1/2 message is acknowledged only
after its samples are durable in the spool or it is written to the dead-letter file, so
a crash in between means the broker delivers it again. Acknowledgements go out in the
order the messages arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.lineprotocol import (
    MAX_KEY_BYTES,
    TIME_MAX_NS,
    TIME_MIN_NS,
    encode_point,
    field_key,
    format_value,
    series_prefix,
)
from collector.mqtt.config import MqttConfig
from collector.mqtt.deadletter import DeadLetters
from collector.mqtt.mapping import BadMessage, Sample, SubscriptionMapper
from collector.mqtt.paho_client import CollectorMqttClient
from collector.mqtt.sparkplug import SparkplugTracker, rebirth_payload
from collector.spool_appender import SpoolAppender
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE

log = logging.getLogger(__name__)
BATCH = 2000
RECEIVE_MAXIMUM = 1000
PREFIX_CACHE = 10_000


@dataclass
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    arrival_ns: int


class MqttSource:
    def __init__(
        self,
        cfg: MqttConfig,
        *,
        factory: str,
        site_line: str,
        appender: SpoolAppender,
        deadletters: DeadLetters,
        metrics: Any,
        on_accepted: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.cfg = cfg
        self.factory = factory
        self.site_line = site_line
        self._appender = appender
        self._dead = deadletters
        self._m = metrics
        self._on_accepted = on_accepted
        self._mappers = [
            SubscriptionMapper(
                s, site_line=site_line, max_payload=cfg.max_payload_bytes, max_future_s=cfg.max_future
            )
            for s in cfg.subscriptions
        ]
        self._sparkplug = SparkplugTracker()
        #: escaped series keys and field keys, bounded: topic levels come from outside
        self._prefixes: dict[tuple[str, str], bytes] = {}
        self._field_keys: dict[str, bytes] = {}
        self._counters: dict[tuple[int, str], Any] = {}
        self._inbox: deque[Inbound] = deque()
        self._wake = asyncio.Event()
        self._wake_pending = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: CollectorMqttClient | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = threading.Event()

    # -- paho side (network thread) ------------------------------------------------

    def _make_client(self) -> CollectorMqttClient:
        cfg = self.cfg
        v5 = str(cfg.protocol) == "5"
        client = CollectorMqttClient(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password or None)
        url = urlparse(cfg.url)
        if url.scheme == "mqtts":
            tls = cfg.tls
            ctx = ssl.create_default_context(cafile=str(tls.ca) if tls and tls.ca else None)
            if tls and tls.cert:
                ctx.load_cert_chain(str(tls.cert), str(tls.key) if tls.key else None)
            client.tls_set_context(ctx)
        client.reconnect_delay_set(1, 30)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_raw_message = self._on_raw_message
        return client

    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("mqtt: broker refused the connection: %s", reason)
            return
        # subscribe again on every connect: a broker without our session has forgotten them.
        # QoS 2 is asked for as QoS 1: paho completes the first half of the QoS 2 handshake
        # (PUBREC) on arrival, before the samples are stored, so a crash would lose the
        # message; QoS 1 is redelivered instead, and payload time stamps make that harmless.
        client.subscribe([(s.topic, min(s.qos, 1)) for s in self.cfg.subscriptions])
        self.connected.set()
        log.info("mqtt: connected to %s, %d subscription(s)", self.cfg.url, len(self.cfg.subscriptions))

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        if self._m is not None:
            self._m.mqtt_disconnects.inc()
        log.warning("mqtt: disconnected (%s); reconnecting with backoff", reason)

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", errors="replace")  # dead-lettered: no subscription maps it
        self._on_raw_message(topic, msg.payload, msg.mid, msg.qos)

    def _on_raw_message(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        self._inbox.append(Inbound(topic, payload, mid, qos, time.time_ns()))
        # one wake-up per burst, not per message: call_soon_threadsafe costs a syscall
        if not self._wake_pending.is_set():
            self._wake_pending.set()
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._wake.set)

    def _network(self) -> None:
        assert self._client is not None
        url = urlparse(self.cfg.url)
        port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        kwargs: dict[str, Any] = {"keepalive": int(self.cfg.keepalive)}
        if str(self.cfg.protocol) == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = int(self.cfg.session_expiry)
            # acknowledgements wait for the spool: let the broker keep many messages in flight
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            kwargs.update(clean_start=False, properties=props)
        try:
            self._client.connect(url.hostname or "127.0.0.1", port, **kwargs)
        except OSError as exc:
            log.warning("mqtt: cannot connect to %s yet (%s); retrying", self.cfg.url, exc)
        self._client.run_network()

    # -- asyncio side ---------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._network, name="mqtt-network", daemon=True)
        self._thread.start()
        self._task = asyncio.create_task(self._consume(), name="mqtt-consume")

    async def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
        if self._task is not None:
            # what arrived is stored and acknowledged before we go (the session keeps the rest)
            self._wake.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _consume(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._wake_pending.clear()
                while self._inbox:
                    await self._process(self._take())
        except asyncio.CancelledError:
            while self._inbox:
                await asyncio.shield(self._process(self._take()))
            raise

    def _take(self) -> list[Inbound]:
        batch = []
        inbox = self._inbox
        while inbox and len(batch) < BATCH:
            batch.append(inbox.popleft())
        return batch

    async def _process(self, batch: list[Inbound]) -> None:
        points: list[bytes] = []
        #: (message, subscription, reason, partly stored)
        dead: list[tuple[Inbound, int, str, bool]] = []
        stored_per_sub: dict[int, int] = {}
        received: dict[int, int] = {}
        newest: dict[int, int] = {}
        for msg in batch:
            index, mapper = self._mapper_for(msg.topic)
            if mapper is None:
                continue  # a topic no subscription maps (overlapping broker delivery): nothing to store
            # counted per batch: a metric increment takes a lock
            received[index] = received.get(index, 0) + 1
            try:
                samples, problems = self._samples(mapper, msg)
                # all of a message's points or none: encode before adding any
                encoded = [self._encode(s) for s in samples]
            except BadMessage as exc:
                dead.append((msg, index, exc.reason, False))
                continue
            except ValueError as exc:
                dead.append((msg, index, str(exc), False))
                continue
            if problems:
                # part of the message could not be used: keep what could, and the whole
                # message with the reason beside it, so nothing is dropped silently
                dead.append((msg, index, "; ".join(problems), True))
            points.extend(encoded)
            stored_per_sub[index] = stored_per_sub.get(index, 0) + 1
            if samples:
                newest[index] = max(newest.get(index, 0), samples[-1].ts_ns)
        for index, n in received.items():
            self._count("received", index, n)
        if dead:
            records = [
                (m.topic, i, self.cfg.subscriptions[i].topic, reason, m.payload, m.arrival_ns)
                for m, i, reason, _ in dead
            ]
            await asyncio.to_thread(self._dead.write_many, records)
            for m, i, reason, partly_stored in dead:
                # a partly used message counts as stored; its leftovers are in the dead letters
                self._count("partial" if partly_stored else "rejected", i)
                log.warning("mqtt: topic=%s: dead-lettered: %s", m.topic, reason)
        if points:
            # the broker holds back further messages until these are acknowledged: no window
            await self._appender.append(points, urgent=True)
            self._on_accepted(len(points))
        for index, n in stored_per_sub.items():
            self._count("stored", index, n)
        if self._m is not None:
            now = time.time_ns()
            for index, ts in newest.items():
                self._m.mqtt_lag.labels(self.cfg.subscriptions[index].topic).observe(
                    max(0.0, (now - ts) / 1e9)
                )
        assert self._client is not None
        self._client.ack_many((msg.mid, msg.qos) for msg in batch if msg.qos)

    def _mapper_for(self, topic: str) -> tuple[int, SubscriptionMapper | None]:
        for i, mapper in enumerate(self._mappers):
            if mapper.topic_matches(topic):
                return i, mapper
        return -1, None

    def _samples(self, mapper: SubscriptionMapper, msg: Inbound) -> tuple[list[Sample], list[str]]:
        if mapper.sub.format != "sparkplug_b":
            return mapper.map(msg.topic, msg.payload, msg.arrival_ns), []
        samples, problems, rebirths = mapper.map_sparkplug(
            self._sparkplug, msg.topic, msg.payload, msg.arrival_ns
        )
        for topic in rebirths:
            assert self._client is not None
            self._client.publish(topic, rebirth_payload(), qos=0)
            log.warning("mqtt: sparkplug: asked %s for a rebirth", topic)
        if problems and not samples:
            raise BadMessage("; ".join(problems))
        return samples, problems

    def _encode(self, s: Sample) -> bytes:
        """The line of one sample. The mapping has already checked every value (finite
        floats, 64-bit integers, UTF-8 text, time in range), so this only formats; names
        are escaped and checked once and cached."""
        key = (s.line, s.machine)
        prefix = self._prefixes.get(key)
        if prefix is None:
            if len(self._prefixes) > PREFIX_CACHE:
                self._prefixes.clear()
            prefix = self._prefixes[key] = series_prefix(
                MEASUREMENT_MACHINE, {TAG_FACTORY: self.factory, TAG_LINE: s.line, TAG_MACHINE: s.machine}
            )
        keys = self._field_keys
        parts = []
        for name, value in s.fields:
            k = keys.get(name)
            if k is None:
                if len(keys) > PREFIX_CACHE:
                    keys.clear()
                k = keys[name] = field_key(name) + b"="
            kind = type(value)
            if kind is float:
                parts.append(k + repr(value).encode())
            elif kind is str and '"' not in value and "\\" not in value:
                parts.append(k + b'"' + value.encode() + b'"')
            else:
                parts.append(k + format_value(value))
        if len(parts) > 1 and len({name for name, _ in s.fields}) != len(parts):
            raise ValueError(f"duplicate field names in one sample: {sorted(n for n, _ in s.fields)}")
        if len(prefix) + len(max(parts, key=len)) > MAX_KEY_BYTES:
            # generous: the key limit counts the field key, checked here with its value
            return encode_point(prefix, list(s.fields), s.ts_ns)
        if not TIME_MIN_NS <= s.ts_ns <= TIME_MAX_NS:
            raise ValueError(f"timestamp {s.ts_ns} ns is outside InfluxDB's time range")
        return b"%s %s %d" % (prefix, b",".join(parts), s.ts_ns)

    def _count(self, what: str, index: int, n: int = 1) -> None:
        if self._m is None:
            return
        child = self._counters.get((index, what))
        if child is None:
            child = self._counters[(index, what)] = self._m.mqtt_messages.labels(
                self.cfg.subscriptions[index].topic, what
            )
        child.inc(n)
