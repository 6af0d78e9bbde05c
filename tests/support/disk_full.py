"""A spool whose disk is full on demand: the spool's low-level write fails with ENOSPC.

Only the write is faked (after a partial write, as a filling disk does); the spool, its
files and everything around it are real.
"""

from __future__ import annotations

import errno
import os
import threading

import pytest

import collector.spool.spool as spool_module


class DiskFull:
    """Replaces ``collector.spool.spool._pwrite_all`` (segment records and the cursor file) while
    ``full`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = threading.Event()
        self.failures = 0
        real = spool_module._pwrite_all

        def pwrite_all(fd: int, data: bytes, offset: int) -> None:
            if self.full.is_set():
                self.failures += 1
                os.pwrite(fd, data[: len(data) // 2], offset)
                raise OSError(errno.ENOSPC, "No space left on device")
            real(fd, data, offset)

        monkeypatch.setattr(spool_module, "_pwrite_all", pwrite_all)
