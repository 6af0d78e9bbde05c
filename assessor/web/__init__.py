"""Server-rendered web dashboard (Korean by default, English switchable)."""

from __future__ import annotations

from fastapi import FastAPI

from assessor.service import AssessorService


def install_web(app: FastAPI, service: AssessorService) -> None:
    """Mount the dashboard pages and their static files on ``app``."""
