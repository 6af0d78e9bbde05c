"""Asyncio front end of the spool: many producers share one write and one fsync.

Producers (Modbus pollers, the MQTT subscriber) call ``append`` and resume once
their points are durable. Everything that queues up while one fsync runs goes to
disk together in the next, so the fsync cost is paid per group, not per sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collector.spool import Spool

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    points: list[bytes]
    future: asyncio.Future[None]
    queued_at: float
    urgent: bool = False


class SpoolAppender:
    """Group-commit appends to a ``Spool`` from the event loop.

    ``data_available`` is set after every group that reached the disk; the writer
    task clears it before it reads the spool and awaits it when the spool is empty.
    ``on_durable``, if given, is called on the loop with the number of points made
    durable by each group.
    """

    def __init__(
        self,
        spool: Spool,
        *,
        max_delay: float = 0.02,
        max_points: int = 20000,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        if max_delay < 0:
            raise ValueError(f"max_delay must not be negative, got {max_delay}")
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {max_points}")
        self._spool = spool
        self._max_delay = max_delay
        self._max_points = max_points
        self._on_durable = on_durable
        self._queue: deque[_Pending] = deque()
        self._queued_points = 0
        self._wakeup = asyncio.Event()  # something was queued, or stop() was called
        self._full = asyncio.Event()  # max_points are queued: no reason to wait longer
        self.data_available = asyncio.Event()
        # One dedicated thread keeps appends in queue order and off the loop.
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failed_groups = 0

    @property
    def groups_failed(self) -> int:
        return self._failed_groups

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("SpoolAppender already started")
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-append")
        self._task = asyncio.create_task(self._run(), name="spool-appender")

    async def stop(self) -> None:
        """Write everything queued so far durably, then stop accepting appends."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        self._full.set()
        try:
            await self._task
        finally:
            self._task = None
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            self._fail_queued(RuntimeError("SpoolAppender stopped before writing these points"))

    def _fail_queued(self, exc: Exception) -> None:
        # Only left over if the task was cancelled; nobody may wait on them forever.
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(exc)
        self._queued_points = 0

    async def append(self, points: list[bytes], *, urgent: bool = False) -> None:
        """Return once ``points`` are fsynced; raise if they could not be written.

        If this call is cancelled the points may still be written: cancellation
        does not undo an accepted append, it only stops waiting for it.
        """
        await asyncio.shield(self.append_nowait(points, urgent=urgent))

    def append_nowait(self, points: list[bytes], *, urgent: bool = False) -> asyncio.Future[None]:
        """Queue ``points``; the future resolves when they are durable.

        Call from the event loop's thread. The caller must retrieve the future's
        result: on a write error it holds the exception and the points were not
        accepted. ``urgent`` skips the group-commit window: for a producer that already
        batches and waits on the result (MQTT acknowledges only after it).
        """
        if self._task is None or self._stopping:
            raise RuntimeError("SpoolAppender is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not points:
            future.set_result(None)
            return future
        self._queue.append(_Pending(points, future, loop.time(), urgent))
        self._queued_points += len(points)
        self._wakeup.set()
        if urgent or self._queued_points >= self._max_points:
            self._full.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                continue
            await self._gather_window()
            await self._write(self._take_group())

    async def _gather_window(self) -> None:
        """Give more producers a chance to join, until the oldest queued append is due."""
        if self._stopping or self._queued_points >= self._max_points:
            return
        if any(item.urgent for item in self._queue):
            return
        loop = asyncio.get_running_loop()
        remaining = self._queue[0].queued_at + self._max_delay - loop.time()
        if remaining <= 0:
            return
        self._full.clear()
        # A timer that sets the event is much cheaper than wait_for(), which makes a task.
        timer = loop.call_later(remaining, self._full.set)
        try:
            await self._full.wait()
        finally:
            timer.cancel()

    def _take_group(self) -> list[_Pending]:
        group = [self._queue.popleft()]
        count = len(group[0].points)
        while self._queue and count + len(self._queue[0].points) <= self._max_points:
            item = self._queue.popleft()
            group.append(item)
            count += len(item.points)
        self._queued_points -= count
        if self._queued_points < self._max_points:
            self._full.clear()
        return group

    async def _write(self, group: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self._spool.append, [item.points for item in group])
        # Settled from the executor's completion rather than after the await, so the
        # producers still learn the outcome if this task is cancelled mid-write.
        work.add_done_callback(lambda done: self._settle(group, done))
        with contextlib.suppress(Exception):
            await asyncio.shield(work)

    def _settle(self, group: list[_Pending], done: asyncio.Future[None]) -> None:
        exc = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if exc is not None:
            self._failed_groups += 1
            log.error("spool append of %d points failed: %r", _count(group), exc)
            for item in group:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item in group:
            if not item.future.done():
                item.future.set_result(None)
        self.data_available.set()
        if self._on_durable is not None:
            try:
                self._on_durable(_count(group))
            except Exception:
                log.exception("on_durable callback failed")


def _count(group: list[_Pending]) -> int:
    return sum(len(item.points) for item in group)
