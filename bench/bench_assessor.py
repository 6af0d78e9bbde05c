"""Assessor benchmark: a factory-month of KPIs and a 600-factory portfolio, each against a
baseline measured in the same run.

    .venv/bin/python bench/bench_assessor.py [--machines 20] [--days 30] [--factories 600]

1. Factory-month, twice: M machines with counters every 10 s for D days (from the
   simulator's machine model), written to a fresh influxd, once with the state at every
   10 s poll (data as stored before liveness) and once with the state stored only on
   change plus the collector's liveness records. Baseline for each: pulling its raw
   points into Python as a plain InfluxDB client does (one GET of /query with one
   statement for the machine data and one for liveness, the answer parsed with the
   standard library's json). Also printed, as a stricter reference: the same pull through
   the assessor's own query client (chunked JSON parsed as it streams). Measured: the KPI
   request for the month, first cold (computes every day from the raw points and
   materialises it into kpi_daily; target: no slower than the raw pull, ratio <= 1.0)
   and then warm (reads kpi_daily; target < 1 s).
2. Portfolio: F factories of M machines with 90 days of materialised daily KPIs, a
   support project each, manual baselines for a third of them. Baseline: reading the
   kpi_daily rows of those windows into Python. Measured: the portfolio (levels cold,
   then warm from the assessment cache). Target: < 2 s.

With ``--probe-aggregates`` the factory-month also times what an exact read built on
server-side aggregates would have to ask influxd (docs/assessor.md, "Reading InfluxDB"),
each against the same raw pull: nothing the KPIs use.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assessor.config import AssessorConfig, InfluxSettings, KpiSettings  # noqa: E402
from assessor.data.daily_rows import day_start, ensure_retention_policy, write_days  # noqa: E402
from assessor.data.influx_client import InfluxClient  # noqa: E402
from assessor.domain.kpi.model import Totals  # noqa: E402
from assessor.domain.level import load_rules  # noqa: E402
from assessor.domain.models import BaselineDay, DateWindow, Factory, Line, Machine, Program, SupportProject  # noqa: E402
from assessor.registry.store import RegistryStore  # noqa: E402
from assessor.services import AssessorService  # noqa: E402
from localservices.influxd import InfluxServer  # noqa: E402
from simulator.machine import Calendar, MachineModel, MachineParams  # noqa: E402

SEOUL = ZoneInfo("Asia/Seoul")


def factory_of(
    fid: str, machines: int, project: SupportProject | None = None, employees: int = 20
) -> Factory:
    line = Line("line-1", tuple(Machine(f"m{i:02d}", "line-1", 10.0) for i in range(machines)))
    return Factory(
        fid, f"공장 {fid}", "충남", employees, lines=(line,), support_projects=(project,) if project else ()
    )


def write(influx: InfluxServer, db: str, lines: list[str]) -> None:
    for i in range(0, len(lines), 20_000):
        status, text = influx.write(lines[i : i + 20_000], db)
        assert status == 204, text


def seed_month(
    influx: InfluxServer, db: str, factory: str, machines: int, start: dt.date, days: int, *, on_change: bool
) -> int:
    """States and counters of ``machines`` machines every 10 s for ``days`` days. With
    ``on_change`` a state is written only when it changes (as the collector now stores a
    polled state), with the liveness records the collector writes beside it (one per
    machine and hour); without, every poll writes the state and there is no liveness
    (the data as it was stored before liveness existed)."""
    params = MachineParams(ideal_cycle_time_s=10, speed_factor=0.9, calendar=Calendar.always(9 * 3600))
    t0 = dt.datetime.combine(start, dt.time(), SEOUL).timestamp()
    n = 0
    for m in range(machines):
        model = MachineModel(params, seed=m, start_time_s=t0)
        series = f"factory={factory},line=line-1,machine=m{m:02d}"
        lines = []
        last_state = None
        for t, snap in model.history(t0, t0 + days * 86400, 10.0):
            state = snap.state.value
            fields = f"count_total={snap.total}i,count_reject={snap.rejects}i"
            if not on_change or state != last_state:
                fields = f'state="{state}",' + fields
            last_state = state
            lines.append(f"machine_data,{series} {fields} {round(t * 1e9)}")
        if on_change:
            # the collector's alive records: one per hour, each rewritten in place while it grew
            end = t0 + days * 86400
            lines += [
                f"machine_liveness,{series} alive_s={min(3600.0, end - h)} {round(h * 1e9)}"
                for h in range(int(t0), int(end), 3600)
            ]
        write(influx, db, lines)
        n += len(lines)
    return n


async def plain_pull(url: str, database: str, statements: str) -> int:
    """The raw points as any InfluxDB 1.x client pulls them: one GET of /query, the whole
    answer read, then parsed with the standard library. Same statements, same epoch=ms and
    no compression as the assessor's client; only its streamed, columnar parse differs."""
    params = {"db": database, "q": statements, "epoch": "ms"}
    async with aiohttp.ClientSession() as session, session.get(
        f"{url}/query", params=params, headers={"Accept-Encoding": "identity"}
    ) as r:
        r.raise_for_status()
        answer = json.loads(await r.read())
    return sum(
        len(series["values"]) for result in answer["results"] for series in result.get("series", [])
    )


