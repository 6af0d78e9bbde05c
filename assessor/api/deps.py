"""What every API route depends on: the service, the caller behind the bearer token, and
the access check. An operator sees every factory, a factory user only its own (403 for
any other, whether it exists or not, so a factory user learns nothing about other
factories)."""

# no "from __future__ import annotations": FastAPI reads these annotations at runtime
from typing import Annotated

from fastapi import Depends, Header, Request

from assessor.api.errors import ApiError
from assessor.domain.models import Factory
from assessor.services import AssessorService
from assessor.services.auth import Principal, Role, authenticate


def get_service(request: Request) -> AssessorService:
    return request.app.state.service


Service = Annotated[AssessorService, Depends(get_service)]


def principal(service: Service, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "missing bearer token (Authorization: Bearer TOKEN)")
    found = authenticate(service.store, authorization[7:].strip())
    if found is None:
        raise ApiError(401, "invalid or revoked token")
    return found


Caller = Annotated[Principal, Depends(principal)]


def operator(p: Caller) -> Principal:
    if p.role != Role.OPERATOR:
        raise ApiError(403, "operators only")
    return p


Operator = Annotated[Principal, Depends(operator)]


def factory_for(service: AssessorService, p: Principal, factory_id: str) -> Factory:
    if not p.can_see(factory_id):
        raise ApiError(403, "this token does not give access to that factory", "id")
    found = service.store.factory(factory_id)
    if found is None:
        raise ApiError(404, f"unknown factory {factory_id!r}", "id")
    return found
