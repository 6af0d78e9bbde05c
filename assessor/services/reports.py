"""Reports: the facts collected through the other services, then rendered as PDF or CSV
(assessor.domain.report)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from assessor.data.daily_rows import window_bounds
from assessor.data.health import first_last_state
from assessor.domain.labels import DISPLAY_TZ, Lang
from assessor.domain.models import DateWindow, Factory, SupportProject
from assessor.domain.report import FORMATS, MEDIA_TYPES, Format, UnknownProjectError, check_format
from assessor.domain.report.completion import (
    CompletionData,
    MachineEvidence,
    completion_csv,
    completion_file_name,
)
from assessor.domain.report.csv_export import factory_csv, portfolio_csv
from assessor.domain.report.filenames import factory_file_name, portfolio_file_name
from assessor.domain.report.model import (
    FactoryReportData,
    Period,
    PortfolioReportData,
    find_project,
    recent_window,
)
from assessor.domain.report.pdf_completion import render_completion_pdf
from assessor.domain.report.pdf_factory import render_factory_pdf
from assessor.domain.report.pdf_portfolio import render_portfolio_pdf
from assessor.services.operator_input import OperatorInputService
from assessor.services.targets import project_targets

if TYPE_CHECKING:
    from assessor.services import AssessorService

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Format",
    "UnknownProjectError",
    "collect_completion",
    "collect_factory",
    "collect_portfolio",
    "completion_report",
    "factory_report",
    "portfolio_report",
]


async def _period(service: AssessorService, factory: Factory, key: str, w: DateWindow) -> Period:
    start, end = window_bounds(factory, w)
    end = min(end, service.clock())
    return Period(key, w, await service.factory_kpis(factory, start, end) if end > start else {})


async def collect_factory(
    service: AssessorService, factory: Factory, project_id: str | None
) -> FactoryReportData:
    now = service.clock()
    project = find_project(factory, project_id)
    gains = None
    periods: list[Period] = []
    if project is not None:
        after = service.after_window(factory, project)
        gains = await service.gains(factory, project.baseline, after, project.id)
        periods.append(await _period(service, factory, "before", project.baseline))
        periods.append(await _period(service, factory, "after", after))
    recent = await _period(service, factory, "recent_30d", recent_window(factory, now))
    periods.append(recent)
    assessment = await service.assessment(factory)
    reasons = await OperatorInputService(service).recent_reason_stats(factory, now)
    targets = await project_targets(service, factory, project) if project and project.kpis else None
    return FactoryReportData(
        factory=factory,
        project=project,
        gains=gains,
        assessment=assessment,
        recent=recent,
        oee_periods=tuple(p for p in periods if p.kpis.get("oee") is not None),
        generated_at=now,
        periods=tuple(periods),
        small_stop_s=service.cfg.kpi.small_stop_for(factory),
        reasons=tuple(reasons),
        targets=targets,
    )


async def collect_portfolio(service: AssessorService, factories: Sequence[Factory]) -> PortfolioReportData:
    now = service.clock()
    rows = await service.portfolio(factories)
    return PortfolioReportData(tuple(factories), tuple(rows), now)


def _day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(DISPLAY_TZ)).date()


async def factory_report(
    service: AssessorService, factory: Factory, project_id: str | None, lang: Lang, fmt: Format
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of one factory's before/after report.

    Raises UnknownProjectError for a ``project_id`` the factory does not have."""
    check_format(fmt)
    data = await collect_factory(service, factory, project_id)
    if fmt == "pdf":
        # rendering is CPU work of up to a second: off the event loop, the API keeps serving
        content = await asyncio.to_thread(render_factory_pdf, data, lang)
    else:
        content = factory_csv(data, lang)
    project = data.project.id if data.project else None
    name = factory_file_name(factory, project, lang, fmt, _day(data.generated_at))
    return content, name, MEDIA_TYPES[fmt]


async def portfolio_report(
    service: AssessorService, factories: Sequence[Factory], lang: Lang, fmt: Format
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of the report across ``factories``."""
    check_format(fmt)
    data = await collect_portfolio(service, factories)
    if fmt == "pdf":
        content = await asyncio.to_thread(render_portfolio_pdf, data, lang)
    else:
        content = portfolio_csv(data, lang)
    return content, portfolio_file_name(lang, fmt, _day(data.generated_at)), MEDIA_TYPES[fmt]


async def collect_completion(
    service: AssessorService, factory: Factory, project: SupportProject
) -> CompletionData:
    """The completion pack's facts: the project's targets, the level, the data health and
    each machine's first and last sample since the project started."""
    tz = ZoneInfo(factory.calendar.timezone)
    since = dt.datetime.combine(project.start, dt.time(), tz).timestamp()
    targets, assessment, health, samples = await asyncio.gather(
        project_targets(service, factory, project),
        service.assessment(factory),
        service.data_health([factory]),
        first_last_state(service.raw(factory), factory.id, since, service.clock()),
    )
    last = health.get(factory.id, {})
    machines = tuple(
        MachineEvidence(
            m.line_id,
            m.id,
            *(samples[(m.line_id, m.id)] if len(samples.get((m.line_id, m.id), [])) == 2 else (None, None)),
            reporting=last.get(m.id) is not None,
        )
        for m in factory.machines
    )
    seen = sum(1 for t in last.values() if t is not None)
    return CompletionData(
        factory,
        project,
        targets,
        assessment,
        machines,
        seen / len(last) if last else None,
        service.cfg.kpi.coverage_days,
        service.clock(),
    )


async def completion_report(
    service: AssessorService, factory: Factory, project: SupportProject, lang: Lang, fmt: Format
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of a support project's completion pack."""
    check_format(fmt)
    data = await collect_completion(service, factory, project)
    if fmt == "pdf":
        content = await asyncio.to_thread(render_completion_pdf, data, lang)
    else:
        content = completion_csv(data, lang)
    return content, completion_file_name(data, lang, fmt), MEDIA_TYPES[fmt]
