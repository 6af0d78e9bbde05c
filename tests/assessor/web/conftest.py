"""One seeded assessor per test module, served for real by uvicorn on a free local port,
and one headless Chromium per module.

The seeded registry holds the two factories of ``tests.support.assessor_env`` plus
``web-factory``: two machines with two weeks of state, counter and downtime-reason data
up to now (press-02 went silent three hours ago), and a support project whose "before"
side is a manual log and whose "after" side is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser

from assessor.api.app import create_app
from assessor.config import AssessorConfig, InfluxSettings
from assessor.data.influx_client import InfluxClient
from assessor.domain.level import load_rules
from assessor.registry.importer import parse_registry
from assessor.registry.store import RegistryStore
from assessor.services import AssessorService
from assessor.services.auth import create_token
from assessor.services.inputs import import_baseline
from localservices.influxd import InfluxServer
from tests.support.assessor_env import REGISTRY_YAML
from tests.support.browser import Session, chromium_available, launch, new_session
from tests.support.influxd_fixtures import unique_name

SEOUL = ZoneInfo("Asia/Seoul")
FACTORY = "web-factory"
FACTORY_NAME = "한빛정밀"
DATA_DAYS = 14
STEP_S = 60
#: minute of the hour -> (state, downtime reason); one hour repeats all day
PATTERN = (
    [("running", "")] * 45
    + [("fault", "유압 이상")] * 8
    + [("setup", "금형 교환")] * 5
    + [("idle", "자재 대기")] * 2
)


def web_registry(today: dt.date) -> str:
    d = lambda n: (today - dt.timedelta(days=n)).isoformat()  # noqa: E731
    return f"""\
factories:
  - id: {FACTORY}
    name: {FACTORY_NAME}
    region: 경북
    employees: 12
    timezone: Asia/Seoul
    lines:
      - id: line-1
        name: 1라인
        machines:
          - {{id: press-01, ideal_cycle_time: 1s}}
          - {{id: press-02, ideal_cycle_time: 1s}}
    support_projects:
      - {{id: sp-web, program: basic, start: {d(40)}, end: {d(15)},
         baseline: {{start: {d(60)}, end: {d(41)}}},
         after: {{start: {d(DATA_DAYS - 1)}, end: {d(1)}}},
         kpis: [{{kpi: units_per_hour, target: "+10%"}},
                {{kpi: inventory_days, baseline: 21, target: 15, result_source: manual}}]}}
"""


def measured_lines(now: float) -> list[str]:
    """Two machines, one sample a minute; press-02 stops sending three hours before now."""
    start = (int(now) // STEP_S - DATA_DAYS * 1440) * STEP_S
    lines = []
    for machine, offset, silent_after in (("press-01", 0, now), ("press-02", 20, now - 3 * 3600)):
        total = reject = 0
        energy = 0.0
        for t in range(start, int(silent_after), STEP_S):
            state, reason = PATTERN[(t // 60 + offset) % 60]
            if state == "running":
                total += 50
                reject += 1
                energy += 0.4
            fields = f'state="{state}",count_total={total}i,count_reject={reject}i,energy_kwh={energy:.3f}'
            if reason:
                fields += f',downtime_reason="{reason}"'
            lines.append(f"machine_data,factory={FACTORY},line=line-1,machine={machine} {fields} {t * 10**9}")
    return lines


def manual_log(first: dt.date, days: int) -> bytes:
    """A hand-kept daily log: slower and with more defects than the measured weeks after."""
    rows = ["날짜,라인,작업시간,작업인원,생산수량,불량수량"]
    for i in range(days):
        produced = 36_000 + (i % 5) * 1_500
        rows.append(f"{first + dt.timedelta(days=i)},line-1,24,3,{produced},{900 + (i % 3) * 100}")
    return ("\n".join(rows) + "\n").encode("utf-8")


@dataclass
class WebEnv:
    base_url: str
    store: RegistryStore
    service: AssessorService
    tokens: dict[str, str] = field(default_factory=dict)
    today: dt.date = field(default_factory=dt.date.today)

    def url(self, path: str) -> str:
        return self.base_url + path


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """uvicorn in a thread of its own (its own event loop), on a port the OS picked."""
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def web_env(influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    if not chromium_available():
        # scripts/test.sh installs it: without it the dashboard would go untested unnoticed
        pytest.fail("Debian's chromium is missing: run SETUP_BROWSER=1 scripts/setup.sh")
    db = influxd.create_database(unique_name("web"))
    cfg = AssessorConfig(
        influx=InfluxSettings(url=influxd.url, database=db, raw_database=db),
        registry=Path(tmp_path_factory.mktemp("web")) / "r.sqlite",
    )
    store = RegistryStore(cfg.registry)
    today = dt.datetime.now(SEOUL).date()
    store.upsert_factories(parse_registry(REGISTRY_YAML) + parse_registry(web_registry(today)))
    lines = measured_lines(time.time())
    for i in range(0, len(lines), 20_000):
        status, text = influxd.write(lines[i : i + 20_000], db)
        assert status == 204, text
    import_baseline(store, FACTORY, manual_log(today - dt.timedelta(days=60), 20), "log.csv")
    influx = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, influx, load_rules(None))

    async def prime() -> None:
        # what the server's hourly refresher does, so the portfolio has its aggregates
        try:
            await service.refresh_all()
        finally:
            await influx.close()

    asyncio.run(prime())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await influx.close()

    tokens = {
        "operator": create_token(store, "operator"),
        FACTORY: create_token(store, "factory", FACTORY),
        "other-factory": create_token(store, "factory", "other-factory"),
    }
    with serve(create_app(service, lifespan=lifespan)) as base_url:
        yield WebEnv(base_url, store, service, tokens, today)
    store.close()
    with contextlib.suppress(Exception):
        influxd.drop_database(db)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not chromium_available():
        # scripts/test.sh installs it: without it the dashboard would go untested unnoticed
        pytest.fail("Debian's chromium is missing: run SETUP_BROWSER=1 scripts/setup.sh")
    async with launch() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def session(browser: Browser) -> AsyncIterator[Session]:
    """A fresh context per test; afterwards, no request may have left 127.0.0.1 and no
    script error (a CSP block included) may have reached the console."""
    s = await new_session(browser)
    try:
        yield s
    finally:
        await s.context.close()
    assert s.foreign_requests() == [], s.foreign_requests()
    assert s.console_errors == [], s.console_errors


async def login(s: Session, env: WebEnv, who: str, next_path: str = "") -> None:
    """Sign in through the form; ``next_path`` skips the landing page (the factory page is
    the slowest one to build)."""
    await s.page.goto(env.url("/login" + (f"?next={quote(next_path)}" if next_path else "")))
    await s.page.fill("#token", env.tokens[who])
    await s.page.click("button[type=submit]")
    await s.page.wait_for_load_state("load")