async def probe_aggregates(
    client: InfluxClient, fid: str, s: float, e: float, t_raw: float, *, on_change: bool
) -> None:
    """Time the queries an exact aggregate-first read needs before it could leave out a
    single raw point: where each counter drops (only a pairwise difference tells a
    counter that dips and recovers inside a bucket), per bucket whether the polled state
    changes or its samples leave a gap, and one raw statement per state change for the
    readings around it (InfluxDB 1.x answers an OR of time ranges with nothing)."""
    where = f"factory='{fid}' AND time >= {round(s * 1e9)} AND time < {round(e * 1e9)}"
    group = "GROUP BY machine, line"
    probes = {
        "counter drops (difference subquery)": (
            f"SELECT d, r FROM (SELECT difference(count_total) AS d, difference(count_reject) AS r "
            f"FROM machine_data WHERE {where} {group}) WHERE d < 0 OR r < 0 {group}"
        ),
        "readings per hour (count, fingerprint)": (
            f"SELECT count(count_total), count(count_reject) FROM machine_data WHERE {where} "
            f"GROUP BY time(1h), machine, line"
        ),
    }
    if not on_change:
        probes["states per 10 min (distinct, first)"] = (
            f"SELECT count(distinct(state)), first(state) FROM machine_data WHERE {where} "
            f"GROUP BY time(10m), machine, line"
        )
        probes["state gaps per 10 min (elapsed subquery)"] = (
            f"SELECT max(g) FROM (SELECT elapsed(state, 1ms) AS g FROM machine_data WHERE {where} {group}) "
            f"WHERE time >= {round(s * 1e9)} AND time < {round(e * 1e9)} GROUP BY time(10m), machine, line"
        )
    total = 0.0
    for label, q in probes.items():
        t = time.perf_counter()
        await client.query(q)
        took = time.perf_counter() - t
        total += took
        print(f"  probe: {label:42s} {took:8.2f} s   ratio {took / t_raw:5.2f}")
    # the readings around each state change of one machine, one statement each
    states = await client.query(f"SELECT state FROM machine_data WHERE {where} AND machine='m00'")
    rows = [v for x in states[0] for v in x.values]
    changes = [r[0] for a, r in pairwise(rows) if r[1] != a[1]]
    stmts = [
        f"SELECT count_total, count_reject FROM machine_data WHERE factory='{fid}' AND machine='m00' "
        f"AND time >= {(ms - 20_000) * 1_000_000} AND time < {(ms + 20_000) * 1_000_000}"
        for ms in changes
    ]
    t = time.perf_counter()
    await client.query("; ".join(stmts))
    took = time.perf_counter() - t
    print(
        f"  probe: raw around {len(changes):,} state changes of m00 {took:8.2f} s   "
        f"({took / max(1, len(stmts)) * 1000:.1f} ms a statement)"
    )
    print(f"  probe: phase 1 alone (no raw point yet)          {total:8.2f} s   ratio {total / t_raw:5.2f}")


