"""/docs renders from files the app serves itself (the session fixture fails a
test whose page asked anything but 127.0.0.1); the OpenAPI document describes every
answer, and the answers are what it describes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from assessor.api.app import ROUTERS
from assessor.domain.level import ITEMS
from tests.integration.web.conftest import FACTORY, WebEnv, manual_log, web_registry
from tests.support.browser import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_swagger_ui_renders_offline(session: Session, web_env: WebEnv) -> None:
    await session.page.goto(web_env.url("/docs"))
    await session.page.get_by_text("/api/v1/portfolio", exact=True).first.wait_for(timeout=20_000)
    await session.shot("api-docs")


async def _openapi(web_env: WebEnv) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=web_env.base_url) as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    return r.json()


async def test_every_success_answer_has_a_schema(web_env: WebEnv) -> None:
    doc = await _openapi(web_env)
    assert doc["paths"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            content = op["responses"]["200"].get("content")
            assert content, f"{method.upper()} {path}: no content for 200"
            for media_type, body in content.items():
                # {} is what FastAPI writes for an undeclared dict[str, Any] answer
                assert body.get("schema") not in (None, {}), f"{method.upper()} {path} {media_type}: empty"


def _models() -> dict[tuple[str, str], Any]:
    return {
        (method, route.path): route.response_model
        for module in ROUTERS
        for route in module.router.routes
        for method in route.methods  # type: ignore[attr-defined]
        if route.response_model is not None  # type: ignore[attr-defined]
    }


async def test_answers_are_what_the_models_say(web_env: WebEnv) -> None:
    """Every JSON route answers, with data behind it, a body its response model accepts;
    the models refuse keys they do not name, so a key added to a body alone fails here."""
    t = web_env.today
    week = {"start": (t - dt.timedelta(days=7)).isoformat(), "end": t.isoformat()}
    f = f"/api/v1/factories/{FACTORY}"
    log = manual_log(t - dt.timedelta(days=60), 20)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/healthz", {}),
        ("GET", "/api/v1/factories", {}),
        ("GET", f, {}),
        ("GET", f + "/assessment", {}),
        ("GET", f + "/gains", {"params": {"project": "sp-web"}}),
        ("GET", f + "/questionnaire", {}),
        ("GET", "/api/v1/portfolio", {}),
        ("PUT", f + "/questionnaire", {"json": {"answers": {item.id: 3 for item in ITEMS}}}),
        ("POST", f + "/baseline", {"files": {"file": ("log.csv", log)}}),
        ("POST", "/api/v1/registry", {"content": web_registry(t).encode()}),
    ]
    for group in ("machine", "line", "factory", "product", "machine,product"):
        for granularity in ("total", "day"):
            params = {**week, "group": group, "granularity": granularity}
            calls.append(("GET", f + "/kpis", {"params": params}))
    models = _models()
    seen = set()
    headers = {"Authorization": f"Bearer {web_env.tokens['operator']}"}
    async with httpx.AsyncClient(base_url=web_env.base_url, headers=headers, timeout=60) as client:
        for method, url, kwargs in calls:
            r = await client.request(method, url, **kwargs)
            assert r.status_code == 200, (method, url, r.text)
            route = next(p for m, p in models if m == method and _matches(p, url))
            TypeAdapter(models[(method, route)]).validate_json(r.content)
            seen.add((method, route))
    json_routes = {
        (method.upper(), path)
        for path, ops in (await _openapi(web_env))["paths"].items()
        for method, op in ops.items()
        if "application/json" in op["responses"]["200"].get("content", {})
    }
    assert json_routes == seen, "routes this test does not call: add them"


def _matches(template: str, url: str) -> bool:
    a, b = template.split("/"), url.split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))
