"""A support project's targets over the API: the verdict per KPI, results entered with
their evidence, and the completion pack (docs/targets.md, docs/reports.md)."""

# no "from __future__ import annotations": FastAPI must see the ``caller`` dependency
# itself, and a string annotation naming a closure variable cannot be resolved
import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from assessor.api.errors import ApiError
from assessor.domain import Factory, SupportProject
from assessor.domain.targets import EnteredResult, ResultSource
from assessor.registry import targets as stored
from assessor.report.completion import completion_report
from assessor.report.filenames import download
from assessor.service import AssessorService
from assessor.services import targets as service_targets

MAX_NOTE_CHARS = 2000
MAX_NAME_CHARS = 200


class SideOut(BaseModel):
    value: float | None
    source: str
    count: int
    low: float | None
    high: float | None


class EnteredOut(BaseModel):
    id: int
    kpi: str
    value: float
    note: str
    file_name: str
    file_sha256: str
    file_size: int
    entered_by: str
    token_id: str
    entered_at: str


class DayOut(BaseModel):
    day: str
    median_h: float
    orders: int


class KpiTargetOut(BaseModel):
    kpi: str
    name_ko: str
    name_en: str
    unit_ko: str
    unit_en: str
    direction: Literal["higher", "lower"]
    percent: bool
    method_ko: str
    method_en: str
    target_text: str
    result_source: Literal["data", "manual"]
    baseline: SideOut
    target: float | None
    result: SideOut
    achievement: float | None
    status: Literal["pass", "fail", "no_data"]
    reason: str
    entered: EnteredOut | None
    daily: list[DayOut]


class VerdictOut(BaseModel):
    met: int
    total: int
    open: int
    pass_share: float
    status: Literal["pass", "fail", "open", "none"]


class WindowOut(BaseModel):
    start: str
    end: str


class ProjectTargetsOut(BaseModel):
    factory_id: str
    project_id: str
    program: str
    baseline_window: WindowOut
    result_window: WindowOut
    kpis: list[KpiTargetOut]
    verdict: VerdictOut


def _entered(e: EnteredResult) -> EnteredOut:
    return EnteredOut(**{k: getattr(e, k) for k in EnteredOut.model_fields})


def install_target_routes(
    app: FastAPI, service: AssessorService, caller: Any, factory_for: Callable[..., Any]
) -> None:
    """``caller`` and ``factory_for`` as for ``install_report_routes``."""
    router = APIRouter(prefix="/api/v1/factories/{id}", tags=["targets"])

    def project_of(f: Factory, project: str | None) -> SupportProject:
        found = service_targets.find_project(f, project)
        if found is None:
            raise ApiError(404, f"project: unknown support project {project!r}", "project")
        return found

    @router.get("/targets")
    async def get_targets(
        id: str,
        p: caller,  # type: ignore[valid-type]
        project: Annotated[str | None, Query(description="support project id; default: latest")] = None,
    ) -> ProjectTargetsOut:
        f: Factory = factory_for(p, id)
        answer = await service_targets.project_targets(service, f, project_of(f, project))
        return ProjectTargetsOut.model_validate(service_targets.as_json(answer))

    @router.get("/projects/{project}/results")
    async def list_results(id: str, project: str, p: caller) -> list[EnteredOut]:  # type: ignore[valid-type]
        f: Factory = factory_for(p, id)
        sp = project_of(f, project)
        return [_entered(e) for e in stored.results(service.store, f.id, sp.id)]

    @router.post("/projects/{project}/results", status_code=201)
    async def post_result(id: str, project: str, p: caller, request: Request) -> EnteredOut:  # type: ignore[valid-type]
        """A multipart form: ``kpi``, ``value``, ``note``, ``entered_by`` (the person) and
        ``file`` (the evidence: a statement, a spreadsheet, a scan)."""
        f: Factory = factory_for(p, id)
        sp = project_of(f, project)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(
                400, "body: expected a multipart form (kpi, value, note, entered_by, file)", "body"
            )
        form = await request.form()
        kpi = _field(form, "kpi", 100)
        chosen = next((k for k in sp.kpis if k.kpi == kpi), None)
        if chosen is None:
            known = ", ".join(k.kpi for k in sp.kpis) or "none"
            raise ApiError(400, f"kpi: project {sp.id!r} did not choose {kpi!r} (it chose: {known})", "kpi")
        if chosen.result_source is not ResultSource.MANUAL:
            raise ApiError(400, f"kpi: {kpi!r} is measured from the data (result_source: data)", "kpi")
        raw_value = _field(form, "value", 50)
        try:
            value = float(raw_value)
        except ValueError:
            raise ApiError(400, f"value: not a number: {raw_value!r}", "value") from None
        if not math.isfinite(value) or value < 0:
            raise ApiError(400, f"value: must be a number of at least 0, got {raw_value!r}", "value")
        note = _field(form, "note", MAX_NOTE_CHARS)
        who = _field(form, "entered_by", MAX_NAME_CHARS)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file: the evidence file is missing (form field 'file')", "file")
        data = await upload.read()
        try:
            entry = stored.add_result(
                service.store,
                f.id,
                sp.id,
                kpi,
                value,
                note=note,
                file_name=upload.filename or "evidence",
                file_data=data,
                entered_by=who,
                token_id=p.token_id,
            )
        except ValueError as exc:
            raise ApiError(400, f"file: {exc}", "file") from None
        service_targets.forget(service, f.id)
        return _entered(entry)

    @router.get("/projects/{project}/results/{result_id}/file", response_class=Response)
    async def get_result_file(id: str, project: str, result_id: int, p: caller) -> Response:  # type: ignore[valid-type]
        f: Factory = factory_for(p, id)
        project_of(f, project)
        got = stored.result_file(service.store, f.id, result_id)
        if got is None:
            raise ApiError(404, f"result_id: no entered result {result_id}", "result_id")
        return download(got[1], got[0], "application/octet-stream", f)

    @router.get("/projects/{project}/completion", response_class=Response)
    async def get_completion(
        id: str,
        project: str,
        p: caller,  # type: ignore[valid-type]
        fmt: Annotated[Literal["pdf", "csv"], Query(alias="format")] = "pdf",
        lang: Literal["ko", "en"] = "ko",
    ) -> Response:
        f: Factory = factory_for(p, id)
        sp = project_of(f, project)
        content, name, media_type = await completion_report(service, f, sp, lang, fmt)
        return download(content, name, media_type, f)

    app.include_router(router)


def _field(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{name}: required", name)
    if len(value) > limit:
        raise ApiError(400, f"{name}: longer than {limit} characters", name)
    return value.strip()


__all__ = ["ProjectTargetsOut", "install_target_routes"]
