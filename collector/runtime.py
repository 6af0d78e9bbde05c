"""Wire the collector together: spool, InfluxDB delivery, Modbus pollers, liveness, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from collector.clock import CLOCK
from collector.config.model import CollectorConfig
from collector.forwarder import Forwarder
from collector.http_endpoint import start_http_endpoint
from collector.influx.delivery import Delivery
from collector.influx.quarantine import Quarantine
from collector.influx.sink import make_sink
from collector.liveness import LivenessRecorder
from collector.metrics import CollectorMetrics
from collector.modbus.client import ModbusEndpoint, endpoint_key
from collector.modbus.poller import DevicePoller, PollStats, run_poller
from collector.mqtt.deadletter import DeadLetters
from collector.mqtt.source import LIVENESS_STATE_FILE, MqttSource
from collector.spool import Spool
from collector.spool_appender import SpoolAppender
from datacontract import DownReason

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    delivered_all: bool
    pending_points: int
    polls: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Collector:
    """One collector process. ``run`` returns when ``stop`` is set (or after one poll)."""

    def __init__(
        self, cfg: CollectorConfig, *, metrics: CollectorMetrics | None = None, seed: int | None = None
    ):
        self.cfg = cfg
        self.metrics = metrics or CollectorMetrics()
        self._rng = random.Random(seed)
        self.spool = Spool(cfg.spool.path, max_bytes=cfg.spool.max_bytes, fsync=cfg.spool.fsync)
        self.pollers: list[DevicePoller] = []
        #: alive records of the Modbus machines (MQTT keeps its own)
        self.liveness = LivenessRecorder(cfg.site.factory)
        self._polls = 0
        self._children: dict[str, tuple[Any, Any, Any, Any]] = {}
        self.mqtt: MqttSource | None = None

    def _build_pollers(self, appender: SpoolAppender) -> list[ModbusEndpoint]:
        endpoints: dict[tuple[str, str], ModbusEndpoint] = {}
        machines: dict[tuple[str, str], list[str]] = {}
        for dev in self.cfg.modbus.devices:
            key = endpoint_key(dev)
            machines.setdefault(key, []).append(dev.machine)
            if key not in endpoints:
                endpoints[key] = ModbusEndpoint(
                    dev,
                    rng=random.Random(self._rng.random()),
                    on_reconnect=lambda k=key: [self.metrics.reconnects.labels(m).inc() for m in machines[k]],
                )

            async def accept(points: list[bytes]) -> None:
                await appender.append(points)
                self.metrics.accepted.labels("modbus").inc(len(points))

            self.pollers.append(
                DevicePoller(
                    dev,
                    factory=self.cfg.site.factory,
                    line=self.cfg.line_of(dev),
                    endpoint=endpoints[key],
                    accept=accept,
                    liveness=self.liveness,
                )
            )
        return list(endpoints.values())

    def _on_poll(self, poller: DevicePoller, stats: PollStats, elapsed: float) -> None:
        self._polls += 1
        m, machine = self.metrics, poller.machine
        children = self._children.get(machine)
        if children is None:
            # labels() costs a lock and a dict lookup per call: resolve once per machine
            children = self._children[machine] = (
                m.poll_duration.labels(machine),
                m.requests.labels(machine),
                m.values.labels(machine),
                m.last_success.labels(machine),
            )
        duration, requests, values, last_success = children
        duration.observe(elapsed)
        requests.inc(stats.requests)
        values.inc(stats.values)
        for kind in stats.errors:
            m.poll_errors.labels(machine, kind).inc()
        for register, reason in stats.value_problems:
            m.value_errors.labels(machine, register).inc()
            log.warning("machine=%s register=%s: value not stored: %s", machine, register, reason)
        if stats.values:  # data came back, even if nothing changed that needed storing
            last_success.set(time.time())

    def _on_overrun(self, poller: DevicePoller, skipped: int) -> None:
        self.metrics.overruns.labels(poller.machine).inc(skipped)
        log.warning(
            "machine=%s: poll took longer than its interval; skipped %d tick(s)", poller.machine, skipped
        )

    def health(self) -> dict[str, object]:
        s = self.spool.stats
        return {
            "status": "ok",
            "spool_pending_points": s.pending_points,
            "spool_dropped_points": s.dropped_points,
            "devices": len(self.pollers),
        }

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> RunResult:
        cfg = self.cfg
        CLOCK.configure(require_sync=cfg.clock.require_sync, step_threshold_s=cfg.clock.step_threshold)
        self.spool.open()
        m = self.metrics
        m.watch_spool(lambda: self.spool.stats)
        appender = SpoolAppender(self.spool, max_delay=cfg.spool.commit_interval)
        await appender.start()
        sink = make_sink(cfg.influx)
        delivery = Delivery(
            sink,
            Quarantine(cfg.spool.quarantine_dir),
            retry_min=cfg.influx.retry_min,
            retry_max=cfg.influx.retry_max,
            on_written=m.written.inc,
            on_quarantined=lambda n, reason: m.quarantined.inc(n),
            on_retry=lambda status, reason: m.write_retries.labels(str(status)).inc(),
        )
        forwarder = Forwarder(
            self.spool, delivery, appender.data_available, batch_points=cfg.influx.batch_points
        )
        endpoints = self._build_pollers(appender)
        mqtt = await self._start_mqtt(appender) if cfg.mqtt is not None and not once else None
        http = None
        if cfg.metrics.listen:
            http = await start_http_endpoint(cfg.metrics.listen, m.registry, self.health)
        forward_task = asyncio.create_task(forwarder.run(), name="forwarder")
        liveness_task = asyncio.create_task(self._flush_liveness(appender), name="liveness")
        poll_stop = asyncio.Event()
        try:
            if once:
                results = await asyncio.gather(*(p.poll_once() for p in self.pollers))
                for poller, stats in zip(self.pollers, results, strict=True):
                    self._on_poll(poller, stats, 0.0)
            else:
                await self._poll_until(stop, poll_stop)
        finally:
            poll_stop.set()
            liveness_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await liveness_task
            # the pollers have stopped: every open record ends at its last answered poll
            self.liveness.down_all(CLOCK.now_ns(), DownReason.COLLECTOR_STOPPED)
            await self._append_liveness(appender)
            if mqtt is not None:
                await mqtt.stop()
            await appender.stop()
            delivered = await forwarder.drain(cfg.influx.flush_timeout)
            forward_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forward_task
            for ep in endpoints:
                await ep.close()
            await sink.close()
            if http is not None:
                await http.cleanup()
            pending = self.spool.pending_points
            self.spool.close()
        if not delivered:
            log.warning(
                "stopped with %d point(s) not yet in InfluxDB; they stay spooled for the next start", pending
            )
        return RunResult(delivered_all=delivered, pending_points=pending, polls=self._polls)

    async def _flush_liveness(self, appender: SpoolAppender) -> None:
        """Write the grown alive records every flush interval, through the spool like samples."""
        while True:
            await asyncio.sleep(self.cfg.liveness.flush_interval)
            await self._append_liveness(appender)

    async def _append_liveness(self, appender: SpoolAppender) -> None:
        lines = self.liveness.flush()
        if not lines:
            return
        try:
            await appender.append(lines)
        except Exception as exc:
            # open records are written again at the next flush (they keep growing);
            # what was lost is a closed record or a down mark: time that reads as unknown
            log.error("liveness: %d record(s) not spooled: %s", len(lines), exc)
            return
        self.metrics.accepted.labels("liveness").inc(len(lines))

    async def _start_mqtt(self, appender: SpoolAppender) -> MqttSource:
        cfg = self.cfg
        assert cfg.mqtt is not None
        source = MqttSource(
            cfg.mqtt,
            factory=cfg.site.factory,
            site_line=cfg.site.line,
            appender=appender,
            deadletters=DeadLetters(
                cfg.mqtt.dead_letter_dir(cfg.spool.path), max_bytes=cfg.mqtt.dead_letter_max_bytes
            ),
            metrics=self.metrics,
            on_accepted=self.metrics.accepted.labels("mqtt").inc,
            flush_interval=cfg.liveness.flush_interval,
            state_path=cfg.spool.path / LIVENESS_STATE_FILE,
        )
        await source.start()
        self.mqtt = source
        return source

    async def _poll_until(self, stop: asyncio.Event, poll_stop: asyncio.Event) -> None:
        now = time.monotonic()
        n = max(1, len(self.pollers))
        tasks = [
            asyncio.create_task(
                run_poller(
                    p,
                    poll_stop,
                    self._on_poll,
                    self._on_overrun,
                    # Spread first polls over the interval so 500 devices don't fire at once.
                    start_at=now + min(p.dev.interval, 1.0) * i / n,
                ),
                name=f"poll:{p.machine}",
            )
            for i, p in enumerate(self.pollers)
        ]
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            poll_stop.set()
            stopper.cancel()
            for poller, task in zip(self.pollers, tasks, strict=True):
                if poller.idle:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
