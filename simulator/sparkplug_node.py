"""A Sparkplug B edge node that reports by exception, as real Sparkplug nodes do.

It builds the messages only (topic, payload); whoever owns the MQTT connection publishes
them. NBIRTH and DBIRTH carry every metric; after that a DDATA carries only the metrics
that changed since they were last sent (numbers beyond their deadband), each with its own
time stamp. The node's will is an NDEATH with the same ``bdSeq`` as its birth, so the
broker tells subscribers when the node's connection dies.

Used by the demo's simulated packaging line and by the tests that render one machine
history at several reporting paces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.mqtt.sparkplug_codec import DataType, Metric, Payload, encode_payload, make_metric

NAMESPACE = "spBv1.0"
Value = bool | int | float | str

#: metric name -> Sparkplug datatype (anything not listed: by the Python type)
DEFAULT_TYPES: dict[str, DataType] = {
    "state": DataType.String,
    "downtime_reason": DataType.String,
    "product": DataType.String,
    "count_total": DataType.UInt64,
    "count_good": DataType.UInt64,
    "count_reject": DataType.UInt64,
    "energy_kwh": DataType.Double,
}


def _datatype(name: str, value: Value) -> DataType:
    known = DEFAULT_TYPES.get(name)
    if known is not None:
        return known
    if isinstance(value, bool):
        return DataType.Boolean
    if isinstance(value, int):
        return DataType.Int64
    if isinstance(value, float):
        return DataType.Double
    return DataType.String


@dataclass
class _Device:
    sent: dict[str, Value] = field(default_factory=dict)


class OnChangeEdgeNode:
    """Messages of one edge node ``group/node`` with devices; call in time order."""

    def __init__(
        self, group: str, node: str, *, deadbands: Mapping[str, float] | None = None, bd_seq: int = 0
    ) -> None:
        self.group, self.node = group, node
        self.deadbands = dict(deadbands or {})
        self.bd_seq = bd_seq % 256
        self._seq = 0
        self._devices: dict[str, _Device] = {}

    def _topic(self, verb: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{verb}/{self.node}"
        return base if device is None else f"{base}/{device}"

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % 256
        return seq

    def _bd_seq_metric(self) -> Metric:
        return make_metric(DataType.UInt64, self.bd_seq, name="bdSeq")

    def will(self) -> tuple[str, bytes]:
        """The NDEATH to register as the connection's last will."""
        return self._topic("NDEATH"), encode_payload(Payload(metrics=(self._bd_seq_metric(),)))

    def birth(self, ts_ms: int, devices: Mapping[str, Mapping[str, Value]]) -> list[tuple[str, bytes]]:
        """NBIRTH, then a DBIRTH per device with every metric (a new session: seq from 0)."""
        self._seq = 0
        out = [
            (
                self._topic("NBIRTH"),
                encode_payload(
                    Payload(timestamp=ts_ms, seq=self._next_seq(), metrics=(self._bd_seq_metric(),))
                ),
            )
        ]
        self._devices = {}
        for device, values in devices.items():
            self._devices[device] = _Device(dict(values))
            metrics = tuple(
                make_metric(_datatype(k, v), v, name=k, timestamp=ts_ms) for k, v in values.items()
            )
            out.append(
                (
                    self._topic("DBIRTH", device),
                    encode_payload(Payload(timestamp=ts_ms, seq=self._next_seq(), metrics=metrics)),
                )
            )
        return out

    def changes(self, device: str, ts_ms: int, values: Mapping[str, Value]) -> tuple[str, bytes] | None:
        """A DDATA with the metrics of ``values`` that changed since last sent; None if none did."""
        dev = self._devices[device]
        changed = [(k, v) for k, v in values.items() if self._changed(k, dev.sent.get(k), v)]
        if not changed:
            return None
        dev.sent.update(changed)
        metrics = tuple(make_metric(_datatype(k, v), v, name=k, timestamp=ts_ms) for k, v in changed)
        return (
            self._topic("DDATA", device),
            encode_payload(Payload(timestamp=ts_ms, seq=self._next_seq(), metrics=metrics)),
        )

    def _changed(self, name: str, old: Value | None, new: Value) -> bool:
        if old is None or type(old) is not type(new):
            return True
        band = self.deadbands.get(name)
        if band is not None and isinstance(new, int | float) and not isinstance(new, bool):
            return abs(float(new) - float(old)) >= band  # type: ignore[arg-type]
        return old != new

    def death(self) -> tuple[str, bytes]:
        """The NDEATH a node sends itself before a clean disconnect (same as its will)."""
        return self.will()
