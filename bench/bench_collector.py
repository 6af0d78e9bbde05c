"""Collector benchmark: Modbus read path and InfluxDB write path, against baselines
measured in the same run.

    .venv/bin/python bench/bench_collector.py [--devices 500] [--registers 30] [--seconds 20]

Prints:
- tags (register values) read per CPU-second of the collector process, polling N
  simulated devices x M tags in other processes; baseline: a bare pymodbus client
  reading the same devices in a loop (same process layout), per CPU-second.
- Modbus requests sent per poll against the minimum possible for the register map.
- write path: points/s from accepted sample (spool append, fsync) to InfluxDB
  acknowledgement, against a plain HTTP POST of the same points in 5,000-point bodies
  to the same influxd.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import metrics_text  # noqa: E402
from localservices.influxd import InfluxServer, free_port  # noqa: E402

FARM_PER_PROCESS = 125
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def register_map(tags: int) -> list[str]:
    """A realistic mix: state, counters (CDAB), scaled ints, floats, a bit, up to `tags` values."""
    regs = [
        "{name: state, address: 0, type: uint16, role: state, "
        "states: {0: stopped, 1: running, 2: idle, 3: fault, 4: setup, 5: planned_stop}}",
        "{name: total, address: 1, type: uint32, byte_order: CDAB, role: count_total}",
        "{name: rejects, address: 3, type: uint32, byte_order: CDAB, role: count_reject}",
    ]
    addr = 5
    i = 0
    while len(regs) < tags:
        kind = i % 4
        if kind == 0:
            regs.append(f"{{name: t{i}, address: {addr}, type: int16, scale: 0.1}}")
            addr += 1
        elif kind == 1:
            regs.append(f"{{name: f{i}, address: {addr}, type: float32}}")
            addr += 2
        elif kind == 2:
            regs.append(f"{{name: u{i}, address: {addr}, type: uint16}}")
            addr += 1
        else:
            regs.append(f"{{name: b{i}, address: {addr}, type: bit, bit: 3}}")
            addr += 1
        i += 1
    return regs


def collector_yaml(
    ports: list[int], tags: int, influx_url: str, spool: Path, metrics: str, interval: float
) -> str:
    regs = "\n".join(f"        - {r}" for r in register_map(tags))
    devices = "\n".join(
        f"    - machine: m{n:04d}\n      host: 127.0.0.1\n      port: {port}\n"
        f"      interval: {interval}s\n      timeout: 2s\n      registers:\n{regs}"
        for n, port in enumerate(ports)
    )
    return (
        f"site: {{factory: bench, line: line-1}}\n"
        f"influx: {{url: {influx_url}, database: bench}}\n"
        f"spool: {{path: {spool}, max_bytes: 1GiB}}\n"
        f"metrics: {{listen: {metrics}}}\n"
        f"log: {{level: warning}}\n"
        f"modbus:\n  devices:\n{devices}\n"
    )


def scrape(url: str) -> dict[str, float]:
    return metrics_text.totals(metrics_text.scrape(url))


def free_port_range(n: int) -> int:
    """First port of n consecutive ports that are free right now."""
    import socket

    for base in range(20000, 60000 - n, n):
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


def wait_scrape(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited:\n{log.read_text()[-3000:]}")
        try:
            scrape(url)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"collector metrics never came up:\n{log.read_text()[-3000:]}")


def start_farm(first_port: int, devices: int, registers: int) -> list[subprocess.Popen[str]]:
    procs = []
    for start in range(0, devices, FARM_PER_PROCESS):
        n = min(FARM_PER_PROCESS, devices - start)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "bench" / "modbus_farm.py"),
                    "--first-port",
                    str(first_port + start),
                    "--count",
                    str(n),
                    "--registers",
                    str(registers),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("modbus farm did not start")
    return procs


BARE_CLIENT = r"""
import asyncio, os, sys, time
from pymodbus.client import AsyncModbusTcpClient
ports = [int(p) for p in sys.argv[1].split(",")]; count = int(sys.argv[2])
interval = float(sys.argv[3]); warmup = float(sys.argv[4]); seconds = float(sys.argv[5])
async def poll(port, i, stop):
    c = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0, timeout=2)
    await c.connect()
    n, tick = 0, time.monotonic() + interval * i / len(ports)
    while tick < stop:
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        r = await c.read_holding_registers(0, count=count, device_id=1)
        n += not r.isError()
        tick += interval
    c.close()
async def main():
    start = time.monotonic()
    stop = start + warmup + seconds
    async def window():
        await asyncio.sleep(warmup); t0 = os.times()
        await asyncio.sleep(seconds); t1 = os.times()
        return (t1.user - t0.user) + (t1.system - t0.system)
    cpu, *_ = await asyncio.gather(window(), *(poll(p, i, stop) for i, p in enumerate(ports)))
    print(cpu)
