"""Request bodies over the cap are refused before the app reads them: by their declared
length at once, and a chunked body as soon as it passes the cap."""

from __future__ import annotations

from collections.abc import AsyncIterator

from assessor.api.app import MAX_UPLOAD_BYTES
from tests.support.assessor_env import AssessorEnv

CAP = MAX_UPLOAD_BYTES + 2**20


async def test_a_declared_length_over_the_cap_is_refused_at_once(assessor_env: AssessorEnv) -> None:
    r = await assessor_env.client.post(
        "/api/v1/factories/demo-factory/baseline?filename=big.csv",
        content=b"x" * (CAP + 1),
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 413
    assert r.json()["error"]["parameter"] == "body"


async def test_a_chunked_body_is_stopped_when_it_passes_the_cap(assessor_env: AssessorEnv) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(CAP // 2**20 + 5):
            sent += 2**20
            yield b"x" * 2**20

    r = await assessor_env.client.post(
        "/api/v1/factories/demo-factory/baseline?filename=big.csv",
        content=chunks(),
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 413
    # The in-process transport pulls a chunk only when the app asks for more body, so
    # ``sent`` is what the server consumed: the chunk that crossed the cap and no more.
    # The route's own 20 MiB check would also answer 413, but only after reading it all.
    assert sent <= CAP + 2**20, f"the server read {sent} bytes past a cap of {CAP}"
    assert r.json()["error"]["parameter"] == "body"


async def test_a_web_form_over_the_cap_gets_a_page(assessor_env: AssessorEnv) -> None:
    r = await assessor_env.client.post(
        "/factories/demo-factory/baseline",
        content=b"x" * (CAP + 1),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html") and "MiB" in r.text


async def test_uploads_under_the_cap_still_reach_the_route(assessor_env: AssessorEnv) -> None:
    r = await assessor_env.client.post(
        "/api/v1/factories/demo-factory/baseline?filename=log.csv",
        content="날짜,라인\n".encode(),
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 400 and "row" in r.text  # the route's own validation answered
