"""The mosquitto fixture against the real broker: publish/subscribe, a restart that keeps a
persistent session and its queued QoS 1 messages, SIGKILL, passwords, TLS, and no broker
left behind by a test that forgets to stop it.

The paho clients here are driven by ``loop()`` in the test's own thread, not by
``loop_start()``: deterministic, and fast at QoS 1.
"""

from __future__ import annotations

import gc
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from localservices.mosquitto import MosquittoServer, make_password_file, make_tls_files
from tests.support.mosquitto_fixtures import MosquittoFactory


class Probe:
    """A synchronous paho client for checks: connect, subscribe, publish, wait."""

    def __init__(
        self,
        port: int,
        client_id: str = "",
        *,
        clean_session: bool = True,
        auth: tuple[str, str] | None = None,
        ca: Path | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        if auth is not None:
            self.client.username_pw_set(*auth)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.port = port
        self.messages: list[tuple[str, bytes]] = []
        self.acked: set[int] = set()
        self.connack: mqtt.ReasonCode | None = None
        self.session_present = False
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, msg.payload))
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)

    def _on_connect(self, _c: object, _u: object, flags: object, rc: mqtt.ReasonCode, _p: object) -> None:
        self.connack = rc
        self.session_present = bool(getattr(flags, "session_present", False))

    def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the broker")
            self.client.loop(timeout=0.05)

    def connect(self) -> Probe:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.until(lambda: self.connack is not None)
        return self

    def subscribe(self, topic: str, qos: int = 1) -> None:
        granted: list[object] = []
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.extend(codes)
        self.client.subscribe(topic, qos)
        self.until(lambda: bool(granted))

    def publish_all(self, topic: str, payloads: list[bytes], qos: int = 1) -> None:
        mids = [self.client.publish(topic, p, qos=qos).mid for p in payloads]
        self.until(lambda: self.acked.issuperset(mids), timeout=20.0)

    def receive(self, count: int, timeout: float = 10.0) -> list[bytes]:
        self.until(lambda: len(self.messages) >= count, timeout)
        return [payload for _, payload in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop(timeout=0.05)


def connect_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_publish_subscribe(mosquitto: MosquittoServer) -> None:
    sub = Probe(mosquitto.port).connect()
    sub.subscribe("plant/#")
    pub = Probe(mosquitto.port).connect()
    pub.publish_all("plant/line1/temp", [b"21.5", b"21.6"])
    assert sub.receive(2) == [b"21.5", b"21.6"]
    assert sub.messages[0][0] == "plant/line1/temp"
    pub.close()
    sub.close()
    assert mosquitto.config_path.is_file()
    assert "allow_anonymous true" in mosquitto.config_path.read_text()


def test_restart_keeps_persistent_session_and_queued_messages(mosquitto: MosquittoServer) -> None:
    sub = Probe(mosquitto.port, "collector-1", clean_session=False).connect()
    sub.subscribe("plant/#", qos=1)
    sub.close()

    # more than mosquitto's default per-client queue (1000) to show nothing is dropped
    payloads = [b"%d" % i for i in range(1200)]
    pub = Probe(mosquitto.port).connect()
    pub.publish_all("plant/counter", payloads)
    pub.close()

    port, pid = mosquitto.port, mosquitto.pid
    mosquitto.restart()
    assert (mosquitto.port, mosquitto.running) == (port, True)
    assert mosquitto.pid != pid
    assert (mosquitto.data_dir / "mosquitto.db").is_file()

    again = Probe(mosquitto.port, "collector-1", clean_session=False).connect()
    assert again.session_present
    # the subscription came back with the session: no subscribe() here
    assert again.receive(len(payloads)) == payloads
    again.close()


def test_without_persistence_a_restart_forgets_sessions(mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory(persistence=False)
    sub = Probe(broker.port, "collector-1", clean_session=False).connect()
    sub.subscribe("plant/#")
    sub.close()
    broker.restart()
    assert not Probe(broker.port, "collector-1", clean_session=False).connect().session_present


def test_kill_and_start_again(mosquitto: MosquittoServer) -> None:
    pid = mosquitto.pid
    assert pid is not None
    mosquitto.kill()
    assert not mosquitto.running
    assert connect_refused(mosquitto.port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    mosquitto.start()
    probe = Probe(mosquitto.port).connect()
    assert probe.connack == 0
    probe.close()


def test_forgotten_broker_is_killed_when_collected(tmp_path: Path) -> None:
    server = MosquittoServer(tmp_path / "orphan").start()
    pid, port = server.pid, server.port
    assert pid is not None
    del server
    gc.collect()
    assert connect_refused(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_failure_names_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MosquittoServer(tmp_path / "clash", port=taken.getsockname()[1], startup_timeout=3)
        with pytest.raises(RuntimeError, match=r"mosquitto\.log"):
            server.start()
    assert not server.running


@pytest.mark.parametrize("use_tool", [True, False], ids=["mosquitto_passwd", "written-directly"])
def test_password_file(mosquitto_factory: MosquittoFactory, tmp_path: Path, use_tool: bool) -> None:
    pwfile = make_password_file(
        tmp_path / "passwd", {"collector": "s3cr:et", "viewer": "x"}, use_tool=use_tool
    )
    broker = mosquitto_factory(password_file=pwfile)
    assert Probe(broker.port).connect().connack != 0
    assert Probe(broker.port, auth=("collector", "wrong")).connect().connack != 0
    for user, password in (("collector", "s3cr:et"), ("viewer", "x")):
        assert Probe(broker.port, auth=(user, password)).connect().connack == 0


def test_tls_listener(mosquitto_factory: MosquittoFactory, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    broker = mosquitto_factory(tls=tls)
    assert broker.tls_port and broker.tls_port != broker.port
    sub = Probe(broker.tls_port, ca=tls.ca).connect()
    assert sub.connack == 0
    sub.subscribe("t")
    Probe(broker.port).connect().publish_all("t", [b"over plain"])
    assert sub.receive(1) == [b"over plain"]
    # a client that does not trust the test CA is refused during the handshake
    stranger = mqtt.Client(CallbackAPIVersion.VERSION2)
    stranger.tls_set()
    with pytest.raises(ssl.SSLError):
        stranger.connect("127.0.0.1", broker.tls_port)
