"""Flagged KPIs in a real browser: a factory whose registered ideal cycle time is far too
slow (its machine would run at 432 % performance) shows the reason next to the KPI,
never the value, on its page and in the portfolio."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from assessor.registry.importer import parse_registry
from localservices.influxd import InfluxServer
from tests.assessor.web.conftest import PATTERN, STEP_S, WebEnv, login
from tests.support.browser import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")

SLOW = "web-slow"
SLOW_NAME = "느린기준정밀"
#: 50 units per running minute need 60 s / 50 = 1.2 s each; 5.184 s is 4.32 times that
SLOW_YAML = f"""\
factories:
  - id: {SLOW}
    name: {SLOW_NAME}
    timezone: Asia/Seoul
    lines:
      - id: line-1
        machines:
          - {{id: press-09, ideal_cycle_time: 5184ms}}
"""
DAYS = 9


def slow_lines(now: float) -> list[str]:
    """One machine, one sample a minute, the conftest's hourly pattern, for DAYS days."""
    start = (int(now) // STEP_S - DAYS * 1440) * STEP_S
    total = 0
    lines = []
    for t in range(start, int(now), STEP_S):
        state, reason = PATTERN[(t // 60) % 60]
        if state == "running":
            total += 50
        fields = f'state="{state}",count_total={total}i,count_reject={total // 100}i'
        if reason:
            fields += f',downtime_reason="{reason}"'
        lines.append(f"machine_data,factory={SLOW},line=line-1,machine=press-09 {fields} {t * 10**9}")
    return lines


@pytest.fixture(scope="module")
def slow_env(web_env: WebEnv, influxd: InfluxServer) -> WebEnv:
    web_env.store.upsert_factories(parse_registry(SLOW_YAML))
    status, text = influxd.write(slow_lines(time.time()), web_env.service.cfg.influx.database)
    assert status == 204, text
    return web_env


#: what the flagged performance (or the OEE with it) would look like if it leaked: 4xx.x %
LEAKED = re.compile(r"4\d\d(\.\d)?\s?%")


def leaks(text: str) -> list[str]:
    return [m.group(0) for m in LEAKED.finditer(text)]


async def shown(session: Session) -> str:
    """What the page shows: its text and the data of its charts."""
    figures = await session.page.locator("script[data-chart]").all_text_contents()
    return " ".join([await session.page.inner_text("main"), *figures])


async def test_a_flagged_performance_shows_the_reason_never_the_value(
    session: Session, slow_env: WebEnv
) -> None:
    env = slow_env
    week = (env.today - dt.timedelta(days=6)).isoformat()
    await login(session, env, "operator", f"/factories/{SLOW}?kpi_start={week}")
    page = session.page
    performance = page.locator("#kpi-totals dd[data-kpi=performance]")
    assert (await performance.inner_text()).strip() == "— 이상치(표준 사이클타임 확인)"
    assert await performance.get_attribute("data-flag") == "implausible_ideal_time"
    oee = (await page.locator("#kpi-totals dd[data-kpi=oee]").inner_text()).strip()
    assert oee == "— 이상치(표준 사이클타임 확인)"
    # availability rests on time alone: shown
    availability = (await page.locator("#kpi-totals dd[data-kpi=availability]").inner_text()).strip()
    assert availability.endswith("%") and not availability.startswith("—")
    # the waterfall stops at the running time and says why
    await page.wait_for_selector("#chart-waterfall[data-rendered] svg.main-svg")
    bars = await page.locator("#chart-waterfall .xaxislayer-above").text_content() or ""
    assert "가동 시간 (정지·소정지 제외)" in bars and "속도 저하" not in bars
    note = " ".join(await page.locator(".waterfall-note").all_inner_texts())
    assert "성능가동률: 이상치(표준 사이클타임 확인)" in note
    assert leaks(await shown(session)) == []
    await session.shot("factory-flagged-ko")

    await page.goto(env.url(f"/factories/{SLOW}?kpi_start={week}&lang=en"))
    performance = page.locator("#kpi-totals dd[data-kpi=performance]")
    assert (await performance.inner_text()).strip() == "— implausible ideal cycle time: check the registry"
    assert leaks(await shown(session)) == []
    await session.shot("factory-flagged-en")

    # the page above stored the settled days: the portfolio's last week is flagged too
    await page.goto(env.url("/portfolio?lang=ko"))
    row = page.locator("#portfolio tbody tr", has_text=SLOW_NAME)
    cell = (await row.locator("td[data-col=oee]").inner_text()).strip()
    assert cell == "— 이상치(표준 사이클타임 확인)", cell
    assert leaks(await row.inner_text()) == []


async def test_too_little_data_in_the_period_names_the_coverage(session: Session, slow_env: WebEnv) -> None:
    # thirty days by default, nine of them with data
    await login(session, slow_env, "operator", f"/factories/{SLOW}")
    page = session.page
    availability = (await page.locator("#kpi-totals dd[data-kpi=availability]").inner_text()).strip()
    assert availability.startswith("— 데이터 부족(수집률 ") and availability.endswith("%)"), availability
    assert await page.locator("#chart-waterfall").count() == 0
    note = " ".join(await page.locator(".waterfall-note").all_inner_texts())
    assert "가동률: 데이터 부족(수집률" in note and "손실 분석을 표시하지 않습니다" in note
    await session.shot("factory-coverage-ko")
