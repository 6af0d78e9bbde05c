"""Asyncio front end of the spool: many producers share one write and one fsync.

Producers (Modbus pollers, the MQTT subscriber) call ``append`` and resume once
their points are durable. Everything that queues up while one fsync runs goes to
disk together in the next, so the fsync cost is paid per group, not per sample.

A write that fails with an ``OSError`` (disk full, I/O error) is tried again with
backoff while the producers keep waiting: a full disk holds intake back instead of
losing samples or ending a source. Once ``stop_retrying`` or ``stop`` was called a
failure is final and the producers get the error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collector.spool.spool import Spool

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
    durable by each group; ``on_write_error`` with the exception of every failed
    write attempt, ``on_write_state`` with True when writes start failing and False
    when they succeed again.
    """

    def __init__(
        self,
        spool: Spool,
        *,
        max_delay: float = 0.02,
        max_points: int = 20000,
        on_durable: Callable[[int], None] | None = None,
        retry_min: float = 0.1,
        retry_max: float = 5.0,
        on_write_error: Callable[[BaseException], None] | None = None,
        on_write_state: Callable[[bool], None] | None = None,
    ) -> None:
        if max_delay < 0:
            raise ValueError(f"max_delay must not be negative, got {max_delay}")
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {max_points}")
        if not 0 < retry_min <= retry_max:
            raise ValueError(f"need 0 < retry_min <= retry_max, got {retry_min} and {retry_max}")
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
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._on_write_error = on_write_error
        self._on_write_state = on_write_state
        self._retrying = True
        self._retry_now = asyncio.Event()  # ends a backoff pause early (stop)
        self._write_errors = 0
        self._failing_since: float | None = None  # unix time of the first failure in a row
        self._last_error: BaseException | None = None
        self._last_logged = 0.0

    @property
    def groups_failed(self) -> int:
        """Groups whose producers were given an error (a write failed for good)."""
        return self._failed_groups

    @property
    def write_errors(self) -> int:
        """Failed write attempts, retries included."""
        return self._write_errors

    @property
    def failing_since(self) -> float | None:
        """Unix time since when writes fail, or None while they succeed."""
        return self._failing_since

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def stop_retrying(self) -> None:
        """From now on a failed write is final: for shutting down with a full disk."""
        self._retrying = False
        self._retry_now.set()

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
        self._retry_now.set()
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
            await self._write_until_done(self._take_group())

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

    async def _write_until_done(self, group: list[_Pending]) -> None:
        delay = self._retry_min
        while True:
            exc = await self._attempt(group)
            if exc is None:
                self._recovered()
                self._settle(group, None)
                return
            self._failed(group, exc)
            if not isinstance(exc, OSError) or not self._retrying or self._stopping:
                self._settle(group, exc)
                return
            try:
                await self._pause(delay)
            except asyncio.CancelledError:
                self._settle(group, RuntimeError("SpoolAppender stopped before writing these points"))
                raise
            delay = min(delay * 2, self._retry_max)

    async def _attempt(self, group: list[_Pending]) -> BaseException | None:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self._spool.append, [item.points for item in group])
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            # Cancelled mid-write: settled from the executor's completion, so the
            # producers still learn the outcome.
            work.add_done_callback(lambda done: self._settle(group, _outcome(done)))
            raise
        except Exception as exc:
            return exc
        return None

    async def _pause(self, delay: float) -> None:
        if self._stopping or not self._retrying:
            return
        self._retry_now.clear()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(delay, self._retry_now.set)
        try:
            await self._retry_now.wait()
        finally:
            timer.cancel()

    def _failed(self, group: list[_Pending], exc: BaseException) -> None:
        self._write_errors += 1
        self._last_error = exc
        now = time.time()
        first = self._failing_since is None
        if first:
            self._failing_since = now
        if self._on_write_error is not None:
            _call(self._on_write_error, exc)
        if first and self._on_write_state is not None:
            _call(self._on_write_state, True)
        final = not isinstance(exc, OSError) or not self._retrying or self._stopping
        if first or final or now - self._last_logged >= 60:
            self._last_logged = now
            log.error(
                "spool append of %d points failed: %r; %s",
                _count(group),
                exc,
                "giving up on them" if final else "holding them and retrying with backoff",
            )

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        log.warning(
            "spool appends succeed again after %.1fs of failures (%d failed attempts so far)",
            time.time() - self._failing_since,
            self._write_errors,
        )
        self._failing_since = None
        if self._on_write_state is not None:
            _call(self._on_write_state, False)

    def _settle(self, group: list[_Pending], exc: BaseException | None) -> None:
        if exc is not None:
            self._failed_groups += 1
            for item in group:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item in group:
            if not item.future.done():
                item.future.set_result(None)
        self.data_available.set()
        if self._on_durable is not None:
            _call(self._on_durable, _count(group))


def _outcome(done: asyncio.Future[None]) -> BaseException | None:
    return asyncio.CancelledError() if done.cancelled() else done.exception()


def _call(callback: Callable[..., None], arg: object) -> None:
    try:
        callback(arg)
    except Exception:
        log.exception("spool appender callback failed")


def _count(group: list[_Pending]) -> int:
    return sum(len(item.points) for item in group)
