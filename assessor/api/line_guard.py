"""A line token opens the operator input of its own factory and nothing else.

Every route already refuses a line token on its own (``Principal.can_see`` is false for
it, and operator-only routes want an operator); this guard states the rule once, for
the API and the pages alike, so that a route added later cannot forget it. A request
with a line token (bearer header or session cookie) outside the allowed paths gets 403:
JSON under /api, the error page elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from assessor.services.auth import Role, authenticate

#: paths anyone signed in may reach: sign-in and out, the start page, static files
OPEN = re.compile(r"^/(login|logout|healthz|static/.*)?$")
#: the factory id of an operator input path (API or page)
OPERATOR_PATH = re.compile(r"^/(?:api/v1/)?factories/([^/]+)/operator(?:/.*)?$")


def allowed(path: str, factory_id: str | None) -> bool:
    if OPEN.match(path):
        return True
    m = OPERATOR_PATH.match(path)
    return m is not None and factory_id is not None and unquote(m.group(1)) == factory_id


def install_line_guard(app: FastAPI) -> None:
    service = app.state.service

    @app.middleware("http")
    async def line_guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        from assessor.web.base import SESSION_COOKIE

        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        token = token or request.cookies.get(SESSION_COOKIE)
        p = authenticate(service.store, token) if token else None
        if p is None or p.role is not Role.LINE or allowed(request.url.path, p.factory_id):
            return await call_next(request)
        if request.url.path.startswith("/api/"):
            message = "a line token may only enter reasons, scrap and counts for its own factory"
            return JSONResponse({"error": {"message": message}}, 403)
        return app.state.web.error(request, 403, "line_only", p)
