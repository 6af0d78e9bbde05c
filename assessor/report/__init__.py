"""Before/after reports per factory and support project, and the portfolio report,
as PDF and CSV (filled in by the report modules of this package)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from assessor.domain import Factory
from assessor.labels import DISPLAY_TZ, Lang
from assessor.report.csv_export import factory_csv, portfolio_csv
from assessor.report.data import UnknownProjectError, collect_factory, collect_portfolio
from assessor.report.filenames import factory_file_name, portfolio_file_name
from assessor.report.pdf_factory import render_factory_pdf
from assessor.report.pdf_portfolio import render_portfolio_pdf

if TYPE_CHECKING:
    from assessor.service import AssessorService

Format = Literal["pdf", "csv"]
FORMATS: tuple[Format, ...] = ("pdf", "csv")
MEDIA_TYPES: dict[str, str] = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}

__all__ = ["FORMATS", "MEDIA_TYPES", "Format", "UnknownProjectError", "factory_report", "portfolio_report"]


def _day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(DISPLAY_TZ)).date()


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (expected pdf or csv)")


async def factory_report(
    service: AssessorService, factory: Factory, project_id: str | None, lang: Lang, fmt: Format
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of one factory's before/after report.

    Raises UnknownProjectError for a ``project_id`` the factory does not have."""
    _check_format(fmt)
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
    _check_format(fmt)
    data = await collect_portfolio(service, factories)
    if fmt == "pdf":
        content = await asyncio.to_thread(render_portfolio_pdf, data, lang)
    else:
        content = portfolio_csv(data, lang)
    return content, portfolio_file_name(lang, fmt, _day(data.generated_at)), MEDIA_TYPES[fmt]
