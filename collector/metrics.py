"""Prometheus metrics of one collector process (own registry: no global state)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

POLL_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class _SpoolCollector(Collector):
    """Reads spool figures at scrape time, so they are never stale."""

    def __init__(self, stats: Callable[[], object]):
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self._stats()
        yield GaugeMetricFamily(
            "collector_spool_pending_points",
            "Accepted points not yet written to InfluxDB",
            value=s.pending_points,  # type: ignore[attr-defined]
        )
        yield GaugeMetricFamily(
            "collector_spool_pending_bytes",
            "Bytes of spooled records not yet delivered",
            value=s.pending_bytes,  # type: ignore[attr-defined]
        )
        oldest = s.oldest_pending_at  # type: ignore[attr-defined]
        yield GaugeMetricFamily(
            "collector_spool_oldest_age_seconds",
            "Age of the oldest undelivered record (0 when empty)",
            value=max(0.0, time.time() - oldest) if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "collector_spool_segments",
            "Spool segment files on disk",
            value=s.segments,  # type: ignore[attr-defined]
        )
        yield CounterMetricFamily(
            "collector_points_dropped",
            "Undelivered points dropped by the spool size cap",
            value=s.dropped_points,  # type: ignore[attr-defined]
        )
        yield CounterMetricFamily(
            "collector_spool_corrupt_records",
            "Corrupt spool records stepped over (each stretch up to the next valid record counts once)",
            value=s.corrupt_records_skipped,  # type: ignore[attr-defined]
        )
        yield CounterMetricFamily(
            "collector_spool_corrupt_bytes",
            "Unreadable spool bytes stepped over",
            value=s.corrupt_bytes_skipped,  # type: ignore[attr-defined]
        )


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.poll_duration = Histogram(
            "collector_poll_duration_seconds",
            "Time to read all blocks of a device once",
            ["machine"],
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.poll_errors = Counter(
            "collector_poll_errors_total", "Failed Modbus requests by kind", ["machine", "kind"], registry=r
        )
        self.reconnects = Counter(
            "collector_reconnects_total", "Connections re-established after a loss", ["machine"], registry=r
        )
        self.overruns = Counter(
            "collector_poll_overruns_total",
            "Poll ticks skipped because a poll ran late",
            ["machine"],
            registry=r,
        )
        self.requests = Counter(
            "collector_modbus_requests_total", "Modbus read requests sent", ["machine"], registry=r
        )
        self.values = Counter(
            "collector_values_read_total", "Register values decoded", ["machine"], registry=r
        )
        self.value_errors = Counter(
            "collector_value_errors_total",
            "Values that could not be stored (NaN, out of range)",
            ["machine", "register"],
            registry=r,
        )
        self.last_success = Gauge(
            "collector_last_success_timestamp_seconds",
            "Unix time of the last poll that returned data",
            ["machine"],
            registry=r,
        )
        self.accepted = Counter(
            "collector_points_accepted_total", "Points committed to the spool", ["source"], registry=r
        )
        self.written = Counter("collector_points_written_total", "Points InfluxDB acknowledged", registry=r)
        self.quarantined = Counter(
            "collector_points_quarantined_total",
            "Points InfluxDB rejected as bad, set aside",
            registry=r,
        )
        self.spool_write_errors = Counter(
            "collector_spool_write_errors_total",
            "Failed spool appends (every retry counts), by error (ENOSPC: disk full)",
            ["error"],
            registry=r,
        )
        self.spool_write_failing = Gauge(
            "collector_spool_write_failing",
            "1 while spool appends fail and intake waits for them to be retried",
            registry=r,
        )
        self.task_restarts = Counter(
            "collector_task_restarts_total",
            "Collector tasks restarted after an unexpected error",
            ["task"],
            registry=r,
        )
        self.write_retries = Counter(
            "collector_write_retries_total",
            "Write attempts that will be retried, by reason",
            ["reason"],
            registry=r,
        )

        self.mqtt_messages = Counter(
            "collector_mqtt_messages_total",
            "MQTT messages per subscription: received, stored, rejected (dead-lettered)",
            ["subscription", "outcome"],
            registry=r,
        )
        self.mqtt_lag = Histogram(
            "collector_mqtt_lag_seconds",
            "From the payload's time stamp (or arrival) to the samples being durable",
            ["subscription"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600),
            registry=r,
        )
        self.mqtt_disconnects = Counter(
            "collector_mqtt_disconnects_total", "Connections to the broker lost", registry=r
        )

    def watch_spool(self, stats: Callable[[], object]) -> None:
        self.registry.register(_SpoolCollector(stats))
