"""The one-command local demo (python -m demo), small: a first run that
loads history and exits when ready, then a live run that reuses it, serves the API,
collects from the Modbus and the MQTT machines into the live factory's own database
(written with its own write-only login), and stops cleanly on Ctrl-C."""

from __future__ import annotations

import base64
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from localservices.influxd import free_port

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--history-days", "8", "--factories", "2"]
OPERATOR = re.compile(r"Operator token:\s+(fl_\S+)")
FACTORY = re.compile(r"Factory token \(demo-factory\):\s+(fl_\S+)")
LINE = re.compile(r"Line tablet token \(demo-factory\):\s+(fl_\S+)")
DASHBOARD = re.compile(r"Dashboard:\s+(http://127\.0\.0\.1:\d+/)")
INFLUX = re.compile(r"InfluxDB:\s+(http://127\.0\.0\.1:\d+)")
EDGE = re.compile(r"Edge login \(demo-factory\): (\S+) / (\S+)")
LIVE_DB = "factory_demo-factory"


def _ports() -> list[str]:
    # free ports, so the test does not meet a demo or another test on the default ones
    return [
        "--influx-port", str(free_port()), "--mqtt-port", str(free_port()),
        "--metrics-port", str(free_port()), "--assessor-port", str(free_port()),
    ]  # fmt: skip


def _command(var: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "demo", "--var", str(var), *SMALL, *_ports(), *extra]


def _get(url: str, token: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def _influx(
    influx: str, path: str, params: dict[str, str], login: tuple[str, str], body: bytes | None = None
):
    """(status, parsed answer) of an InfluxDB request made as ``login``."""
    req = urllib.request.Request(f"{influx}{path}?" + urllib.parse.urlencode(params), data=body)
    req.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, None


def _influx_count(influx: str, admin: tuple[str, str], db: str, machine: str | None, since_ns: int) -> int:
    """The live factory's points (of ``machine``, else any) in ``db`` since ``since_ns``."""
    q = (
        'SELECT COUNT("count_total") FROM machine_data WHERE "factory" = \'demo-factory\' '
        + (f"AND \"machine\" = '{machine}' " if machine else "")
        + f"AND time >= {since_ns}"
    )
    status, answer = _influx(influx, "/query", {"db": db, "q": q}, admin)
    assert status == 200, (db, status)
    series = answer["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


class LiveDemo:
    """The demo as a child process whose output is read line by line."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("the demo ended early:\n" + "".join(self.lines))
            self.lines.append(line)
            if text in line:
                return "".join(self.lines)
        raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n" + "".join(self.lines))

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        while (line := self._q.get(timeout=5)) is not None:
            self.lines.append(line)
        return code


def test_demo_loads_once_serves_collects_and_stops_cleanly(tmp_path):
    var = tmp_path / "var"
    first = subprocess.run(
        _command(var, "--exit-when-ready"), cwd=ROOT, capture_output=True, text=True, timeout=150
    )
    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    assert "loading history" in out and "Ctrl-C로 종료 / Ctrl-C to stop" in out
    assert DASHBOARD.search(out) and OPERATOR.search(out) and FACTORY.search(out)
    operator, factory = OPERATOR.search(out)[1], FACTORY.search(out)[1]
    tokens_file = var / "demo-tokens.txt"
    assert tokens_file.stat().st_mode & 0o777 == 0o600
    assert operator in tokens_file.read_text() and factory in tokens_file.read_text()
    assert (var / "history" / "complete").exists()
    assert (var / "history" / "demo-factory-생산일지.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    admin_file = var / "influxdb" / "admin.json"
    assert admin_file.stat().st_mode & 0o777 == 0o600
    saved = json.loads(admin_file.read_text())
    admin = (saved["user"], saved["password"])
    first_edge = EDGE.search(out)
    assert first_edge, out

    demo = LiveDemo(_command(var))
    try:
        out = demo.wait_for("Ctrl-C to stop", 120)
        # the second run reuses history and tokens
        assert "reusing the history" in out and "loading history" not in out
        assert OPERATOR.search(out)[1] == operator and FACTORY.search(out)[1] == factory
        base, influx = DASHBOARD.search(out)[1], INFLUX.search(out)[1]
        edge = EDGE.search(out)
        assert edge and edge[1] == "edge-demo-factory", out
        # provisioned again on every start: the old password no longer works
        assert edge[2] != first_edge[2]
        since_ns = time.time_ns()

        status, portfolio = _get(f"{base}api/v1/portfolio", operator)
        assert status == 200
        rows = {r["factory"]: r for r in portfolio["factories"]}
        assert set(rows) == {"demo-factory", "hanul-auto"}
        project = rows["demo-factory"]["project"]

        status, report = _get(f"{base}api/v1/factories/demo-factory/gains?project={project}", factory)
        assert status == 200
        gains = {g["kpi"]: g for g in report["gains"]}
        for kpi in ("units_per_hour", "defect_rate"):
            g = gains[kpi]
            assert (g["source_before"], g["source_after"]) == ("manual", "measured"), g
            assert g["days_before"] > 0 and g["days_after"] > 0
            assert g["improvement"] > 0.1, g
        status, _ = _get(f"{base}api/v1/factories/hanul-auto/gains?project={project}", factory)
        assert status == 403
        # the line tablet's token: the factory's operator input and its reason list, nothing else
        line = LINE.search(out)
        assert line and line[1] in tokens_file.read_text(), out
        status, queue = _get(f"{base}api/v1/factories/demo-factory/operator/queue", line[1])
        assert status == 200 and {r["code"] for r in queue["reasons"]} >= {"breakdown", "changeover"}
        assert _get(f"{base}api/v1/portfolio", line[1])[0] == 403

        # a few seconds of live collection from both kinds of machine
        deadline = time.monotonic() + 30
        counts = {}
        while time.monotonic() < deadline:
            counts = {
                m: _influx_count(influx, admin, LIVE_DB, m, since_ns) for m in ("press-01", "filler-01")
            }
            if all(n >= 3 for n in counts.values()):
                break
            time.sleep(1)
        assert all(n >= 3 for n in counts.values()), counts

        # the live factory's data is in its own database and in no other
        status, answer = _influx(influx, "/query", {"q": "SHOW DATABASES"}, admin)
        assert status == 200
        databases = {row[0] for row in answer["results"][0]["series"][0]["values"]}
        assert {LIVE_DB, "factory_hanul-auto", "factorylens"} <= databases, databases
        elsewhere = {
            db: _influx_count(influx, admin, db, None, 0) for db in databases - {LIVE_DB, "_internal"}
        }
        assert not any(elsewhere.values()), elsewhere

        # its edge login writes its own database only, and reads nothing
        login = (edge[1], edge[2])
        point = f'machine_data,factory=demo-factory,line=press,machine=press-01 state="idle" {since_ns}'
        for db in ("factory_hanul-auto", "factorylens"):
            status, _ = _influx(influx, "/write", {"db": db}, login, point.encode())
            assert status == 403, (db, status)
        status, _ = _influx(
            influx, "/query", {"db": LIVE_DB, "q": "SELECT * FROM machine_data LIMIT 1"}, login
        )
        assert status == 403
        assert _influx(influx, "/query", {"q": "SHOW DATABASES"}, (first_edge[1], first_edge[2]))[0] == 401
    finally:
        code = demo.stop()
    assert code == 0, "".join(demo.lines)
    assert "stopped" in demo.lines[-1]
