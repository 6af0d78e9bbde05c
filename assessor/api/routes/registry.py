"""Registry import (operators only): YAML of one or more factories, stored as a whole."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from assessor.api.deps import Operator, Service
from assessor.api.errors import ApiError
from assessor.api.models import RegistryImported, respond
from assessor.services.errors import RegistryError
from assessor.services.inputs import MAX_REGISTRY_BYTES

router = APIRouter(tags=["registry"])


@router.post("/api/v1/registry", response_model=RegistryImported)
async def post_registry(request: Request, _: Operator, service: Service) -> Response:
    raw = await request.body()
    if len(raw) > MAX_REGISTRY_BYTES:
        raise ApiError(413, f"body: larger than {MAX_REGISTRY_BYTES // 2**20} MiB", "body")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"body: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        raise ApiError(400, message, "body") from None
    try:
        factories = await service.import_registry(text, "request body")
    except RegistryError as exc:
        raise ApiError(exc.status, "; ".join(exc.errors), "body", exc.errors) from None
    return respond({"imported": [f.id for f in factories]})
