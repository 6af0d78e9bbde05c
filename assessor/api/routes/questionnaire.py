"""The level questionnaire: its items and the factory's answers (0..5 per item)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.errors import ApiError
from assessor.api.models import QuestionnaireAnswers, QuestionnaireForm, jsonable, respond
from assessor.domain.level import ITEMS, QuestionnaireError

router = APIRouter(tags=["level"])


@router.get("/api/v1/factories/{id}/questionnaire", response_model=QuestionnaireForm)
async def get_questionnaire(id: str, p: Caller, service: Service) -> Response:
    f = factory_for(service, p, id)
    return respond({"items": jsonable(list(ITEMS)), "answers": service.store.answers(f.id)})


@router.put("/api/v1/factories/{id}/questionnaire", response_model=QuestionnaireAnswers)
async def put_questionnaire(id: str, p: Caller, service: Service, request: Request) -> Response:
    f = factory_for(service, p, id)
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        raise ApiError(400, "body: not JSON (or nested too deeply)", "body") from None
    answers = body.get("answers", body) if isinstance(body, dict) else None
    if not isinstance(answers, dict):
        raise ApiError(400, "answers: expected an object of item id -> 0..5", "answers")
    try:
        valid = service.save_answers(f, answers)
    except QuestionnaireError as exc:
        first = exc.errors[0]
        raise ApiError(400, "; ".join(exc.errors), first.split(":", 1)[0]) from None
    return respond({"answers": valid})
