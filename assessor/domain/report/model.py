"""The facts a report states, collected once by assessor.services.reports so the PDF and
the CSV of one request say the same thing as the JSON API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from assessor.domain.downtime import ReasonStat
from assessor.domain.gains import GainsReport, KpiGain
from assessor.domain.level import Assessment
from assessor.domain.models import DateWindow, Factory, SupportProject
from assessor.domain.targets import ProjectTargets

#: length of the "recent KPIs" period, in complete local days
RECENT_DAYS = 30


class UnknownProjectError(LookupError):
    def __init__(self, factory_id: str, project_id: str):
        self.factory_id, self.project_id = factory_id, project_id
        super().__init__(f"unknown support project {project_id!r} of factory {factory_id!r}")


@dataclass(frozen=True)
class Period:
    """Measured factory KPIs over one window (a row of ``AssessorService.kpi_rows``)."""

    key: str  # "before", "after" or "recent_30d"
    window: DateWindow
    kpis: dict[str, Any]


@dataclass(frozen=True)
class FactoryReportData:
    factory: Factory
    project: SupportProject | None
    gains: GainsReport | None
    assessment: Assessment
    recent: Period
    #: periods with a measured OEE, for the components chart (before, after, recent)
    oee_periods: tuple[Period, ...]
    generated_at: float
    #: every measured period (before, after, recent): the chart notes name those left out
    periods: tuple[Period, ...] = ()
    #: the factory's small-stop limit, seconds (for the losses note)
    small_stop_s: float | None = None
    #: downtime by reason and source (PLC or line) over the last ``reason_days`` days
    reasons: tuple[ReasonStat, ...] = ()
    reason_days: int = 7
    #: the project's own targets (docs/targets.md); None: no project, or one without KPIs
    targets: ProjectTargets | None = None

    def gain(self, kpi: str) -> KpiGain | None:
        if self.gains is None:
            return None
        return next((g for g in self.gains.gains if g.kpi == kpi), None)

    def side_sources(self, side: str) -> dict[str, list[str]]:
        """source -> KPIs of one side that came from it (KPIs without days left out).

        A manual baseline rarely covers every KPI (no OEE in a daily log), so one side
        often has two sources; saying which KPI has which beats a bare "mixed"."""
        out: dict[str, list[str]] = {}
        for g in self.gains.gains if self.gains is not None else []:
            src = g.source_before if side == "before" else g.source_after
            if src:
                out.setdefault(src, []).append(g.kpi)
        return out

    def side_days(self, side: str) -> int:
        if self.gains is None:
            return 0
        return max((g.days_before if side == "before" else g.days_after for g in self.gains.gains), default=0)


@dataclass(frozen=True)
class PortfolioReportData:
    factories: tuple[Factory, ...]
    #: rows of ``AssessorService.portfolio``, in the order of ``factories``
    rows: tuple[dict[str, Any], ...]
    generated_at: float


def find_project(factory: Factory, project_id: str | None) -> SupportProject | None:
    """The named project, or the most recent one (latest start) when no id is given."""
    if project_id is not None:
        found = next((p for p in factory.support_projects if p.id == project_id), None)
        if found is None:
            raise UnknownProjectError(factory.id, project_id)
        return found
    if not factory.support_projects:
        return None
    # registry order breaks ties, so two projects starting the same day pick the later listed
    return max(enumerate(factory.support_projects), key=lambda ip: (ip[1].start, ip[0]))[1]


def recent_window(factory: Factory, now: float) -> DateWindow:
    today = dt.datetime.fromtimestamp(now, ZoneInfo(factory.calendar.timezone)).date()
    return DateWindow(today - dt.timedelta(days=RECENT_DAYS), today - dt.timedelta(days=1))