asyncio.run(main())
"""


def bench_read_path(args: argparse.Namespace, influx: InfluxServer, work: Path) -> None:
    first_port = free_port_range(args.devices)
    farm_regs = 64
    farm = start_farm(first_port, args.devices, farm_regs)
    ports = list(range(first_port, first_port + args.devices))
    try:
        metrics_addr = f"127.0.0.1:{free_port()}"
        cfg = work / "bench-collector.yaml"
        cfg.write_text(
            collector_yaml(ports, args.registers, influx.url, work / "spool", metrics_addr, args.interval),
            encoding="utf-8",
        )
        log = work / "collector.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "--config", str(cfg)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        url = f"http://{metrics_addr}/metrics"
        try:
            wait_scrape(url, proc, log)
            time.sleep(args.warmup)
            m0, (u0, s0) = scrape(url), cpu_times(proc.pid)
            time.sleep(args.seconds)
            m1, (u1, s1) = scrape(url), cpu_times(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)

        def delta(name: str) -> float:
            return m1.get(name, 0.0) - m0.get(name, 0.0)

        values = delta("collector_values_read_total")
        requests = delta("collector_modbus_requests_total")
        polls = delta("collector_poll_duration_seconds_count")
        errors = delta("collector_poll_errors_total")
        user, system = u1 - u0, s1 - s0
        cpu = user + system
        # the planner's own lower bound for this map
        from collector.config import load_config
        from collector.modbus.planner import device_spans, minimum_requests

        dev0 = load_config(cfg).modbus.devices[0]
        minimum = minimum_requests(device_spans(dev0)) * polls

        # Baseline: a bare pymodbus client polling the same devices at the same interval
        # (one request covering the same registers), no decoding, no storage.
        span = max(r.address + r.width for r in dev0.registers)
        bare_cpu = float(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    BARE_CLIENT,
                    ",".join(map(str, ports)),
                    str(span),
                    str(args.interval),
                    str(args.warmup),
                    str(args.seconds),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
        )
        bare_tags_per_cpu = args.devices * args.registers * (args.seconds / args.interval) / bare_cpu

        tags_per_cpu = values / cpu if cpu else float("nan")
        print(
            f"read path: {args.devices} devices x {args.registers} tags, interval {args.interval}s, "
            f"{args.seconds}s measured"
        )
        print(f"  tags read                       {values:12.0f}  ({values / args.seconds:,.0f}/s)")
        print(
            f"  collector CPU                   {cpu:12.2f} s  ({cpu / args.seconds:.2f} cores; "
            f"user {user:.2f} s, system {system:.2f} s)"
        )
        print(f"  tags per CPU-second             {tags_per_cpu:12,.0f}  (target >= 50,000)")
        print(
            f"  bare pymodbus client, same poll {bare_tags_per_cpu:12,.0f}  tags per CPU-second (reads only)"
        )
        print(f"  ratio collector / bare client   {tags_per_cpu / bare_tags_per_cpu:12.2f}")
        print(
            f"  requests sent / minimum         {requests:,.0f} / {minimum:,.0f} = "
            f"{requests / minimum if minimum else float('nan'):.2f}"
        )
        print(f"  poll errors                     {errors:12.0f}")
    finally:
        for p in farm:
            p.terminate()
        for p in farm:
            p.wait(timeout=10)


def make_points(n: int) -> list[bytes]:
    base = 1_700_000_000_000_000_000
    return [
        b"machine_data,factory=bench,line=line-1,machine=m%04d "
        b'temperature=%d.5,count_total=%di,state="running" %d' % (i % 500, i % 90, i, base + i * 1000)
        for i in range(n)
    ]


async def plain_write(url: str, db: str, points: list[bytes], batch: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        t = time.perf_counter()
        for i in range(0, len(points), batch):
            body = b"\n".join(points[i : i + batch])
            async with s.post(f"{url}/write", params={"db": db, "precision": "ns"}, data=body) as r:
                assert r.status == 204, await r.text()
        return time.perf_counter() - t


async def collector_write(url: str, db: str, points: list[bytes], work: Path, fsync: bool) -> float:
    """Points go the way a sample goes: appended to the spool in poll-sized batches
    (durable), drained by the forwarder, delivered by the v1 sink."""
    from collector.forwarder import Forwarder
    from collector.influx.config import InfluxConfig
    from collector.influx.delivery import Delivery
    from collector.influx.quarantine import Quarantine
    from collector.influx.sink import make_sink
    from collector.spool import Spool, SpoolAppender

    spool = Spool(work, max_bytes=2**30, fsync=fsync)
    spool.open()
    appender = SpoolAppender(spool)
    await appender.start()
    sink = make_sink(InfluxConfig(url=url, database=db))
    delivery = Delivery(sink, Quarantine(work / "q"), retry_min=0.1, retry_max=1.0)
    fwd = Forwarder(spool, delivery, appender.data_available, batch_points=5000)
    t = time.perf_counter()
    task = asyncio.create_task(fwd.run())
    poll = 30
    pending = [appender.append(points[i : i + poll]) for i in range(0, len(points), poll)]
    await asyncio.gather(*pending)
    ok = await fwd.drain(600)
    elapsed = time.perf_counter() - t
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await appender.stop()
    await sink.close()
    spool.close()
    assert ok
    return elapsed


def bench_write_path(args: argparse.Namespace, influx: InfluxServer, work: Path) -> None:
    points = make_points(args.points)
    influx.create_database("plain")
    influx.create_database("path")
    t_plain = asyncio.run(plain_write(influx.url, "plain", points, 5000))
    t_path = asyncio.run(collector_write(influx.url, "path", points, work / "wspool", fsync=True))
    assert influx.count("machine_data", "path") == len(points)
    plain, path = len(points) / t_plain, len(points) / t_path
    print(f"write path: {len(points):,} points, 3 fields each")
    print(f"  plain HTTP POST, 5,000-point bodies  {plain:12,.0f} points/s")
    print(f"  collector (spool fsync + forwarder)  {path:12,.0f} points/s")
    print(f"  ratio collector / plain              {path / plain:12.2f}  (target >= 0.50)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--registers", type=int, default=30)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--points", type=int, default=300_000)
    ap.add_argument("--skip-read", action="store_true")
    ap.add_argument("--skip-write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        influx = InfluxServer(work / "influxd").start()
        try:
            if not args.skip_write:
                bench_write_path(args, influx, work)
            if not args.skip_read:
                bench_read_path(args, influx, work)
        finally:
            influx.stop()


if __name__ == "__main__":
    main()
