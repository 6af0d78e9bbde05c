"""Build the service from a config and run it with uvicorn, with a background refresher
that keeps daily KPIs materialised and levels assessed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from assessor.api.app import create_app
from assessor.config import AssessorConfig
from assessor.data.influx_client import InfluxClient, InfluxError
from assessor.domain.level import load_rules
from assessor.registry.store import RegistryStore
from assessor.services import AssessorService

log = logging.getLogger(__name__)
REFRESH_EVERY_S = 3600.0


async def refresher(service: AssessorService, every_s: float = REFRESH_EVERY_S) -> None:
    while True:
        try:
            await service.refresh_all()
        except InfluxError as exc:
            log.warning("background refresh: InfluxDB unavailable (%s); trying again later", exc)
        except Exception:  # the API must keep serving whatever one pass hits
            log.exception("background refresh failed")
        await asyncio.sleep(every_s)


def build_app(cfg: AssessorConfig, *, background: bool = True) -> FastAPI:
    store = RegistryStore(cfg.registry)
    influx = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, influx, load_rules(cfg.level_rules))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(refresher(service)) if background else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await influx.close()
            store.close()

    return create_app(service, lifespan=lifespan)


def serve(cfg: AssessorConfig) -> int:
    import uvicorn

    host, port = cfg.server.listen.rsplit(":", 1)
    uvicorn.run(
        build_app(cfg),
        host=host.strip("[]"),
        port=int(port),
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=cfg.server.forwarded_allow_ips,
    )
    return 0
