"""The Technopark's portfolio: one row per visible factory (see assessor.domain.portfolio)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from assessor.data.daily_rows import day_start, window_bounds
from assessor.data.health import last_heard
from assessor.data.influxql import UnsafeIdentifier, check_id
from assessor.data.window_sums import window_totals
from assessor.domain.kpi.model import Totals
from assessor.domain.models import Factory, SupportProject
from assessor.domain.portfolio import (
    WindowSum,
    gain_exclusions,
    gain_rows,
    manual_parts,
    measured_parts,
    recent_fields,
)
from assessor.registry.operator_store import OperatorStore
from assessor.services.assessment import Assessments
from assessor.services.gains import GainQueries
from assessor.services.targets import portfolio_targets

#: how long a factory's data health (when its machines were last heard of) is reused
HEALTH_MAX_AGE_S = 60.0

log = logging.getLogger(__name__)


class PortfolioQueries(Assessments, GainQueries):
    async def data_health(
        self, factories: Sequence[Factory], *, max_age_s: float = HEALTH_MAX_AGE_S
    ) -> dict[str, dict[str, float | None]]:
        """factory -> machine -> epoch seconds it was last heard of in the coverage window:
        its last state sample or the end of its last alive record, whichever is later. A
        machine whose state is stored only on change writes no state while nothing
        changes; its alive record says the collector still reached it. An answer younger
        than ``max_age_s`` is reused: a portfolio of hundreds of factories, one database
        each, is viewed again and again, and "last heard of" a minute ago is as useful."""
        now = self.clock()
        fresh = {f.id: c[1] for f in factories if (c := self._health.get(f.id)) and now - c[0] <= max_age_s}
        stale = [f for f in factories if f.id not in fresh]
        if stale:
            for fid, machines in (await self._data_health(stale)).items():
                self._health[fid] = (now, machines)
                fresh[fid] = machines
        return {f.id: fresh[f.id] for f in factories}

    async def _data_health(self, factories: Sequence[Factory]) -> dict[str, dict[str, float | None]]:
        if not factories:
            return {}
        now = self.clock()
        start = now - self.cfg.kpi.coverage_days * 86400.0
        return await last_heard(self.raw, factories, start, now)

    async def portfolio(self, factories: Sequence[Factory]) -> list[dict[str, Any]]:
        """One row per factory from aggregates only (see ``assessor.domain.portfolio``). A factory
        whose id no query can carry (the importer refuses those; a hand-edited registry may
        not) is left out and logged instead of failing the page for every factory."""
        factories = [f for f in factories if _queryable(f)]
        now = self.clock()
        windows: list[tuple[str, float, float]] = []
        plan: list[tuple[Factory, SupportProject | None, int]] = []
        for f in factories:
            today = dt.datetime.fromtimestamp(now, ZoneInfo(f.calendar.timezone)).date()
            recent_end = day_start(f, today)
            project = f.support_projects[-1] if f.support_projects else None
            plan.append((f, project, len(windows)))
            windows.append((f.id, recent_end - 7 * 86400.0, recent_end))
            if project is not None:
                windows.append((f.id, *window_bounds(f, project.baseline)))
                windows.append((f.id, *window_bounds(f, self.after_window(f, project))))
        sums = await window_totals(self.influx, windows, self._rp)
        await self._apply_line_counts(windows, sums, {f.id: f for f in factories})
        health = await self.data_health(factories)
        # the levels this view shows, held here: the background refresher may forget a
        # cached one (to assess it again) while this view is being built
        levels = {f.id: cached[1] for f in factories if (cached := self._assessments.get(f.id)) is not None}
        gate = asyncio.Semaphore(8)

        async def level(f: Factory) -> None:
            async with gate:
                levels[f.id] = await self.assessment(f)

        await asyncio.gather(*(level(f) for f in factories if f.id not in levels))
        rows = []
        for f, project, i in plan:
            a = levels[f.id]
            recent_sum = sums[i]
            gains: list[dict[str, Any]] = []
            if project is not None:
                b_start, b_end = window_bounds(f, project.baseline)
                after = self.after_window(f, project)
                a_start, a_end = window_bounds(f, after)
                manual_before = manual_parts(
                    self.store.baseline(f.id, project.baseline.start, project.baseline.end)
                )
                measured_before = measured_parts(sums[i + 1], f, b_start, b_end)
                before = {**measured_before, **manual_before}
                source_before = "manual" if manual_before else "measured"
                gains = gain_rows(
                    before,
                    measured_parts(sums[i + 2], f, a_start, a_end),
                    (source_before, "measured"),
                    gain_exclusions(sums[i + 1], sums[i + 2], self.kpi_policy, manual_before),
                )
            last = health.get(f.id, {})
            seen = [t for t in last.values() if t is not None]
            rows.append(
                {
                    "factory": f.id,
                    "name": f.name,
                    "region": f.region,
                    "tier": a.tier.value,
                    "level": a.level,
                    "build_level": a.build_level.value,
                    "score": a.score,
                    # oee_7d, coverage_7d and flags_7d: a flagged KPI is None, with the reason
                    **recent_fields(recent_sum, self.kpi_policy),
                    "project": project.id if project else None,
                    "gains": gains,
                    # "목표 달성 3/4" of the project's own targets (docs/targets.md)
                    "targets": await portfolio_targets(self, f, project),  # type: ignore[arg-type]
                    "data_health": {
                        "machines": len(last),
                        "reporting": len(seen),
                        "coverage": (len(seen) / len(last)) if last else None,
                        "last_sample": dict(last),
                        "silent_machines": sorted(m for m, t in last.items() if t is None),
                        "last_seen": max(seen) if seen else None,
                    },
                }
            )
        return rows


    async def _apply_line_counts(
        self,
        windows: Sequence[tuple[str, float, float]],
        sums: list[WindowSum | None],
        factories: dict[str, Factory],
    ) -> None:
        """Scrap and count corrections entered at the line count here as in /kpis, the gains
        and the reports: a window with entries is summed from ``day_totals`` (which applies
        them) instead of the stored daily rows, which never hold them."""
        entered = OperatorStore(self.store).factories_with_line_counts()
        for i, (fid, start, end) in enumerate(windows):
            f = factories[fid]
            if fid not in entered or not self.line_counts(f, start, end):
                continue
            days = await self.day_totals(f, start, end)
            if days:
                old = sums[i]
                sums[i] = WindowSum(sum(days.values(), Totals.zero()), old.line if old else None)


def _queryable(f: Factory) -> bool:
    try:
        check_id(f.id, "factory id")
        for m in f.machines:
            check_id(m.line_id, "line id")
            check_id(m.id, "machine id")
    except UnsafeIdentifier as exc:
        log.warning("portfolio: factory %r left out: %s", f.id, exc)
        return False
    return True
