"""The assessor's HTTP API: the app, its middleware and error handlers, and the routers of
assessor.api.routes (one per topic). The web pages (assessor.web) share the app."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from assessor.api.body_limit import BodyLimit
from assessor.api.docs import install_api_docs
from assessor.api.errors import install_error_handlers
from assessor.api.line_guard import install_line_guard
from assessor.api.params import EARLIEST, LATEST, MAX_GAINS_WINDOW_DAYS, MAX_WINDOW_DAYS, parse_time
from assessor.api.routes import (
    assessment,
    baseline,
    factories,
    gains,
    health,
    kpis,
    operator,
    portfolio,
    questionnaire,
    registry,
    reports,
    targets,
)
from assessor.services import AssessorService
from assessor.services.inputs import MAX_REGISTRY_BYTES, MAX_UPLOAD_BYTES
from assessor.web import install_web

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_GAINS_WINDOW_DAYS",
    "MAX_REGISTRY_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_WINDOW_DAYS",
    "create_app",
    "parse_time",
]

ROUTERS = (
    health,
    factories,
    kpis,
    assessment,
    gains,
    questionnaire,
    baseline,
    registry,
    portfolio,
    reports,
    targets,
    operator,
)


def create_app(
    service: AssessorService, *, lifespan: Any = None, extra: Callable[[FastAPI], None] | None = None
) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="factorylens assessor",
        version="1",
        description="ISO 22400 KPIs, smart-factory level and before/after gains per factory.",
        # FastAPI's own /docs and /redoc load their scripts from a CDN; ours are served here
        docs_url=None,
        redoc_url=None,
    )
    # a multipart form adds a little to the file it carries
    app.add_middleware(BodyLimit, max_bytes=MAX_UPLOAD_BYTES + 2**20)
    install_api_docs(app)
    install_error_handlers(app)
    app.state.service = service
    for module in ROUTERS:
        app.include_router(module.router)
    install_web(app, service)
    install_line_guard(app)
    if extra is not None:
        extra(app)
    return app
