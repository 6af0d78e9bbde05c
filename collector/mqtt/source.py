"""MQTT sources: subscribe, map each message to samples, spool them, then acknowledge.

paho's network loop runs in its own thread (``loop_forever``: the measured fast path);
messages cross into the asyncio loop in batches. A QoS 1/2 message is acknowledged only
after its samples are durable in the spool or it is written to the dead-letter file, so
a crash in between means the broker delivers it again. Acknowledgements go out in the
order the messages arrived.

Liveness (``collector/mqtt/liveness.py``): every stored message is a sign of life of its
machine; connection events travel through the same inbox as the messages, so they are
handled in the order they happened; a flush tick between batches extends what the session
vouches for and spools the alive records. A death's down mark is spooled with the
message's batch, before the message is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.clock import now_ns
from collector.mqtt.config import MqttConfig
from collector.mqtt.deadletter import DeadLetters
from collector.mqtt.liveness import MqttLiveness, Session, read_state, write_state
from collector.mqtt.mapping import BadMessage, Death, Sample, SubscriptionMapper, offline_sample
from collector.mqtt.paho_client import CollectorMqttClient
from collector.mqtt.sparkplug import SparkplugTracker, rebirth_payload
from collector.spool import SpoolAppender
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE
from datacontract.lineprotocol import (
    MAX_KEY_BYTES,
    TIME_MAX_NS,
    TIME_MIN_NS,
    encode_point,
    field_key,
    format_value,
    series_prefix,
)

log = logging.getLogger(__name__)
BATCH = 2000
RECEIVE_MAXIMUM = 1000
PREFIX_CACHE = 10_000
#: the name of the liveness state file in the spool folder
LIVENESS_STATE_FILE = "mqtt-liveness.json"
#: a sync marker not back after this long without any message arriving is sent again
#: (lost with a connection, or dropped by a broker that refuses the topic: then logged)
MARKER_RETRY_S = 30.0


@dataclass
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    arrival_ns: int


@dataclass
class _Event:
    """A connection event or our own sync marker, in the inbox between the messages."""

    kind: str  # "connect", "disconnect" or "marker"
    arrival_ns: int
    session_present: bool = False
    payload: bytes = b""
    mid: int = 0
    qos: int = 0


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
        flush_interval: float = 10.0,
        state_path: Path | None = None,
    ) -> None:
        """``flush_interval``: seconds between liveness ticks; ``state_path``: the JSON
        file that carries the alive records over a restart (None: not kept)."""
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
        self._live = MqttLiveness(factory, client_id=cfg.client_id)
        self._limits = [
            None if s.silence_limit is None else int(s.silence_limit * 1e9) for s in cfg.subscriptions
        ]
        self._queued = [s.qos > 0 for s in cfg.subscriptions]
        self._flush_interval = flush_interval
        self._state_path = state_path
        self._sync_topic = cfg.sync_topic_name
        #: tokens of the sync markers sent since the last connect
        self._markers: set[str] = set()
        self._marker_sent = 0.0
        self._last_consumed = 0.0
        self._tick_due = False
        self._ticker: asyncio.Task[None] | None = None
        #: escaped series keys and field keys, bounded: topic levels come from outside
        self._prefixes: dict[tuple[str, str], bytes] = {}
        self._field_keys: dict[str, bytes] = {}
        self._counters: dict[tuple[int, str], Any] = {}
        self._inbox: deque[Inbound | _Event] = deque()
        self._wake = asyncio.Event()
        self._wake_pending = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: CollectorMqttClient | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = threading.Event()

    @property
    def consuming(self) -> bool:
        """False once the task that stores messages has ended (it should only at stop)."""
        return self._task is None or not self._task.done()

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

    def _on_connect(self, client: mqtt.Client, _ud: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("mqtt: broker refused the connection: %s", reason)
            return
        # subscribe again on every connect: a broker without our session has forgotten them.
        # QoS 2 is asked for as QoS 1: paho completes the first half of the QoS 2 handshake
        # (PUBREC) on arrival, before the samples are stored, so a crash would lose the
        # message; QoS 1 is redelivered instead, and payload time stamps make that harmless.
        topics = [(s.topic, min(s.qos, 1)) for s in self.cfg.subscriptions]
        client.subscribe([*topics, (self._sync_topic, 1)])
        # before any message of this connection: what the queue holds is read after it
        present = bool(getattr(flags, "session_present", False))
        self._inbox.append(_Event("connect", now_ns(), session_present=present))
        self._notify()
        self.connected.set()
        log.info("mqtt: connected to %s, %d subscription(s)", self.cfg.url, len(self.cfg.subscriptions))

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        self._inbox.append(_Event("disconnect", now_ns()))
        self._notify()
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
        if topic == self._sync_topic:
            self._inbox.append(_Event("marker", now_ns(), payload=payload, mid=mid, qos=qos))
        else:
            self._inbox.append(Inbound(topic, payload, mid, qos, now_ns()))
        self._notify()

    def _notify(self) -> None:
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
        if self._state_path is not None:
            doc = await asyncio.to_thread(read_state, self._state_path)
            if doc is not None and (n := self._live.restore(doc)):
                log.info("mqtt liveness: %d record(s) from the last run, resumed if the session was kept", n)
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._network, name="mqtt-network", daemon=True)
        self._thread.start()
        self._task = asyncio.create_task(self._consume(), name="mqtt-consume")
        self._ticker = asyncio.create_task(self._tick_timer(), name="mqtt-liveness")

    async def stop(self) -> None:
        stop_ns = now_ns()
        # vouched for up to now only if the session was up and caught up until the stop
        vouch = self.connected.is_set() and self._live.session is Session.CONNECTED
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
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
        if self._loop is not None:
            await self._finish_liveness(stop_ns, vouch)

    async def _finish_liveness(self, stop_ns: int, vouch: bool) -> None:
        """The last records, the state file, then a down mark per alive machine. The file
        is written before the marks: a restart that finds the session continues the
        records over the stop (the mark then only says that the collector went away)."""
        if vouch:
            self._live.vouch(stop_ns)
        await self._flush_liveness(persist=True, urgent=True)
        self._live.stopped(stop_ns)
        await self._flush_liveness(persist=False, urgent=True)

    async def _consume(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._wake_pending.clear()
                while self._inbox:
                    await self._step()
                    if self._tick_due:
                        await self._tick()
                if self._tick_due:
                    await self._tick()
        except asyncio.CancelledError:
            while self._inbox:
                await asyncio.shield(self._step())
            raise

    async def _step(self) -> None:
        if type(self._inbox[0]) is _Event:
            event = self._inbox.popleft()
            assert type(event) is _Event
            await self._event(event)
        else:
            await self._process(self._take())

    def _take(self) -> list[Inbound]:
        batch: list[Inbound] = []
        inbox = self._inbox
        while inbox and len(batch) < BATCH:
            item = inbox[0]
            if type(item) is not Inbound:
                break  # an event: handled after the messages before it
            batch.append(item)
            inbox.popleft()
        return batch

    # -- liveness --------------------------------------------------------------------

    async def _tick_timer(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            self._tick_due = True
            self._wake.set()

    async def _tick(self) -> None:
        self._tick_due = False
        now = now_ns()
        if self._inbox:
            # vouch only for what was handled: a death may wait in the inbox
            now = min(now, self._inbox[0].arrival_ns)
        self._live.tick(now)
        if (
            self._live.session is Session.SYNCING
            and self._markers
            and time.monotonic() - max(self._marker_sent, self._last_consumed) > MARKER_RETRY_S
        ):
            log.warning(
                "mqtt liveness: sync marker on %r not back after %.0fs; sending another "
                "(the broker must let the collector publish and subscribe to it)",
                self._sync_topic,
                MARKER_RETRY_S,
            )
            self._send_marker()
        await self._flush_liveness(persist=True)

    async def _event(self, event: _Event) -> None:
        if event.kind == "connect":
            self._markers.clear()
            if self._live.connected(event.session_present, event.arrival_ns):
                self._send_marker()
            # a lost session's down marks, durable before any message of the new session
            # is acknowledged: a restart must not resume what the broker forgot
            await self._flush_liveness(persist=True, urgent=True)
        elif event.kind == "disconnect":
            self._live.disconnected()
        else:
            token = event.payload.decode("utf-8", errors="replace")
            if token in self._markers:
                self._markers.clear()
                if self._live.marker(now_ns()):
                    log.info("mqtt liveness: caught up with the broker's queue; records continue")
                    await self._flush_liveness(persist=True, urgent=True)
            if event.qos:
                assert self._client is not None
                self._client.ack_many([(event.mid, event.qos)])

    def _send_marker(self) -> None:
        token = secrets.token_hex(8)
        self._markers.add(token)
        self._marker_sent = time.monotonic()
        assert self._client is not None
        # QoS 1: paho sends it again if the connection drops first
        self._client.publish(self._sync_topic, token.encode(), qos=1)

    async def _flush_liveness(self, *, persist: bool, urgent: bool = False) -> None:
        lines = self._live.flush()
        if not lines:
            return
        try:
            await self._appender.append(lines, urgent=urgent)
        except Exception as exc:
            # open records are written again at the next flush; what is lost is a closed
            # record or a down mark: time that reads as unknown
            log.error("mqtt liveness: %d line(s) not spooled: %s", len(lines), exc)
            return
        self._count_liveness(len(lines))
        if persist:
            await self._persist()

    def _count_liveness(self, n: int) -> None:
        accepted = getattr(self._m, "accepted", None)
        if accepted is not None:
            accepted.labels("liveness").inc(n)

    async def _persist(self) -> None:
        """Write the state file; called once the records it names are durable."""
        if self._state_path is None or self._live.restored:
            return  # (restored: the last run's records, still to be resumed or ended)
        try:
            await asyncio.to_thread(write_state, self._state_path, self._live.state_doc())
        except OSError as exc:
            log.warning("mqtt liveness: cannot write %s: %s", self._state_path, exc)

    async def _process(self, batch: list[Inbound]) -> None:
        points: list[bytes] = []
        #: (message, subscription, reason, partly stored)
        dead: list[tuple[Inbound, int, str, bool]] = []
        stored_per_sub: dict[int, int] = {}
        received: dict[int, int] = {}
        newest: dict[int, int] = {}
        live = self._live
        for msg in batch:
            index, mapper = self._mapper_for(msg.topic)
            if mapper is None:
                continue  # a topic no subscription maps (overlapping broker delivery): nothing to store
            # counted per batch: a metric increment takes a lock
            received[index] = received.get(index, 0) + 1
            try:
                samples, problems, signs = self._samples(index, mapper, msg)
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
            if signs is None:
                limit, queued = self._limits[index], self._queued[index]
                for s in samples:
                    live.message((s.line, s.machine), s.ts_ns, msg.arrival_ns, limit, queued=queued)
            else:
                signs()
            if samples:
                newest[index] = max(newest.get(index, 0), samples[-1].ts_ns)
        self._last_consumed = time.monotonic()
        # a death's down mark is durable before the death is acknowledged: a restart
        # must not resume a record the death ended
        lines = live.flush() if live.urgent else []
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
        if points or lines:
            # the broker holds back further messages until these are acknowledged: no window
            try:
                await self._appender.append(points + lines if lines else points, urgent=True)
            except Exception as exc:
                # The appender retries a full disk by itself, so this is final (a stop, or
                # not a disk error). Not durable, so not acknowledged: the broker keeps
                # the messages and delivers them again in the next session.
                log.error(
                    "mqtt: %d message(s) not stored (%s); left unacknowledged with the broker",
                    len(batch),
                    exc,
                )
                return
            if points:
                self._on_accepted(len(points))
            if lines:
                self._count_liveness(len(lines))
                await self._persist()
        for index, n in stored_per_sub.items():
            self._count("stored", index, n)
        if self._m is not None:
            now = now_ns()
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

    def _samples(
        self, index: int, mapper: SubscriptionMapper, msg: Inbound
    ) -> tuple[list[Sample], list[str], Callable[[], None] | None]:
        """(samples, problems, what the message tells liveness once it is stored). The
        last is None for json and value: each sample is a sign of life at its time."""
        fmt = mapper.sub.format
        if fmt == "json" or fmt == "value":
            return mapper.map(msg.topic, msg.payload, msg.arrival_ns), [], None
        if fmt == "status":
            return [], [], self._status(index, mapper, msg)
        m = mapper.map_sparkplug_message(self._sparkplug, msg.topic, msg.payload, msg.arrival_ns)
        for topic in m.rebirths:
            assert self._client is not None
            self._client.publish(topic, rebirth_payload(), qos=0)
            log.warning("mqtt: sparkplug: asked %s for a rebirth", topic)
        samples, deaths = m.samples, list(m.deaths)
        for death in m.deaths:
            if death.device is None:
                # an NDEATH ends every alive machine of the node, also those the tracker
                # does not count as online (data after a death) or never saw born (it
                # starts empty after a restart: then their offline sample is added too)
                named = {(d.line, d.machine) for d in deaths}
                unknown = not self._sparkplug.knows_node(*death.node)
                for line, machine in self._live.node_machines(death.node):
                    if (line, machine) not in named:
                        if unknown:
                            samples.append(offline_sample(line, machine, death.ts_ns))
                        deaths.append(Death(line, machine, death.ts_ns, death.node, machine))
        if m.problems and not samples:
            raise BadMessage("; ".join(m.problems))
        limit, queued = self._limits[index], self._queued[index]
        life, node, arrival = m.life, m.node, msg.arrival_ns

        def signs() -> None:
            if life is not None:
                self._live.message((life[0], life[1]), life[2], arrival, limit, node, queued=queued)
            for d in deaths:
                # the death's own time where it has one (DDEATH); an NDEATH is a will,
                # whose time stamp dates from when the node connected: arrival
                self._live.death((d.line, d.machine), arrival, alive_until_ns=d.ts_ns)

        return samples, m.problems, signs

    def _status(self, index: int, mapper: SubscriptionMapper, msg: Inbound) -> Callable[[], None]:
        line, machine, online = mapper.status(msg.topic, msg.payload)
        key, arrival = (line, machine), msg.arrival_ns
        limit, queued = self._limits[index], self._queued[index]
        if online:
            return lambda: self._live.message(key, arrival, arrival, limit, queued=queued)
        return lambda: self._live.death(key, arrival)

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
