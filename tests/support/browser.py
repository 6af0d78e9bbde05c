"""Debian's headless Chromium driven by Playwright, for tests that look at pages as a person would.

Playwright's own browser download is never used (no ``playwright install``): the tests
launch ``/usr/bin/chromium`` with the flags that keep it off the network. Every launch
gets a fresh temporary profile.

    browser = await launch()          # one per test module
    session = await new_session(browser)  # fresh cookies per test; session.requests lists every URL
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
#: pages may only ask the app under test; anything else would fail on an offline edge box
LOCAL_HOSTS = frozenset({"127.0.0.1"})


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None


@dataclass
class Session:
    """A browser context (its own cookies) with one page and the URLs it requested."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    #: console errors other than the browser's note on a 4xx page (a refused script, a CSP block)
    console_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [
            u
            for u in self.requests
            if not u.startswith(("data:", "blob:", "about:")) and urlsplit(u).hostname not in LOCAL_HOSTS
        ]

    async def shot(self, name: str) -> Path:
        """A full-page screenshot kept under test-artifacts/screenshots/."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@contextlib.asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await _launch(pw)
        try:
            yield browser
        finally:
            await browser.close()


async def _launch(pw: Playwright) -> Browser:
    # launch() always starts from a new temporary profile (Playwright's --user-data-dir)
    return await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


async def new_session(browser: Browser, *, locale: str = "ko-KR") -> Session:
    context = await browser.new_context(
        locale=locale, timezone_id="Asia/Seoul", viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    session = Session(context, page)
    page.on("request", lambda r: session.requests.append(r.url))
    page.on(
        "console",
        lambda m: (
            session.console_errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: session.console_errors.append(str(exc)))
    return session
