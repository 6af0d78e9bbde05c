"""Liveness of the server process (no token, no database)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assessor.api.models import Health, respond

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> JSONResponse:
    return respond({"status": "ok"})
