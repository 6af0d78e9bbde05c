"""Build the service from a config and run it with uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from assessor.api.app import create_app
from assessor.config import AssessorConfig
from assessor.influx_client import InfluxClient
from assessor.level import load_rules
from assessor.registry.store import RegistryStore
from assessor.service import AssessorService


def build_app(cfg: AssessorConfig) -> FastAPI:
    store = RegistryStore(cfg.registry)
    influx = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, influx, load_rules(cfg.level_rules))
    app = create_app(service)

    @app.on_event("shutdown")
    async def _close() -> None:
        await influx.close()
        store.close()

    return app


def serve(cfg: AssessorConfig) -> int:
    import uvicorn

    host, port = cfg.server.listen.rsplit(":", 1)
    uvicorn.run(build_app(cfg), host=host.strip("[]"), port=int(port), log_level="info")
    return 0
