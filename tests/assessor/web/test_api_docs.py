"""/docs renders from files the app serves itself (the session fixture fails a
test whose page asked anything but 127.0.0.1); the OpenAPI document describes every
answer, and the answers are what it describes."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from assessor.api.app import ROUTERS
from assessor.domain.level import ITEMS
from tests.assessor.web.conftest import FACTORY, WebEnv, manual_log, web_registry
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


def _success(op: dict[str, Any]) -> dict[str, Any]:
    """The documented success answer: 200, or 201 for a route that creates something."""
    return op["responses"].get("200") or op["responses"]["201"]


async def test_every_success_answer_has_a_schema(web_env: WebEnv) -> None:
    doc = await _openapi(web_env)
    assert doc["paths"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            content = _success(op).get("content")
            assert content, f"{method.upper()} {path}: no content for its success answer"
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
    evidence = {"kpi": "inventory_days", "value": "14", "note": "재고 실사", "entered_by": "김담당"}
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
        ("POST", "/api/v1/registry", {"content": _with_reasons(web_registry(t)).encode()}),
        ("GET", f + "/targets", {}),
        ("POST", f + "/projects/sp-web/results", {"data": evidence, "files": {"file": ("inv.csv", b"d,14")}}),
        ("GET", f + "/projects/sp-web/results", {}),
    ]
    for group in ("machine", "line", "factory", "product", "machine,product"):
        for granularity in ("total", "day"):
            params = {**week, "group": group, "granularity": granularity}
            calls.append(("GET", f + "/kpis", {"params": params}))
    models = _models()
    seen = set()
    headers = {"Authorization": f"Bearer {web_env.tokens['operator']}"}
    async with httpx.AsyncClient(base_url=web_env.base_url, headers=headers, timeout=60) as client:

        async def call(method: str, url: str, **kwargs: Any) -> Any:
            r = await client.request(method, url, **kwargs)
            # 201: an operator entry stored (its resend answers 200 with the same model)
            assert r.status_code in (200, 201), (method, url, r.text)
            route = next(p for m, p in models if m == method and _matches(p, url))
            TypeAdapter(models[(method, route)]).validate_json(r.content)
            seen.add((method, route))
            return r.json()

        for method, url, kwargs in calls:
            await call(method, url, **kwargs)
        await _operator_calls(call, f + "/operator", web_env.today)
    json_routes = {
        (method.upper(), path)
        for path, ops in (await _openapi(web_env))["paths"].items()
        for method, op in ops.items()
        if "application/json" in _success(op).get("content", {})
    }
    assert json_routes == seen, "routes this test does not call: add them"


def _with_reasons(registry: str) -> str:
    """The web registry with a reason tree, for the operator input routes."""
    tree = "    downtime_reasons:\n      - {code: jam, category: machine, name_ko: 걸림, name_en: Jam}\n"
    return registry.replace("    lines:\n", tree + "    lines:\n", 1)


async def _operator_calls(call: Any, base: str, today: dt.date) -> None:
    now = time.time()
    await call("GET", base + "/queue")
    machine = {"line": "line-1", "machine": "press-01"}
    span = {"start": now - 7200, "end": now - 3600}
    stop = await call(
        "POST",
        base + "/stops",
        json={
            "client_id": "docs-stop",
            **machine,
            "state": "fault",
            **span,
            "segments": [{**span, "reason": "jam"}],
        },
    )
    stop_id = stop["entry"]["id"]
    await call(
        "PUT", f"{base}/stops/{stop_id}", json={"client_id": "docs-edit", "version": 1, "comment": "ok"}
    )
    await call("GET", f"{base}/stops/{stop_id}/audit")
    scrap = await call(
        "POST",
        base + "/scrap",
        json={"client_id": "docs-scrap", **machine, "at": now, "quantity": 2, "reason": "jam"},
    )
    count = await call(
        "POST",
        base + "/counts",
        json={"client_id": "docs-count", **machine, "day": today.isoformat(), "new_count": 9},
    )
    await call(
        "PUT", f"{base}/scrap/{scrap['id']}", json={"client_id": "docs-scrap-e", "version": 1, "quantity": 3}
    )
    await call(
        "PUT",
        f"{base}/counts/{count['id']}",
        json={"client_id": "docs-count-e", "version": 1, "new_count": 8},
    )
    today_entries = await call("GET", base + "/today")
    assert [e["quantity"] for e in today_entries["scrap"]] == [3]
    assert [c["new_count"] for c in today_entries["counts"]] == [8]


def _matches(template: str, url: str) -> bool:
    a, b = template.split("/"), url.split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))
