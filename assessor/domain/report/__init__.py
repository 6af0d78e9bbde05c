"""Before/after reports per factory and support project, and the portfolio report,
as PDF and CSV, rendered from the facts in ``model`` (collected by
assessor.services.reports)."""

from __future__ import annotations

from typing import Literal

from assessor.domain.report.model import UnknownProjectError

Format = Literal["pdf", "csv"]
FORMATS: tuple[Format, ...] = ("pdf", "csv")
MEDIA_TYPES: dict[str, str] = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}

__all__ = ["FORMATS", "MEDIA_TYPES", "Format", "UnknownProjectError", "check_format"]


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (expected pdf or csv)")
