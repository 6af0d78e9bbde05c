"""Assessor benchmark: a factory-month of KPIs and a 600-factory portfolio, each against a
baseline measured in the same run.

    .venv/bin/python bench/bench_assessor.py [--machines 20] [--days 30] [--factories 600]

1. Factory-month: M machines with states and counters every 10 s for D days (from the
   simulator's machine model), written to a fresh influxd. Baseline: pulling those raw
   points into Python (the assessor's own query client, chunked JSON). Measured: the
   KPI request for the month, first cold (computes every day from the raw points and
   materialises it into kpi_daily) and then warm (reads kpi_daily). Target: warm < 1 s.
2. Portfolio: F factories of M machines with 90 days of materialised daily KPIs, a
   support project each, manual baselines for a third of them. Baseline: reading the
   kpi_daily rows of those windows into Python. Measured: the portfolio (levels cold,
   then warm from the assessment cache). Target: < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assessor.config import AssessorConfig, InfluxSettings, KpiSettings  # noqa: E402
from assessor.domain import BaselineDay, DateWindow, Factory, Line, Machine, Program, SupportProject  # noqa: E402
from assessor.influx_client import InfluxClient  # noqa: E402
from assessor.kpi.model import Totals  # noqa: E402
from assessor.level import load_rules  # noqa: E402
from assessor.materialize import day_start, ensure_retention_policy, write_days  # noqa: E402
from assessor.registry.store import RegistryStore  # noqa: E402
from assessor.service import AssessorService  # noqa: E402
from collector.simulator.machine import Calendar, MachineModel, MachineParams  # noqa: E402
from localservices.influxd import InfluxServer  # noqa: E402

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


def month_lines(machines: int, start: dt.date, days: int) -> int:
    return machines * days * 8640


def seed_month(influx: InfluxServer, db: str, machines: int, start: dt.date, days: int) -> int:
    params = MachineParams(ideal_cycle_time_s=10, speed_factor=0.9, calendar=Calendar.always(9 * 3600))
    t0 = dt.datetime.combine(start, dt.time(), SEOUL).timestamp()
    n = 0
    for m in range(machines):
        model = MachineModel(params, seed=m, start_time_s=t0)
        lines = [
            f'machine_data,factory=bench,line=line-1,machine=m{m:02d} state="{s.state.value}",'
            f"count_total={s.total}i,count_reject={s.rejects}i {round(t * 1e9)}"
            for t, s in model.history(t0, t0 + days * 86400, 10.0)
        ]
        write(influx, db, lines)
        n += len(lines)
    return n


async def bench_month(influx: InfluxServer, work: Path, machines: int, days: int) -> None:
    db = influx.create_database("month")
    start = dt.date(2025, 3, 1)
    t = time.perf_counter()
    points = seed_month(influx, db, machines, start, days)
    print(
        f"factory-month: {machines} machines x {days} days, states and counters every 10 s "
        f"({points:,} points, written in {time.perf_counter() - t:.0f} s)"
    )
    cfg = AssessorConfig(
        influx=InfluxSettings(url=influx.url, database=db, timeout=600),
        registry=work / "month.sqlite",
        kpi=KpiSettings(retention_policy="kpi"),
    )
    store = RegistryStore(cfg.registry)
    factory = factory_of("bench", machines)
    store.upsert_factories([factory])
    client = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, client, load_rules(None))
    s = dt.datetime.combine(start, dt.time(), SEOUL).timestamp()
    e = s + days * 86400
    t = time.perf_counter()
    raw = await client.query(
        f"SELECT state, count_total, count_reject FROM machine_data WHERE factory='bench' "
        f"AND time >= {round(s * 1e9)} AND time < {round(e * 1e9)}"
    )
    t_raw = time.perf_counter() - t
    rows = sum(len(x.values) for x in raw[0])
    del raw
    t = time.perf_counter()
    cold = await service.kpi_rows(factory, s, e, "factory", "total")
    t_cold = time.perf_counter() - t
    t = time.perf_counter()
    warm = await service.kpi_rows(factory, s, e, "factory", "total")
    t_warm = time.perf_counter() - t
    assert cold == warm
    print(f"  baseline: pull {rows:,} raw points into Python   {t_raw:8.2f} s")
    print(f"  KPIs cold (compute + materialise)            {t_cold:8.2f} s   ratio {t_cold / t_raw:5.2f}")
    print(
        f"  KPIs warm (materialised days)                {t_warm:8.3f} s   ratio {t_warm / t_raw:5.3f}"
        f"   (target < 1 s)"
    )
    print(f"  month OEE {warm[0]['oee']:.3f}, availability {warm[0]['availability']:.3f}")
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
                await bench_month(influx, work, args.machines, args.days)
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
    asyncio.run(main(ap.parse_args()))
