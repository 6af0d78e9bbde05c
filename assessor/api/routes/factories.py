"""The factories of the registry the caller may see."""

from fastapi import APIRouter
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.models import Factory, FactorySummary, jsonable, respond

router = APIRouter(tags=["factories"])


@router.get("/api/v1/factories", response_model=list[FactorySummary])
async def list_factories(p: Caller, service: Service) -> Response:
    return respond(
        [
            {"id": f.id, "name": f.name, "region": f.region, "employees": f.employees}
            for f in service.store.factories()
            if p.can_see(f.id)
        ]
    )


@router.get("/api/v1/factories/{id}", response_model=Factory)
async def get_factory(id: str, p: Caller, service: Service) -> Response:
    return respond(jsonable(factory_for(service, p, id)))
