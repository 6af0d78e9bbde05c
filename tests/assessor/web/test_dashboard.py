"""The dashboard in a real headless Chromium: what a person signing in would see.

Every test runs in a fresh browser context (its own cookies) and the ``session``
fixture fails it if the page asked anything but 127.0.0.1. Screenshots of every page,
in Korean and English, go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from assessor.domain.level import ITEMS
from tests.assessor.web.conftest import FACTORY, FACTORY_NAME, WebEnv, login
from tests.support.browser import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHARTS = ("chart-trend", "chart-waterfall", "chart-timeline", "chart-pareto")
PCT = r"[+-]?\d[\d,]*\.\d%"


async def names_in_order(s: Session) -> list[str]:
    cells = s.page.locator("#portfolio tbody td[data-col=factory] a")
    return [t.strip() for t in await cells.all_inner_texts()]


async def test_wrong_token_shows_an_error_and_no_session(session: Session, web_env: WebEnv) -> None:
    page = session.page
    await page.goto(web_env.url("/portfolio"))
    assert "/login" in page.url, "an anonymous visitor is sent to the login page"
    assert await page.get_attribute("html", "lang") == "ko"
    await session.shot("login-ko")
    await page.fill("#token", "fl_0123456789abcdef_" + "x" * 40)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#login-error")
    assert "토큰이 올바르지 않거나 폐기되었습니다" in await page.inner_text("#login-error")
    assert not [c for c in await session.context.cookies() if c["name"] == "fl_session"]
    await page.click("text=English")
    assert "not valid or has been revoked" not in await page.content()  # a fresh GET, no error
    assert await page.inner_text("h1") == "Sign in"
    await session.shot("login-en")


async def test_operator_sees_the_portfolio_in_korean(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    page = session.page
    assert page.url.endswith("/portfolio")
    cookie = next(c for c in await session.context.cookies() if c["name"] == "fl_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    headers = " ".join(await page.locator("#portfolio thead th").all_inner_texts())
    for text in (
        "기업",
        "지원 유형",
        "수준",
        "설비종합효율 (최근 7일)",
        "시간당 생산량 개선율",
        "참고치 +30.0%",
        "데이터 상태",
    ):
        assert text in headers
    assert await names_in_order(session) == ["다른공장", "데모정밀", FACTORY_NAME]
    row = page.locator("#portfolio tbody tr", has_text=FACTORY_NAME)
    assert re.fullmatch(r"\d+\.\d%", (await row.locator("td[data-col=oee]").inner_text()).strip())
    gain = (await row.locator("td[data-col=gain_units_per_hour]").inner_text()).strip()
    assert re.fullmatch(PCT + r" [▲▼]( ✔)?", gain), gain
    assert "better" in (await row.locator("td[data-col=gain_units_per_hour]").get_attribute("class") or "")
    health = await row.locator("td[data-col=health]").inner_text()
    # press-02 stopped sending three hours ago: a warning and since when
    assert re.search(r"⚠ 마지막 데이터 \d{4}-\d\d-\d\d \d\d:\d\d \(\d+분 전\)", health), health
    assert re.search(r"press-02: \d{4}-\d\d-\d\d \d\d:\d\d부터 수신 없음", health), health
    assert "설비 2/2대 수신" in health
    empty = page.locator("#portfolio tbody tr", has_text="다른공장")
    assert "최근 7일 데이터 없음" in await empty.locator("td[data-col=health]").inner_text()
    assert await page.get_attribute("#csv-export", "href") == "/portfolio.csv?lang=ko&sort=factory&dir=asc"
    assert "/portfolio/report?format=pdf" in (await page.get_attribute("#report-pdf", "href") or "")
    await session.shot("portfolio-ko")


async def test_sorting_by_clicking_a_header(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    page = session.page
    await page.click("#portfolio th[data-key=factory] a")
    assert await names_in_order(session) == [FACTORY_NAME, "데모정밀", "다른공장"]
    assert await page.get_attribute("#portfolio th[data-key=factory]", "aria-sort") == "descending"
    await page.click("#portfolio th[data-key=score] a")
    assert (await names_in_order(session))[-1] == FACTORY_NAME
    await page.click("#portfolio th[data-key=score] a")
    assert (await names_in_order(session))[0] == FACTORY_NAME
    # OEE: factories without a value stay last in both directions
    await page.click("#portfolio th[data-key=oee] a")
    assert (await names_in_order(session))[0] == FACTORY_NAME
    assert page.url.endswith("/portfolio"), "sorting happened in the page"
    await page.goto(web_env.url("/portfolio?sort=score&dir=desc"))  # the server-side fallback
    assert (await names_in_order(session))[0] == FACTORY_NAME


async def test_language_switch_to_english_sticks(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    page = session.page
    await page.click("header .langs >> text=English")
    assert await page.get_attribute("html", "lang") == "en"
    headers = " ".join(await page.locator("#portfolio thead th").all_inner_texts())
    for text in ("Company", "Tier", "OEE (last 7 days)", "Units per hour Improvement", "Data health"):
        assert text in headers
    row = page.locator("#portfolio tbody tr", has_text=FACTORY_NAME)
    assert re.search(r"Last data \d{4}-\d\d-\d\d \d\d:\d\d \(\d+ min ago\)", await row.inner_text())
    await page.goto(web_env.url("/portfolio"))  # no ?lang: the cookie keeps English
    assert await page.get_attribute("html", "lang") == "en"
    await session.shot("portfolio-en")
    await page.click("header .langs >> text=한국어")
    assert await page.get_attribute("html", "lang") == "ko"


async def test_csv_export_is_utf8_with_bom(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    r = await session.context.request.get(web_env.url("/portfolio.csv?lang=ko"))
    assert r.status == 200
    body = await r.body()
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("기업,지역,지원 유형,수준")
    assert FACTORY_NAME in text and "마지막 데이터" in text
    assert "filename*=UTF-8''portfolio-" in r.headers["content-disposition"]


async def test_factory_user_sees_only_their_factory(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, FACTORY)
    page = session.page
    assert page.url.endswith(f"/factories/{FACTORY}")
    for other in (
        "/factories/other-factory",
        "/factories/no-such-factory",
        "/factories/other-factory/baseline",
    ):
        response = await page.goto(web_env.url(other))
        assert response is not None and response.status == 403
        assert await page.inner_text("h1") == "403 · 접근 권한 없음"
        assert "이 토큰으로는 해당 공장의 정보를 볼 수 없습니다" in await page.inner_text("main")
    await session.shot("error-403-ko")
    await page.goto(web_env.url("/factories/other-factory?lang=en"))
    assert "This token does not give access to that factory." in await page.inner_text("main")
    await session.shot("error-403-en")
    response = await page.goto(web_env.url("/registry"))
    assert response is not None and response.status == 403
    await page.goto(web_env.url("/portfolio?lang=ko"))
    assert await names_in_order(session) == [FACTORY_NAME]


async def test_factory_page_shows_charts_level_and_gains(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    page = session.page
    # thirty days by default, fourteen with data: too little to show the time-based KPIs
    await page.goto(web_env.url(f"/factories/{FACTORY}"))
    availability = (await page.locator("#kpi-totals dd[data-kpi=availability]").inner_text()).strip()
    assert availability.startswith("— 데이터 부족(수집률 "), availability
    notes = " ".join(await page.locator(".waterfall-note").all_inner_texts())
    assert "손실 분석을 표시하지 않습니다" in notes
    # the weeks with data
    since = (web_env.today - dt.timedelta(days=13)).isoformat()
    await page.goto(web_env.url(f"/factories/{FACTORY}?kpi_start={since}"))
    for chart in CHARTS:
        await page.wait_for_selector(f"#{chart}[data-rendered] svg.main-svg")
    legend = await page.locator("#chart-timeline .legend").text_content() or ""
    assert "가동" in legend and "고장" in legend
    assert "유압 이상" in (await page.locator("#chart-pareto .xaxislayer-above").text_content() or "")
    waterfall = await page.locator("#chart-waterfall .xaxislayer-above").text_content() or ""
    for bar in ("계획 가동 시간", "고장·비가동 정지", "준비·교체", "속도 저하", "불량", "완전 생산 시간"):
        assert bar in waterfall, bar
    assert re.fullmatch(PCT, (await page.locator("#kpi-totals dd[data-kpi=oee]").inner_text()).strip())
    card = await page.inner_text("#level-card")
    assert re.search(r"Level \d \(", card) and re.search(r"[\d,.]+ / 1,000점", card)
    results = await page.locator("#gates tbody tr td:last-child").all_inner_texts()
    assert "✔ 충족" in results and "✘ 미충족" in results
    assert await page.locator("#next-steps li").count() >= 1
    table = page.locator("table.gains-table[data-project=sp-web]")
    uph = table.locator("tbody tr", has_text="시간당 생산량").first
    cells = await uph.locator("td").all_inner_texts()
    assert "20일 · 수기 기록" in cells[1] and "13일 · 자동 수집" in cells[2]
    assert re.fullmatch(PCT + " ~ " + PCT, cells[4].strip()), cells[4]
    assert cells[5].strip() == "+30.0%"
    assert "도입 전은 수기 기록" in cells[6]  # the mixed-sources warning
    href = await page.locator("a.report", has_text="보고서 (PDF)").first.get_attribute("href")
    assert href == f"/factories/{FACTORY}/report?format=pdf&lang=ko&project=sp-web"
    assert any(u.endswith("/static/plotly.min.js?v=7.1.0") for u in session.requests)
    assert session.foreign_requests() == []
    await session.shot("factory-ko")
    await page.goto(web_env.url(f"/factories/{FACTORY}?lang=en&kpi_start={since}"))
    await page.wait_for_selector("#chart-timeline[data-rendered] svg.main-svg")
    waterfall = await page.locator("#chart-waterfall .xaxislayer-above").text_content() or ""
    assert "Breakdowns and stops" in waterfall and "Fully productive time" in waterfall
    assert "Before and after the support project" in await page.inner_text("#gains")
    assert "Running" in (await page.locator("#chart-timeline .legend").text_content() or "")
    await session.shot("factory-en")


async def test_factory_without_data_or_projects_explains_why(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator", "/factories/other-factory")
    page = session.page
    assert "이 기간에 수집된 설비 데이터가 없습니다" in await page.inner_text("#no-kpi-data")
    assert "등록된 지원사업이 없어" in await page.inner_text("#no-projects")
    await session.shot("factory-empty-ko")
    await page.goto(web_env.url("/factories/other-factory?lang=en"))
    assert "No support project is registered" in await page.inner_text("#no-projects")
    await session.shot("factory-empty-en")
    await page.goto(web_env.url("/factories/other-factory?lang=ko"))


async def test_questionnaire_save_round_trip(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, FACTORY, f"/factories/{FACTORY}/questionnaire?lang=en")
    page = session.page
    assert "How production is planned" in await page.inner_text("#questionnaire")
    await session.shot("questionnaire-en")
    await page.goto(web_env.url(f"/factories/{FACTORY}/questionnaire?lang=ko"))
    assert await page.locator("#questionnaire tbody tr").count() == len(ITEMS)
    assert "생산계획 수립 방식" in await page.inner_text("#questionnaire")
    for i, item in enumerate(ITEMS):
        await page.check(f"input[name={item.id}][value='{i % 6}']")
    await page.click("#questionnaire button[type=submit]")
    await page.wait_for_selector("#saved")
    assert await page.inner_text("#saved") == "저장했습니다."
    for i, item in enumerate(ITEMS):
        assert await page.is_checked(f"input[name={item.id}][value='{i % 6}']")
    assert web_env.store.answers(FACTORY) == {item.id: i % 6 for i, item in enumerate(ITEMS)}
    await session.shot("questionnaire-ko")


BAD_LOG = (
    "날짜,라인,작업시간,작업인원,생산수량,불량수량\n"
    "2020-01-01,line-1,8,3,100,2\n"
    "2020-01-32,line-1,8,3,abc,1\n"
)


async def test_baseline_upload_shows_row_errors_then_stores_a_good_file(
    session: Session, web_env: WebEnv
) -> None:
    await login(session, web_env, FACTORY, f"/factories/{FACTORY}/baseline")
    page = session.page
    await page.set_input_files(
        "#file", {"name": "나쁜기록.csv", "mimeType": "text/csv", "buffer": BAD_LOG.encode()}
    )
    await page.click("#baseline-form button[type=submit]")
    await page.wait_for_selector("#row-errors")
    assert "아무것도 저장하지 않았습니다" in await page.inner_text("#upload-error")
    rows = [await r.locator("td").all_inner_texts() for r in await page.locator("#row-errors tbody tr").all()]
    assert ["3", "날짜", "달력에 없는 날짜입니다: '2020-01-32'"] in rows, rows
    assert ["3", "생산수량", "숫자가 아닙니다: 'abc'"] in rows, rows
    assert web_env.store.baseline(FACTORY, dt.date(2020, 1, 1), dt.date(2020, 1, 31)) == []
    await session.shot("baseline-errors-ko")
    good = BAD_LOG.replace("2020-01-32,line-1,8,3,abc,1", "2020-01-02,line-1,8,3,120,1")
    await page.set_input_files("#file", {"name": "기록.csv", "mimeType": "text/csv", "buffer": good.encode()})
    await page.click("#baseline-form button[type=submit]")
    await page.wait_for_selector("#stored")
    assert "2행을 저장했습니다 (기록.csv)" in await page.inner_text("#stored")
    assert len(web_env.store.baseline(FACTORY, dt.date(2020, 1, 1), dt.date(2020, 1, 31))) == 2
    await page.goto(web_env.url(f"/factories/{FACTORY}/baseline?lang=en"))
    # the page says that an order log is taken too, and how it is told apart
    assert "A file with an order_id column is read as an order log" in await page.inner_text("main")
    await page.set_input_files(
        "#file", {"name": "나쁜기록.csv", "mimeType": "text/csv", "buffer": BAD_LOG.encode()}
    )
    await page.click("#baseline-form button[type=submit]")
    await page.wait_for_selector("#row-errors")
    rows = [await r.locator("td").all_inner_texts() for r in await page.locator("#row-errors tbody tr").all()]
    assert ["3", "생산수량", "not a number: 'abc'"] in rows, rows
    assert len(web_env.store.baseline(FACTORY, dt.date(2020, 1, 1), dt.date(2020, 1, 31))) == 2
    await session.shot("baseline-en")
    await page.goto(web_env.url(f"/factories/{FACTORY}/baseline?lang=ko"))


async def test_operator_registry_edit_shows_key_path_errors(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator", f"/registry?factory={FACTORY}")
    page = session.page
    text = await page.input_value("#yaml")
    assert f"id: {FACTORY}" in text and "ideal_cycle_time" in text
    broken = text.replace("ideal_cycle_time", "ideal_cycletime", 1)
    await page.fill("#yaml", broken)
    await page.click("#registry-form button[type=submit]")
    await page.wait_for_selector("#registry-errors")
    errors = await page.inner_text("#registry-errors")
    assert re.search(
        r"factories\[0\]\.lines\[0\]\.machines\[0\]\.ideal_cycletime: unknown key; "
        r"did you mean 'ideal_cycle_time'\? \(line \d+\)",
        errors,
    ), errors
    assert await page.input_value("#yaml") == broken, "the text stays for fixing"
    await session.shot("registry-error-ko")
    await page.fill("#yaml", text.replace("region: 경북", "region: 경북 포항"))
    await page.click("#registry-form button[type=submit]")
    await page.wait_for_selector("#saved")
    factory = web_env.store.factory(FACTORY)
    assert factory is not None and factory.region == "경북 포항"
    assert len(factory.machines) == 2 and factory.support_projects[0].id == "sp-web"
    await page.goto(web_env.url(f"/registry?factory={FACTORY}&lang=en"))
    await session.shot("registry-en")
    await page.goto(web_env.url("/registry?lang=ko"))


async def test_logout_ends_the_session(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    page = session.page
    await page.click("header form[action='/logout'] button")
    await page.wait_for_url("**/login")
    await page.goto(web_env.url("/portfolio"))
    assert "/login" in page.url


async def test_posts_from_another_site_are_refused(web_env: WebEnv) -> None:
    cookies = {"fl_session": web_env.tokens["operator"]}
    async with httpx.AsyncClient(base_url=web_env.base_url, cookies=cookies) as client:
        forged = await client.post(
            f"/factories/{FACTORY}/questionnaire",
            data={ITEMS[0].id: "5"},
            headers={"Origin": "http://attacker.example"},
        )
        assert forged.status_code == 403 and "charset=utf-8" in forged.headers["content-type"]
        no_origin = await client.post("/registry", data={"yaml": "factories: []"})
        assert no_origin.status_code == 403
        page = await client.get(f"/factories/{FACTORY}/questionnaire")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<meta charset="utf-8">' in page.text
        unknown = await client.get("/factories/no-such-factory")
        assert unknown.status_code == 404 and "등록되지 않은 공장입니다: no-such-factory" in unknown.text
        js = await client.get("/static/plotly.min.js")
        assert js.status_code == 200 and "max-age=31536000" in js.headers["cache-control"]


async def test_long_timeline_is_read_as_bucket_modes(web_env: WebEnv) -> None:
    start = (web_env.today - dt.timedelta(days=13)).isoformat()
    cookies = {"fl_session": web_env.tokens["operator"], "fl_lang": "ko"}
    async with httpx.AsyncClient(base_url=web_env.base_url, cookies=cookies, timeout=30) as client:
        r = await client.get(
            f"/factories/{FACTORY}", params={"tl_start": start, "tl_end": web_env.today.isoformat()}
        )
        assert r.status_code == 200
        assert "단위로 가장 많았던 상태를 보여 줍니다" in r.text
        assert 'data-chart="chart-timeline"' in r.text and 'data-chart="chart-pareto"' in r.text
        bad = await client.get(f"/factories/{FACTORY}", params={"kpi_start": "2024-02-30"})
        assert bad.status_code == 200 and "기간을 읽을 수 없어 기본 기간으로 표시합니다" in bad.text
