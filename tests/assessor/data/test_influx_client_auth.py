"""Which credentials the assessor's InfluxDB client sends on /query and /write.

InfluxDB 2.x (the docker-compose deployment) hands out tokens only; its v1-compatible
endpoints take "Authorization: Token <token>". 1.x takes HTTP Basic auth."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from assessor.config import InfluxSettings
from assessor.data.influx_client import InfluxClient

EMPTY_RESULT = b'{"results":[{"statement_id":0}]}\n'


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(("/query", request.headers.get("Authorization")))
        return web.Response(body=EMPTY_RESULT, content_type="application/json")

    async def write(request: web.Request) -> web.Response:
        await request.read()
        seen.append(("/write", request.headers.get("Authorization")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/query", query)
    app.router.add_post("/write", write)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


async def _both(url: str, **settings: Any) -> None:
    client = InfluxClient(InfluxSettings(url=url, **settings))
    try:
        await client.query("SHOW MEASUREMENTS")
        await client.write([b"kpi_daily,factory=f units=1i 0"])
    finally:
        await client.close()


async def test_api_v2_sends_the_token(recorder: tuple[str, list[tuple[str, str | None]]]) -> None:
    url, seen = recorder
    await _both(url, api="v2", org="technopark", token="s3cret")
    assert seen == [("/query", "Token s3cret"), ("/write", "Token s3cret")]


async def test_api_v2_ignores_a_username(recorder: tuple[str, list[tuple[str, str | None]]]) -> None:
    url, seen = recorder
    await _both(url, api="v2", org="o", token="s3cret", username="u", password="p")
    assert seen == [("/query", "Token s3cret"), ("/write", "Token s3cret")]


async def test_api_v1_with_only_a_token_sends_the_token(
    recorder: tuple[str, list[tuple[str, str | None]]],
) -> None:
    # a 2.x server reached through the v1 API: without this every request is a 401
    url, seen = recorder
    await _both(url, api="v1", token="s3cret")
    assert seen == [("/query", "Token s3cret"), ("/write", "Token s3cret")]


async def test_api_v1_username_uses_basic_auth(recorder: tuple[str, list[tuple[str, str | None]]]) -> None:
    url, seen = recorder
    await _both(url, api="v1", username="reader", password="pw", token="ignored")
    basic = "Basic " + base64.b64encode(b"reader:pw").decode()
    assert seen == [("/query", basic), ("/write", basic)]


async def test_no_credentials_no_header(recorder: tuple[str, list[tuple[str, str | None]]]) -> None:
    url, seen = recorder
    await _both(url)
    assert seen == [("/query", None), ("/write", None)]
