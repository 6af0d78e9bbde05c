"""The Technopark's portfolio: every visible factory with tier, level, recent OEE, gains
against the programme's reference figures and data health, fast enough for hundreds
of factories.

Only aggregates are read: per factory three window sums over the materialised
``kpi_daily`` rows (last 7 days, baseline, after; read by assessor.data.window_sums).
Gains here are point estimates (ratio of sums); the factory page gives
the intervals. Levels come from the service's assessment cache.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assessor.domain.gains import (
    GAIN_KPIS,
    KPI_DIRECTIONS,
    KPI_REFERENCE,
    REFERENCE,
    Exclusion,
    baseline_daily_values,
    flag_exclusions,
    improvement_rate,
)
from assessor.domain.kpi import KpiPolicy
from assessor.domain.kpi.calendar import planned_intervals, total
from assessor.domain.kpi.formulas import kpis
from assessor.domain.kpi.model import Kpis, Totals
from assessor.domain.models import Factory, ShiftCalendar

#: flags a window sum cannot judge for the gains: it counts days without any data
WINDOW_BLIND_REASONS = frozenset({"coverage", "no_data"})


@dataclass(frozen=True)
class WindowSum:
    totals: Totals
    #: finished units and line seconds (assessor/domain/kpi/line_output.py); None for windows
    #: with days materialised before these were kept
    line: tuple[float, float] | None = None


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
