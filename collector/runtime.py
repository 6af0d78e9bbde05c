"""Wire the collector together: spool, InfluxDB delivery, Modbus pollers, liveness, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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
from collector.spool import Spool, SpoolAppender, SpoolError
from datacontract import DownReason

log = logging.getLogger(__name__)

#: backoff of a supervised task that failed: first and longest wait, seconds
RESTART_MIN = 0.5
RESTART_MAX = 30.0


class StartupError(Exception):
    """A valid setting the collector cannot start with (a port in use, a spool folder it
    may not create): ``collector run`` prints it as one line and exits 2, no traceback."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


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
        self.appender: SpoolAppender | None = None
        #: supervised task -> its last error, while it is waiting to be restarted
        self._task_errors: dict[str, str] = {}

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
        """``status`` is "degraded" while something keeps samples from being accepted or
        delivered; ``problems`` then says what."""
        s = self.spool.stats
        problems: list[str] = []
        appender = self.appender
        if appender is not None and appender.failing_since is not None:
            problems.append(
                f"spool writes failing for {time.time() - appender.failing_since:.0f}s "
                f"({appender.last_error!r}); intake held back and retried"
            )
        for name, error in sorted(self._task_errors.items()):
            problems.append(f"task {name} failed ({error}); restarting")
        if self.mqtt is not None and not self.mqtt.consuming:
            problems.append("mqtt intake stopped")
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "spool_pending_points": s.pending_points,
            "spool_dropped_points": s.dropped_points,
            "spool_corrupt_records": s.corrupt_records_skipped,
            "devices": len(self.pollers),
        }

    def _on_write_error(self, exc: BaseException) -> None:
        code = getattr(exc, "errno", None)
        self.metrics.spool_write_errors.labels(errno.errorcode.get(code, type(exc).__name__)).inc()

    async def _supervise(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``run()`` until cancelled; restart it with backoff whenever it fails, so one
        error does not end a part of the collector for good."""
        delay = RESTART_MIN
        while True:
            began = time.monotonic()
            try:
                await run()
                return
            except Exception as exc:
                if time.monotonic() - began > RESTART_MAX:
                    delay = RESTART_MIN  # it had been working: a new problem, not the old one
                self._task_errors[name] = repr(exc)
                self.metrics.task_restarts.labels(name).inc()
                log.exception("task %s failed; restarting it in %.1fs", name, delay)
            await asyncio.sleep(delay)
            self._task_errors.pop(name, None)
            delay = min(delay * 2, RESTART_MAX)

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> RunResult:
        cfg = self.cfg
        CLOCK.configure(require_sync=cfg.clock.require_sync, step_threshold_s=cfg.clock.step_threshold)
        # the port first: taken, nothing else has been started that would need stopping
        http = await self._start_http()
        try:
            self._open_spool()
        except BaseException:
            if http is not None:
                await http.cleanup()
            raise
        m = self.metrics
        m.watch_spool(lambda: self.spool.stats)
        appender = SpoolAppender(
            self.spool,
            max_delay=cfg.spool.commit_interval,
            on_write_error=self._on_write_error,
            on_write_state=lambda failing: m.spool_write_failing.set(1 if failing else 0),
        )
        self.appender = appender
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
        forward_task = asyncio.create_task(self._supervise("forwarder", forwarder.run), name="forwarder")
        liveness_task = asyncio.create_task(
            self._supervise("liveness", lambda: self._flush_liveness(appender)), name="liveness"
        )
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
            # a full disk must not keep the stop waiting: what cannot be written now is not
            # accepted (MQTT leaves it with the broker)
            appender.stop_retrying()
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

    async def _start_http(self) -> web.AppRunner | None:
        listen = self.cfg.metrics.listen
        if not listen:
            return None
        try:
            return await start_http_endpoint(listen, self.metrics.registry, self.health)
        except OSError as exc:
            host, port = listen.rsplit(":", 1)
            raise StartupError(
                "metrics.listen", f"cannot listen on port {port} of {host}: {exc.strerror or exc}"
            ) from None

    def _open_spool(self) -> None:
        try:
            self.spool.open()
        except SpoolError as exc:
            raise StartupError("spool.path", str(exc)) from None
        except OSError as exc:
            where = exc.filename or self.cfg.spool.path
            raise StartupError("spool.path", f"cannot use {where}: {exc.strerror or exc}") from None

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
            if self.appender is not None:
                self.appender.stop_retrying()  # a poll waiting on a full disk must not hold the stop
            for poller, task in zip(self.pollers, tasks, strict=True):
                if poller.idle:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
