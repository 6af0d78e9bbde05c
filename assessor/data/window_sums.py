"""Window sums of the materialised ``kpi_daily`` rows for the portfolio: per factory three
windows (last 7 days, baseline, after), sent as batches of statements in a few requests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from assessor.data.daily_rows import KPI_DAILY_FACTORY, LINE_KNOWN_S, LINE_UNITS, source
from assessor.data.influx_client import InfluxClient
from assessor.data.influxql import ident, tag_in, time_range
from assessor.domain.kpi.model import Totals
from assessor.domain.portfolio import WindowSum
from datacontract import TAG_FACTORY

SUMMED = (
    "planned_s",
    "run_s",
    "idle_s",
    "fault_s",
    "setup_s",
    "stopped_s",
    "planned_stop_s",
    "unknown_s",
    "ideal_run_s",
    "total_count",
    "good_count",
    "reject_count",
    "failures",
    "repair_s",
    "energy_kwh",
    "graded_count",
    "metered_count",
    "small_stop_s",
    "small_stops",
    "unattributed_count",
)
_INTS = {
    "total_count",
    "good_count",
    "reject_count",
    "failures",
    "graded_count",
    "metered_count",
    "small_stops",
    "unattributed_count",
}
STATEMENTS_PER_REQUEST = 300
FILTER_LIMIT = 50


async def window_totals(
    client: InfluxClient, windows: Sequence[tuple[str, float, float]], rp: str = ""
) -> list[WindowSum | None]:
    """Summed kpi_daily Totals of each (factory, start, end); None where nothing is stored.

    Factories asking for the same window (a programme year's projects, the last week)
    share one statement grouped by factory: InfluxDB 1.x spends tens of milliseconds per
    aggregate statement, so one statement per factory would not scale to a portfolio.
    """
    select = ", ".join(f"SUM({ident(f)}) AS {ident(f)}" for f in (*SUMMED, LINE_UNITS, LINE_KNOWN_S))
    # COUNT tells whether every day of the window has the line fields
    select += (
        f", COUNT({ident('planned_s')}) AS {ident('days')}, "
        f"COUNT({ident(LINE_UNITS)}) AS {ident('line_days')}"
    )
    by_window: dict[tuple[float, float], set[str]] = {}
    for fid, s, e in windows:
        by_window.setdefault((s, e), set()).add(fid)
    keys = list(by_window)
    statements = []
    for s, e in keys:
        ids = sorted(by_window[(s, e)])
        # a short list filters in the query; a long one reads all and picks in Python
        where = f" AND {tag_in(TAG_FACTORY, ids)}" if len(ids) <= FILTER_LIMIT else ""
        statements.append(
            f"SELECT {select} FROM {source(rp, KPI_DAILY_FACTORY)} WHERE {time_range(s, e)}{where} "
            f"GROUP BY {ident(TAG_FACTORY)}"
        )
    batches = [
        statements[i : i + STATEMENTS_PER_REQUEST] for i in range(0, len(statements), STATEMENTS_PER_REQUEST)
    ]
    results = await asyncio.gather(*(client.query("; ".join(b)) for b in batches))
    found: dict[tuple[float, float], dict[str, WindowSum]] = {}
    flat = [
        r
        for batch, result in zip(batches, results, strict=True)
        for r in result + [[]] * (len(batch) - len(result))
    ]
    for key, series_list in zip(keys, flat, strict=True):
        found[key] = {
            s.tags.get(TAG_FACTORY, ""): _window_sum(row)
            for s in series_list
            if (row := next(s.rows(), None))
        }
    return [found.get((s, e), {}).get(fid) for fid, s, e in windows]


def _window_sum(row: dict[str, Any]) -> WindowSum:
    complete = row.get("days") and row.get("line_days") == row.get("days")
    line = (float(row[LINE_UNITS] or 0), float(row[LINE_KNOWN_S] or 0.0)) if complete else None
    return WindowSum(_totals(row), line)


def _totals(row: dict[str, Any]) -> Totals:
    values = {f: row.get(f) for f in SUMMED}
    kwargs: dict[str, Any] = {f: (int(v or 0) if f in _INTS else float(v or 0.0)) for f, v in values.items()}
    if values["energy_kwh"] is None:
        kwargs["energy_kwh"] = None
        kwargs["metered_count"] = 0
    return Totals(**kwargs)
