"""A full disk holds spool appends back (retried with backoff, reported); it never loses or doubles them."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

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
