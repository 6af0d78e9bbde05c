"""Report data built without InfluxDB: a factory with a support project, measured
after days, manual before days, and a level from empty evidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from assessor.domain.gains import GAIN_KPIS, DailyValue, GainsReport, flag_exclusions, kpi_gain, monthly_trend
from assessor.domain.kpi.model import KpiPolicy, Totals
from assessor.domain.level import Evidence, assess, load_rules
from assessor.domain.models import DateWindow, Factory, Program, Source, SupportProject
from assessor.domain.report.model import FactoryReportData, Period, PortfolioReportData
from assessor.services.kpis import kpi_row as service_kpi_row

GENERATED = dt.datetime(2024, 5, 5, 1, 30, tzinfo=dt.UTC).timestamp()  # 10:30 in Seoul
BASELINE = DateWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 10))
AFTER = DateWindow(dt.date(2024, 2, 1), dt.date(2024, 4, 30))
PROJECT = SupportProject(
    "sp-2024", Program.BASIC, dt.date(2024, 1, 11), dt.date(2024, 1, 31), BASELINE, AFTER
)
FACTORY = Factory("sim-factory", "시뮬정밀", region="충남", employees=12, support_projects=(PROJECT,))


def _days(w: DateWindow, num: float, den: float, source: Source, step: float = 0.0) -> list[DailyValue]:
    n = (w.end - w.start).days + 1
    # a slow drift over the days gives the monthly trend a shape
    return [
        DailyValue(w.start + dt.timedelta(days=i), num + step * (i % 3) + step * i / 30, den, source)
        for i in range(n)
    ]


def _sides() -> dict[str, tuple[list[DailyValue], list[DailyValue]]]:
    manual, measured = Source.MANUAL, Source.MEASURED
    return {
        "units_per_hour": (_days(BASELINE, 2000, 8, manual, 30), _days(AFTER, 2700, 8, measured, 40)),
        "units_per_labour_hour": (
            _days(BASELINE, 2000, 96, manual, 30),
            _days(AFTER, 2700, 96, measured, 40),
        ),
        "defect_rate": (_days(BASELINE, 100, 2000, manual, 5), _days(AFTER, 40, 2700, measured, 3)),
        "energy_per_unit_kwh": ([], _days(AFTER, 800, 2700, measured, 10)),
        "on_time_delivery": (_days(BASELINE, 8, 10, manual), []),
        "oee": ([], _days(AFTER, 20000, 28800, measured, 500)),
    }


def gains_report(*, flagged: bool = False) -> GainsReport:
    """The gains; ``flagged``: the after side's OEE is flagged (FLAGGED_KPIS), so OEE is
    left out of the gains."""
    sides = _sides()
    excluded = {"oee": flag_exclusions("oee", "after", FLAGGED_KPIS, sides["oee"][1])} if flagged else {}
    gains = [kpi_gain(k, *sides[k], excluded=excluded.get(k, ())) for k in (*GAIN_KPIS, "oee")]
    trend = {k: monthly_trend(sides[k][1]) for k in (*GAIN_KPIS, "oee")}
    return GainsReport(FACTORY.id, PROJECT.id, BASELINE, AFTER, gains, trend)


def kpi_row(t: Totals) -> dict[str, Any]:
    return service_kpi_row(t, KpiPolicy())


def recent_totals(*, ideal_cycle_s: float = 18.0) -> Totals:
    """30 days of one machine: 720 h planned, 40 h without data, 40 h of long stops and
    setup, 5 h of small stops, 110,000 units of which 1,650 rejects."""
    return Totals(
        planned_s=720 * 3600.0,
        run_s=640 * 3600.0,
        idle_s=10 * 3600.0,
        fault_s=20 * 3600.0,
        setup_s=10 * 3600.0,
        stopped_s=0.0,
        planned_stop_s=0.0,
        unknown_s=40 * 3600.0,
        ideal_run_s=ideal_cycle_s * 110_000,
        total_count=110_000,
        good_count=108_350,
        reject_count=1_650,
        failures=12,
        repair_s=20 * 3600.0,
        small_stop_s=5 * 3600.0,
        small_stops=400,
    )


#: the row of a factory whose registered ideal cycle time (90 s) is far slower than its
#: machine really runs: performance would be 432 %
TOO_SLOW_IDEAL_S = 640 * 3600.0 * 4.32 / 110_000
FLAGGED_KPIS: dict[str, Any] = {
    "factory": "sim-factory",
    **kpi_row(recent_totals(ideal_cycle_s=TOO_SLOW_IDEAL_S)),
}

RECENT_KPIS: dict[str, Any] = {
    **kpi_row(recent_totals()),
    "factory": FACTORY.id,
    # round figures the tests look for; the losses above stay as computed
    "oee": 0.6123,
    "availability": 0.81,
    "performance": 0.9,
    "quality": 0.84,
    "units_per_hour": 331.25,
    "defect_rate": 0.0151,
    "coverage": 0.99,
    "total_count": 123456,
}


def factory_data(
    *, with_project: bool = True, recent_kpis: dict[str, Any] | None = None
) -> FactoryReportData:
    assessment = assess(Evidence(), None, load_rules(None))
    kpis = RECENT_KPIS if recent_kpis is None else recent_kpis
    recent = Period("recent_30d", DateWindow(dt.date(2024, 4, 5), dt.date(2024, 5, 4)), kpis)
    after = Period("after", AFTER, {**RECENT_KPIS, "oee": 0.7, "availability": 0.85})
    factory = FACTORY if with_project else Factory("plain", "평범산업 <주>", region="대전")
    periods = (after, recent) if with_project else (recent,)
    return FactoryReportData(
        factory=factory,
        project=PROJECT if with_project else None,
        gains=gains_report(flagged=recent_kpis is not None) if with_project else None,
        assessment=assessment,
        recent=recent,
        oee_periods=tuple(p for p in periods if p.kpis.get("oee") is not None),
        generated_at=GENERATED,
        periods=periods,
        small_stop_s=120.0,
    )


def portfolio_row(factory: Factory, *, project: str | None, improvement: float | None) -> dict[str, Any]:
    gains = []
    if project is not None:
        gains = [
            {
                "kpi": "units_per_hour",
                "before": 250.0,
                "after": 250.0 * (1 + (improvement or 0.0)),
                "improvement": improvement,
                "reference": 0.3,
                "meets_reference": None if improvement is None else improvement >= 0.3,
                "source_before": "manual",
                "source_after": "measured",
            }
        ]
    return {
        "factory": factory.id,
        "name": factory.name,
        "region": factory.region,
        "tier": "basic",
        "level": 2,
        "build_level": "basic",
        "score": 312.5,
        "oee_7d": 0.61,
        "coverage_7d": 0.97,
        "project": project,
        "gains": gains,
        "data_health": {
            "machines": 2,
            "reporting": 1,
            "coverage": 0.5,
            "last_sample": {"m1": GENERATED - 60, "m2": None},
            "silent_machines": ["m2"],
            "last_seen": GENERATED - 60,
        },
    }


def portfolio_data() -> PortfolioReportData:
    other = Factory("other", "다른공장", region="대전", employees=5)
    rows = (
        portfolio_row(FACTORY, project="sp-2024", improvement=0.35),
        portfolio_row(other, project=None, improvement=None),
    )
    return PortfolioReportData((FACTORY, other), rows, GENERATED)
