"""/docs (Swagger UI) served with its scripts from this app.

FastAPI's default /docs fetches Swagger UI from a CDN, which an edge box or a
Technopark's closed network cannot reach (and which would make the browser ask a third
party for every page view). The files come from the ``fastapi-offline`` package (MIT),
pinned in pyproject.toml because this route names its file layout. There is no /redoc:
ReDoc's page still loads its logo from the internet.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX = "/static/api-docs"


def install_api_docs(app: FastAPI) -> None:
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="api-docs")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
        )
