"""/docs renders from files the app serves itself (the session fixture fails a
test whose page asked anything but 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.integration.web.conftest import WebEnv
from tests.support.browser import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_swagger_ui_renders_offline(session: Session, web_env: WebEnv) -> None:
    await session.page.goto(web_env.url("/docs"))
    await session.page.get_by_text("/api/v1/portfolio", exact=True).first.wait_for(timeout=20_000)
    await session.shot("api-docs")
