"""The assessor's HTTP API. Every factory route checks the caller's token first: an
operator sees every factory, a factory user only its own (403 for any other, whether it
exists or not, so a factory user learns nothing about other factories)."""

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse

from assessor.api.body_limit import BodyLimit
from assessor.api.docs import install_api_docs
from assessor.api.errors import ApiError, install_error_handlers
from assessor.api.line_guard import install_line_guard
from assessor.api.reports import install_report_routes
from assessor.api.routes import operator as operator_routes
from assessor.auth import Principal, Role, authenticate
from assessor.baseline import BaselineError, BaselineLimitError
from assessor.domain import DateWindow, Factory
from assessor.influx_client import InfluxError
from assessor.level import ITEMS, QuestionnaireError, validate_answers
from assessor.registry.importer import RegistryError
from assessor.service import MAX_PRODUCT_WINDOW_DAYS, AssessorService
from assessor.upload_worker import import_baseline_bounded, parse_registry_bounded
from assessor.web import install_web

MAX_WINDOW_DAYS = 800
#: a gains window is a baseline or an after period: a year is typical, two the most
MAX_GAINS_WINDOW_DAYS = 800
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_REGISTRY_BYTES = 5 * 2**20
#: dates the KPI code and InfluxDB (int64 nanoseconds since 1970) can both represent
EARLIEST = dt.date(1970, 1, 2)
LATEST = dt.date(2200, 1, 1)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dt.date | dt.datetime | dt.time):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def parse_time(value: str, parameter: str, tz: str, *, end: bool = False) -> float:
    """ISO date or date-time; a date or a time without offset is in the factory's zone.
    A bare date as ``end`` means the end of that day (inclusive, as people write it)."""
    try:
        if len(value) == 10:
            day = _in_range(dt.date.fromisoformat(value), parameter)
            if end:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).timestamp()
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{parameter}: not an ISO date or date-time: {value!r}", parameter) from None
    _in_range(t.date(), parameter)
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t.timestamp()


def _in_range(day: dt.date, parameter: str) -> dt.date:
    if not EARLIEST <= day <= LATEST:
        raise ApiError(400, f"{parameter}: outside {EARLIEST} .. {LATEST}", parameter)
    return day


def _window(factory: Factory, start: str, end: str) -> tuple[float, float]:
    tz = factory.calendar.timezone
    s, e = parse_time(start, "start", tz), parse_time(end, "end", tz, end=True)
    if e <= s:
        raise ApiError(400, "end: must be after start", "end")
    if e - s > MAX_WINDOW_DAYS * 86400:
        raise ApiError(400, f"end: window longer than {MAX_WINDOW_DAYS} days", "end")
    return s, e


