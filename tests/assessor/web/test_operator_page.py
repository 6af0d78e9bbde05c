"""The tablet page at the line, in Chromium with a 10-inch tablet viewport and touch:
assign, split, comment, edit, a conflict between two tablets, an entry made offline
and sent when the connection is back, scrap, Korean and English; the line role refused
elsewhere; the downtime Pareto and the level gate "downtime reasons recorded" follow
the entries.

The factory has no shift calendar, so the queue covers yesterday and today; the data
are six hours of one-minute samples up to now with four stops and no PLC reason but one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, expect

from assessor.api.app import create_app
from assessor.config import AssessorConfig, InfluxSettings
from assessor.data.influx_client import InfluxClient
from assessor.domain.level import load_rules
from assessor.registry.importer import parse_registry
from assessor.registry.operator_store import OperatorStore
from assessor.registry.store import RegistryStore
from assessor.services import AssessorService
from assessor.services.auth import create_token
from localservices.influxd import InfluxServer
from tests.assessor.web.conftest import serve
from tests.support.browser import SCREENSHOTS
from tests.support.influxd_fixtures import unique_name
from tests.support.report_pdf import pdf_text

FACTORY = "line-factory"
REGISTRY = f"""\
factories:
  - id: {FACTORY}
    name: 라인공장
    timezone: Asia/Seoul
    lines:
      - id: line-1
        machines:
          - {{id: press-a, name: 프레스A, ideal_cycle_time: 1s}}
          - {{id: press-b, name: 프레스B, ideal_cycle_time: 1s}}
    downtime_reasons:
      - {{code: breakdown, category: 설비, name_ko: 설비 고장, name_en: Breakdown}}
      - {{code: material_wait, category: 자재, name_ko: 자재 대기, name_en: Waiting for material}}
      - {{code: tool_change, category: 방법, name_ko: 금형 교체, name_en: Tool change, planned: true}}
"""
STEP = 60
#: (machine, state, minutes before now it starts, minutes long, PLC reason)
STOPS = [
    ("press-a", "fault", 300, 20, ""),
    ("press-a", "setup", 200, 10, "금형 교환"),
    ("press-a", "idle", 120, 20, ""),
    ("press-a", "fault", 60, 1, ""),  # a small stop: under the 2-minute limit
    ("press-b", "fault", 240, 30, ""),
]


def samples(now: int) -> tuple[list[str], dict[tuple[str, int], float]]:
    """Line protocol for both machines, and (machine, minutes before now) -> stop start."""
    start = (now // STEP) * STEP - 360 * STEP
    lines, starts = [], {}
    for machine in ("press-a", "press-b"):
        count = 0
        for t in range(start, now, STEP):
            minutes = (start + 360 * STEP - t) // 60
            state, reason = "running", ""
            for m, s, before, length, why in STOPS:
                if m == machine and before - length < minutes <= before:
                    state, reason = s, why
                    starts.setdefault((m, before), float(t))
            if state == "running":
                count += 60
            fields = f'state="{state}",count_total={count}i'
            if reason:
                fields += f',downtime_reason="{reason}"'
            lines.append(f"machine_data,factory={FACTORY},line=line-1,machine={machine} {fields} {t * 10**9}")
    return lines, starts


@dataclass
class LineEnv:
    base_url: str
    store: RegistryStore
    service: AssessorService
    starts: dict[tuple[str, int], float]
    tokens: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def ops(self) -> OperatorStore:
        return OperatorStore(self.store)

    def entries(self) -> list:
        return self.ops.stops(FACTORY, 0, time.time() + 3600)


@pytest.fixture(scope="module")
def line_env(influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LineEnv]:
    db = influxd.create_database(unique_name("line"))
    cfg = AssessorConfig(
        influx=InfluxSettings(url=influxd.url, database=db, raw_database=db),
        registry=Path(tmp_path_factory.mktemp("line")) / "r.sqlite",
    )
    store = RegistryStore(cfg.registry)
    store.upsert_factories(parse_registry(REGISTRY))
    lines, starts = samples(int(time.time()))
    status, text = influxd.write(lines, db)
    assert status == 204, text
    influx = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, influx, load_rules(None))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await influx.close()

    tokens = {
        "line": create_token(store, "line", FACTORY, "line 1"),
        "operator": create_token(store, "operator"),
    }
    with serve(create_app(service, lifespan=lifespan)) as base_url:
        yield LineEnv(base_url, store, service, starts, tokens)
    store.close()
    with contextlib.suppress(Exception):
        influxd.drop_database(db)


async def tablet(browser: Browser, env: LineEnv, *, landscape: bool = False) -> tuple[BrowserContext, Page]:
    """A 10-inch tablet with touch, signed in with the line token."""
    size = {"width": 1280, "height": 800} if landscape else {"width": 800, "height": 1280}
    context = await browser.new_context(
        locale="ko-KR", timezone_id="Asia/Seoul", viewport=size, has_touch=True, is_mobile=True
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(env.url("/login"))
    await page.fill("#token", env.tokens["line"])
    await page.tap("button[type=submit]")
    await page.wait_for_url(f"**/factories/{FACTORY}/operator")
    return context, page


async def wait_for(check, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll the registry until ``check()`` holds (the page writes through its outbox)."""
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def pick(page: Page, group: str, code: str) -> None:
    await page.tap(f'#op-stop-form [data-name="{group}"] .op-reason[data-code="{code}"]')


