"""What the API and the pages ask of the assessor: KPIs, level, gains, portfolio.

All reads of measured data go through ``day_totals``: complete local days come from the
materialised ``kpi_daily`` rows (computed and stored on first use), partial and recent
days are computed live from the raw signals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from assessor.config import AssessorConfig
from assessor.domain import DateWindow, Factory, Source, SupportProject
from assessor.evidence_query import factory_evidence
from assessor.gains import (
    FACTORY_GAIN_KPIS,
    STANDARD_KPI,
    DailyValue,
    GainWarning,
    KpiGain,
    MonthPoint,
    baseline_daily_values,
    baseline_standard_values,
    flag_exclusions,
    kpi_gain,
    measured_side_row,
    mix_unknown_warning,
    monthly_trend,
)
from assessor.influx_client import InfluxClient, Series, factory_client
from assessor.influxql import UnsafeIdentifier, check_id
from assessor.kpi.calendar import local_days, planned_intervals, total
from assessor.kpi.formulas import kpis, rollup
from assessor.kpi.line_output import line_output, output_machines
from assessor.kpi.losses import six_big_losses
from assessor.kpi.model import KpiPolicy, Totals
from assessor.late_data import stale_days, stored_counts
from assessor.level import Assessment, LevelRules, assess
from assessor.materialize import (
    DayKey,
    DaySpan,
    day_start,
    ensure_retention_policy,
    materialise_days,
    raw_point_counts,
    read_days,
    window_bounds,
)
from assessor.measured import ProductDays, measured_day_totals, measured_products
from assessor.portfolio import (
    gain_exclusions,
    gain_rows,
    manual_parts,
    measured_parts,
    recent_fields,
    window_totals,
)
from assessor.registry.store import RegistryStore

Group = Literal["machine", "line", "factory"]
ProductGroup = Literal["product", "machine,product"]
#: longest window of per-product KPIs: they are computed from the raw data on every
#: request (docs/assessor.md), which costs about what materialising those days does
MAX_PRODUCT_WINDOW_DAYS = 31
Granularity = Literal["total", "day"]

#: KPIs compared before/after a support project, in the programme's order
log = logging.getLogger(__name__)
#: how far back the refresher looks for days whose raw data changed after they were
#: materialised: a spool holds up to its size cap, typically days, rarely weeks
LATE_DATA_DAYS = 14
#: how long a factory's data health (when its machines were last heard of) is reused
HEALTH_MAX_AGE_S = 60.0


@dataclass(frozen=True)
class GainsReport:
    factory_id: str
    project_id: str | None
    baseline: DateWindow
    after: DateWindow
    gains: list[KpiGain]
    trend: dict[str, list[MonthPoint]]


class AssessorService:
    def __init__(
        self,
        cfg: AssessorConfig,
        store: RegistryStore,
        influx: InfluxClient,
        rules: LevelRules,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg, self.store, self.influx, self.rules, self.clock = cfg, store, influx, rules, clock
        self._assessments: dict[str, tuple[float, Assessment]] = {}
        self._rp = cfg.kpi.retention_policy
        self._rp_ready = False
        self._health: dict[str, tuple[float, dict[str, float | None]]] = {}

    async def _ensure_rp(self) -> None:
        if not self._rp_ready:
            await ensure_retention_policy(self.influx, self._rp)
            self._rp_ready = True

    # -- measured totals -----------------------------------------------------------

    def raw(self, factory: Factory) -> InfluxClient:
        return factory_client(self.influx, factory)

    async def day_totals(self, factory: Factory, start: float, end: float) -> dict[DayKey, Totals]:
        """(line, machine, local day) -> Totals over [start, end)."""
        await self._ensure_rp()
        tz = factory.calendar.timezone
        segments = local_days(tz, start, end)
        settled_before = self.clock() - self.cfg.kpi.materialize_after_s
        whole = [
            s
            for s in segments
            if s[1] == day_start(factory, s[0])
            and s[2] == day_start(factory, s[0] + dt.timedelta(days=1))
            and s[2] <= settled_before
        ]
        whole_days = {s[0] for s in whole}
        out: dict[DayKey, Totals] = {}
        if whole:
            stored = await read_days(self.influx, factory, whole[0][1], whole[-1][2], self._rp)
            wanted = {(m.line_id, m.id) for m in factory.machines}
            missing = sorted(d for d in whole_days if any((ln, mc, d) not in stored for ln, mc in wanted))
            if missing:
                stored.update(await self._materialise(factory, [s for s in whole if s[0] in set(missing)]))
            out.update({k: v for k, v in stored.items() if k[2] in whole_days})
        for seg in segments:
            if seg[0] not in whole_days:
                out.update(
                    await measured_day_totals(
                        self.raw(factory),
                        factory,
                        seg[1],
                        seg[2],
                        self.cfg.kpi.hold_s,
                        small_stop_s=self.cfg.kpi.small_stop_for(factory),
                    )
                )
        return out

    async def _materialise(self, factory: Factory, days: Sequence[DaySpan]) -> dict[DayKey, Totals]:
        return await materialise_days(
            self.influx,
            self.raw(factory),
            factory,
            days,
            self.cfg.kpi.hold_s,
            self._rp,
            small_stop_s=self.cfg.kpi.small_stop_for(factory),
        )

    async def refresh_late_days(
        self, factory: Factory, *, recent_days: int = LATE_DATA_DAYS
    ) -> list[dt.date]:
        """Compute again the recent materialised days whose raw data changed since (samples
        a spool delivered late); returns those days."""
        await self._ensure_rp()
        now = self.clock()
        settled_before = now - self.cfg.kpi.materialize_after_s
        whole = [
            s
            for s in local_days(factory.calendar.timezone, now - recent_days * 86400.0, settled_before)
            if s[1] == day_start(factory, s[0]) and s[2] == day_start(factory, s[0] + dt.timedelta(days=1))
        ]
        if not whole:
            return []
        counts = await raw_point_counts(self.raw(factory), factory, whole)
        tz = ZoneInfo(factory.calendar.timezone)
        stored = await stored_counts(self.influx, factory, whole[0][1], whole[-1][2], tz, self._rp)
        machines = {(m.line_id, m.id) for m in factory.machines}
        stale = stale_days(counts, stored, machines, [d for d, _, _ in whole])
        if stale:
            log.info("late data: computing %s again for %s", ", ".join(map(str, stale)), factory.id)
            await self._materialise(factory, [s for s in whole if s[0] in set(stale)])
        return stale

    def _calendar_seconds_by_day(self, factory: Factory, start: float, end: float) -> dict[dt.date, float]:
        return {
            day: total(planned_intervals(factory.calendar, s, e))
            for day, s, e in local_days(factory.calendar.timezone, start, end)
        }

    # -- KPIs ----------------------------------------------------------------------

    @property
    def kpi_policy(self) -> KpiPolicy:
        """When a KPI is shown (config ``kpi.min_coverage``, ``kpi.performance_tolerance``)."""
        return self.cfg.kpi.policy

    async def kpi_rows(
        self, factory: Factory, start: float, end: float, group: Group, granularity: Granularity
    ) -> list[dict[str, Any]]:
        totals = await self.day_totals(factory, start, end)
        return self._rows(factory, totals, start, end, group, granularity)

    def _rows(
        self,
        factory: Factory,
        totals: dict[DayKey, Totals],
        start: float,
        end: float,
        group: Group,
        granularity: Granularity,
    ) -> list[dict[str, Any]]:
        buckets: dict[tuple[tuple[str, ...], dt.date | None], list[Totals]] = defaultdict(list)
        for (line, machine, day), t in totals.items():
            key: tuple[str, ...] = {"machine": (line, machine), "line": (line,), "factory": ()}[group]
            buckets[(key, day if granularity == "day" else None)].append(t)
        calendar_s = self._calendar_seconds_by_day(factory, start, end) if group == "factory" else {}
        rows = []
        for (key, day), parts in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1] or dt.date.min)):
            t = rollup(parts)
            if group == "factory" and factory.employees:
                # labour: the whole headcount over the factory's planned time, counted once
                cal = calendar_s.get(day, 0.0) if day else sum(calendar_s.values())
                t = dataclasses.replace(t, labour_s=factory.employees * cal, staffed_count=t.total_count)
            row: dict[str, Any] = {"factory": factory.id}
            if group in ("machine", "line"):
                row["line"] = key[0]
            if group == "machine":
                row["machine"] = key[1]
            if day is not None:
                row["day"] = day.isoformat()
            row.update(kpi_row(t, self.kpi_policy))
            rows.append(row)
        return rows

    async def product_kpis(
        self, factory: Factory, start: float, end: float, group: ProductGroup, granularity: Granularity
    ) -> dict[str, Any]:
        """Rows per product (or machine and product), the product codes the registry does
        not know, and the changeovers; from the raw data of the window."""
        found = await measured_products(
            self.raw(factory),
            factory,
            start,
            end,
            self.cfg.kpi.hold_s,
            small_stop_s=self.cfg.kpi.small_stop_for(factory),
        )
        return product_report(factory, found, group, granularity, self.kpi_policy)

    async def factory_kpis(self, factory: Factory, start: float, end: float) -> dict[str, Any]:
        rows = await self.kpi_rows(factory, start, end, "factory", "total")
        return rows[0] if rows else {}

    async def factory_kpis_by_day(
        self, factory: Factory, start: float, end: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(a row per day, the whole window) from one read of the day totals."""
        totals = await self.day_totals(factory, start, end)
        whole = self._rows(factory, totals, start, end, "factory", "total")
        return self._rows(factory, totals, start, end, "factory", "day"), whole[0] if whole else {}

    # -- level ---------------------------------------------------------------------

    async def assessment(
        self, factory: Factory, *, max_age_s: float = 0.0, keys: list[str] | None = None
    ) -> Assessment:
        """The factory's level; ``keys``: the field keys of the factory's raw database when
        the caller has read them already."""
        now = self.clock()
        cached = self._assessments.get(factory.id)
        if cached is not None and now - cached[0] <= max_age_s:
            return cached[1]
        recent = await self.factory_kpis(factory, now - 7 * 86400.0, now)
        # a flagged KPI is None in the row; the flags are checked too, so that this stays
        # true whatever a row shows for a flagged KPI
        oee_factors = ("availability", "performance", "quality")
        flagged = {f["kpi"] for f in recent.get("flags", [])}
        computable = all(recent.get(k) is not None and k not in flagged for k in oee_factors)
        from assessor.registry.operator_store import OperatorStore

        explained = OperatorStore(self.store).machines_with_reasons(factory.id, now - 30 * 86400.0, now)
        evidence = await factory_evidence(
            self.raw(factory),
            factory,
            30,
            computable,
            now=now,
            keys=keys,
            kpis_row=recent,
            explained_machines=explained,
        )
        result = assess(evidence, self.store.answers(factory.id), self.rules)
        self._assessments[factory.id] = (now, result)
        return result

    def forget_assessment(self, factory_id: str) -> None:
        self._assessments.pop(factory_id, None)

    # -- gains ---------------------------------------------------------------------

    def after_window(self, factory: Factory, project: SupportProject) -> DateWindow:
        if project.after is not None:
            return project.after
        today = dt.datetime.fromtimestamp(self.clock(), ZoneInfo(factory.calendar.timezone)).date()
        return DateWindow(
            project.end + dt.timedelta(days=1),
            max(project.end + dt.timedelta(days=1), today - dt.timedelta(days=1)),
        )

    async def measured_daily_values(self, factory: Factory, w: DateWindow) -> dict[str, list[DailyValue]]:
        start, end = window_bounds(factory, w)
        by_day: dict[dt.date, dict[tuple[str, str], Totals]] = defaultdict(dict)
        for (line, machine, day), t in (await self.day_totals(factory, start, end)).items():
            by_day[day][(line, machine)] = t
        calendar_s = self._calendar_seconds_by_day(factory, start, end)
        out: dict[str, list[DailyValue]] = defaultdict(list)
        for day, machines in sorted(by_day.items()):
            t = rollup(machines.values())
            if t.known_s <= 0 and t.total_count == 0:
                continue  # no data that day: not a measured day
            # a day whose KPI the policy flags (too little data, implausible ideal time,
            # inconsistent counts) says nothing about that KPI: it is left out, not averaged in
            flagged = {f.kpi for f in kpis(t, self.kpi_policy).flags}
            m = Source.MEASURED
            if "units_per_hour" not in flagged:
                # units per line-hour, as a daily log counts them (assessor/kpi/line_output.py)
                units, line_s = line_output(machines, factory.lines)
                out["units_per_hour"].append(DailyValue(day, units, line_s / 3600.0, m))
                if factory.employees:
                    labour_h = factory.employees * calendar_s.get(day, 0.0) / 3600.0
                    out["units_per_labour_hour"].append(DailyValue(day, units, labour_h, m))
                standard_h = _line_standard_h(machines, factory)
                # a day with units but no standard time was stored before standard time was
                # kept: 0 would read as no output, so the day is left out
                if "performance" not in flagged and (standard_h > 0 or units == 0):
                    out[STANDARD_KPI].append(DailyValue(day, standard_h, line_s / 3600.0, m))
            if t.graded and "defect_rate" not in flagged:
                out["defect_rate"].append(DailyValue(day, t.reject_count, t.graded, m))
            if t.energy_kwh is not None and t.metered:
                out["energy_per_unit_kwh"].append(DailyValue(day, t.energy_kwh, t.metered, m))
            if "oee" not in flagged:
                out["oee"].append(
                    DailyValue(
                        day,
                        t.ideal_run_s * (t.good_count / t.total_count if t.total_count else 0.0),
                        t.known_s,
                        m,
                    )
                )
        return out

    async def measured_side_row(self, factory: Factory, w: DateWindow) -> dict[str, Any] | None:
        """Flags and coverage of a gains side's measured days with data (up to now)."""
        start, end = window_bounds(factory, w)
        end = min(end, self.clock())
        if end <= start:
            return None
        by_day: dict[dt.date, list[Totals]] = defaultdict(list)
        for (_, _, day), t in (await self.day_totals(factory, start, end)).items():
            by_day[day].append(t)
        return measured_side_row((rollup(ts) for ts in by_day.values()), self.kpi_policy)

    async def side_values(self, factory: Factory, w: DateWindow) -> dict[str, list[DailyValue]]:
        """Daily values of one side: manual logs where the factory kept them, measured
        data otherwise (manual days win, since they are what the factory reported)."""
        return (await self._side(factory, w))[0]

    async def _side(self, factory: Factory, w: DateWindow) -> tuple[dict[str, list[DailyValue]], int]:
        """``side_values`` and the number of manual days without a product mix, which
        standard hours leave out (and measured data of those days does not replace: the
        factory's own log is what it reported for them)."""
        measured = await self.measured_daily_values(factory, w)
        rows = self.store.baseline(factory.id, w.start, w.end)
        out: dict[str, list[DailyValue]] = {}
        mix_unknown = 0
        for kpi in (*FACTORY_GAIN_KPIS, "oee"):
            manual_days: set[dt.date] = set()
            if kpi == STANDARD_KPI:
                manual, mix_unknown = baseline_standard_values(rows, factory)
                manual_days = {r.day for r in rows}
            else:
                manual = baseline_daily_values(rows, kpi) if rows and kpi != "oee" else []
                manual_days = {d.day for d in manual}
            out[kpi] = sorted(
                manual + [d for d in measured.get(kpi, []) if d.day not in manual_days], key=lambda d: d.day
            )
        return out, mix_unknown

    async def gains(
        self, factory: Factory, baseline: DateWindow, after: DateWindow, project_id: str | None = None
    ) -> GainsReport:
        before_v, before_unknown = await self._side(factory, baseline)
        after_v, after_unknown = await self._side(factory, after)
        unknown = (("before", before_unknown), ("after", after_unknown))
        mix_notes: list[GainWarning] = [mix_unknown_warning(side, n) for side, n in unknown if n]
        # a KPI flagged over a side's measured days is left out of its gain, with the reason
        rows = [await self.measured_side_row(factory, w) for w in (baseline, after)]
        gains = [
            kpi_gain(
                k,
                before_v[k],
                after_v[k],
                excluded=[
                    *flag_exclusions(_flagged_as(k), "before", rows[0], before_v[k]),
                    *flag_exclusions(_flagged_as(k), "after", rows[1], after_v[k]),
                ],
                notes=mix_notes if k == STANDARD_KPI else (),
            )
            for k in (*FACTORY_GAIN_KPIS, "oee")
        ]
        trend = {k: monthly_trend(after_v[k]) for k in (*FACTORY_GAIN_KPIS, "oee")}
        return GainsReport(factory.id, project_id, baseline, after, gains, trend)

    # -- background work -----------------------------------------------------------

    async def backfill(self, factory: Factory, *, recent_days: int = 35) -> None:
        """Materialise the days the portfolio reads: the recent weeks and every support
        project's windows (``day_totals`` stores each complete day it computes)."""
        # whole settled days only: day_totals would compute the rest live, for nothing
        tz = ZoneInfo(factory.calendar.timezone)
        now = self.clock()
        settled_day = dt.datetime.fromtimestamp(now - self.cfg.kpi.materialize_after_s, tz).date()
        settled = day_start(factory, settled_day)
        first = day_start(factory, dt.datetime.fromtimestamp(now - recent_days * 86400.0, tz).date())
        if first < settled:
            await self.day_totals(factory, first, settled)
        for project in factory.support_projects:
            for w in (project.baseline, self.after_window(factory, project)):
                start, end = window_bounds(factory, w)
                if start < min(end, settled):
                    await self.day_totals(factory, start, min(end, settled))

    async def refresh_all(self) -> None:
        """One pass of the background refresher: materialise, then re-assess, every factory."""
        for factory in self.store.factories():
            await self.refresh_late_days(factory)
            await self.backfill(factory)
            self.forget_assessment(factory.id)
            await self.assessment(factory)

    # -- portfolio -----------------------------------------------------------------

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
        from assessor.influxql import ident, tag_in, time_range
        from datacontract import (
            FIELD_ALIVE_S,
            LIVENESS_MAX_RECORD_S,
            MEASUREMENT_LIVENESS,
            MEASUREMENT_MACHINE,
            TAG_FACTORY,
            TAG_MACHINE,
        )

        if not factories:
            return {}
        now = self.clock()
        start = now - self.cfg.kpi.coverage_days * 86400.0
        group = f"GROUP BY {ident(TAG_FACTORY)}, {ident(TAG_MACHINE)}"
        # one query per raw database: each factory's own, or one for those that share one
        by_database: dict[str, list[Factory]] = defaultdict(list)
        for f in factories:
            by_database[self.raw(f).cfg.database].append(f)
        gate = asyncio.Semaphore(8)

        async def last_seen(group_of: list[Factory]) -> list[list[Series]]:
            where = tag_in(TAG_FACTORY, [f.id for f in group_of])
            q = (
                f"SELECT LAST({ident('state')}) FROM {ident(MEASUREMENT_MACHINE)} WHERE {where} AND "
                f"{time_range(start, now + 60)} {group}; "
                # the record that reaches into the window may have started up to an hour before it
                f"SELECT LAST({ident(FIELD_ALIVE_S)}) FROM {ident(MEASUREMENT_LIVENESS)} WHERE {where} AND "
                f"{time_range(start - LIVENESS_MAX_RECORD_S, now + 60)} {group}"
            )
            async with gate:
                got = await self.raw(group_of[0]).query(q)
            return got + [[]] * (2 - len(got))

        answers = await asyncio.gather(*(last_seen(g) for g in by_database.values()))
        result = [[s for a in answers for s in a[0]], [s for a in answers for s in a[1]]]
        last: dict[str, dict[str, float | None]] = {f.id: {m.id: None for m in f.machines} for f in factories}
        for statement, alive in ((result[0], False), (result[1], True)):
            for s in statement:
                fid, mid = s.tags.get(TAG_FACTORY, ""), s.tags.get(TAG_MACHINE, "")
                if fid not in last or not s.values or s.values[0][1] is None:
                    continue
                seen = s.values[0][0] / 1000.0
                if alive:
                    seen = min(seen + float(s.values[0][1]), now)
                    if seen < start:
                        continue  # a record that ended before the window
                prev = last[fid].get(mid)
                last[fid][mid] = seen if prev is None else max(prev, seen)
        return last

    async def portfolio(self, factories: Sequence[Factory]) -> list[dict[str, Any]]:
        """One row per factory from aggregates only (see ``assessor.portfolio``). A factory
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


def product_report(
    factory: Factory, found: ProductDays, group: ProductGroup, granularity: Granularity, policy: KpiPolicy
) -> dict[str, Any]:
    """``rows``: KPIs per product (per machine and product with ``group="machine,product"``);
    ``product`` is null for units made before any product was seen, ``product_known``
    false for those and for codes the registry does not know (timed by the machine's ideal
    cycle time); ``ideal_time_s`` is the sum of ideal cycle time x units. ``unknown_products``
    lists those codes per machine with their units, so the registry can be fixed;
    ``changeovers`` counts the product changes and their setup time per machine and
    (from, to) pair."""
    known = {p.id for p in factory.products}
    buckets: dict[tuple[tuple[str, ...], dt.date | None], list[Totals]] = defaultdict(list)
    unknown: dict[tuple[str, str, str], int] = defaultdict(int)
    for (line, machine, day, product), t in found.totals.items():
        key = (line, machine, product) if group == "machine,product" else (product,)
        buckets[(key, day if granularity == "day" else None)].append(t)
        if product not in known and (t.total_count or t.run_s):
            unknown[(line, machine, product)] += t.total_count
    rows = []
    for (key, day), parts in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1] or dt.date.min)):
        t = rollup(parts)
        product = key[-1]
        row: dict[str, Any] = {"factory": factory.id}
        if group == "machine,product":
            row["line"], row["machine"] = key[0], key[1]
        row["product"] = product or None
        row["product_known"] = product in known
        if day is not None:
            row["day"] = day.isoformat()
        row["ideal_time_s"] = t.ideal_run_s
        row["standard_time_s"] = t.standard_s
        row.update(kpi_row(t, policy))
        rows.append(row)
    pairs: dict[tuple[str, str, str, str], list[float]] = {}
    for line, machine, c in found.changeovers:
        acc = pairs.setdefault((line, machine, c.from_product, c.to_product), [0, 0.0])
        acc[0] += 1
        acc[1] += c.setup_s
    return {
        "rows": rows,
        "unknown_products": [
            {"line": line, "machine": machine, "product": product or None, "units": units}
            for (line, machine, product), units in sorted(unknown.items())
        ],
        "changeovers": [
            {
                "line": line,
                "machine": machine,
                "from_product": a,
                "to_product": b,
                "count": int(n),
                "setup_s": setup_s,
            }
            for (line, machine, a, b), (n, setup_s) in sorted(pairs.items())
        ],
    }


def kpi_row(t: Totals, policy: KpiPolicy) -> dict[str, Any]:
    """The KPI fields of an API row: the Kpis of ``t`` (flags as a list of
    {"kpi", "reason", "value"}) and its six big losses under ``losses``."""
    row = dataclasses.asdict(kpis(t, policy))
    row["flags"] = list(row["flags"])
    row["losses"] = dataclasses.asdict(six_big_losses(t))
    return row


def _flagged_as(kpi: str) -> str:
    # standard hours rest on ideal times and counts as performance does, so performance's
    # flags (coverage, implausible ideal time, counts above the ideal rate) apply to them
    return "performance" if kpi == STANDARD_KPI else kpi


def _line_standard_h(machines: dict[tuple[str, str], Totals], factory: Factory) -> float:
    """Standard hours of a day's finished units: the standard time of each line's output
    machines, the machines whose units the line counts (assessor/kpi/line_output.py)."""
    seconds = 0.0
    for line in factory.lines:
        for mid in output_machines(line):
            if (t := machines.get((line.id, mid))) is not None:
                seconds += t.standard_s
    return seconds / 3600.0


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
