"""What every local service process shares: stopping it gently or hard, never leaving it
behind when a test or the demo crashes, and showing the end of its log."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
import weakref
from pathlib import Path
from typing import ClassVar, Self


def kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class ManagedProcess:
    """Base of InfluxServer and MosquittoServer: one child process and its log file.

    Subclasses set ``base_dir``, ``_own_dir``, ``startup_timeout`` and ``error``, and say
    how to choose ports (``_choose_ports``), write the config (``_write_config``), run the
    program (``_command``) and tell that it is ready (``_probe``)."""

    #: what start() raises; the subclass's own error type
    error: ClassVar[type[Exception]] = RuntimeError
    #: the program's name in messages
    name: ClassVar[str] = "process"
    log_path: Path
    base_dir: Path
    _own_dir: bool
    startup_timeout: float

    def _choose_ports(self) -> bool:
        """Pick free ports where none are set yet; True when any was picked (and may be
        picked again if the program finds one taken after all)."""
        raise NotImplementedError

    def _forget_ports(self) -> None:
        """Undo the ports ``_choose_ports`` picked, after a start that failed."""

    def _write_config(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _probe(self) -> str | None:
        """None once the program serves; otherwise what it is still waiting for."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start (or start again with the same ports and data) and wait until it serves."""
        if self.running:
            return self
        attempt = 0
        while True:
            chosen = self._choose_ports()
            self._write_config()
            self._spawn()
            try:
                self._wait_ready()
                return self
            except self.error:
                tail = self.log_tail()
                self._reap()
                self._proc = None
                # a port taken between free_port() and the program's bind: try new ones
                attempt += 1
                if chosen and "address already in use" in tail.lower() and attempt < 3:
                    self._forget_ports()
                    continue
                if chosen:
                    self._forget_ports()
                raise

    def _spawn(self) -> None:
        log = self.log_path.open("ab")
        # what the program logs from here on belongs to this start (see _probe)
        self._log_offset = log.tell()
        try:
            proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                # own session: a Ctrl-C meant for pytest or the demo does not hit it half-way
                start_new_session=True,
            )
        finally:
            log.close()
        self._watch(proc)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        waiting = "no answer yet"
        while time.monotonic() < deadline:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise self.error(
                    f"{self.name} exited with status {code} during start-up; log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            found = self._probe()
            if found is None:
                return
            waiting = found
            time.sleep(0.02)
        raise self.error(
            f"{self.name} did not start within {self.startup_timeout:.0f}s ({waiting}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

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
        self._log_offset = 0

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
