"""Before/after gains of a factory: each side's daily values from manual logs where the
factory kept them, measured data otherwise."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from assessor.data.daily_rows import window_bounds
from assessor.domain.gains import (
    FACTORY_GAIN_KPIS,
    STANDARD_KPI,
    DailyValue,
    GainsReport,
    GainWarning,
    baseline_daily_values,
    baseline_standard_values,
    flag_exclusions,
    kpi_gain,
    measured_side_row,
    mix_unknown_warning,
    monthly_trend,
)
from assessor.domain.kpi.formulas import kpis, rollup
from assessor.domain.kpi.line_output import line_output, output_machines
from assessor.domain.kpi.model import Totals
from assessor.domain.models import DateWindow, Factory, Source, SupportProject
from assessor.services.kpis import KpiQueries


class GainQueries(KpiQueries):
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
                # units per line-hour, as a daily log counts them (assessor/domain/kpi/line_output.py)
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


def _flagged_as(kpi: str) -> str:
    # standard hours rest on ideal times and counts as performance does, so performance's
    # flags (coverage, implausible ideal time, counts above the ideal rate) apply to them
    return "performance" if kpi == STANDARD_KPI else kpi


def _line_standard_h(machines: dict[tuple[str, str], Totals], factory: Factory) -> float:
    """Standard hours of a day's finished units: the standard time of each line's output
    machines, the machines whose units the line counts (assessor/domain/kpi/line_output.py)."""
    seconds = 0.0
    for line in factory.lines:
        for mid in output_machines(line):
            if (t := machines.get((line.id, mid))) is not None:
                seconds += t.standard_s
    return seconds / 3600.0
