"""Report downloads over the API (bearer token, same access rules as the JSON routes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from assessor.service import AssessorService


def install_report_routes(
    app: FastAPI, service: AssessorService, caller: Any, factory_for: Callable[..., Any]
) -> None:
    """``caller`` is the Annotated Principal dependency of create_app, ``factory_for(p, id)``
    its access check (403 for a factory the caller may not see, 404 for an unknown one)."""
