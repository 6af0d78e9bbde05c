"""Poll one Modbus device on its interval and hand its samples to the spool.

Each request is stamped with the time it was sent (``collector.clock``: wall time that
never steps back); the stamp travels with the sample through the spool, so a replay
writes the same point again (idempotent). Until the system clock is synchronised, if the
configuration requires it (``clock.require_sync``), nothing is read.

The poller also tells the liveness recorder when the device answered (any answer, even a
Modbus exception, proves the path alive) and when it stopped answering, and leaves values
stored on change out of a sample while they hold (collector/modbus/store.py).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from collector.clock import CLOCK, SampleClock
from collector.liveness import LivenessRecorder
from collector.modbus.client import (
    DeviceBusy,
    IllegalAddress,
    ModbusEndpoint,
    ModbusExceptionResponse,
    ModbusReadError,
    NotConnected,
)
from collector.modbus.config import DeviceConfig
from collector.modbus.decode import BlockDecoder
from collector.modbus.planner import ReadRequest, device_plan, split_request
from collector.modbus.store import ChangeFilter
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE, DownReason
from datacontract.lineprotocol import SeriesEncoder, series_prefix

log = logging.getLogger(__name__)


@dataclass
class PollStats:
    """What one poll did; the runtime turns it into metrics."""

    requests: int = 0
    #: requests the device answered (with data or with a Modbus exception)
    answered: int = 0
    points: int = 0
    values: int = 0
    errors: list[str] = field(default_factory=list)
    value_problems: list[tuple[str, str]] = field(default_factory=list)


class DevicePoller:
    def __init__(
        self,
        dev: DeviceConfig,
        *,
        factory: str,
        line: str,
        endpoint: ModbusEndpoint,
        accept: Callable[[list[bytes]], Awaitable[None]],
        liveness: LivenessRecorder | None = None,
        clock: SampleClock = CLOCK,
    ) -> None:
        self.dev = dev
        self._clock = clock
        self.machine = dev.machine
        self.key = (line, dev.machine)
        self._liveness = liveness
        self._filter = ChangeFilter.for_device(dev)
        self._endpoint = endpoint
        self._accept = accept
        self._encoder = SeriesEncoder(
            series_prefix(
                MEASUREMENT_MACHINE, {TAG_FACTORY: factory, TAG_LINE: line, TAG_MACHINE: dev.machine}
            ),
            [key for reg in dev.registers for key in dev.field_keys(reg)],
        )
        #: true while the poller waits for its next tick (safe to cancel then)
        self.idle = True
        self._plan: list[tuple[ReadRequest, BlockDecoder, bool]] = [
            self._compile(req) for req in device_plan(dev)
        ]
        #: registers the device refused (exception 2) even when read alone
        self.unreadable: set[str] = set()

    def _compile(self, req: ReadRequest) -> tuple[ReadRequest, BlockDecoder, bool]:
        """The request, its decoder, and whether it holds values stored on change."""
        keys = [k for s in req.spans for k in self.dev.field_keys(self.dev.registers[s.index])]
        filtered = self._filter is not None and self._filter.covers(keys)
        return req, BlockDecoder(req, self.dev.registers, self.dev.byte_order), filtered

    async def poll_once(self) -> PollStats:
        """Read every planned block once and accept the samples durably."""
        stats = PollStats()
        if not self._clock.synced():
            # a stamp from an unsynchronised clock may lie anywhere in the past: no sample
            # is better (unknown time to the assessor) than one misplaced
            stats.errors.append("clock_unsynced")
            return stats
        points: list[bytes] = []
        #: request times of the first and last answer, and when the device stopped answering
        first_ns = last_ns = failed_ns = None
        i = 0
        while i < len(self._plan):
            req, decoder, filtered = self._plan[i]
            try:
                result = await self._endpoint.read(req.area, req.start, req.count, self.dev.unit)
            except ModbusExceptionResponse as exc:  # an answer, though not with data
                stats.requests += 1
                stats.errors.append(exc.kind)
                if exc.answered_at_ns is None:
                    # a gateway's "target device failed to respond": the device is gone
                    failed_ns = self._clock.now_ns()
                    log.debug("machine=%s: %s", self.machine, exc)
                    break
                stats.answered += 1
                first_ns = exc.answered_at_ns if first_ns is None else first_ns
                last_ns = exc.answered_at_ns
                if isinstance(exc, IllegalAddress):
                    self._split(i, req, exc)
                    continue  # the replacement requests sit at index i now
                if isinstance(exc, DeviceBusy):
                    log.warning("machine=%s: device busy, skipped %s: %s", self.machine, _where(req), exc)
                    i += 1
                    continue
                log.debug("machine=%s: %s", self.machine, exc)
                break  # as before: other exceptions end this poll
            except (NotConnected, ModbusReadError) as exc:
                # An unreachable device fails every request the same way: stop this poll.
                stats.requests += 1
                stats.errors.append(exc.kind)
                failed_ns = self._clock.now_ns()
                log.debug("machine=%s: %s", self.machine, exc)
                break
            stats.requests += 1
            stats.answered += 1
            t_ns = result.requested_at_ns
            first_ns = t_ns if first_ns is None else first_ns
            last_ns = t_ns
            try:
                fields, problems = decoder.decode(result.values)
            except (ValueError, struct.error) as exc:
                # A short or malformed answer: the device misbehaves, the poll goes on.
                stats.errors.append("malformed")
                log.warning("machine=%s: malformed answer for %s: %s", self.machine, _where(req), exc)
                i += 1
                continue
            stats.values += len(fields)
            for name, reason in problems:
                stats.value_problems.append((name, reason))
            if filtered:
                fields = self._filter.select(fields, t_ns)  # type: ignore[union-attr]
            if fields:
                points.append(self._encoder.encode(fields, t_ns))
            i += 1
        if points:
            try:
                await self._accept(points)
            except BaseException:
                # not stored after all: the next answer must store every value again
                self._forget()
                raise
            stats.points = len(points)
        # liveness only after the samples are durable: a record never vouches for a
        # stretch whose samples a crash could still lose
        self._record_liveness(first_ns, last_ns, failed_ns)
        return stats

    def _record_liveness(self, first_ns: int | None, last_ns: int | None, failed_ns: int | None) -> None:
        rec = self._liveness
        if rec is not None and first_ns is not None and last_ns is not None:
            rec.alive(self.key, first_ns)
            rec.alive(self.key, last_ns)
        if failed_ns is None:
            return
        self._forget()
        if rec is not None and rec.is_alive(self.key):
            rec.down(
                self.key,
                failed_ns,
                DownReason.NO_ANSWER,
                alive_until_ns=last_ns if last_ns is not None else rec.last_alive_ns(self.key),
            )

    def _forget(self) -> None:
        if self._filter is not None:
            self._filter.forget()

    def _split(self, i: int, req: ReadRequest, exc: IllegalAddress) -> None:
        halves = split_request(req)
        if halves is None:
            names = sorted({self.dev.registers[s.index].name for s in req.spans})
            self.unreadable.update(names)
            log.error(
                "machine=%s register=%s: device answers 'illegal address' (exception 2) for %s; "
                "no longer read until restart",
                self.machine,
                ",".join(names),
                _where(req),
            )
            del self._plan[i]
            return
        log.warning("machine=%s: exception 2 for merged block %s; splitting it", self.machine, _where(req))
        self._plan[i : i + 1] = [self._compile(h) for h in halves]


def _where(req: ReadRequest) -> str:
    return f"{req.area.value} {req.start}..{req.start + req.count - 1}"


@dataclass
class Schedule:
    """Fixed-rate ticks; an overrun skips the ticks it missed instead of piling up."""

    interval: float
    next_at: float = field(default_factory=time.monotonic)

    def advance(self, now: float) -> int:
        """Move to the next tick after ``now``; return how many ticks were skipped."""
        self.next_at += self.interval
        if now <= self.next_at:
            return 0
        missed = int((now - self.next_at) // self.interval) + 1
        self.next_at += missed * self.interval
        return missed


async def run_poller(
    poller: DevicePoller,
    stop: asyncio.Event,
    on_poll: Callable[[DevicePoller, PollStats, float], None],
    on_overrun: Callable[[DevicePoller, int], None],
    *,
    start_at: float | None = None,
) -> None:
    """Poll until ``stop`` is set. The owner may cancel the task while ``poller.idle``
    (waiting for a tick); a poll under way is always finished, so its samples are accepted."""
    schedule = Schedule(poller.dev.interval, start_at if start_at is not None else time.monotonic())
    while not stop.is_set():
        delay = schedule.next_at - time.monotonic()
        if delay > 0:
            # a plain sleep: one timer per tick, no helper task (500 devices poll every second)
            poller.idle = True
            try:
                await asyncio.sleep(delay)
            finally:
                poller.idle = False
            if stop.is_set():
                return
        began = time.monotonic()
        try:
            stats = await poller.poll_once()
        except Exception as exc:  # one device's bug must not stop the others
            log.exception("machine=%s: poll failed: %s", poller.machine, exc)
            stats = PollStats(errors=["internal"])
        on_poll(poller, stats, time.monotonic() - began)
        skipped = schedule.advance(time.monotonic())
        if skipped:
            on_overrun(poller, skipped)
