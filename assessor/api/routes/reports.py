"""Report downloads over the API (bearer token, same access rules as the JSON routes)."""

# no "from __future__ import annotations": FastAPI must see the ``caller`` dependency
# itself, and a string annotation naming a closure variable cannot be resolved
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from assessor.api.errors import ApiError
from assessor.domain.models import Factory
from assessor.domain.report.filenames import download
from assessor.domain.report.pdf_common import ReportFontError
from assessor.services import AssessorService
from assessor.services.reports import factory_report, portfolio_report

FormatParam = Annotated[Literal["pdf", "csv"], Query(alias="format", description="pdf or csv")]
LangParam = Annotated[Literal["ko", "en"], Query(description="ko (default) or en")]


def install_report_routes(
    app: FastAPI, service: AssessorService, caller: Any, factory_for: Callable[..., Any]
) -> None:
    """``caller`` is the Annotated Principal dependency of create_app, ``factory_for(p, id)``
    its access check (403 for a factory the caller may not see, 404 for an unknown one)."""

    async def font_missing(_: Request, exc: Exception) -> JSONResponse:
        # a server set-up problem, not the caller's: say what to install
        return JSONResponse({"error": {"message": f"PDF reports unavailable: {exc}"}}, 503)

    app.add_exception_handler(ReportFontError, font_missing)

    @app.get("/api/v1/factories/{id}/report", tags=["reports"], response_class=Response)
    async def get_factory_report(
        id: str,
        p: caller,  # type: ignore[valid-type]
        project: Annotated[str | None, Query(description="support project id; default: latest")] = None,
        fmt: FormatParam = "pdf",
        lang: LangParam = "ko",
    ) -> Response:
        f: Factory = factory_for(p, id)
        if project is not None and not any(sp.id == project for sp in f.support_projects):
            raise ApiError(404, f"project: unknown support project {project!r}", "project")
        content, name, media_type = await factory_report(service, f, project, lang, fmt)
        return download(content, name, media_type, f)

    @app.get("/api/v1/portfolio/report", tags=["reports"], response_class=Response)
    async def get_portfolio_report(
        p: caller,  # type: ignore[valid-type]
        fmt: FormatParam = "pdf",
        lang: LangParam = "ko",
    ) -> Response:
        visible = [f for f in service.store.factories() if p.can_see(f.id)]
        content, name, media_type = await portfolio_report(service, visible, lang, fmt)
        return download(content, name, media_type, None)
