"""Report downloads over the API (bearer token, same access rules as the JSON routes)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.errors import ApiError
from assessor.domain.report.filenames import download
from assessor.services.reports import factory_report, portfolio_report

FormatParam = Annotated[Literal["pdf", "csv"], Query(alias="format", description="pdf or csv")]
LangParam = Annotated[Literal["ko", "en"], Query(description="ko (default) or en")]
#: what /docs says a download is: the file itself, as an attachment
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report file (Content-Disposition: attachment)",
        "content": {
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string", "description": "UTF-8 CSV with a byte order mark"}},
        },
    }
}

router = APIRouter(tags=["reports"])


@router.get("/api/v1/factories/{id}/report", response_class=Response, responses=DOWNLOAD)
async def get_factory_report(
    id: str,
    p: Caller,
    service: Service,
    project: Annotated[str | None, Query(description="support project id; default: latest")] = None,
    fmt: FormatParam = "pdf",
    lang: LangParam = "ko",
) -> Response:
    f = factory_for(service, p, id)
    if project is not None and not any(sp.id == project for sp in f.support_projects):
        raise ApiError(404, f"project: unknown support project {project!r}", "project")
    content, name, media_type = await factory_report(service, f, project, lang, fmt)
    return download(content, name, media_type, f)


@router.get("/api/v1/portfolio/report", response_class=Response, responses=DOWNLOAD)
async def get_portfolio_report(
    p: Caller,
    service: Service,
    fmt: FormatParam = "pdf",
    lang: LangParam = "ko",
) -> Response:
    visible = [f for f in service.store.factories() if p.can_see(f.id)]
    content, name, media_type = await portfolio_report(service, visible, lang, fmt)
    return download(content, name, media_type, None)
