"""The factory's smart-factory level."""

from fastapi import APIRouter
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.models import Assessment, jsonable, respond

router = APIRouter(tags=["level"])


@router.get("/api/v1/factories/{id}/assessment", response_model=Assessment)
async def get_assessment(id: str, p: Caller, service: Service) -> Response:
    f = factory_for(service, p, id)
    return respond(jsonable(await service.assessment(f)))
