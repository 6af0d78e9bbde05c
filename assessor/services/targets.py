"""A support project's targets against its results: per chosen KPI the baseline, the
target, the result with its interval, the achievement and pass or fail; and the project's
verdict (docs/targets.md). The API, the factory page, the portfolio and the completion
pack all read this one answer, so every number agrees."""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assessor.data.daily_rows import window_bounds
from assessor.data.orders import finished_orders
from assessor.domain.gains import DailyValue, side_source
from assessor.domain.kpi.formulas import kpis, rollup
from assessor.domain.kpi.model import Totals
from assessor.domain.lead_time import (
    OrderSpan,
    daily_medians,
    finished_in,
    median_lead_time_h,
    spans_from_log,
)
from assessor.domain.models import DateWindow, Factory, Source, SupportProject
from assessor.domain.targets import (
    CatalogueKpi,
    EnteredResult,
    KpiTarget,
    ProjectKpi,
    ProjectTargets,
    ResultSource,
    Side,
    Status,
    bootstrap_interval,
    catalogue_kpi,
    median_or_none,
    project_verdict,
    ratio_of_sums,
    verdict,
)
from assessor.registry import targets as stored

if TYPE_CHECKING:
    from assessor.services import AssessorService

__all__ = [
    "KpiTarget",
    "ProjectTargets",
    "Side",
    "enter_result",
    "entered_results",
    "evidence_file",
    "find_project",
    "forget",
    "portfolio_targets",
    "project_targets",
]

#: how long a project's verdict is reused by the portfolio (seconds); entering a result
#: forgets it at once
VERDICT_MAX_AGE_S = 300.0

#: where each catalogue KPI's daily values come from in the gains' side values
_SIDE_KPI = {
    "units_per_hour": "units_per_hour",
    "defect_rate": "defect_rate",
    "on_time_delivery": "on_time_delivery",
}


_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[float, ProjectTargets]]] = (
    weakref.WeakKeyDictionary()
)


def forget(service: AssessorService, factory_id: str) -> None:
    """Drop the reused verdicts of a factory (a result entered, a registry imported)."""
    for key in [k for k in _cache.get(service, {}) if k[0] == factory_id]:
        del _cache[service][key]


def find_project(factory: Factory, project_id: str | None) -> SupportProject | None:
    """The named project, or the most recent one (latest start, as the reports pick it)."""
    if project_id is None:
        if not factory.support_projects:
            return None
        return max(enumerate(factory.support_projects), key=lambda ip: (ip[1].start, ip[0]))[1]
    return next((p for p in factory.support_projects if p.id == project_id), None)


async def project_targets(
    service: AssessorService, factory: Factory, project: SupportProject, *, max_age_s: float = 0.0
) -> ProjectTargets:
    now = time.monotonic()
    cached = _cache.setdefault(service, {}).get((factory.id, project.id))
    if cached is not None and now - cached[0] <= max_age_s:
        return cached[1]
    answer = await _compute(service, factory, project)
    _cache[service][(factory.id, project.id)] = (now, answer)
    return answer


async def _compute(service: AssessorService, factory: Factory, project: SupportProject) -> ProjectTargets:
    after = service.after_window(factory, project)
    chosen = [(k, catalogue_kpi(k.kpi)) for k in project.kpis]
    # only what a side needs: a stated baseline or an entered result reads no data
    before = await _sides(
        service, factory, project.baseline, {c.id for k, c in chosen if k.baseline is None}, logs=True
    )
    result = await _sides(
        service, factory, after, {c.id for k, c in chosen if k.result_source is ResultSource.DATA}
    )
    entered = _latest(stored.results(service.store, factory.id, project.id))
    rows = tuple(
        _kpi_target(k, c, before, result, entered.get(k.kpi), factory.calendar.timezone) for k, c in chosen
    )
    share = service.cfg.targets.pass_share
    return ProjectTargets(
        factory.id,
        project.id,
        project.program.value,
        project.baseline,
        after,
        rows,
        project_verdict([Status(r.status) for r in rows], share),
    )


@dataclass
class _Values:
    days: dict[str, list[DailyValue]]
    orders: list[OrderSpan]
    #: where the orders came from: "measured" (InfluxDB) or "manual" (an order log)
    orders_source: str = "measured"


async def _sides(
    service: AssessorService, factory: Factory, w: DateWindow, wanted: set[str], *, logs: bool = False
) -> _Values:
    """The KPIs' values over a window; ``logs``: a window with no orders in the data may
    take them from the factory's manual order log (the baseline, before the edge box)."""
    if not wanted:
        return _Values({}, [])
    days = dict(await service.side_values(factory, w)) if wanted & set(_SIDE_KPI) else {}
    start, end = window_bounds(factory, w)
    end = min(end, service.clock())
    if "equipment_utilisation" in wanted and end > start:
        days["equipment_utilisation"] = await _utilisation_days(service, factory, start, end)
    orders: list[OrderSpan] = []
    if "manufacturing_lead_time" in wanted and end > start:
        orders = await finished_orders(service.raw(factory), factory, start, end)
        if not orders and logs:
            logged = spans_from_log(service.store.baseline_orders(factory.id), factory.calendar.timezone)
            return _Values(days, finished_in(logged, start, end), "manual")
    return _Values(days, orders)


