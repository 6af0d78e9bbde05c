"""Writing line protocol to InfluxDB: sinks (one HTTP request each), delivery policy
(retry, split, quarantine) and the quarantine store."""

from collector.influx.delivery import Delivery
from collector.influx.quarantine import Quarantine, QuarantinedBatch, read_quarantine
from collector.influx.sink import Sink, SinkResponse, make_sink

__all__ = [
    "Delivery",
    "Quarantine",
    "QuarantinedBatch",
    "Sink",
    "SinkResponse",
    "make_sink",
    "read_quarantine",
]