def _date(value: str | None, parameter: str) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{parameter}: not an ISO date (YYYY-MM-DD): {value!r}", parameter) from None
    return _in_range(day, parameter)


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

    def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "missing bearer token (Authorization: Bearer TOKEN)")
        found = authenticate(service.store, authorization[7:].strip())
        if found is None:
            raise ApiError(401, "invalid or revoked token")
        return found

    Caller = Annotated[Principal, Depends(principal)]

    def operator(p: Caller) -> Principal:
        if p.role != Role.OPERATOR:
            raise ApiError(403, "operators only")
        return p

    def factory_for(p: Principal, factory_id: str) -> Factory:
        if not p.can_see(factory_id):
            raise ApiError(403, "this token does not give access to that factory", "id")
        found = service.store.factory(factory_id)
        if found is None:
            raise ApiError(404, f"unknown factory {factory_id!r}", "id")
        return found

    @app.exception_handler(InfluxError)
    async def influx_down(_: Request, exc: InfluxError) -> JSONResponse:
        return JSONResponse({"error": {"message": f"measurement store unavailable: {exc}"}}, 503)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/factories", tags=["factories"])
    async def list_factories(p: Caller) -> list[dict[str, Any]]:
        return [
            {"id": f.id, "name": f.name, "region": f.region, "employees": f.employees}
            for f in service.store.factories()
            if p.can_see(f.id)
        ]

    @app.get("/api/v1/factories/{id}", tags=["factories"])
    async def get_factory(id: str, p: Caller) -> dict[str, Any]:
        return _jsonable(factory_for(p, id))

    @app.get("/api/v1/factories/{id}/kpis", tags=["kpis"])
    async def get_kpis(
        id: str,
        p: Caller,
        start: Annotated[str, Query(description="ISO date or date-time; dates are local to the factory")],
        end: Annotated[str, Query(description="ISO date (inclusive) or date-time (exclusive)")],
        group: Annotated[
            Literal["machine", "line", "factory", "product", "machine,product"],
            Query(description="product groups: per-product rows, unknown codes and changeovers"),
        ] = "factory",
        granularity: Literal["total", "day"] = "total",
    ) -> dict[str, Any]:
        f = factory_for(p, id)
        s, e = _window(f, start, end)
        head = {"factory": f.id, "start": s, "end": e, "group": group, "granularity": granularity}
        if group == "product" or group == "machine,product":
            if e - s > MAX_PRODUCT_WINDOW_DAYS * 86400:
                raise ApiError(
                    400, f"end: per-product window longer than {MAX_PRODUCT_WINDOW_DAYS} days", "end"
                )
            return head | await service.product_kpis(f, s, e, group, granularity)
        return head | {"rows": await service.kpi_rows(f, s, e, group, granularity)}

    @app.get("/api/v1/factories/{id}/assessment", tags=["level"])
    async def get_assessment(id: str, p: Caller) -> dict[str, Any]:
        f = factory_for(p, id)
        return _jsonable(await service.assessment(f))

    @app.get("/api/v1/factories/{id}/gains", tags=["gains"])
    async def get_gains(
        id: str,
        p: Caller,
        project: str | None = None,
        baseline_start: str | None = None,
        baseline_end: str | None = None,
        after_start: str | None = None,
        after_end: str | None = None,
    ) -> dict[str, Any]:
        f = factory_for(p, id)
        explicit = [baseline_start, baseline_end, after_start, after_end]
        if project is not None:
            proj = next((sp for sp in f.support_projects if sp.id == project), None)
            if proj is None:
                raise ApiError(404, f"project: unknown support project {project!r}", "project")
            baseline, after = proj.baseline, service.after_window(f, proj)
        elif all(explicit):
            bs, be = _date(baseline_start, "baseline_start"), _date(baseline_end, "baseline_end")
            as_, ae = _date(after_start, "after_start"), _date(after_end, "after_end")
            assert bs and be and as_ and ae
            if be < bs:
                raise ApiError(400, "baseline_end: before baseline_start", "baseline_end")
            if ae < as_:
                raise ApiError(400, "after_end: before after_start", "after_end")
            for name, a, b in (("baseline_end", bs, be), ("after_end", as_, ae)):
                if (b - a).days >= MAX_GAINS_WINDOW_DAYS:
                    raise ApiError(400, f"{name}: window longer than {MAX_GAINS_WINDOW_DAYS} days", name)
            baseline, after = DateWindow(bs, be), DateWindow(as_, ae)
        else:
            missing = [
                n
                for n, v in zip(
                    ("baseline_start", "baseline_end", "after_start", "after_end"), explicit, strict=True
                )
                if v is None
            ]
            raise ApiError(400, f"{missing[0]}: give project=ID or all four window dates", missing[0])
        return _jsonable(await service.gains(f, baseline, after, project))

    @app.get("/api/v1/factories/{id}/questionnaire", tags=["level"])
    async def get_questionnaire(id: str, p: Caller) -> dict[str, Any]:
        f = factory_for(p, id)
        return {"items": _jsonable(list(ITEMS)), "answers": service.store.answers(f.id)}

    @app.put("/api/v1/factories/{id}/questionnaire", tags=["level"])
    async def put_questionnaire(id: str, p: Caller, request: Request) -> dict[str, Any]:
        f = factory_for(p, id)
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            raise ApiError(400, "body: not JSON (or nested too deeply)", "body") from None
        answers = body.get("answers", body) if isinstance(body, dict) else None
        if not isinstance(answers, dict):
            raise ApiError(400, "answers: expected an object of item id -> 0..5", "answers")
        try:
            valid = validate_answers(answers)
        except QuestionnaireError as exc:
            first = exc.errors[0]
            raise ApiError(400, "; ".join(exc.errors), first.split(":", 1)[0]) from None
        service.store.save_answers(f.id, valid, dt.datetime.now(dt.UTC))
        service.forget_assessment(f.id)
        return {"answers": valid}

    @app.post("/api/v1/factories/{id}/baseline", tags=["baseline"])
    async def post_baseline(
        id: str, p: Caller, request: Request, filename: str | None = None
    ) -> dict[str, Any]:
        f = factory_for(p, id)
        data, name = await _upload(request, filename)
        try:
            rows = await import_baseline_bounded(service.store, f, data, name, service.cfg.uploads)
        except BaselineError as exc:
            details = [
                {"row": e.row, "column": e.column, "message": e.message, "message_ko": e.message_ko}
                for e in exc.errors
            ]
            if isinstance(exc, BaselineLimitError):
                message = f"file rejected, nothing stored: {exc.breach.en}"
                raise ApiError(exc.status, message, "file", details) from None
            first = exc.errors[0]
            raise ApiError(
                400,
                f"file rejected, nothing stored: {len(exc.errors)} problem(s); first: row {first.row}, "
                f"column {first.column}: {first.message}",
                "file",
                details,
            ) from None
        return {"stored_rows": len(rows), "source": "manual", "file": name}

    @app.post("/api/v1/registry", tags=["registry"])
    async def post_registry(request: Request, _: Annotated[Principal, Depends(operator)]) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_REGISTRY_BYTES:
            raise ApiError(413, f"body: larger than {MAX_REGISTRY_BYTES // 2**20} MiB", "body")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(
                400, f"body: not UTF-8 text (byte {exc.start}); save the file as UTF-8", "body"
            ) from None
        try:
            factories = await parse_registry_bounded(text, "request body", service.cfg.uploads)
        except RegistryError as exc:
            raise ApiError(exc.status, "; ".join(exc.errors), "body", exc.errors) from None
        service.store.upsert_factories(factories)
        for f in factories:
            service.forget_assessment(f.id)
        return {"imported": [f.id for f in factories]}

    @app.get("/api/v1/portfolio", tags=["portfolio"])
    async def get_portfolio(p: Caller) -> dict[str, Any]:
        visible = [f for f in service.store.factories() if p.can_see(f.id)]
        return {"factories": _jsonable(await service.portfolio(visible))}

    install_report_routes(app, service, Caller, factory_for)
    app.include_router(operator_routes.router(service))
    install_web(app, service)
    install_line_guard(app)
    if extra is not None:
        extra(app)
    return app


async def _upload(request: Request, filename: str | None) -> tuple[bytes, str]:
    """The file of a multipart form (field ``file``) or the raw body with ``?filename=``."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file: missing the form field 'file'", "file")
        data = await upload.read()
        name = upload.filename or filename or "upload.csv"
    else:
        data = await request.body()
        name = filename or ("upload.xlsx" if "spreadsheetml" in ctype else "upload.csv")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"file: larger than {MAX_UPLOAD_BYTES // 2**20} MiB", "file")
    if not data:
        raise ApiError(400, "file: empty", "file")
    return data, name