async def _utilisation_days(
    service: AssessorService, factory: Factory, start: float, end: float
) -> list[DailyValue]:
    """Run time over planned time with data, per day, as availability (ISO 22400 APT/PBT)
    counts it; a day whose availability the KPI policy flags is left out, as the gains do."""
    by_day: dict[dt.date, list[Totals]] = defaultdict(list)
    for (_, _, day), t in (await service.day_totals(factory, start, end)).items():
        by_day[day].append(t)
    out = []
    for day, parts in sorted(by_day.items()):
        t = rollup(parts)
        if t.known_s <= 0 or "availability" in {f.kpi for f in kpis(t, service.kpi_policy).flags}:
            continue
        out.append(DailyValue(day, t.run_s, t.known_s, Source.MEASURED))
    return out


def _latest(entries: Sequence[EnteredResult]) -> dict[str, EnteredResult]:
    out: dict[str, EnteredResult] = {}
    for e in entries:  # oldest first: the newest entry of a KPI wins
        out[e.kpi] = e
    return out


def _measured_side(c: CatalogueKpi, values: _Values, intervals: bool = True) -> Side:
    if c.id == "manufacturing_lead_time":
        times = [s.lead_time_h for s in values.orders]
        ci = bootstrap_interval(times, median_or_none) if intervals else None
        return Side(
            median_lead_time_h(values.orders),
            values.orders_source if times else "",
            len(times),
            *(ci or (None, None)),
        )
    days = values.days.get(c.id, [])
    pairs = [(d.num, d.den) for d in days]
    ci = bootstrap_interval(pairs, ratio_of_sums) if intervals else None
    return Side(ratio_of_sums(pairs), side_source(days), len(days), *(ci or (None, None)))


def _kpi_target(
    k: ProjectKpi, c: CatalogueKpi, before: _Values, after: _Values, entered: EnteredResult | None, tz: str
) -> KpiTarget:
    baseline = (
        Side(k.baseline, "registry") if k.baseline is not None else _measured_side(c, before, intervals=False)
    )
    if k.result_source is ResultSource.MANUAL:
        result = Side(entered.value, "entered", 1) if entered else Side(None, "")
    else:
        result = _measured_side(c, after)
    v = verdict(c, baseline.value, k.target, result.value)
    reason = v.reason
    if v.status is Status.NO_DATA and reason == "no_result" and k.result_source is ResultSource.MANUAL:
        reason = "not_entered"
    return KpiTarget(
        kpi=c.id,
        name_ko=c.name_ko,
        name_en=c.name_en,
        unit_ko=c.unit_ko,
        unit_en=c.unit_en,
        direction=c.direction.value,
        percent=c.percent,
        method_ko=c.method_ko,
        method_en=c.method_en,
        target_text=k.target.text,
        result_source=k.result_source.value,
        baseline=baseline,
        target=v.target,
        result=result,
        achievement=v.achievement,
        status=v.status.value,
        reason=reason,
        entered=entered if k.result_source is ResultSource.MANUAL else None,
        daily=tuple(daily_medians(after.orders, tz)) if c.id == "manufacturing_lead_time" else (),
    )


async def portfolio_targets(
    service: AssessorService, factory: Factory, project: SupportProject | None
) -> dict[str, Any] | None:
    """The portfolio's "목표 달성 3/4" of the factory's latest project; None when that
    project chose no KPIs."""
    if project is None or not project.kpis:
        return None
    v = (await project_targets(service, factory, project, max_age_s=VERDICT_MAX_AGE_S)).verdict
    return {"project": project.id, "met": v.met, "total": v.total, "open": v.open, "status": v.status}


def entered_results(
    service: AssessorService, factory: Factory, project: SupportProject
) -> list[EnteredResult]:
    """Every result entered for the project, oldest first."""
    return stored.results(service.store, factory.id, project.id)


def enter_result(
    service: AssessorService,
    factory: Factory,
    project: SupportProject,
    kpi: str,
    value: float,
    *,
    note: str,
    file_name: str,
    file_data: bytes,
    entered_by: str,
    token_id: str,
) -> EnteredResult:
    """Keep a result entered by hand with its evidence (ValueError: the file is empty or
    too large); the project's reused verdict is forgotten at once."""
    entry = stored.add_result(
        service.store,
        factory.id,
        project.id,
        kpi,
        value,
        note=note,
        file_name=file_name,
        file_data=file_data,
        entered_by=entered_by,
        token_id=token_id,
    )
    forget(service, factory.id)
    return entry


def evidence_file(service: AssessorService, factory: Factory, result_id: int) -> tuple[str, bytes] | None:
    """(file name, bytes) of an entered result's evidence; None: no such result here."""
    return stored.result_file(service.store, factory.id, result_id)
