"""Before/after gains of a factory: a support project's windows or four explicit dates."""

from fastapi import APIRouter
from fastapi.responses import Response

from assessor.api.deps import Caller, Service, factory_for
from assessor.api.errors import ApiError
from assessor.api.models import GainsReport, jsonable, respond
from assessor.api.params import MAX_GAINS_WINDOW_DAYS, date
from assessor.domain.models import DateWindow

router = APIRouter(tags=["gains"])


@router.get("/api/v1/factories/{id}/gains", response_model=GainsReport)
async def get_gains(
    id: str,
    p: Caller,
    service: Service,
    project: str | None = None,
    baseline_start: str | None = None,
    baseline_end: str | None = None,
    after_start: str | None = None,
    after_end: str | None = None,
) -> Response:
    f = factory_for(service, p, id)
    explicit = [baseline_start, baseline_end, after_start, after_end]
    if project is not None:
        proj = next((sp for sp in f.support_projects if sp.id == project), None)
        if proj is None:
            raise ApiError(404, f"project: unknown support project {project!r}", "project")
        baseline, after = proj.baseline, service.after_window(f, proj)
    elif all(explicit):
        bs, be = date(baseline_start, "baseline_start"), date(baseline_end, "baseline_end")
        as_, ae = date(after_start, "after_start"), date(after_end, "after_end")
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
        names = ("baseline_start", "baseline_end", "after_start", "after_end")
        missing = [n for n, v in zip(names, explicit, strict=True) if v is None]
        raise ApiError(400, f"{missing[0]}: give project=ID or all four window dates", missing[0])
    return respond(jsonable(await service.gains(f, baseline, after, project)))
