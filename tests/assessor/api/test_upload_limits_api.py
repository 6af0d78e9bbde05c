"""Hostile uploads through the real app, API and web forms: a few kilobytes that ask for
gigabytes are refused with 413/400 naming the limit, the parse runs in a worker process
so /healthz keeps answering while it runs, and ordinary files import as before."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from assessor.api.app import create_app
from assessor.domain.upload_limits import UploadLimits
from tests.support.assessor_env import AssessorEnv
from tests.support.hostile_files import billion_laughs, declaring, deflate_bomb

DEMO = "demo-factory"
BASELINE = f"/api/v1/factories/{DEMO}/baseline"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOMB_EN = "the .xlsx file unpacks to 160 MiB; the limit is 100 MiB"
BOMB_KO = ".xlsx 파일의 압축을 풀면 160 MiB입니다. 한도는 100 MiB입니다."
LAUGHS_EN = (
    "line 6: the YAML expands to more than 200,000 values (each alias counts as a copy of what "
    "it names); the limit is 200,000"
)
LAUGHS_KO = "6번째 줄: YAML을 펼치면 값이 200,000개를 넘습니다"


class Probe:
    """The app behind an ASGI shim that tells when a request's body has been read, so a
    test can ask /healthz while that request is being parsed, not before."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.body_read: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in self.body_read:
            await self.app(scope, receive, send)
            return
        read = self.body_read[scope["path"]]

        async def watched() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                read.set()
            return message  # type: ignore[no-any-return]

        await self.app(scope, watched, send)


@pytest.fixture
async def probe(assessor_env: AssessorEnv) -> AsyncIterator[tuple[Probe, httpx.AsyncClient]]:
    p = Probe(create_app(assessor_env.service))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p), base_url="http://assessor") as client:
        yield p, client


