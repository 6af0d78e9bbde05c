"""Operator input API: the queue of stops waiting for a reason and the entries made at
the line. A line token (role ``line``) reaches these routes of its own factory and
nothing else; operators and the factory's own users may use them too.

The tablet page calls these routes with its session cookie; a write by cookie must come
from this site (the same Origin check as the page forms), a write by bearer token needs
none. Entries carry a client-made id, so a resend after a dropped connection stores
nothing twice.
"""

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from assessor.api.deps import Service
from assessor.api.errors import ApiError
from assessor.domain.models import Factory
from assessor.domain.operator_input import CATEGORIES, OperatorInputError, Segment, Stop
from assessor.services import AssessorService
from assessor.services.auth import Principal, authenticate
from assessor.services.operator_input import (
    CountCorrection,
    EditWindowClosed,
    EntryConflict,
    OperatorInputService,
    ScrapEntry,
    StoredStop,
)
from assessor.web.base import SESSION_COOKIE, same_origin

PREFIX = "/api/v1/factories/{id}/operator"


# -- models ---------------------------------------------------------------------------------


class SegmentModel(BaseModel):
    start: float
    end: float
    reason: str = Field(max_length=64)


class StopIn(BaseModel):
    client_id: str
    line: str
    machine: str
    state: str = Field("", max_length=20)
    start: float
    end: float
    segments: list[SegmentModel] = Field(min_length=1, max_length=8)
    comment: str = ""


class StopEdit(BaseModel):
    client_id: str
    version: int
    segments: list[SegmentModel] | None = Field(None, min_length=1, max_length=8)
    comment: str | None = None


class StopOut(BaseModel):
    id: int
    version: int
    line: str
    machine: str
    state: str
    start: float
    end: float
    segments: list[SegmentModel]
    comment: str
    entered_by: str
    entered_at: str
    updated_by: str
    updated_at: str
    source: str = "operator"


class SavedStop(BaseModel):
    entry: StopOut
    created: bool


class QueueStop(BaseModel):
    line: str
    machine: str
    state: str
    start: float
    end: float
    duration_s: float
    ongoing: bool
    plc_reasons: list[str]


class ReasonOut(BaseModel):
    code: str
    category: str
    category_ko: str
    category_en: str
    planned: bool
    name_ko: str
    name_en: str


class MachineOut(BaseModel):
    line: str
    machine: str
    name: str


class QueueOut(BaseModel):
    factory: str
    window_start: float
    window_end: float
    edit_window_s: float
    waiting: list[QueueStop]
    entries: list[StopOut]
    reasons: list[ReasonOut]
    machines: list[MachineOut]
    products: list[str]


class ScrapIn(BaseModel):
    client_id: str
    line: str
    machine: str
    product: str = ""
    at: float
    quantity: int
    reason: str
    comment: str = ""


class ScrapOut(BaseModel):
    id: int
    line: str
    machine: str
    product: str
    at: float
    quantity: int
    reason: str
    comment: str
    entered_by: str
    entered_at: str
    updated_by: str
    updated_at: str
    version: int
    created: bool


class CountIn(BaseModel):
    client_id: str
    line: str
    machine: str
    product: str = ""
    day: str
    shift: str = ""
    old_count: int | None = None
    new_count: int


class CountOut(BaseModel):
    id: int
    line: str
    machine: str
    product: str
    day: str
    shift: str
    old_count: int | None
    new_count: int
    entered_by: str
    entered_at: str
    updated_by: str
    updated_at: str
    version: int
    created: bool


class ScrapEdit(BaseModel):
    client_id: str
    version: int
    quantity: int | None = None
    reason: str | None = Field(None, max_length=64)
    comment: str | None = None


class CountEdit(BaseModel):
    client_id: str
    version: int
    new_count: int


class TodayOut(BaseModel):
    """Today's scrap entries and count corrections of the factory (its local day)."""

    day: str
    edit_window_s: float
    scrap: list[ScrapOut]
    counts: list[CountOut]


class AuditOut(BaseModel):
    entity: str
    entity_id: int
    field: str
    old_value: str | None
    new_value: str | None
    who: str
    at: str


def stop_out(s: StoredStop) -> StopOut:
    return StopOut(
        id=s.stop.id,
        version=s.stop.version,
        line=s.stop.line,
        machine=s.stop.machine,
        state=s.state,
        start=s.stop.start,
        end=s.stop.end,
        segments=[SegmentModel(start=g.start, end=g.end, reason=g.reason) for g in s.stop.segments],
        comment=s.stop.comment,
        entered_by=s.entered_by,
        entered_at=s.entered_at,
        updated_by=s.updated_by,
        updated_at=s.updated_at,
    )


