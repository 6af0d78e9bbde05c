"""Helpers for MQTT end-to-end tests against a real mosquitto and a real influxd.

- ``MqttPeer``: a paho client on its own network thread (``loop_start``) that publishes and
  records which messages the broker acknowledged (QoS 1 PUBACK, seen through each
  message's ``MQTTMessageInfo``), and optionally subscribes and records what it receives.
  "Every message published" in a test means every message the broker accepted.
- ``CollectorThread``: ``Collector(cfg).run(stop)`` in a thread with its own event loop,
  so tests can publish, wait and query synchronously while the collector runs.
- ``mqtt_collector_yaml``: a collector configuration with an ``mqtt`` section only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from collector.config import parse_config
from collector.config.model import CollectorConfig
from collector.metrics import CollectorMetrics
from collector.mqtt.deadletter import StoredDeadLetter, read_dead_letters
from collector.runtime import Collector, RunResult
from localservices.influxd import InfluxServer


def wait_for(
    check: Callable[[], Any], timeout: float = 10.0, what: str = "condition", step: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


@dataclass
class Sent:
    topic: str
    payload: bytes
    mid: int
    acked_mids: set[int]

    @property
    def acked(self) -> bool:
        return self.mid in self.acked_mids


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int


class MqttPeer:
    """A publishing (and optionally subscribing) test client.

    paho keeps every QoS 1 message until its PUBACK arrives and resends it, flagged DUP,
    after a reconnect; ``on_publish`` fires for it only on the PUBACK (PUBCOMP at QoS 2).
    So ``acked()`` is exactly the set of messages the broker took responsibility for, and
    a message that is never acknowledged is never counted as published.

    The PUBACK is matched by packet id, not by ``MQTTMessageInfo.is_published()``: that
    raises for a message published while the connection was down, although paho keeps
    and resends it. Packet ids are unique until 65535 have been used, so one peer
    publishes at most ``MAX_MESSAGES``.
    """

    MAX_MESSAGES = 60_000

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        client_id: str = "",
        auth: tuple[str, str] | None = None,
        max_inflight: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=True,
        )
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.sent: list[Sent] = []
        self._acked_mids: set[int] = set()
        self.received: list[Received] = []
        self.connected = threading.Event()
        self.connects = 0
        self._filters: list[tuple[str, int]] = []
        self._granted: dict[int, list[Any]] = {}
        self._lock = threading.Lock()

    # -- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        self.connects += 1
        if self._filters:
            client.subscribe(self._filters)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(Received(msg.topic, msg.payload, msg.qos))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        self._acked_mids.add(mid)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        self._granted[mid] = codes

    # -- test side -----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> MqttPeer:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            self.client.loop_stop()
            raise AssertionError(f"test client could not connect to {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 5.0) -> None:
        """Subscribe and wait for the SUBACK; the filter is renewed after every reconnect."""
        self._filters.append((topic, qos))
        _rc, mid = self.client.subscribe(topic, qos)
        wait_for(lambda: mid in self._granted, timeout, f"SUBACK for {topic!r}")

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> Sent:
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if len(self.sent) >= self.MAX_MESSAGES:
            raise RuntimeError("packet ids would repeat: use another MqttPeer")
        info = self.client.publish(topic, data, qos=qos)
        sent = Sent(topic, data, info.mid, self._acked_mids)
        with self._lock:
            self.sent.append(sent)
        return sent

    def publish_all(
        self, messages: Iterable[tuple[str, bytes | str]], qos: int = 1, timeout: float = 20.0
    ) -> list[Sent]:
        """Publish in order and wait until the broker acknowledged every one."""
        batch = [self.publish(topic, payload, qos) for topic, payload in messages]
        if qos:
            wait_for(lambda: all(s.acked for s in batch), timeout, "PUBACKs")
        return batch

    def acked(self) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.acked]

    def unacked(self) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if not s.acked]

    def wait_all_acked(self, timeout: float = 20.0) -> list[Sent]:
        wait_for(lambda: not self.unacked(), timeout, "PUBACKs for every message")
        return self.acked()

    def messages(self, prefix: str = "") -> list[Received]:
        with self._lock:
            return [m for m in self.received if m.topic.startswith(prefix)]


# --- the collector in-process -------------------------------------------------------------


class CollectorThread:
    """``Collector(cfg).run(stop)`` on a thread with its own event loop."""

    def __init__(self, cfg: CollectorConfig) -> None:
        self.cfg = cfg
        self.metrics = CollectorMetrics()
        self.collector = Collector(cfg, metrics=self.metrics)
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="collector", daemon=True)

    @classmethod
    def from_yaml(cls, text: str, env: dict[str, str] | None = None) -> CollectorThread:
        return cls(parse_config(text, env=env or {}))

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            self.result = await self.collector.run(self._stop)

        try:
            asyncio.run(run())
        except BaseException as exc:  # kept for the test to report
            self.error = exc
        finally:
            self._ready.set()

    def start(self, *, wait_connected: bool = True, timeout: float = 15.0) -> CollectorThread:
        self._thread.start()
        self._ready.wait(timeout)
        if wait_connected:
            wait_for(
                lambda: (
                    self.error is not None
                    or (self.collector.mqtt is not None and self.collector.mqtt.connected.is_set())
                ),
                timeout,
                "the collector to connect to the broker",
            )
            self.raise_error()
            # the SUBSCRIBE went out with the CONNACK's callback; give the broker a moment
            time.sleep(0.3)
        return self

    def stop(self, timeout: float = 30.0) -> RunResult:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the collector did not stop"
        self.raise_error()
        assert self.result is not None
        return self.result

    def raise_error(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the collector failed: {self.error!r}") from self.error

    @property
    def running(self) -> bool:
        """The collector's run() and its MQTT consumer are both still going."""
        source = self.collector.mqtt
        task = getattr(source, "_task", None)
        return self._thread.is_alive() and self.error is None and task is not None and not task.done()

    def count(self, subscription: str, outcome: str) -> int:
        value = self.metrics.registry.get_sample_value(
            "collector_mqtt_messages_total", {"subscription": subscription, "outcome": outcome}
        )
        return int(value or 0)

    def counts(self, subscription: str) -> dict[str, int]:
        counts = {o: self.count(subscription, o) for o in ("received", "stored", "rejected")}
        if partial := self.count(subscription, "partial"):
            counts["partial"] = partial
        return counts

    def dead_letters(self) -> list[StoredDeadLetter]:
        assert self.cfg.mqtt is not None
        return list(read_dead_letters(self.cfg.mqtt.dead_letter_dir(self.cfg.spool.path)))

    def __enter__(self) -> CollectorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()


