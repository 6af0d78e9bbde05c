"""An assessor wired to a real influxd and a temporary registry, with tokens for each role.

async def test_x(assessor_env):
    r = await assessor_env.client.get("/api/v1/factories/demo-factory/kpis", params=...,
                                      headers=assessor_env.auth("operator"))
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest_asyncio

from assessor.api.app import create_app
from assessor.config import AssessorConfig, InfluxSettings
from assessor.data.influx_client import InfluxClient
from assessor.domain.level import load_rules
from assessor.registry.importer import parse_registry
from assessor.registry.store import RegistryStore
from assessor.services import AssessorService
from assessor.services.auth import create_token
from localservices.influxd import InfluxServer

#: The reference factory: one shift 06:00-14:00 on weekdays with breaks of 15, 30 and 15
#: minutes, so a shift plans 420 minutes (the worked example in assessment.md).
REGISTRY_YAML = """\
factories:
  - id: demo-factory
    name: 데모정밀
    region: 충남
    employees: 23
    timezone: Asia/Seoul
    calendar:
      shifts: [{days: [mon, tue, wed, thu, fri], start: "06:00", end: "14:00", name: day}]
      breaks:
        - {start: "08:00", end: "08:15", name: break}
        - {start: "10:00", end: "10:30", name: meal}
        - {start: "12:00", end: "12:15", name: break}
    lines:
      - id: line-1
        machines:
          - {id: press-01, ideal_cycle_time: 1s}
    support_projects:
      - {id: sp-2023, program: basic, start: 2023-03-01, end: 2023-08-31,
         baseline: {start: 2022-09-01, end: 2023-02-28}}
  - id: other-factory
    name: 다른공장
    region: 충남
    employees: 5
    lines:
      - id: line-1
        machines:
          - {id: m1, ideal_cycle_time: 2s}
"""


@dataclass
class AssessorEnv:
    influx: InfluxServer
    database: str
    store: RegistryStore
    service: AssessorService
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """Headers for 'operator', 'demo-factory', 'other-factory' (or any raw token)."""
        return {"Authorization": f"Bearer {self.tokens.get(who, who)}"}


@pytest_asyncio.fixture
async def assessor_env(influxd: InfluxServer, influx_db: str, tmp_path: Path) -> AsyncIterator[AssessorEnv]:
    cfg = AssessorConfig(
        influx=InfluxSettings(url=influxd.url, database=influx_db, raw_database=influx_db),
        registry=tmp_path / "r.sqlite",
    )
    store = RegistryStore(cfg.registry)
    store.upsert_factories(parse_registry(REGISTRY_YAML))
    influx = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, influx, load_rules(None))
    app = create_app(service)
    tokens = {
        "operator": create_token(store, "operator"),
        "demo-factory": create_token(store, "factory", "demo-factory"),
        "other-factory": create_token(store, "factory", "other-factory"),
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://assessor"
    ) as client:
        yield AssessorEnv(influxd, influx_db, store, service, client, tokens)
    await influx.close()
    store.close()
