"""Poll one Modbus device on its interval and hand its samples to the spool.

Each request is stamped with the wall-clock time it was sent; the stamp travels with
the sample through the spool, so a replay writes the same point again (idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from collector.config.model import DeviceConfig
from collector.lineprotocol import SeriesEncoder, series_prefix
from collector.modbus.client import (
    DeviceBusy,
    IllegalAddress,
    ModbusEndpoint,
    ModbusReadError,
    NotConnected,
)
from collector.modbus.decode import BlockDecoder
from collector.modbus.planner import ReadRequest, ValueSpan, plan_reads, split_request
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE

log = logging.getLogger(__name__)


@dataclass
class PollStats:
    """What one poll did; the runtime turns it into metrics."""

    requests: int = 0
    points: int = 0
    values: int = 0
    errors: list[str] = field(default_factory=list)
    value_problems: list[tuple[str, str]] = field(default_factory=list)


def device_spans(dev: DeviceConfig) -> list[ValueSpan]:
    return [
        ValueSpan(index=i, area=reg.area, start=reg.address - dev.address_base, width=reg.width)
        for i, reg in enumerate(dev.registers)
    ]


class DevicePoller:
    def __init__(
        self,
        dev: DeviceConfig,
        *,
        factory: str,
        line: str,
        endpoint: ModbusEndpoint,
        accept: Callable[[list[bytes]], Awaitable[None]],
    ) -> None:
        self.dev = dev
        self.machine = dev.machine
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
        self._plan: list[tuple[ReadRequest, BlockDecoder]] = [
            self._compile(req)
            for req in plan_reads(
                device_spans(dev),
                max_gap=dev.max_gap,
                max_registers=dev.max_registers_per_request,
                max_bits=dev.max_bits_per_request,
            )
        ]
        #: registers the device refused (exception 2) even when read alone
        self.unreadable: set[str] = set()

    def _compile(self, req: ReadRequest) -> tuple[ReadRequest, BlockDecoder]:
        return req, BlockDecoder(req, self.dev.registers, self.dev.byte_order)

    async def poll_once(self) -> PollStats:
        """Read every planned block once and accept the samples durably."""
        stats = PollStats()
        points: list[bytes] = []
        i = 0
        while i < len(self._plan):
            req, decoder = self._plan[i]
            try:
                result = await self._endpoint.read(req.area, req.start, req.count, self.dev.unit)
            except IllegalAddress as exc:
                self._split(i, req, exc)
                stats.errors.append(exc.kind)
                continue  # the replacement requests sit at index i now
            except DeviceBusy as exc:
                stats.errors.append(exc.kind)
                log.warning("machine=%s: device busy, skipped %s: %s", self.machine, _where(req), exc)
                i += 1
                continue
            except (NotConnected, ModbusReadError) as exc:
                # An unreachable device fails every request the same way: stop this poll.
                stats.errors.append(exc.kind)
                log.debug("machine=%s: %s", self.machine, exc)
                break
            finally:
                stats.requests += 1
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
            if fields:
                points.append(self._encoder.encode(fields, result.requested_at_ns))
            i += 1
        if points:
            await self._accept(points)
            stats.points = len(points)
        return stats

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
