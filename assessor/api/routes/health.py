"""Liveness of the server process (no token, no database)."""

from fastapi import APIRouter
from fastapi.responses import Response

from assessor.api.models import Health, respond

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Response:
    return respond({"status": "ok"})
