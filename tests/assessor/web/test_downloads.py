"""Report buttons of the dashboard: what a signed-in person downloads, in a real browser
context (its cookie, its same-site rules)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from tests.assessor.web.conftest import FACTORY, FACTORY_NAME, WebEnv, login
from tests.support.browser import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_factory_report_buttons_download_pdf_and_csv(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, FACTORY)
    pdf = await session.context.request.get(web_env.url(f"/factories/{FACTORY}/report?format=pdf&lang=ko"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in pdf.headers["content-disposition"]
    assert pdf.headers["cache-control"] == "private, no-store"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(await pdf.body())).pages)
    assert FACTORY_NAME in text and "도입 전" in text
    csv = await session.context.request.get(web_env.url(f"/factories/{FACTORY}/report?format=csv&lang=en"))
    assert csv.status == 200
    body = await csv.body()
    assert body.startswith("\ufeff".encode()) and b"units_per_hour" in body


async def test_unknown_project_is_a_404_page_not_a_crash(session: Session, web_env: WebEnv) -> None:
    await login(session, web_env, "operator")
    r = await session.page.goto(web_env.url(f"/factories/{FACTORY}/report?project=no-such-project"))
    assert r is not None and r.status == 404
    assert "no-such-project" in await session.page.inner_text("main")


async def test_portfolio_report_of_a_factory_user_holds_only_their_factory(
    session: Session, web_env: WebEnv
) -> None:
    await login(session, web_env, FACTORY)
    r = await session.context.request.get(web_env.url("/portfolio/report?format=csv&lang=ko"))
    assert r.status == 200
    text = (await r.body()).decode("utf-8-sig")
    others = [f.name for f in web_env.store.factories() if f.id != FACTORY]
    assert FACTORY_NAME in text
    assert not any(name in text for name in others), "another factory leaked into the report"