# --- configuration and queries ----------------------------------------------------------------


def mqtt_collector_yaml(
    influx_url: str,
    database: str,
    spool: Path,
    broker_port: int,
    subscriptions: str,
    *,
    client_id: str = "collector-test",
    factory: str = "test-factory",
    mqtt_extra: str = "",
    flush_timeout: str = "10s",
    metrics: str = "",
) -> str:
    """``subscriptions`` is YAML list items indented by four spaces; ``mqtt_extra`` more keys
    of the ``mqtt`` section indented by two."""
    return (
        f"site: {{factory: '{factory}', line: line-1}}\n"
        f"influx: {{url: {influx_url}, database: {database}, retry_min: 100ms, retry_max: 1s,"
        f" flush_timeout: {flush_timeout}}}\n"
        f"spool: {{path: {spool}, max_bytes: 64MiB, commit_interval: 10ms}}\n"
        f"metrics: {{listen: '{metrics}'}}\n"
        "log: {level: info}\n"
        "mqtt:\n"
        f"  url: mqtt://127.0.0.1:{broker_port}\n"
        f"  client_id: {client_id}\n"
        f"  dead_letter_path: {spool.parent / 'deadletter'}\n"
        f"{mqtt_extra}"
        "  subscriptions:\n"
        f"{subscriptions}"
    )


@dataclass
class Rows:
    """Rows of machine_data, by machine."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def of(self, machine: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["machine"] == machine]

    def fields(self, machine: str) -> list[dict[str, Any]]:
        """Each row of a machine reduced to its non-null fields and time."""
        skip = {"factory", "line", "machine"}
        return [{k: v for k, v in r.items() if v is not None and k not in skip} for r in self.of(machine)]


def machine_rows(influx: InfluxServer, db: str, where: str | None = None) -> Rows:
    if "machine_data" not in influx.measurements(db):
        return Rows()
    return Rows(influx.points("machine_data", db, where))


def wait_rows(
    influx: InfluxServer, db: str, machine: str, n: int, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Wait until ``machine`` has at least ``n`` rows; returns them."""
    return wait_for(
        lambda: (rows := machine_rows(influx, db).of(machine)) and len(rows) >= n and rows,
        timeout,
        f"{n} row(s) of machine {machine!r} in InfluxDB",
        step=0.1,
    )
