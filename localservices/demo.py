"""The local demo: Debian's influxd, the simulated line and the collector, all under ./var.

    python -m localservices.demo            (scripts/demo.sh does setup first)

Ctrl-C stops everything cleanly; a second run reuses the data in ./var.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from localservices.influxd import InfluxServer, InfluxServerError, free_port

ROOT = Path(__file__).resolve().parents[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick(port: int) -> int:
    return port if _port_free(port) else free_port()


def _child(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes], name: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"demo: {name} did not stop in 30 s; killing it", flush=True)
            proc.kill()
            proc.wait()


def _metric(url: str, name: str) -> float:
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return float("nan")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def run(var: Path, influx_port: int, metrics_port: int) -> int:
    var.mkdir(parents=True, exist_ok=True)
    influx = InfluxServer(var / "influxdb")
    influx.http_port, influx.rpc_port = _pick(influx_port), _pick(influx_port + 2)
    print(f"demo: starting InfluxDB 1.6 on {influx.http_port} (data in {influx.base_dir})", flush=True)
    try:
        influx.start()
    except InfluxServerError as exc:
        print(f"demo: InfluxDB did not start: {exc}", file=sys.stderr)
        return 1
    metrics = f"127.0.0.1:{_pick(metrics_port)}"
    env = dict(os.environ)
    env.update(
        INFLUX_URL=influx.url,
        SPOOL_PATH=str(var / "spool"),
        METRICS_LISTEN=metrics,
        PYTHONUNBUFFERED="1",
    )
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sim_cfg, col_cfg = ROOT / "configs" / "simulated-line.yaml", ROOT / "configs" / "collector-demo.yaml"
        print("demo: starting the simulated line (Modbus servers on 5020-5023)", flush=True)
        procs.append(
            (
                "simulator",
                _child(["-m", "collector.simulator", "--config", str(sim_cfg)], var / "simulator.log", env),
            )
        )
        time.sleep(2)
        print("demo: starting the collector", flush=True)
        procs.append(
            (
                "collector",
                _child(["-m", "collector.cli", "run", "--config", str(col_cfg)], var / "collector.log", env),
            )
        )
        print(
            f"demo: running. InfluxDB {influx.url} (database 'factory'), collector metrics "
            f"http://{metrics}/metrics, logs in {var}. Ctrl-C stops.",
            flush=True,
        )
        url = f"http://{metrics}/metrics"
        while not stopping:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"demo: {name} exited with {proc.returncode}; see {var}/{name}.log", file=sys.stderr
                    )
                    return 1
            for _ in range(100):
                if stopping:
                    break
                time.sleep(0.1)
            if not stopping:
                print(
                    f"demo: {_metric(url, 'collector_values_read_total'):,.0f} values read, "
                    f"{_metric(url, 'collector_points_written_total'):,.0f} points written, "
                    f"{_metric(url, 'collector_spool_pending_points'):,.0f} pending",
                    flush=True,
                )
        return 0
    finally:
        print("demo: stopping", flush=True)
        for name, proc in reversed(procs):
            _stop(proc, name)
        influx.stop()
        print("demo: stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="demo", description=__doc__)
    ap.add_argument("--var", type=Path, default=ROOT / "var", help="folder for all demo data")
    ap.add_argument("--influx-port", type=int, default=8086)
    ap.add_argument("--metrics-port", type=int, default=9273)
    args = ap.parse_args(argv)
    return run(args.var.resolve(), args.influx_port, args.metrics_port)


if __name__ == "__main__":
    raise SystemExit(main())
