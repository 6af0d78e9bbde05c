"""Server-rendered web dashboard (Korean by default, English switchable)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from assessor.services import AssessorService

#: plotly.js is versioned with the Python package, so a year-long cache is safe; the page
#: links it with ?v=<version> and a new version is a new URL
PLOTLY_CACHE = "public, max-age=31536000, immutable"


def plotly_js() -> tuple[Path, str]:
    """The plotly.min.js shipped inside the installed ``plotly`` package, and its version:
    edge boxes are often offline, so the browser must not need a CDN."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js", plotly.__version__


def install_web(app: FastAPI, service: AssessorService) -> None:
    """Mount the dashboard pages and their static files on ``app``."""
    from assessor.web import forms, pages_factory, pages_operator, pages_portfolio, session, targets
    from assessor.web.base import STATIC, Web

    web = Web(service)
    app.state.web = web
    js_path, version = plotly_js()
    web.env.globals["plotly_version"] = version

    # registered before the /static mount, which would otherwise answer this path first
    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_min_js() -> Response:
        return FileResponse(
            js_path, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": PLOTLY_CACHE}
        )

    session.install(app, web)
    pages_portfolio.install(app, web)
    pages_factory.install(app, web)
    forms.install(app, web)
    targets.install(app, web)
    pages_operator.install(app, web)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