async def healthz_while_parsing(
    probe: tuple[Probe, httpx.AsyncClient], method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send a request; once its body is in, ask /healthz, which must be answered while
    that request is still being parsed. Returns the request's response."""
    p, client = probe
    p.body_read[url] = asyncio.Event()
    request = asyncio.create_task(client.request(method, url, **kwargs))
    await p.body_read[url].wait()
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert not request.done(), "the parse held the event loop: /healthz was answered only after it"
    return await request


async def test_a_sheet_declaring_the_whole_grid_imports_its_real_rows(assessor_env: AssessorEnv) -> None:
    body = declaring("A1:XFD1048576")
    assert len(body) < 6_000
    r = await assessor_env.client.post(
        BASELINE,
        files={"file": ("생산일지.xlsx", body, XLSX_MIME)},
        headers=assessor_env.auth(DEMO),
    )
    assert r.status_code == 200, r.text
    assert r.json()["stored_rows"] == 3
    stored = assessor_env.store.baseline(DEMO)
    assert [(d.day, d.produced) for d in stored] == [
        (dt.date(2022, 9, 1), 900),
        (dt.date(2022, 9, 2), 840),
        (dt.date(2022, 9, 5), 1000),
    ]


async def test_a_deflate_bomb_is_refused_with_413_naming_the_limit(assessor_env: AssessorEnv) -> None:
    body = deflate_bomb(160)
    assert len(body) < 200_000
    r = await assessor_env.client.post(
        BASELINE, files={"file": ("log.xlsx", body, XLSX_MIME)}, headers=assessor_env.auth(DEMO)
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["message"] == f"file rejected, nothing stored: {BOMB_EN}"
    assert r.json()["error"]["parameter"] == "file"
    assert r.json()["error"]["details"] == [
        {"row": 1, "column": "", "message": BOMB_EN, "message_ko": BOMB_KO}
    ]
    assert assessor_env.store.baseline(DEMO) == []
    assert (await assessor_env.client.get("/healthz")).status_code == 200


async def test_billion_laughs_registry_is_refused_with_413_naming_the_limit(
    assessor_env: AssessorEnv,
) -> None:
    before = assessor_env.store.factories()
    r = await assessor_env.client.post(
        "/api/v1/registry", content=billion_laughs().encode(), headers=assessor_env.auth("operator")
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["message"] == LAUGHS_EN
    assert assessor_env.store.factories() == before


async def test_a_parse_that_runs_long_leaves_the_loop_free_and_is_stopped_at_the_time_limit(
    assessor_env: AssessorEnv, probe: tuple[Probe, httpx.AsyncClient]
) -> None:
    """With the structural YAML limits lifted, the billion laughs costs seconds and
    gigabytes to read: it must cost them in a worker, killed at the time limit."""
    cfg = assessor_env.service.cfg
    relaxed = UploadLimits(max_yaml_nodes=10**15, parse_timeout_s=1)
    assessor_env.service.cfg = cfg.model_copy(update={"uploads": relaxed})
    before = assessor_env.store.factories()
    r = await healthz_while_parsing(
        probe,
        "POST",
        "/api/v1/registry",
        content=billion_laughs().encode(),
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 413, r.text
    assert (
        r.json()["error"]["message"]
        == "reading the file took longer than 1 s and was stopped; the limit is 1 s"
    )
    assert assessor_env.store.factories() == before


async def test_hostile_uploads_at_once_then_a_normal_file_still_imports(assessor_env: AssessorEnv) -> None:
    """All three findings in flight together with /healthz; afterwards a normal log
    imports. (Whether /healthz is answered *during* a parse is the test above: these are
    refused too quickly for that to be certain.)"""
    client, auth = assessor_env.client, assessor_env.auth(DEMO)
    bomb, grid, laughs, health = await asyncio.gather(
        client.post(BASELINE, params={"filename": "bomb.xlsx"}, content=deflate_bomb(160), headers=auth),
        client.post(
            BASELINE, params={"filename": "grid.xlsx"}, content=declaring("A1:XFD1048576"), headers=auth
        ),
        client.post(
            "/api/v1/registry", content=billion_laughs().encode(), headers=assessor_env.auth("operator")
        ),
        client.get("/healthz"),
    )
    assert health.status_code == 200
    assert bomb.status_code == 413 and bomb.json()["error"]["message"].endswith(BOMB_EN)
    assert grid.status_code == 200 and grid.json()["stored_rows"] == 3, grid.text
    assert laughs.status_code == 413 and laughs.json()["error"]["message"] == LAUGHS_EN
    csv = b"date,line,hours_worked,workers,produced,defects\n2022-09-06,line-1,8,3,950,4\n"
    r = await client.post(BASELINE, params={"filename": "log.csv"}, content=csv, headers=auth)
    assert r.status_code == 200 and r.json()["stored_rows"] == 1, r.text
    assert [d.produced for d in assessor_env.store.baseline(DEMO)] == [900, 840, 1000, 950]


# -- the web forms ------------------------------------------------------------------------


async def _web_login(client: httpx.AsyncClient, env: AssessorEnv, who: str) -> dict[str, str]:
    origin = {"Origin": "http://assessor"}
    r = await client.post("/login", data={"token": env.tokens[who]}, headers=origin)
    assert r.status_code == 303, r.text
    return origin


async def test_web_baseline_form_shows_the_limit_in_korean_and_english(assessor_env: AssessorEnv) -> None:
    client = assessor_env.client
    origin = await _web_login(client, assessor_env, DEMO)
    files = {"file": ("생산일지.xlsx", deflate_bomb(160), XLSX_MIME)}
    r = await client.post(f"/factories/{DEMO}/baseline?lang=ko", files=files, headers=origin)
    assert r.status_code == 413
    assert f"파일을 거부했습니다. 아무것도 저장하지 않았습니다: {BOMB_KO}" in r.text
    r = await client.post(f"/factories/{DEMO}/baseline?lang=en", files=files, headers=origin)
    assert r.status_code == 413
    assert f"File rejected, nothing stored: {BOMB_EN}" in r.text
    assert assessor_env.store.baseline(DEMO) == []


async def test_web_registry_form_shows_the_limit_in_korean_and_english(assessor_env: AssessorEnv) -> None:
    client = assessor_env.client
    origin = await _web_login(client, assessor_env, "operator")
    before = assessor_env.store.factories()
    r = await client.post("/registry?lang=ko", data={"yaml": billion_laughs()}, headers=origin)
    assert r.status_code == 413
    assert f"저장하지 않았습니다: {LAUGHS_KO}" in r.text
    r = await client.post("/registry?lang=en", data={"yaml": billion_laughs()}, headers=origin)
    assert r.status_code == 413
    assert f"Nothing was saved: {LAUGHS_EN}" in r.text
    assert assessor_env.store.factories() == before
