"""A support project's targets over the API: the verdict per KPI, results entered with
their evidence, and the completion pack (docs/targets.md, docs/reports.md)."""

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.errors import ApiError
from assessor.api.models import EnteredResult, ProjectTargets, jsonable, respond
from assessor.api.routes.reports import DOWNLOAD, FormatParam, LangParam
from assessor.domain.models import Factory, SupportProject
from assessor.domain.report.filenames import download
from assessor.domain.targets import ResultSource
from assessor.services import targets as service_targets
from assessor.services.reports import completion_report

MAX_NOTE_CHARS = 2000
MAX_NAME_CHARS = 200

#: what /docs says an evidence file is: the bytes as they were uploaded
EVIDENCE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the evidence file as uploaded (Content-Disposition: attachment)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}

router = APIRouter(prefix="/api/v1/factories/{id}", tags=["targets"])


def _project_of(f: Factory, project: str | None) -> SupportProject:
    found = service_targets.find_project(f, project)
    if found is None:
        raise ApiError(404, f"project: unknown support project {project!r}", "project")
    return found


def _entered(e: Any) -> dict[str, Any]:
    """An entered result as the API shows it (without the factory and project it is under)."""
    return {k: getattr(e, k) for k in EnteredResult.model_fields}


@router.get("/targets", response_model=ProjectTargets)
async def get_targets(
    id: str,
    p: Caller,
    service: Service,
    project: Annotated[str | None, Query(description="support project id; default: latest")] = None,
) -> Response:
    f = factory_for(service, p, id)
    answer = await service_targets.project_targets(service, f, _project_of(f, project))
    body = jsonable(answer)
    for k, row in zip(answer.kpis, body["kpis"], strict=True):
        row["entered"] = _entered(k.entered) if k.entered is not None else None
    return respond(body)


@router.get("/projects/{project}/results", response_model=list[EnteredResult])
async def list_results(id: str, project: str, p: Caller, service: Service) -> Response:
    f = factory_for(service, p, id)
    sp = _project_of(f, project)
    return respond([_entered(e) for e in service_targets.entered_results(service, f, sp)])


@router.post("/projects/{project}/results", status_code=201, response_model=EnteredResult)
async def post_result(id: str, project: str, p: Caller, service: Service, request: Request) -> Response:
    """A multipart form: ``kpi``, ``value``, ``note``, ``entered_by`` (the person) and
    ``file`` (the evidence: a statement, a spreadsheet, a scan)."""
    f = factory_for(service, p, id)
    sp = _project_of(f, project)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "body: expected a multipart form (kpi, value, note, entered_by, file)", "body")
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
        entry = service_targets.enter_result(
            service,
            f,
            sp,
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
    answer = respond(_entered(entry))
    answer.status_code = 201
    return answer


@router.get("/projects/{project}/results/{result_id}/file", response_class=Response, responses=EVIDENCE)
async def get_result_file(id: str, project: str, result_id: int, p: Caller, service: Service) -> Response:
    f = factory_for(service, p, id)
    _project_of(f, project)
    got = service_targets.evidence_file(service, f, result_id)
    if got is None:
        raise ApiError(404, f"result_id: no entered result {result_id}", "result_id")
    return download(got[1], got[0], "application/octet-stream", f)


@router.get("/projects/{project}/completion", response_class=Response, responses=DOWNLOAD)
async def get_completion(
    id: str,
    project: str,
    p: Caller,
    service: Service,
    fmt: FormatParam = "pdf",
    lang: LangParam = "ko",
) -> Response:
    f = factory_for(service, p, id)
    sp = _project_of(f, project)
    content, name, media_type = await completion_report(service, f, sp, lang, fmt)
    return download(content, name, media_type, f)


def _field(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{name}: required", name)
    if len(value) > limit:
        raise ApiError(400, f"{name}: longer than {limit} characters", name)
    return value.strip()


__all__ = ["router"]
