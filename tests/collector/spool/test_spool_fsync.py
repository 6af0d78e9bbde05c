"""What a power loss keeps of the spool: every acknowledged append and commit must be in it.

A SIGKILL cannot show a missing fsync (the page cache outlives the process), so these tests
watch the fsync calls instead. ``PowerLossDisk`` wraps ``os.open``, ``os.fsync`` and
``os.fdatasync`` and keeps, per file, the bytes at its last data sync and, for the spool
directory, the names at its last directory sync. ``crash_image`` writes out only that: what
a power loss at this instant could leave in the worst case (a file never synced is empty, a
name never synced is gone). Each test checks that image right after an append or a commit
is acknowledged, by opening a spool on it.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from collector.spool import Position, Spool, SpoolAppender

BIG = 1 << 40


class PowerLossDisk:
    """Records what an fsync made durable in one directory; everything else counts as lost."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # the appender syncs from its own thread
        self._content: dict[int, bytes] = {}  # inode -> bytes at its last data sync
        self._names: dict[str, int] = {}  # name -> inode at the last directory sync
        self._paths: dict[int, Path] = {}  # open fd -> path it was opened by
        real_open, real_fsync = os.open, os.fsync
        real_fdatasync = getattr(os, "fdatasync", os.fsync)

        def tracking_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
            fd = real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]
            self._opened(fd, Path(os.fsdecode(path)), flags)  # type: ignore[arg-type]
            return fd

        def tracking_sync(real: Callable[[int], None]) -> Callable[[int], None]:
            def sync(fd: int) -> None:
                real(fd)
                self._synced(fd)

            return sync

        monkeypatch.setattr(os, "open", tracking_open)
        monkeypatch.setattr(os, "fsync", tracking_sync(real_fsync))
        if hasattr(os, "fdatasync"):
            monkeypatch.setattr(os, "fdatasync", tracking_sync(real_fdatasync))

    def _opened(self, fd: int, path: Path, flags: int) -> None:
        with self._lock:
            self._paths[fd] = path
            if flags & (os.O_TRUNC | os.O_EXCL) and path.parent == self.directory:
                # A new or emptied file: nothing of it is durable until it is synced.
                self._content[os.fstat(fd).st_ino] = b""

    def _synced(self, fd: int) -> None:
        info = os.fstat(fd)
        with self._lock:
            path = self._paths.get(fd)
            if stat.S_ISDIR(info.st_mode):
                if path == self.directory:
                    self._names = {e.name: e.inode() for e in os.scandir(self.directory)}
            elif path is not None and path.parent == self.directory:
                # The file's bytes now, through its name (the spool writes with O_WRONLY fds).
                self._content[info.st_ino] = path.read_bytes()

    def crash_image(self, target: Path) -> Path:
        """Write what survives a power loss now into ``target``."""
        target.mkdir()
        with self._lock:
            for name, inode in self._names.items():
                (target / name).write_bytes(self._content.get(inode, b""))
        return target


def numbered(start: int, count: int) -> list[bytes]:
    return [b"m n=%di %d" % (n, n) for n in range(start, start + count)]


def survivors(image: Path) -> tuple[list[bytes], Position]:
    spool = Spool(image, max_bytes=BIG, fsync=False)
    spool.open()
    try:
        points: list[bytes] = []
        while records := spool.read(10_000):
            points.extend(p for r in records for p in r.points)
        return points, spool.committed
    finally:
        spool.close()


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "spool"
    directory.mkdir()
    return directory


def test_acknowledged_appends_survive_a_power_loss_across_segment_rolls(
    spool_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = PowerLossDisk(spool_dir, monkeypatch)
    # Segments of about three appends, so several appends open a new segment file.
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=200, fsync=True)
    spool.open()
    acknowledged: list[bytes] = []
    try:
        for i in range(12):
            batch = numbered(i * 5, 5)
            spool.append([batch])
            acknowledged.extend(batch)
            kept, _ = survivors(disk.crash_image(tmp_path / f"crash{i}"))
            assert kept == acknowledged, f"append {i} was acknowledged before it was durable"
        assert spool.stats.segments > 3
    finally:
        spool.close()


def test_acknowledged_commits_survive_a_power_loss(
    spool_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = PowerLossDisk(spool_dir, monkeypatch)
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=200, fsync=True)
    spool.open()
    try:
        for i in range(6):
            spool.append([numbered(i * 5, 5)])
        for i in range(4):
            records = spool.read(7)
            spool.commit(records[-1].next)
            kept, committed = survivors(disk.crash_image(tmp_path / f"crash{i}"))
            assert committed == spool.committed, f"commit {i} was acknowledged before it was durable"
            assert kept == numbered(0, 30)[-len(kept) :] and len(kept) == spool.pending_points
    finally:
        spool.close()


async def test_appender_acknowledges_only_durable_points(
    spool_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = PowerLossDisk(spool_dir, monkeypatch)
    spool = Spool(spool_dir, max_bytes=BIG, segment_bytes=200, fsync=True)
    spool.open()
    appender = SpoolAppender(spool, max_delay=0.0)
    await appender.start()
    acknowledged: set[bytes] = set()
    try:
        for i in range(8):
            batches = [numbered(100 * i + 10 * k, 3) for k in range(3)]
            await asyncio.gather(*(appender.append(batch) for batch in batches))
            acknowledged.update(p for batch in batches for p in batch)
            kept, _ = survivors(disk.crash_image(tmp_path / f"crash{i}"))
            assert acknowledged <= set(kept), f"group {i} was acknowledged before it was durable"
    finally:
        await appender.stop()
        spool.close()


def test_a_spool_directory_made_on_first_start_is_synced_into_its_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first start creates the folder: without syncing each new name into its parent, a
    power loss could take the folder, and the appends acknowledged in it, along."""
    import collector.spool.spool as spool_module

    synced: list[Path] = []
    real = spool_module._sync_dir

    def recording(directory: Path) -> None:
        synced.append(Path(directory))
        real(directory)

    monkeypatch.setattr(spool_module, "_sync_dir", recording)
    target = tmp_path / "a" / "b" / "spool"
    spool = Spool(target, max_bytes=1 << 20)
    spool.open()
    try:
        for created in (tmp_path / "a", tmp_path / "a" / "b", target):
            assert created.parent in synced, (created, synced)
    finally:
        spool.close()