def queue_stop(s: Stop) -> QueueStop:
    return QueueStop(
        line=s.line,
        machine=s.machine,
        state=s.state,
        start=s.start,
        end=s.end,
        duration_s=s.duration,
        ongoing=s.ongoing,
        plc_reasons=list(s.plc_reasons),
    )


def _segments(items: list[SegmentModel]) -> list[Segment]:
    return [Segment(s.start, s.end, s.reason) for s in items]


def who(p: Principal, request: Request) -> str:
    """The token behind an entry, and the name typed on the tablet if any."""
    # percent-encoded by the page: a header carries no Hangul as such
    name = unquote(request.headers.get("x-operator-name") or "").strip()[:40]
    ident = f"{p.role.value}:{p.token_id}"
    return f"{name} ({ident})" if name else ident


# -- routes ---------------------------------------------------------------------------------


router = APIRouter(prefix=PREFIX, tags=["operator input"])


def caller(
    request: Request, service: Service, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """A bearer token, or the session cookie of the tablet page (a write by cookie must
    come from this site)."""
    if authorization and authorization.lower().startswith("bearer "):
        found = authenticate(service.store, authorization[7:].strip())
    elif (cookie := request.cookies.get(SESSION_COOKIE)) is not None:
        found = authenticate(service.store, cookie)
        if found is not None and request.method != "GET" and not same_origin(request):
            raise ApiError(403, "the request did not come from this site")
    else:
        raise ApiError(401, "missing bearer token (Authorization: Bearer TOKEN)")
    if found is None:
        raise ApiError(401, "invalid or revoked token")
    return found


Caller = Annotated[Principal, Depends(caller)]


def operator_input(service: Service) -> OperatorInputService:
    return OperatorInputService(service)


Ops = Annotated[OperatorInputService, Depends(operator_input)]


def factory(service: AssessorService, p: Principal, factory_id: str) -> Factory:
    if not p.can_enter(factory_id):
        raise ApiError(403, "this token does not give access to that factory", "id")
    found = service.store.factory(factory_id)
    if found is None:
        raise ApiError(404, f"unknown factory {factory_id!r}", "id")
    return found


def bad(exc: OperatorInputError) -> ApiError:
    return ApiError(400, str(exc), exc.field)


def conflict(exc: EntryConflict) -> ApiError:
    current = exc.current
    if isinstance(current, StoredStop):
        body = stop_out(current).model_dump()
    elif isinstance(current, ScrapEntry):
        body = ScrapOut(**vars(current), created=False).model_dump()
    else:
        body = CountOut(**vars(current), created=False).model_dump()
    return ApiError(409, str(exc), "version", {"current": body})


@router.get("/queue", response_model=QueueOut)
async def get_queue(id: str, p: Caller, ops: Ops) -> QueueOut:
    f = factory(ops.service, p, id)
    view = await ops.queue(f)
    return QueueOut(
        factory=f.id,
        window_start=view.window[0],
        window_end=view.window[1],
        edit_window_s=ops.edit_window_s,
        waiting=[queue_stop(s) for s in view.waiting],
        entries=[stop_out(e) for e in view.entries],
        reasons=[
            ReasonOut(
                code=x.code,
                category=x.category,
                category_ko=CATEGORIES[x.category][0],
                category_en=CATEGORIES[x.category][1],
                planned=x.planned,
                name_ko=x.name_ko,
                name_en=x.name_en,
            )
            for x in f.downtime_reasons
        ],
        machines=[MachineOut(line=m.line_id, machine=m.id, name=m.name) for m in f.machines],
        products=[x.id for x in f.products],
    )


@router.post(
    "/stops",
    response_model=SavedStop,
    status_code=201,
    responses={200: {"model": SavedStop, "description": "a resend of an entry already stored"}},
)
async def post_stop(id: str, p: Caller, ops: Ops, body: StopIn, request: Request) -> Any:
    f = factory(ops.service, p, id)
    try:
        saved = ops.add_stop(
            f,
            client_id=body.client_id,
            line=body.line,
            machine=body.machine,
            state=body.state,
            start=body.start,
            end=body.end,
            segments=_segments(body.segments),
            comment=body.comment,
            who=who(p, request),
        )
    except OperatorInputError as exc:
        raise bad(exc) from None
    except EntryConflict as exc:
        raise conflict(exc) from None
    assert isinstance(saved.entry, StoredStop)
    return _stored(SavedStop(entry=stop_out(saved.entry), created=saved.created))


@router.put("/stops/{stop_id}", response_model=SavedStop)
async def put_stop(id: str, stop_id: int, p: Caller, ops: Ops, body: StopEdit, request: Request) -> SavedStop:
    f = factory(ops.service, p, id)
    saved = _edited(
        lambda: ops.edit_stop(
            f,
            stop_id,
            version=body.version,
            segments=None if body.segments is None else _segments(body.segments),
            comment=body.comment,
            client_id=body.client_id,
            who=who(p, request),
        ),
        "stop_id",
        stop_id,
    )
    assert isinstance(saved.entry, StoredStop)
    return SavedStop(entry=stop_out(saved.entry), created=saved.created)


@router.get("/stops/{stop_id}/audit", response_model=list[AuditOut])
async def get_audit(id: str, stop_id: int, p: Caller, ops: Ops) -> list[AuditOut]:
    f = factory(ops.service, p, id)
    return [AuditOut(**vars(a)) for a in ops.store.audit(f.id, "stop", stop_id)]


@router.post(
    "/scrap",
    response_model=ScrapOut,
    status_code=201,
    responses={200: {"model": ScrapOut, "description": "a resend of an entry already stored"}},
)
async def post_scrap(id: str, p: Caller, ops: Ops, body: ScrapIn, request: Request) -> Any:
    f = factory(ops.service, p, id)
    try:
        saved = ops.add_scrap(f, **body.model_dump(), who=who(p, request))
    except OperatorInputError as exc:
        raise bad(exc) from None
    assert isinstance(saved.entry, ScrapEntry)
    return _stored(ScrapOut(**vars(saved.entry), created=saved.created))


@router.post(
    "/counts",
    response_model=CountOut,
    status_code=201,
    responses={200: {"model": CountOut, "description": "a resend of an entry already stored"}},
)
async def post_count(id: str, p: Caller, ops: Ops, body: CountIn, request: Request) -> Any:
    f = factory(ops.service, p, id)
    try:
        saved = ops.add_count_correction(f, **body.model_dump(), who=who(p, request))
    except OperatorInputError as exc:
        raise bad(exc) from None
    assert isinstance(saved.entry, CountCorrection)
    return _stored(CountOut(**vars(saved.entry), created=saved.created))


def _stored(out: SavedStop | ScrapOut | CountOut) -> Any:
    """201 with the entry when it is new; 200 with the stored one for a resend."""
    return out if out.created else JSONResponse(out.model_dump(), 200)


@router.get("/today", response_model=TodayOut)
async def get_today(id: str, p: Caller, ops: Ops) -> TodayOut:
    f = factory(ops.service, p, id)
    day, scrap, counts = ops.today_entries(f)
    return TodayOut(
        day=day,
        edit_window_s=ops.edit_window_s,
        scrap=[ScrapOut(**vars(e), created=False) for e in scrap],
        counts=[CountOut(**vars(c), created=False) for c in counts],
    )


def _edited(call: Any, param: str, entry_id: int) -> Any:
    """Storage outcomes of an edit as API errors, naming the path parameter."""
    try:
        return call()
    except OperatorInputError as exc:
        raise bad(exc) from None
    except LookupError:
        raise ApiError(404, f"no entry {entry_id} for this factory", param) from None
    except EntryConflict as exc:
        raise conflict(exc) from None
    except EditWindowClosed as exc:
        raise ApiError(403, str(exc), param) from None


@router.put("/scrap/{entry_id}", response_model=ScrapOut)
async def put_scrap(
    id: str, entry_id: int, p: Caller, ops: Ops, body: ScrapEdit, request: Request
) -> ScrapOut:
    f = factory(ops.service, p, id)
    saved = _edited(
        lambda: ops.edit_scrap(
            f,
            entry_id,
            version=body.version,
            quantity=body.quantity,
            reason=body.reason,
            comment=body.comment,
            client_id=body.client_id,
            who=who(p, request),
        ),
        "entry_id",
        entry_id,
    )
    return ScrapOut(**vars(saved.entry), created=saved.created)


@router.put("/counts/{entry_id}", response_model=CountOut)
async def put_count(
    id: str, entry_id: int, p: Caller, ops: Ops, body: CountEdit, request: Request
) -> CountOut:
    f = factory(ops.service, p, id)
    saved = _edited(
        lambda: ops.edit_count_correction(
            f,
            entry_id,
            version=body.version,
            new_count=body.new_count,
            client_id=body.client_id,
            who=who(p, request),
        ),
        "entry_id",
        entry_id,
    )
    return CountOut(**vars(saved.entry), created=saved.created)
