"""Forms that change state: questionnaire, baseline upload, registry editing.

Every POST passes ``same_origin`` (Origin/Referer must name this host) on top of the
SameSite=Strict session cookie; see docs/web.md.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from assessor.domain.baseline import BaselineError, BaselineLimitError, RowError
from assessor.domain.labels import Lang, fmt_time
from assessor.domain.level import ITEMS, QuestionnaireError
from assessor.domain.level.questionnaire import ANSWER_SCALE, FIELD_NAMES
from assessor.domain.models import Factory
from assessor.services.auth import Principal, Role
from assessor.services.errors import RegistryError, RegistryLimitError
from assessor.services.inputs import MAX_REGISTRY_BYTES, MAX_UPLOAD_BYTES
from assessor.web.base import Web, same_origin
from assessor.web.registry_yaml import NEW_FACTORY_YAML, factory_yaml


def _items(lang: Lang) -> list[dict[str, Any]]:
    return [
        {
            "id": item.id,
            "text": item.text_ko if lang == "ko" else item.text_en,
            "field": FIELD_NAMES[item.field][1 if lang == "ko" else 0],
        }
        for item in ITEMS
    ]


def _scale(lang: Lang) -> list[tuple[int, str]]:
    return [(n, ko if lang == "ko" else en) for n, en, ko in ANSWER_SCALE]


_SMALL_INT = re.compile(r"-?[0-9]{1,6}")


def form_answers(form: Any) -> dict[str, object]:
    """Radio values arrive as text; a value that is not a whole number stays text so
    ``validate_answers`` names it, as the API would."""
    out: dict[str, object] = {}
    for item in ITEMS:
        raw = form.get(item.id)
        if raw is None or raw == "":
            continue
        text = str(raw).strip()
        # ASCII digits only and short: isdigit() also takes "²", and int() refuses very long runs
        out[item.id] = int(text) if _SMALL_INT.fullmatch(text) else text
    return out



def install(app: FastAPI, web: Web) -> None:
    install_questionnaire(app, web)
    install_baseline(app, web)
    install_registry(app, web)


def install_questionnaire(app: FastAPI, web: Web) -> None:
    def page(
        request: Request,
        p: Principal,
        f: Factory,
        answers: dict[str, Any],
        errors: list[str],
        status: int = 200,
    ) -> Response:
        lang = web.lang(request)
        answered_at = web.service.store.answered_at(f.id)
        ctx = {
            "factory": f,
            "items": _items(lang),
            "scale": _scale(lang),
            "answers": answers,
            "errors": errors,
            "saved": request.query_params.get("saved") == "1" and not errors,
            "answered_at": fmt_time(answered_at.timestamp(), f.calendar.timezone) if answered_at else None,
        }
        return web.render(request, "questionnaire.html", ctx, status=status, principal=p)

    @app.get("/factories/{factory_id}/questionnaire", include_in_schema=False)
    async def questionnaire(request: Request, factory_id: str) -> Response:
        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        p, f = got
        return page(request, p, f, web.service.store.answers(f.id) or {}, [])

    @app.post("/factories/{factory_id}/questionnaire", include_in_schema=False)
    async def save_questionnaire(request: Request, factory_id: str) -> Response:
        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        p, f = got
        answers = form_answers(await request.form())
        try:
            web.service.save_answers(f, answers)
        except QuestionnaireError as exc:
            return page(request, p, f, answers, exc.errors, status=400)
        # post/redirect/get: a reload does not send the answers twice
        return RedirectResponse(f"/factories/{quote(f.id, safe='')}/questionnaire?saved=1", status_code=303)


def install_baseline(app: FastAPI, web: Web) -> None:
    def page(request: Request, p: Principal, f: Factory, status: int = 200, **ctx: Any) -> Response:
        base = {"factory": f, "errors": [], "stored": None, "message_key": None, "message_args": {}}
        return web.render(request, "baseline.html", {**base, **ctx}, status=status, principal=p)

    @app.get("/factories/{factory_id}/baseline", include_in_schema=False)
    async def baseline_form(request: Request, factory_id: str) -> Response:
        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        return page(request, *got)

    @app.post("/factories/{factory_id}/baseline", include_in_schema=False)
    async def baseline_upload(request: Request, factory_id: str) -> Response:
        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        p, f = got
        form = await request.form()
        upload = form.get("file")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        name = (upload.filename if isinstance(upload, UploadFile) else None) or "upload.csv"
        if not data:
            return page(request, p, f, 400, message_key="b_empty")
        if len(data) > MAX_UPLOAD_BYTES:
            return page(
                request, p, f, 413, message_key="b_too_large", message_args={"mb": MAX_UPLOAD_BYTES >> 20}
            )
        try:
            rows = await web.service.store_baseline(f, data, name)
        except BaselineLimitError as exc:
            limit = {"en": exc.breach.en, "ko": exc.breach.ko}
            return page(request, p, f, exc.status, message_key="b_limit", message_args=limit)
        except BaselineError as exc:
            errors: list[RowError] = exc.errors
            return page(
                request, p, f, 400, errors=errors, message_key="b_rejected", message_args={"n": len(errors)}
            )
        return page(request, p, f, stored={"rows": len(rows), "file": name})


def install_registry(app: FastAPI, web: Web) -> None:
    def page(request: Request, p: Principal, text: str, status: int = 200, **ctx: Any) -> Response:
        base = {
            "factories": web.service.store.factories(),
            "text": text,
            "errors": [],
            "saved": None,
            "message_key": None,
            "message_args": {},
        }
        return web.render(request, "registry.html", {**base, **ctx}, status=status, principal=p)

    def operator(request: Request) -> Principal | Response:
        p = web.principal(request)
        if p is None:
            return web.to_login(request)
        if p.role is not Role.OPERATOR:
            return web.error(request, 403, "operators_only", p)
        if request.method == "POST" and not same_origin(request):
            return web.error(request, 403, "csrf_failed", p)
        return p

    @app.get("/registry", include_in_schema=False)
    async def registry_form(request: Request) -> Response:
        p = operator(request)
        if isinstance(p, Response):
            return p
        wanted = request.query_params.get("factory")
        f = web.service.store.factory(wanted) if wanted else None
        return page(request, p, factory_yaml(f) if f else NEW_FACTORY_YAML, editing=f)

    @app.post("/registry", include_in_schema=False)
    async def registry_save(request: Request) -> Response:
        p = operator(request)
        if isinstance(p, Response):
            return p
        form = await request.form(max_part_size=MAX_REGISTRY_BYTES + 1)
        text = str(form.get("yaml") or "").replace("\r\n", "\n").lstrip("\ufeff")
        if len(text.encode("utf-8")) > MAX_REGISTRY_BYTES:
            return page(
                request, p, "", 413, message_key="r_too_large", message_args={"mb": MAX_REGISTRY_BYTES >> 20}
            )
        try:
            factories = await web.service.import_registry(text, "registry")
        except RegistryLimitError as exc:
            limit = {"en": exc.breach.en, "ko": exc.breach.ko}
            return page(request, p, text, exc.status, message_key="r_limit", message_args=limit)
        except RegistryError as exc:
            return page(request, p, text, 400, errors=exc.errors, message_key="r_errors")
        return page(request, p, text, saved=", ".join(f.id for f in factories))