async def bench_month(
    influx: InfluxServer, work: Path, machines: int, days: int, *, probe: bool = False
) -> None:
    db = influx.create_database("month")
    start = dt.date(2025, 3, 1)
    cfg = AssessorConfig(
        influx=InfluxSettings(url=influx.url, database=db, timeout=600),
        registry=work / "month.sqlite",
        kpi=KpiSettings(retention_policy="kpi"),
    )
    store = RegistryStore(cfg.registry)
    client = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, client, load_rules(None))
    s = dt.datetime.combine(start, dt.time(), SEOUL).timestamp()
    e = s + days * 86400
    results = {}
    for label, fid, on_change in (
        ("states polled every 10 s", "bench-polled", False),
        ("states stored on change + liveness", "bench-onchange", True),
    ):
        t = time.perf_counter()
        # each factory's raw data in its own database, as provisioned factories have it
        raw_db = influx.create_database(cfg.influx.raw_database_for(fid))
        points = seed_month(influx, raw_db, fid, machines, start, days, on_change=on_change)
        print(
            f"factory-month ({label}): {machines} machines x {days} days, counters every 10 s "
            f"({points:,} points, written in {time.perf_counter() - t:.0f} s)"
        )
        factory = factory_of(fid, machines)
        store.upsert_factories([factory])
        where = f"factory='{fid}' AND time >= {round(s * 1e9)} AND time < {round(e * 1e9)}"
        statements = (
            f"SELECT state, count_total, count_reject FROM machine_data WHERE {where}; "
            f"SELECT alive_s FROM machine_liveness WHERE {where}"
        )
        # each pull twice, interleaved, the faster one counts: neither baseline pays alone
        # for what the first read after the writes costs the server
        t_plain = t_raw = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            plain_rows = await plain_pull(influx.url, raw_db, statements)
            t_plain = min(t_plain, time.perf_counter() - t)
            t = time.perf_counter()
            raw = await client.for_database(raw_db).query(statements)
            t_raw = min(t_raw, time.perf_counter() - t)
            rows = sum(len(x.values) for stmt in raw for x in stmt)
            del raw
            assert rows == plain_rows, (rows, plain_rows)
        if probe:
            await probe_aggregates(client.for_database(raw_db), fid, s, e, t_raw, on_change=on_change)
        t = time.perf_counter()
        cold = await service.kpi_rows(factory, s, e, "factory", "total")
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        warm = await service.kpi_rows(factory, s, e, "factory", "total")
        t_warm = time.perf_counter() - t
        assert cold == warm
        print(f"  baseline: plain HTTP pull of {rows:,} raw points {t_plain:8.2f} s")
        print(f"  stricter: the same pull, assessor's streamed client {t_raw:8.2f} s")
        print(
            f"  KPIs cold (compute + materialise)            {t_cold:8.2f} s   ratio {t_cold / t_plain:5.2f}"
            f"   (target <= 1.0; against the streamed pull {t_cold / t_raw:5.2f})"
        )
        print(
            f"  KPIs warm (materialised days)                {t_warm:8.3f} s   ratio {t_warm / t_raw:5.3f}"
            f"   (target < 1 s)"
        )
        row = warm[0]
        if row.get("oee") is None:
            raise SystemExit(f"  the month's KPIs are flagged, nothing measured: {row.get('flags')}")
        print(
            f"  month OEE {row['oee']:.3f}, availability {row['availability']:.3f}, "
            f"performance {row['performance']:.3f}, coverage {row['coverage']:.3f}"
        )
        results[fid] = row
    a, b = results["bench-polled"], results["bench-onchange"]
    print(
        f"  same month, both storage modes: OEE {a['oee']:.4f} vs {b['oee']:.4f}, "
        f"run time {a['run_time_s']:.0f} s vs {b['run_time_s']:.0f} s"
    )
    await client.close()
    store.close()