async def operator_view(env: LineEnv) -> tuple[str, str, bool]:
    """The factory page and the text of its PDF report as an operator sees them, and
    whether the level gate "downtime reasons recorded" passes."""
    async with httpx.AsyncClient(base_url=env.base_url, timeout=60) as client:
        client.cookies.set("fl_session", env.tokens["operator"])
        page = await client.get(f"/factories/{FACTORY}")
        assert page.status_code == 200
        report = await client.get(f"/factories/{FACTORY}/report?lang=ko")
        assert report.status_code == 200
        headers = {"Authorization": f"Bearer {env.tokens['operator']}"}
        level = (await client.get(f"/api/v1/factories/{FACTORY}/assessment", headers=headers)).json()
    gate = next(g for g in level["gates"] if g["id"] == "has_downtime_reasons")
    return page.text, pdf_text(report.content), gate["passed"]


@pytest.mark.asyncio(loop_scope="module")
async def test_line_tablet(line_env: LineEnv, browser: Browser) -> None:
    env = line_env
    html, pdf, gate = await operator_view(env)
    assert "· 작업자 입력" not in html and "작업자 입력" not in pdf and not gate

    a_ctx, a = await tablet(browser, env)
    # Korean first; three stops wait, newest first; the small stop and the one the PLC
    # explained are not asked about
    await expect(a.locator("h1")).to_contain_text("현장 입력")
    stops = a.locator(".op-stop")
    await expect(stops).to_have_count(3)
    assert [await s.locator("strong").inner_text() for s in await stops.all()] == [
        "프레스A (press-a)",
        "프레스B (press-b)",
        "프레스A (press-a)",
    ]
    await shot(a, "operator-queue-portrait-ko")
    for target in await a.locator(".op-stop, .op-tabs button").all():
        box = await target.bounding_box()
        assert box is not None and box["height"] >= 48

    # assign with a comment
    await stops.first.tap()
    await expect(a.locator("#op-dialog")).to_be_visible()
    for button in await a.locator('#op-stop-form [data-name="first"] .op-reason').all():
        box = await button.bounding_box()
        assert box is not None and box["height"] >= 48 and box["width"] >= 48
    await pick(a, "first", "material_wait")
    await a.fill("#op-comment", "자재가 늦게 도착")

    # the queue is read again after the entry goes out: hold that read back, so the list
    # must not show the answered stop again while it waits (a tap there would answer it twice)
    release = asyncio.Event()

    async def slow_queue(route) -> None:  # type: ignore[no-untyped-def]
        await release.wait()
        await route.continue_()

    await a.route("**/operator/queue", slow_queue, times=1)
    await a.tap("#op-save")
    await wait_for(lambda: len(env.entries()) == 1, "the first entry")
    outbox = f"fl-operator-outbox:{FACTORY}"
    for _ in range(300):
        if await a.evaluate(f"JSON.parse(localStorage.getItem({json.dumps(outbox)}) || '[]').length") == 0:
            break
        await asyncio.sleep(0.05)
    assert await stops.count() == 2, "the answered stop is back in the list before the queue was read"
    release.set()
    first = env.entries()[0]
    assert first.stop.segments[0].reason == "material_wait" and first.stop.comment == "자재가 늦게 도착"
    assert first.stop.start == env.starts[("press-a", 120)] and first.entered_by.startswith("line:")
    await expect(stops).to_have_count(2)

    # split the next stop in two, ten minutes in
    await stops.first.tap()
    await pick(a, "first", "breakdown")
    await a.tap("#op-split")
    cut = env.starts[("press-b", 240)] + 600
    await a.eval_on_selector(
        "#op-split-at", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", str(int(cut))
    )
    await pick(a, "second", "tool_change")
    await shot(a, "operator-split-portrait-ko")
    await a.tap("#op-save")
    await wait_for(lambda: len(env.entries()) == 2, "the split entry")
    split = next(e for e in env.entries() if e.stop.machine == "press-b")
    assert [(s.reason, s.end if i == 0 else s.start) for i, s in enumerate(split.stop.segments)] == [
        ("breakdown", cut),
        ("tool_change", cut),
    ]

    # edit the first entry
    await a.tap('[data-tab="entries"]')
    await a.tap(f'.op-edit[data-id="{first.stop.id}"]')
    await pick(a, "first", "breakdown")
    await a.tap("#op-save")
    await wait_for(lambda: env.ops.stop(FACTORY, first.stop.id).stop.version == 2, "the edit")
    audit = env.ops.audit(FACTORY, "stop", first.stop.id)
    assert [x.field for x in audit][-1] == "segments" and "material_wait" in (audit[-1].old_value or "")

    # a second tablet reads version 2; the first changes the comment (version 3); the
    # second's change is refused with what is stored now, and nothing is lost
    b_ctx, b = await tablet(browser, env, landscape=True)
    await b.tap('[data-tab="entries"]')
    await expect(b.locator(f'.op-edit[data-id="{first.stop.id}"]')).to_be_visible()
    await a.tap(f'.op-edit[data-id="{first.stop.id}"]')
    await a.fill("#op-comment", "유압 호스 교체")
    await a.tap("#op-save")
    await wait_for(lambda: env.ops.stop(FACTORY, first.stop.id).stop.version == 3, "the second edit")
    await b.tap(f'.op-edit[data-id="{first.stop.id}"]')
    await pick(b, "first", "material_wait")
    await b.tap("#op-save")
    await expect(b.locator("#op-message")).to_contain_text("다른 태블릿에서 먼저")
    await expect(b.locator("#op-message")).to_contain_text("유압 호스 교체")
    await shot(b, "operator-conflict-landscape-ko")
    kept = env.ops.stop(FACTORY, first.stop.id)
    assert kept.stop.version == 3 and kept.stop.segments[0].reason == "breakdown"
    await b_ctx.close()

    # offline: the entry waits on the tablet, and goes out once when the network is back
    await a.tap('[data-tab="queue"]')
    await a_ctx.set_offline(True)
    await expect(a.locator("#op-net")).to_contain_text("연결 끊김")
    await stops.first.tap()
    await pick(a, "first", "breakdown")
    await a.tap("#op-save")
    await expect(a.locator("#op-pending")).to_contain_text("전송 대기 1건")
    await shot(a, "operator-offline-portrait-ko")
    await expect(stops).to_have_count(0)
    assert len(env.entries()) == 2
    await a_ctx.set_offline(False)
    await expect(a.locator("#op-pending")).to_have_text("")
    await wait_for(lambda: len(env.entries()) == 3, "the entry made offline")
    assert sorted(e.stop.start for e in env.entries()) == sorted(
        env.starts[k] for k in (("press-a", 300), ("press-a", 120), ("press-b", 240))
    )

    # scrap
    await a.tap('[data-tab="scrap"]')
    await a.select_option("#op-scrap-form select[name=machine]", "line-1|press-b")
    await a.fill("#op-scrap-form input[name=quantity]", "4")
    await a.tap('#op-scrap-form .op-reason[data-code="breakdown"]')
    await a.tap("#op-scrap-form button[type=submit]")
    await wait_for(lambda: len(env.ops.scrap(FACTORY, 0, time.time() + 60)) == 1, "the scrap entry")
    scrap = env.ops.scrap(FACTORY, 0, time.time() + 60)[0]
    assert (scrap.machine, scrap.quantity, scrap.reason) == ("press-b", 4, "breakdown")
    # today's list shows it; an edit there changes it by the version it showed
    row = a.locator(f'#op-scrap-today li[data-id="{scrap.id}"]')
    await expect(row).to_contain_text("설비 고장")
    await row.locator("input").fill("6")
    await row.locator("button").tap()
    await wait_for(lambda: env.ops.scrap(FACTORY, 0, time.time() + 60)[0].quantity == 6, "the scrap edit")
    assert env.ops.scrap(FACTORY, 0, time.time() + 60)[0].version == 2

    # English
    await a.goto(env.url(f"/factories/{FACTORY}/operator?lang=en"))
    await expect(a.locator(".op-tabs")).to_contain_text("Waiting for a reason")
    await expect(a.locator("#op-entries")).to_contain_text("Breakdown")
    await a.tap('[data-tab="entries"]')
    await shot(a, "operator-entries-portrait-en")

    # the line token opens nothing else
    for path in ("/portfolio", f"/factories/{FACTORY}", "/registry", f"/factories/{FACTORY}/report"):
        response = await a.goto(env.url(path))
        assert response is not None and response.status == 403, path
    assert a.errors == []  # type: ignore[attr-defined]
    await a_ctx.close()

    # the Pareto names the reasons entered at the line, and the level gate passes: the
    # PLC of press-b never sent a reason, its operator did
    html, pdf, gate = await operator_view(env)
    assert "설비 고장 · 작업자 입력" in html and "금형 교환" in html and gate
    # the state timeline says each stop's reasons and where they came from
    # (the chart's data is JSON in the page, non-ASCII escaped)
    for text in ("설비 고장 (작업자 입력)", "금형 교환 (설비(PLC))", "설비 고장 · 작업자 입력"):
        assert json.dumps(text)[1:-1] in html, text
    assert "작업자 입력" in pdf and "설비 고장" in pdf and "설비(PLC)" in pdf
