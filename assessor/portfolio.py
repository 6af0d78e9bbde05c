"""The Technopark's portfolio: every visible factory with tier, level, recent OEE, gains
against the programme's reference figures and data health, fast enough for hundreds
of factories.

Only aggregates are read: per factory three window sums over the materialised
``kpi_daily`` rows (last 7 days, baseline, after), sent as batches of statements in a
few requests. Gains here are point estimates (ratio of sums); the factory page gives
the intervals. Levels come from the service's assessment cache.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assessor.domain import Factory, ShiftCalendar
from assessor.gains import (
    GAIN_KPIS,
    KPI_DIRECTIONS,
    KPI_REFERENCE,
    REFERENCE,
    Exclusion,
    baseline_daily_values,
    flag_exclusions,
    improvement_rate,
)
from assessor.influx_client import InfluxClient
from assessor.influxql import ident, tag_in, time_range
from assessor.kpi import KpiPolicy
from assessor.kpi.calendar import planned_intervals, total
from assessor.kpi.formulas import kpis
from assessor.kpi.model import Kpis, Totals
from assessor.materialize import KPI_DAILY_FACTORY, LINE_KNOWN_S, LINE_UNITS, source
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
#: flags a window sum cannot judge for the gains: it counts days without any data
WINDOW_BLIND_REASONS = frozenset({"coverage", "no_data"})
FILTER_LIMIT = 50


@dataclass(frozen=True)
class WindowSum:
    totals: Totals
    #: finished units and line seconds (assessor/kpi/line_output.py); None for windows
    #: with days materialised before these were kept
    line: tuple[float, float] | None = None


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


@functools.lru_cache(maxsize=4096)
def calendar_seconds(cal: ShiftCalendar, start: float, end: float) -> float:
    return total(planned_intervals(cal, start, end))


def measured_parts(
    w: WindowSum | None, factory: Factory, start: float, end: float
) -> dict[str, tuple[float, float]]:
    """(numerator, denominator) of each comparable KPI from summed measured totals; units
    per line-hour where every day has them, as the factory page's gains count them."""
    if w is None:
        return {}
    t = w.totals
    if t.known_s <= 0 and t.total_count == 0:
        return {}
    units, seconds = w.line if w.line is not None else (float(t.total_count), t.known_s)
    parts = {"units_per_hour": (units, seconds / 3600.0)}
    if factory.employees:
        parts["units_per_labour_hour"] = (
            units,
            factory.employees * calendar_seconds(factory.calendar, start, end) / 3600.0,
        )
    if t.graded:
        parts["defect_rate"] = (float(t.reject_count), float(t.graded))
    if t.energy_kwh is not None and t.metered:
        parts["energy_per_unit_kwh"] = (t.energy_kwh, float(t.metered))
    return parts


def manual_parts(rows: Sequence[Any]) -> dict[str, tuple[float, float]]:
    out = {}
    for kpi in GAIN_KPIS:
        days = baseline_daily_values(rows, kpi)
        den = sum(d.den for d in days)
        if days and den:
            out[kpi] = (sum(d.num for d in days), den)
    return out


def flag_dicts(k: Kpis) -> list[dict[str, Any]]:
    return [{"kpi": f.kpi, "reason": f.reason, "value": f.value} for f in k.flags]


def recent_fields(w: WindowSum | None, policy: KpiPolicy) -> dict[str, Any]:
    """``oee_7d``, ``coverage_7d`` and ``flags_7d`` of a portfolio row from the summed
    last week: a flagged KPI is None there, and ``flags_7d`` says why (pages show the
    reason, never the measured value)."""
    if w is None:
        return {"oee_7d": None, "coverage_7d": None, "flags_7d": []}
    k = kpis(w.totals, policy)
    return {"oee_7d": k.oee, "coverage_7d": k.coverage, "flags_7d": flag_dicts(k)}


def gain_exclusions(
    before: WindowSum | None,
    after: WindowSum | None,
    policy: KpiPolicy,
    manual_before: Iterable[str] = (),
) -> dict[str, list[Exclusion]]:
    """kpi -> the sides whose measured KPI is flagged; a KPI whose before side came from
    the manual log (``manual_before``) is not judged by the measured before flags.

    The window sums hold every day of the window, also days before the collector was
    installed, so coverage says little about the days the gains use: only the flags that
    do not depend on days without data (implausible ideal time, inconsistent counts or
    times) are applied here. The factory page judges coverage over the days with data."""
    manual = set(manual_before)
    out: dict[str, list[Exclusion]] = {}
    for side, w in (("before", before), ("after", after)):
        if w is None:
            continue
        k = kpis(w.totals, policy)
        flags = [f for f in k.flags if f.reason not in WINDOW_BLIND_REASONS]
        row = {"flags": flags, "coverage": k.coverage}
        for kpi in GAIN_KPIS:
            if side == "before" and kpi in manual:
                continue
            if found := flag_exclusions(kpi, side, row):
                out.setdefault(kpi, []).extend(found)
    return out


def gain_rows(
    before: dict[str, tuple[float, float]],
    after: dict[str, tuple[float, float]],
    sources: tuple[str, str],
    excluded: Mapping[str, Sequence[Exclusion]] | None = None,
) -> list[dict[str, Any]]:
    """One row per GAIN_KPIS entry; a KPI in ``excluded`` has no value on its flagged
    side and no improvement, and ``excluded_reason`` says why."""
    rows = []
    for kpi in GAIN_KPIS:
        b = before.get(kpi)
        a = after.get(kpi)
        bv = b[0] / b[1] if b and b[1] else None
        av = a[0] / a[1] if a and a[1] else None
        out = (excluded or {}).get(kpi) or ()
        sides = {x.side for x in out}
        if "before" in sides:
            bv = None
        if "after" in sides:
            av = None
        imp = None if out else improvement_rate(KPI_DIRECTIONS[kpi], bv, av)
        ref = REFERENCE[KPI_REFERENCE[kpi]]
        rows.append(
            {
                "kpi": kpi,
                "before": bv,
                "after": av,
                "improvement": imp,
                "reference": ref.improvement,
                "meets_reference": None if imp is None else imp >= ref.improvement,
                "source_before": sources[0] if b else "",
                "source_after": sources[1] if a else "",
                "excluded_reason": "; ".join(x.code for x in out) or None,
                "excluded": [{"side": x.side, "reason": x.reason, "coverage": x.coverage} for x in out],
            }
        )
    return rows
