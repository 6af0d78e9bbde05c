"""`collector run` as a child process: start, SIGTERM, SIGKILL, scrape its metrics."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from demo import metrics_text

REPO_ROOT = Path(__file__).resolve().parents[2]


class CollectorProcess:
    def __init__(self, config: Path, log_path: Path, metrics: str | None = None):
        self.config = config
        self.log_path = log_path
        self.metrics = metrics
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CollectorProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def scrape(self) -> dict[str, float]:
        """Metric name with labels -> value."""
        assert self.metrics
        return metrics_text.samples(metrics_text.scrape(f"http://{self.metrics}/metrics"))

    def wait_metrics(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.scrape()
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"collector metrics not up; log:\n{self.log()[-3000:]}")


SEQ = re.compile(rb"(?:^|[ ,])seq=(\d+)i")
MACHINE = re.compile(rb"machine=([^, ]+)")


def seq_of(point: bytes) -> tuple[str, int] | None:
    """(machine, read sequence number) of a spooled point, if it carries one."""
    m, s = MACHINE.search(point), SEQ.search(point.split(b" ", 1)[1] if b" " in point else b"")
    if m is None or s is None:
        return None
    return m.group(1).decode(), int(s.group(1))
