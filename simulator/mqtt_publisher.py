"""Simulated machines that report over MQTT: JSON telemetry, as a packaging line's gateway
would publish it.

    python -m simulator.mqtt_publisher --config configs/simulated-packaging.yaml \\
        --url mqtt://127.0.0.1:1883          # credentials from MQTT_USER / MQTT_PASSWORD

The machines are the same model the Modbus simulator serves (``simulator.machine``);
only the way they report differs. Every ``interval`` each machine publishes one message
to ``topic`` (``{line}`` and ``{machine}`` filled in), QoS 1, with its own time stamp:

    {"ts": 1764140400000, "status": "RUN", "reason": "none",
     "counters": {"total": 18234, "reject": 211},
     "energy_kwh": 1523.402, "power_kw": 4.2, "temp_c": 38.6}

``status`` is the gateway's own vocabulary (RUN, IDLE, ALARM, SETUP, STOP, OFF), which the
collector's ``states`` map turns into canonical states; see configs/collector-demo.yaml.

A machine with ``report: sparkplug_b`` is instead a device of one Sparkplug B edge node
(``sparkplug: {group, node}``) that reports by exception: NBIRTH/DBIRTH with every metric
on each connect, then a DDATA only with what changed, checked every ``interval``; the
node's last will is its NDEATH (simulator/sparkplug_node.py). A device with a
product schedule (``products:``) also reports the string metric ``product``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from datacontract import MachineState
from simulator.config import Duration, SimulatedMachine, SimulationSettings
from simulator.machine import MachineSnapshot
from simulator.sparkplug_node import OnChangeEdgeNode

log = logging.getLogger(__name__)

#: canonical state -> what the simulated gateway sends
STATUS: dict[MachineState, str] = {
    MachineState.RUNNING: "RUN",
    MachineState.IDLE: "IDLE",
    MachineState.FAULT: "ALARM",
    MachineState.SETUP: "SETUP",
    MachineState.STOPPED: "STOP",
    MachineState.PLANNED_STOP: "OFF",
}


class MqttMachineSpec(SimulatedMachine):
    line: str
    #: json: a telemetry message every ``interval``; sparkplug_b: a device of the Sparkplug
    #: edge node that reports by exception (only what changed, checked every ``interval``)
    report: Literal["json", "sparkplug_b"] = "json"


class SparkplugNodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: str = "plant"
    node: str = "gateway"
    #: metric -> smallest change worth a message (energy creeps up all the time)
    deadbands: dict[str, float] = Field(default_factory=lambda: {"energy_kwh": 0.05})


class MqttSimulatorConfig(SimulationSettings):
    """The Modbus simulator's file without ports, plus where and how often to publish."""

    #: ``{line}`` and ``{machine}`` are replaced per machine
    topic: str = "plant/{line}/{machine}/telemetry"
    interval: Duration = 2.0
    qos: int = Field(1, ge=0, le=2)
    sparkplug: SparkplugNodeSpec = Field(default_factory=SparkplugNodeSpec)
    machines: list[MqttMachineSpec] = Field(min_length=1)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if v < 0.05:
            raise ValueError("interval must be at least 50ms")
        return v

    @field_validator("machines")
    @classmethod
    def _unique(cls, v: list[MqttMachineSpec]) -> list[MqttMachineSpec]:
        names = [(m.line, m.name) for m in v]
        if len(set(names)) != len(names):
            raise ValueError("machine names repeat within a line")
        return v

    def topic_of(self, m: MqttMachineSpec) -> str:
        return self.topic.replace("{line}", m.line).replace("{machine}", m.name)


class MqttSimulatorConfigError(Exception):
    def __init__(self, source: str, errors: list[str]):
        self.source, self.errors = source, errors
        super().__init__(f"{source}: " + "; ".join(errors))


def load_mqtt_simulator_config(path: str | Path) -> MqttSimulatorConfig:
    source = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MqttSimulatorConfigError(source, [f"cannot read: {exc}"]) from None
    if not isinstance(raw, dict):
        raise MqttSimulatorConfigError(source, ["expected a mapping with 'machines'"])
    try:
        return MqttSimulatorConfig.model_validate(raw)
    except ValidationError as exc:
        raise MqttSimulatorConfigError(
            source,
            [
                ".".join(str(p) for p in e["loc"]) + ": " + str(e["msg"]).removeprefix("Value error, ")
                for e in exc.errors()
            ],
        ) from None


def payload(snap: MachineSnapshot) -> dict[str, Any]:
    """One telemetry message of a machine as its gateway sends it."""
    return {
        "ts": round(snap.time_s * 1000),
        "status": STATUS[snap.state],
        "reason": snap.reason,
        "counters": {"total": snap.total, "reject": snap.rejects},
        "energy_kwh": snap.energy_wh / 1000,
        "power_kw": snap.power_w / 1000,
        "temp_c": snap.temperature_c,
    }


