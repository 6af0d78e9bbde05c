"""Before/after reports per factory and support project, and the portfolio report,
as PDF and CSV (filled in by the report modules of this package)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from assessor.domain import Factory
from assessor.labels import Lang

if TYPE_CHECKING:
    from assessor.service import AssessorService

Format = Literal["pdf", "csv"]


async def factory_report(
    service: AssessorService, factory: Factory, project_id: str | None, lang: Lang, fmt: Format
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of one factory's before/after report."""
    raise NotImplementedError


async def portfolio_report(
    service: AssessorService, factories: Sequence[Factory], lang: Lang, fmt: Format
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of the report across ``factories``."""
    raise NotImplementedError
