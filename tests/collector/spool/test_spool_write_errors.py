"""A full disk holds spool appends back (retried with backoff, reported); it never loses or doubles them."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import collector.spool.appender as appender_module
import collector.spool.spool as spool_module
from collector.spool import Spool, SpoolAppender
from tests.support.disk_full import DiskFull

BIG = 1 << 40


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool", max_bytes=BIG, fsync=False)
    s.open()
    yield s
    s.close()


def read_numbers(spool: Spool) -> list[int]:
    out: list[int] = []
    while records := spool.read(1000):
        out.extend(int(p) for r in records for p in r.points)
    return out


async def until(condition, what: str) -> None:
    # polls a condition instead of sleeping a fixed time; the outer timeout only guards a hang
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.001)


async def test_appends_wait_out_a_full_disk_and_land_once(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskFull(monkeypatch)
    states: list[bool] = []
    errors: list[BaseException] = []
    appender = SpoolAppender(
        spool,
        max_delay=0.0,
        retry_min=0.001,
        retry_max=0.01,
        on_write_error=errors.append,
        on_write_state=states.append,
    )
    await appender.start()
    try:
        await appender.append([b"0", b"1"])
        disk.full.set()
        waiting = [asyncio.ensure_future(appender.append([b"%d" % n])) for n in range(2, 12)]
        await until(lambda: disk.failures >= 3, "failed writes")
        assert not any(f.done() for f in waiting)
        assert appender.failing_since is not None
        assert isinstance(appender.last_error, OSError)
        assert states == [True]
        disk.full.clear()
        await asyncio.gather(*waiting)
        assert states == [True, False]
        assert appender.failing_since is None
        assert appender.groups_failed == 0
        assert appender.write_errors == disk.failures == len(errors)
        assert all(e.errno == errno.ENOSPC for e in errors)  # type: ignore[attr-defined]
        assert read_numbers(spool) == list(range(12))
        assert spool.stats.pending_points == 12
    finally:
        await appender.stop()


async def test_stop_with_a_full_disk_fails_the_waiting_appends(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskFull(monkeypatch)
    appender = SpoolAppender(spool, max_delay=0.0, retry_min=10.0, retry_max=10.0)
    await appender.start()
    disk.full.set()
    waiting = asyncio.ensure_future(appender.append([b"1"]))
    await until(lambda: appender.write_errors >= 1, "a failed write")
    await appender.stop()  # must not wait out the backoff, nor retry forever
    with pytest.raises(OSError):
        await waiting
    assert appender.groups_failed == 1
    disk.full.clear()
    assert read_numbers(spool) == []


async def test_after_stop_retrying_a_failure_is_final(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = DiskFull(monkeypatch)
    appender = SpoolAppender(spool, max_delay=0.0, retry_min=10.0, retry_max=10.0)
    await appender.start()
    try:
        disk.full.set()
        waiting = asyncio.ensure_future(appender.append([b"1"]))
        await until(lambda: appender.write_errors >= 1, "a failed write")
        appender.stop_retrying()
        with pytest.raises(OSError):
            await waiting
        assert disk.failures == 2  # one more try when told, then the error
    finally:
        await appender.stop()


async def test_an_error_that_is_not_the_disk_is_not_retried(spool: Spool) -> None:
    appender = SpoolAppender(spool, max_delay=0.0, retry_min=0.001)
    await appender.start()
    try:
        spool.close()  # a programming error, not a full disk: retrying would not help
        with pytest.raises(spool_module.SpoolError):
            await appender.append([b"1"])
        assert appender.groups_failed == 1
    finally:
        await appender.stop()


class FakeBackoff:
    """Stands in for the appender's pause and clock: records each pause and lets ``step``
    seconds of the fake clock pass at once; the disk has room again after ``failures``."""

    def __init__(
        self, appender: SpoolAppender, disk: DiskFull, monkeypatch: pytest.MonkeyPatch, *, step: float
    ) -> None:
        self.disk = disk
        self.now = 1_000_000.0
        self.step = step
        self.failures = 0  # the disk is full until this many pauses were taken
        self.pauses: list[float] = []
        monkeypatch.setattr(appender_module, "time", SimpleNamespace(time=lambda: self.now))
        monkeypatch.setattr(appender, "_pause", self._pause)

    async def _pause(self, delay: float) -> None:
        self.pauses.append(delay)
        self.now += self.step
        if len(self.pauses) >= self.failures:
            self.disk.full.clear()

    async def fail(self, appender: SpoolAppender, failures: int) -> None:
        """One append that meets exactly ``failures`` failed writes before it lands."""
        self.failures = len(self.pauses) + failures
        self.disk.full.set()
        await appender.append([b"1"])


async def test_backoff_doubles_from_retry_min_up_to_retry_max(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskFull(monkeypatch)
    appender = SpoolAppender(spool, max_delay=0.0, retry_min=0.5, retry_max=3.0)
    fake = FakeBackoff(appender, disk, monkeypatch, step=0.0)
    await appender.start()
    try:
        await fake.fail(appender, 6)
    finally:
        await appender.stop()
    assert fake.pauses == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert read_numbers(spool) == [1]


async def test_a_failing_disk_is_logged_at_first_and_then_once_a_minute(
    spool: Spool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A retry every 20 s of the fake clock: failures at 0, 20, 40, 60, 80, 100 and 120 s.
    disk = DiskFull(monkeypatch)
    appender = SpoolAppender(spool, max_delay=0.0)
    fake = FakeBackoff(appender, disk, monkeypatch, step=20.0)
    await appender.start()
    try:
        with caplog.at_level(logging.ERROR, logger=appender_module.__name__):
            await fake.fail(appender, 7)
            episode = len([r for r in caplog.records if r.levelno == logging.ERROR])
            await fake.fail(appender, 1)  # at 140 s: a new run of failures, 20 s after the last log
    finally:
        await appender.stop()
    assert disk.failures == appender.write_errors == 8
    assert episode == 3  # at 0, 60 and 120 s: a minute apart, not at every retry
    # the first failure after a recovery is always told
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 4