def sparkplug_values(snap: MachineSnapshot) -> dict[str, Any]:
    """The metrics of a machine as a Sparkplug device reports them (only changes are sent)."""
    values: dict[str, Any] = {
        "status": STATUS[snap.state],
        "reason": snap.reason,
        "count_total": snap.total,
        "count_reject": snap.rejects,
        "energy_kwh": round(snap.energy_wh / 1000, 3),
    }
    if snap.product:  # a machine with a product schedule: the product id, a string metric
        values["product"] = snap.product
    return values


# -- publishing -------------------------------------------------------------------


def _client(url: str, client_id: str, username: str, password: str) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if username:
        client.username_pw_set(username, password or None)
    client.reconnect_delay_set(1, 10)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
        else:
            log.info("connected to %s", url)

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        log.info("disconnected (%s); reconnecting", reason)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    return client


def publish_loop(
    cfg: MqttSimulatorConfig,
    url: str,
    stop: threading.Event,
    *,
    username: str = "",
    password: str = "",
    client_id: str = "packaging-gateway",
) -> int:
    """Publish until ``stop`` is set; returns the number of messages handed to paho."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"expected mqtt://host:port, got {url!r}")
    now = time.time()
    t0 = cfg.start_time_s(now)
    base = time.monotonic()
    models = [(m, cfg.topic_of(m), cfg.build_model(m, t0)) for m in cfg.machines]
    client = _client(url, client_id, username, password)
    node = OnChangeEdgeNode(cfg.sparkplug.group, cfg.sparkplug.node, deadbands=cfg.sparkplug.deadbands)
    by_exception = [(m, model) for m, _, model in models if m.report == "sparkplug_b"]
    born = threading.Event()
    if by_exception:
        will_topic, will_payload = node.will()
        client.will_set(will_topic, will_payload, qos=1)
        # every new connection is a new Sparkplug session: birth again with every metric
        previous_on_connect = client.on_connect

        def on_connect(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
            previous_on_connect(c, u, f, reason, p)
            born.clear()

        client.on_connect = on_connect
    client.connect_async(parts.hostname, parts.port or 1883, keepalive=30)
    client.loop_start()
    sent = 0
    try:
        while not stop.is_set():
            sim_now = t0 + (time.monotonic() - base) * cfg.speed
            for spec, topic, model in models:
                model.advance(max(sim_now, model.now_s))
                if spec.report != "json":
                    continue
                body = json.dumps(payload(model.snapshot()), separators=(",", ":"))
                # paho queues while disconnected and sends once the connection is back
                client.publish(topic, body, qos=cfg.qos)
                sent += 1
            if by_exception and client.is_connected():
                sent += _report_by_exception(client, node, by_exception, born, cfg.qos)
            stop.wait(cfg.interval)
        if by_exception and client.is_connected():
            # a clean goodbye: the node says itself that it is gone (the will is for crashes)
            client.publish(*node.death(), qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def _report_by_exception(
    client: Any,
    node: OnChangeEdgeNode,
    machines: list[tuple[MqttMachineSpec, Any]],
    born: threading.Event,
    qos: int,
) -> int:
    snaps = [(m.name, model.snapshot()) for m, model in machines]
    ts_ms = round(max(s.time_s for _, s in snaps) * 1000)
    if not born.is_set():
        messages = node.birth(ts_ms, {name: sparkplug_values(s) for name, s in snaps})
        born.set()
    else:
        messages = [
            msg
            for name, s in snaps
            if (msg := node.changes(name, round(s.time_s * 1000), sparkplug_values(s))) is not None
        ]
    for topic, body in messages:
        client.publish(topic, body, qos=qos)
    return len(messages)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m simulator.mqtt_publisher",
        description="Publish simulated machines' telemetry over MQTT (JSON, QoS 1).",
    )
    ap.add_argument("--config", required=True, help="e.g. configs/simulated-packaging.yaml")
    ap.add_argument("--url", default="mqtt://127.0.0.1:1883", help="broker, mqtt://host:port")
    ap.add_argument("--client-id", default="packaging-gateway")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    try:
        cfg = load_mqtt_simulator_config(args.config)
    except MqttSimulatorConfigError as exc:
        print("\n".join([f"{exc.source}: invalid simulator config", *exc.errors]), file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sent = publish_loop(
            cfg,
            args.url,
            stop,
            username=os.environ.get("MQTT_USER", ""),
            password=os.environ.get("MQTT_PASSWORD", ""),
            client_id=args.client_id,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("stopped after %d message(s)", sent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