async def bench_portfolio(influx: InfluxServer, work: Path, factories: int, machines: int) -> None:
    db = influx.create_database("portfolio")
    cfg = AssessorConfig(
        influx=InfluxSettings(url=influx.url, database=db, timeout=600),
        registry=work / "portfolio.sqlite",
        kpi=KpiSettings(retention_policy="kpi"),
    )
    store = RegistryStore(cfg.registry)
    today = dt.datetime.now(SEOUL).date()
    first = today - dt.timedelta(days=90)
    rng = random.Random(1)
    project = SupportProject(
        "sp",
        Program.BASIC,
        first + dt.timedelta(days=31),
        first + dt.timedelta(days=45),
        DateWindow(first, first + dt.timedelta(days=30)),
        DateWindow(first + dt.timedelta(days=46), today - dt.timedelta(days=1)),
    )
    fleet = [
        factory_of(f"f{i:04d}", machines, project, employees=rng.randint(5, 60)) for i in range(factories)
    ]
    store.upsert_factories(fleet)
    client = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, client, load_rules(None))
    await ensure_retention_policy(client, "kpi")
    t = time.perf_counter()
    for f in fleet:
        totals = {}
        for d in range(90):
            day = first + dt.timedelta(days=d)
            better = 1.0 + (0.3 if day > project.end else 0.0)
            for m in f.machines:
                run = 86400 * rng.uniform(0.5, 0.8)
                count = int(run / 10 * 0.9 * better)
                totals[(m.line_id, m.id, day)] = Totals(
                    planned_s=86400.0,
                    run_s=run,
                    idle_s=86400 - run,
                    fault_s=0.0,
                    setup_s=0.0,
                    stopped_s=0.0,
                    planned_stop_s=0.0,
                    unknown_s=0.0,
                    ideal_run_s=count * 10.0,
                    total_count=count,
                    good_count=count - count // 50,
                    reject_count=count // 50,
                    failures=2,
                    repair_s=1200.0,
                    graded_count=count,
                )
        await write_days(client, f, totals, "kpi")
    for f in fleet[::3]:
        store.replace_baseline(
            f.id,
            [
                BaselineDay(
                    f.id, project.baseline.start + dt.timedelta(days=d), "line-1", 16.0, 6.0, 40_000, 900
                )
                for d in range(30)
            ],
            "bench.csv",
        )
    rows_written = factories * machines * 90
    print(
        f"portfolio: {factories} factories x {machines} machines, 90 days of kpi_daily "
        f"({rows_written:,} rows, written in {time.perf_counter() - t:.0f} s)"
    )
    t = time.perf_counter()
    raw = await client.query(
        f"SELECT * FROM kpi.kpi_daily WHERE time >= {round(day_start(fleet[0], first) * 1e9)}"
    )
    t_raw = time.perf_counter() - t
    pulled = sum(len(s.values) for s in raw[0])
    del raw
    t = time.perf_counter()
    cold = await service.portfolio(fleet)
    t_cold = time.perf_counter() - t
    t = time.perf_counter()
    warm = await service.portfolio(fleet)
    t_warm = time.perf_counter() - t
    print(f"  baseline: pull {pulled:,} kpi_daily rows into Python {t_raw:8.2f} s")
    print(f"  portfolio, levels cold                        {t_cold:8.2f} s   ratio {t_cold / t_raw:5.2f}")
    print(
        f"  portfolio, levels cached                      {t_warm:8.2f} s   ratio {t_warm / t_raw:5.2f}"
        f"   (target < 2 s)"
    )
    uph = sorted(g["improvement"] for r in warm for g in r["gains"] if g["kpi"] == "units_per_hour")
    print(f"  {len(warm)} rows; median units/hour gain {uph[len(uph) // 2]:+.1%}")
    assert len(cold) == factories
    await client.close()
    store.close()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assessor-") as tmp:
        work = Path(tmp)
        influx = InfluxServer(work / "influxd").start()
        try:
            if not args.skip_month:
                await bench_month(influx, work, args.machines, args.days, probe=args.probe_aggregates)
            if not args.skip_portfolio:
                await bench_portfolio(influx, work, args.factories, args.portfolio_machines)
        finally:
            influx.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machines", type=int, default=20)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--factories", type=int, default=600)
    ap.add_argument("--portfolio-machines", type=int, default=5)
    ap.add_argument("--skip-month", action="store_true")
    ap.add_argument("--skip-portfolio", action="store_true")
    ap.add_argument(
        "--probe-aggregates", action="store_true", help="also time the queries of an aggregate-first read"
    )
    asyncio.run(main(ap.parse_args()))
