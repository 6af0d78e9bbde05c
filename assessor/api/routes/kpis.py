"""ISO 22400 KPIs of a factory over a window, per machine, line, factory or product."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.errors import ApiError
from assessor.api.models import KpiReport, ProductKpiReport, respond
from assessor.api.params import window
from assessor.services import MAX_PRODUCT_WINDOW_DAYS

router = APIRouter(tags=["kpis"])


@router.get("/api/v1/factories/{id}/kpis", response_model=KpiReport | ProductKpiReport)
async def get_kpis(
    id: str,
    p: Caller,
    service: Service,
    start: Annotated[str, Query(description="ISO date or date-time; dates are local to the factory")],
    end: Annotated[str, Query(description="ISO date (inclusive) or date-time (exclusive)")],
    group: Annotated[
        Literal["machine", "line", "factory", "product", "machine,product"],
        Query(description="product groups: per-product rows, unknown codes and changeovers"),
    ] = "factory",
    granularity: Literal["total", "day"] = "total",
) -> Response:
    f = factory_for(service, p, id)
    s, e = window(f, start, end)
    head = {"factory": f.id, "start": s, "end": e, "group": group, "granularity": granularity}
    if group == "product" or group == "machine,product":
        if e - s > MAX_PRODUCT_WINDOW_DAYS * 86400:
            raise ApiError(400, f"end: per-product window longer than {MAX_PRODUCT_WINDOW_DAYS} days", "end")
        return respond(head | await service.product_kpis(f, s, e, group, granularity))
    return respond(head | {"rows": await service.kpi_rows(f, s, e, group, granularity, sources=True)})
