"""The demo broker's ACL (demo.access.broker_acl, written by
localservices.mosquitto.make_acl_file) on a real mosquitto: the viewer subscribes and
receives but its publishes reach no one, the packaging gateway's arrive, the collector
reads the line and publishes its marker topic only.

A refused publish is dropped by the broker: acknowledged as usual over MQTT 3.1.1, with
"not authorized" in the PUBACK over MQTT 5; mosquitto 2.0.11 then also closes the
publisher's connection, so the refused publisher and the subscriber are separate clients.
"Nothing arrived" is checked without waiting out a timeout: the refused message is
acknowledged before an allowed one is published on the same topic, and the broker
delivers to a subscriber in the order it handled the publishes, so once the allowed one
has arrived the refused one would have come first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from demo.access import broker_acl
from localservices.mosquitto import MosquittoServer, make_acl_file, make_password_file
from tests.support.mosquitto_fixtures import MosquittoFactory

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
USERS = {"viewer": "v-pw", "edge-collector": "c-pw", "packaging-gateway": "g-pw"}
TELEMETRY = "plant/filling/filler-01/telemetry"
NOT_AUTHORIZED = 0x87


class Client:
    """A synchronous paho client driven by ``loop()`` in the test's thread."""

    def __init__(self, port: int, user: str, protocol: int = mqtt.MQTTv311) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self.client.username_pw_set(user, USERS[user])
        self.port = port
        self.messages: list[tuple[str, bytes]] = []
        self.acks: dict[int, int] = {}
        self.connack: int | None = None
        self.client.on_connect = lambda _c, _u, _f, rc, _p: setattr(self, "connack", rc.value)
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, msg.payload))
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc.value)

    def until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for the broker; received {self.messages}")
            self.client.loop(timeout=0.05)

    def connect(self) -> Client:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.until(lambda: self.connack is not None)
        assert self.connack == 0, self.connack
        return self

    def subscribe(self, topic: str) -> int:
        granted: list[int] = []
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.extend(c.value for c in codes)
        self.client.subscribe(topic, 1)
        self.until(lambda: bool(granted))
        return granted[0]

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and wait for the broker's PUBACK; returns its reason code."""
        mid = self.client.publish(topic, payload, qos=1).mid
        self.until(lambda: mid in self.acks)
        return self.acks[mid]

    def received(self, count: int) -> list[tuple[str, bytes]]:
        self.until(lambda: len(self.messages) >= count)
        return self.messages

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop(timeout=0.05)


@pytest.fixture
def broker(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> MosquittoServer:
    def shipped(name: str) -> dict:
        return yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))

    rules = broker_acl(shipped("collector-demo.yaml"), shipped("simulated-packaging.yaml"))
    return mosquitto_factory(
        password_file=make_password_file(tmp_path / "passwd", USERS),
        acl_file=make_acl_file(tmp_path / "acl", rules),
    )


def test_viewer_reads_but_cannot_publish_the_gateway_can(broker: MosquittoServer) -> None:
    viewer = Client(broker.port, "viewer").connect()
    collector = Client(broker.port, "edge-collector").connect()
    gateway = Client(broker.port, "packaging-gateway").connect()
    viewer_pub = Client(broker.port, "viewer").connect()
    collector_pub = Client(broker.port, "edge-collector").connect()
    clients = (viewer, collector, gateway, viewer_pub, collector_pub)
    try:
        assert viewer.subscribe("plant/#") == 1
        assert viewer.subscribe("spBv1.0/#") == 1
        assert collector.subscribe("plant/+/+/telemetry") == 1

        assert viewer_pub.publish(TELEMETRY, b"viewer") == 0  # MQTT 3.1.1: acknowledged, dropped
        assert collector_pub.publish(TELEMETRY, b"collector") == 0  # the collector only reads the line
        gateway.publish(TELEMETRY, b"gateway")
        gateway.publish("spBv1.0/packaging/NBIRTH/packaging-gateway", b"birth")

        assert viewer.received(2) == [
            (TELEMETRY, b"gateway"),
            ("spBv1.0/packaging/NBIRTH/packaging-gateway", b"birth"),
        ]
        assert collector.received(1) == [(TELEMETRY, b"gateway")]
    finally:
        for c in clients:
            c.close()


def test_viewer_publish_over_mqtt5_is_refused(broker: MosquittoServer) -> None:
    viewer = Client(broker.port, "viewer", mqtt.MQTTv5).connect()
    viewer_pub = Client(broker.port, "viewer", mqtt.MQTTv5).connect()
    gateway = Client(broker.port, "packaging-gateway").connect()
    try:
        assert viewer.subscribe(TELEMETRY) == 1
        assert viewer_pub.publish(TELEMETRY, b"viewer") == NOT_AUTHORIZED
        gateway.publish(TELEMETRY, b"gateway")
        assert viewer.received(1) == [(TELEMETRY, b"gateway")]
    finally:
        for c in (viewer, viewer_pub, gateway):
            c.close()


def test_collector_marker_topic_round_trips(broker: MosquittoServer) -> None:
    """The collector's own sync topic (collector/mqtt/source.py): publish, read back."""
    collector = Client(broker.port, "edge-collector", mqtt.MQTTv5).connect()
    try:
        topic = "factorylens/sync/demo-edge-1"
        assert collector.subscribe(topic) == 1
        assert collector.publish(topic, b"marker") == 0
        assert collector.received(1) == [(topic, b"marker")]
    finally:
        collector.close()
