"""Errors as JSON that name the bad parameter: ``{"error": {"message": ..., "parameter": ...}}``.

Every API error goes out through here: a route raises ApiError, and the errors of the
layers below that are not the caller's fault (the measurement store down, no font for
PDF reports) become 503 answers of the same shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assessor.domain.report.pdf_common import ReportFontError
from assessor.services.errors import InfluxError


class ApiError(Exception):
    def __init__(self, status: int, message: str, parameter: str | None = None, details: object = None):
        self.status, self.message, self.parameter, self.details = status, message, parameter, details
        super().__init__(message)


def _body(message: str, parameter: str | None = None, details: object = None) -> dict[str, object]:
    err: dict[str, object] = {"message": message}
    if parameter is not None:
        err["parameter"] = parameter
    if details is not None:
        err["details"] = details
    return {"error": err}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(_body(exc.message, exc.parameter, exc.details), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
        parameter = ".".join(loc) or None
        message = f"{parameter}: {first.get('msg')}" if parameter else str(first.get("msg"))
        return JSONResponse(_body(message, parameter), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_body(str(exc.detail)), exc.status_code)

    @app.exception_handler(InfluxError)
    async def influx_down(_: Request, exc: InfluxError) -> JSONResponse:
        return JSONResponse(_body(f"measurement store unavailable: {exc}"), 503)

    @app.exception_handler(ReportFontError)
    async def font_missing(_: Request, exc: ReportFontError) -> JSONResponse:
        # a server set-up problem, not the caller's: say what to install
        return JSONResponse(_body(f"PDF reports unavailable: {exc}"), 503)
