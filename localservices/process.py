"""What every local service process shares: stopping it gently or hard, never leaving it
behind when a test or the demo crashes, and showing the end of its log."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import weakref
from pathlib import Path
from typing import Self


def kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class ManagedProcess:
    """Base of InfluxServer and MosquittoServer: one child process and its log file.
    Subclasses provide ``start()`` and set ``base_dir`` and ``_own_dir``."""

    log_path: Path
    base_dir: Path
    _own_dir: bool

    def start(self) -> Self:
        raise NotImplementedError

    def restart(self) -> Self:
        """Stop cleanly and start again on the same ports and data directory."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop, and remove the directory if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        # a test that crashes before stop() must not leave the server running
        self._finalizer = weakref.finalize(self, kill_quietly, proc)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _reap(self) -> None:
        if self._proc is not None:
            kill_quietly(self._proc)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful shutdown (SIGTERM); SIGKILL if it does not exit within ``timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._reap()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as in a power cut: only what the server had made durable survives."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self._reap()
        self._proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])
