"""The portfolio: one row per factory the caller may see."""

from fastapi import APIRouter
from fastapi.responses import Response

from assessor.api.deps import Caller, Service
from assessor.api.models import PortfolioAnswer, jsonable, respond

router = APIRouter(tags=["portfolio"])


@router.get("/api/v1/portfolio", response_model=PortfolioAnswer)
async def get_portfolio(p: Caller, service: Service) -> Response:
    visible = [f for f in service.store.factories() if p.can_see(f.id)]
    return respond({"factories": jsonable(await service.portfolio(visible))})
