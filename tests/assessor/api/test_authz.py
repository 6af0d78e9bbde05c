"""Who may call what: every endpoint against every kind of caller, one test id per cell.

Refused callers get 401 with ``WWW-Authenticate: Bearer``; the operator sees every
factory and gets 404 for an unknown id; a factory user sees only its own factory and
gets 403 for any other id, existing or not, so it learns nothing about other factories.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from assessor.domain.level import ITEMS
from assessor.services.auth import create_token, split_token
from tests.support.assessor_env import AssessorEnv

DEMO, OTHER, UNKNOWN = "demo-factory", "other-factory", "no-such-factory"
FACTORY_NAMES = ("데모정밀", "다른공장")
#: pinned "now" (2024-03-06 12:00 in Seoul): sp-2023's open-ended "after" window then
#: ends on 2024-03-05 instead of growing with the real date
NOW = dt.datetime(2024, 3, 6, 12, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()

BASELINE_CSV = (
    b"date,line,hours_worked,workers,produced,defects\n"
    b"2022-09-01,line-1,7.5,3,900,12\n"
    b"2022-09-02,line-1,7,3,850,9\n"
)
NEW_FACTORY_YAML = """\
factories:
  - id: third-factory
    name: 셋째공장
    lines:
      - id: line-1
        machines:
          - {id: m1, ideal_cycle_time: 1s}
"""
EXPLICIT_WINDOWS = {
    "baseline_start": "2024-03-01",
    "baseline_end": "2024-03-02",
    "after_start": "2024-03-04",
    "after_end": "2024-03-05",
}


#: count_total increase seeded per factory on 2024-03-04
SEEDED_COUNT = {DEMO: 150, OTHER: 75}


def seed(env: AssessorEnv) -> None:
    """A few running minutes for each factory's machine on 2024-03-04, inside the shift."""
    t0 = int(dt.datetime(2024, 3, 4, 9, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp())
    lines = []
    for factory, machine in ((DEMO, "press-01"), (OTHER, "m1")):
        step = SEEDED_COUNT[factory] // 3
        for i in range(4):
            lines.append(
                f"machine_data,factory={factory},line=line-1,machine={machine} "
                f'state="running",count_total={i * step}i {(t0 + 60 * i) * 10**9}'
            )
    status, text = env.influx.write(lines, env.database)
    assert status == 204, text


@pytest.fixture
async def env(assessor_env: AssessorEnv) -> AssessorEnv:
    assessor_env.service.clock = lambda: NOW
    seed(assessor_env)
    return assessor_env


# -- endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    #: path of the factory route with ``{id}``, or a fixed path
    path: str
    request: Callable[[str], dict[str, Any]] = lambda _: {}

    @property
    def per_factory(self) -> bool:
        return "{id}" in self.path

    def url(self, factory_id: str) -> str:
        return self.path.replace("{id}", factory_id)


def _gains_params(factory_id: str) -> dict[str, Any]:
    # only demo-factory has a support project
    return {"params": {"project": "sp-2023"} if factory_id == DEMO else EXPLICIT_WINDOWS}


FACTORY_ENDPOINTS = [
    Endpoint("get-factory", "GET", "/api/v1/factories/{id}"),
    Endpoint(
        "kpis",
        "GET",
        "/api/v1/factories/{id}/kpis",
        lambda _: {"params": {"start": "2024-03-04", "end": "2024-03-04"}},
    ),
    Endpoint("assessment", "GET", "/api/v1/factories/{id}/assessment"),
    Endpoint("gains", "GET", "/api/v1/factories/{id}/gains", _gains_params),
    Endpoint("get-questionnaire", "GET", "/api/v1/factories/{id}/questionnaire"),
    Endpoint(
        "put-questionnaire",
        "PUT",
        "/api/v1/factories/{id}/questionnaire",
        lambda _: {"json": {"answers": {ITEMS[0].id: 3}}},
    ),
    Endpoint(
        "post-baseline",
        "POST",
        "/api/v1/factories/{id}/baseline",
        lambda _: {"content": BASELINE_CSV, "params": {"filename": "log.csv"}},
    ),
]
GLOBAL_ENDPOINTS = [
    Endpoint("list-factories", "GET", "/api/v1/factories"),
    Endpoint("post-registry", "POST", "/api/v1/registry", lambda _: {"content": NEW_FACTORY_YAML.encode()}),
    Endpoint("portfolio", "GET", "/api/v1/portfolio"),
]
ALL_ENDPOINTS = FACTORY_ENDPOINTS + GLOBAL_ENDPOINTS


async def call(env: AssessorEnv, ep: Endpoint, factory_id: str, headers: dict[str, str]) -> httpx.Response:
    return await env.client.request(ep.method, ep.url(factory_id), headers=headers, **ep.request(factory_id))


def assert_no_side_effects(env: AssessorEnv, ep: Endpoint, factory_id: str) -> None:
    """A refused write changed nothing."""
    if ep.name == "put-questionnaire":
        assert env.store.answers(factory_id) is None
    if ep.name == "post-baseline":
        assert env.store.baseline(factory_id) == []
    if ep.name == "post-registry":
        assert env.store.factory("third-factory") is None


def assert_error_body(r: httpx.Response) -> dict[str, Any]:
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    for name in FACTORY_NAMES:
        assert name not in r.text
    return error


# -- refused callers: 401 ---------------------------------------------------------------


def _revoked_token(env: AssessorEnv) -> str:
    token = create_token(env.store, "operator", label="to be revoked")
    parts = split_token(token)
    assert parts is not None
    assert env.store.revoke_token(parts[0])
    return token


def _wrong_secret(env: AssessorEnv) -> str:
    # the id of a live token with another secret
    return env.tokens["operator"][:-4] + ("AAAA" if not env.tokens["operator"].endswith("AAAA") else "BBBB")


UNAUTHENTICATED: dict[str, Callable[[AssessorEnv], dict[str, str]]] = {
    "no-header": lambda env: {},
    "basic-scheme": lambda env: {"Authorization": "Basic x"},
    "bearer-without-token": lambda env: {"Authorization": "Bearer"},
    "unknown-token": lambda env: {"Authorization": "Bearer fl_0123456789abcdef_" + "A" * 43},
    "wrong-secret": lambda env: env.auth(_wrong_secret(env)),
    "revoked-token": lambda env: env.auth(_revoked_token(env)),
}


@pytest.mark.parametrize("caller", list(UNAUTHENTICATED))
@pytest.mark.parametrize("ep", ALL_ENDPOINTS, ids=lambda ep: ep.name)
async def test_unauthenticated_caller_gets_401(env: AssessorEnv, ep: Endpoint, caller: str) -> None:
    r = await call(env, ep, DEMO, UNAUTHENTICATED[caller](env))
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert_error_body(r)
    assert_no_side_effects(env, ep, DEMO)


async def test_revoked_token_worked_before_revocation(env: AssessorEnv) -> None:
    token = create_token(env.store, "factory", DEMO)
    assert (await env.client.get(f"/api/v1/factories/{DEMO}", headers=env.auth(token))).status_code == 200
    parts = split_token(token)
    assert parts is not None
    env.store.revoke_token(parts[0])
    assert (await env.client.get(f"/api/v1/factories/{DEMO}", headers=env.auth(token))).status_code == 401


async def test_bearer_scheme_is_case_insensitive(env: AssessorEnv) -> None:
    headers = {"Authorization": "bearer " + env.tokens[DEMO]}
    assert (await env.client.get(f"/api/v1/factories/{DEMO}", headers=headers)).status_code == 200


async def test_token_of_a_deleted_factory_is_refused(env: AssessorEnv) -> None:
    assert env.store.delete_factory(OTHER)
    r = await env.client.get(f"/api/v1/factories/{OTHER}", headers=env.auth(OTHER))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


# -- factory routes: operator, own factory, other factory, unknown factory ----------------

#: (caller, target factory) -> expected status
ACCESS: dict[tuple[str, str], int] = {
    ("operator", DEMO): 200,
    ("operator", OTHER): 200,
    ("operator", UNKNOWN): 404,
    (DEMO, DEMO): 200,
    (DEMO, OTHER): 403,
    (DEMO, UNKNOWN): 403,
    (OTHER, OTHER): 200,
    (OTHER, DEMO): 403,
    (OTHER, UNKNOWN): 403,
}


@pytest.mark.parametrize(("caller", "target"), list(ACCESS), ids=[f"{c}->{t}" for c, t in ACCESS])
@pytest.mark.parametrize("ep", FACTORY_ENDPOINTS, ids=lambda ep: ep.name)
async def test_factory_route_access(env: AssessorEnv, ep: Endpoint, caller: str, target: str) -> None:
    expected = ACCESS[(caller, target)]
    r = await call(env, ep, target, env.auth(caller))
    assert r.status_code == expected, r.text
    if expected == 200:
        body = r.json()
        factory_ref = body.get("id") or body.get("factory") or body.get("factory_id")
        if factory_ref is not None:
            assert factory_ref == target
        if ep.name == "kpis":
            # the seeded data of the target factory, and only of it
            assert [row["total_count"] for row in body["rows"]] == [SEEDED_COUNT[target]]
        return
    error = assert_error_body(r)
    assert error.get("parameter") == "id"
    assert_no_side_effects(env, ep, target)


@pytest.mark.parametrize("caller", [DEMO, OTHER])
@pytest.mark.parametrize("ep", FACTORY_ENDPOINTS, ids=lambda ep: ep.name)
async def test_factory_user_cannot_tell_other_factory_from_unknown(
    env: AssessorEnv, ep: Endpoint, caller: str
) -> None:
    other = OTHER if caller == DEMO else DEMO
    existing = await call(env, ep, other, env.auth(caller))
    missing = await call(env, ep, UNKNOWN, env.auth(caller))
    assert existing.status_code == missing.status_code == 403
    assert existing.content == missing.content
    assert other not in existing.text


async def test_successful_writes_land_on_the_callers_factory(env: AssessorEnv) -> None:
    put = next(ep for ep in FACTORY_ENDPOINTS if ep.name == "put-questionnaire")
    post = next(ep for ep in FACTORY_ENDPOINTS if ep.name == "post-baseline")
    assert (await call(env, put, DEMO, env.auth(DEMO))).status_code == 200
    assert (await call(env, post, DEMO, env.auth(DEMO))).json()["stored_rows"] == 2
    assert env.store.answers(DEMO) == {ITEMS[0].id: 3}
    assert len(env.store.baseline(DEMO)) == 2
    assert env.store.answers(OTHER) is None
    assert env.store.baseline(OTHER) == []


# -- global routes --------------------------------------------------------------------

VISIBLE = {"operator": [DEMO, OTHER], DEMO: [DEMO], OTHER: [OTHER]}


@pytest.mark.parametrize("caller", list(VISIBLE))
async def test_factory_list_shows_only_visible_factories(env: AssessorEnv, caller: str) -> None:
    r = await env.client.get("/api/v1/factories", headers=env.auth(caller))
    assert r.status_code == 200
    assert [f["id"] for f in r.json()] == VISIBLE[caller]
    if caller == DEMO:
        assert "다른공장" not in r.text
    if caller == OTHER:
        assert "데모정밀" not in r.text


@pytest.mark.parametrize("caller", list(VISIBLE))
async def test_portfolio_shows_only_visible_factories(env: AssessorEnv, caller: str) -> None:
    r = await env.client.get("/api/v1/portfolio", headers=env.auth(caller))
    assert r.status_code == 200, r.text
    assert [f["factory"] for f in r.json()["factories"]] == VISIBLE[caller]
    hidden = {DEMO: ["다른공장", "m1"], OTHER: ["데모정밀", "press-01"]}.get(caller, [])
    for text in hidden:
        assert text not in r.text


@pytest.mark.parametrize(("caller", "expected"), [("operator", 200), (DEMO, 403), (OTHER, 403)])
async def test_registry_import_is_for_operators_only(env: AssessorEnv, caller: str, expected: int) -> None:
    ep = next(ep for ep in GLOBAL_ENDPOINTS if ep.name == "post-registry")
    r = await call(env, ep, "", env.auth(caller))
    assert r.status_code == expected, r.text
    if expected == 200:
        assert r.json() == {"imported": ["third-factory"]}
        assert env.store.factory("third-factory") is not None
    else:
        assert_error_body(r)
        assert_no_side_effects(env, ep, "")
        # the factory user's own view is unchanged
        listed = await env.client.get("/api/v1/factories", headers=env.auth(caller))
        assert [f["id"] for f in listed.json()] == [caller]


# -- the line role and the operator input routes ----------------------------------------------

LINE = "line"
REASONS_YAML_TREE = (("jam", "machine"), ("wait", "material"))
#: a stop of press-01 an hour before the pinned now
STOP_START = NOW - 3600.0


def _stop_body(client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "line": "line-1",
        "machine": "press-01" if client_id.startswith("d") else "m1",
        "state": "fault",
        "start": STOP_START,
        "end": STOP_START + 600,
        "segments": [{"start": STOP_START, "end": STOP_START + 600, "reason": "jam"}],
    }


def _client_id(factory_id: str) -> str:
    # unique per request: each cell of the matrix must store its own entry
    import uuid

    return ("d" if factory_id == DEMO else "o") + uuid.uuid4().hex


OPERATOR_ENDPOINTS = [
    Endpoint("op-queue", "GET", "/api/v1/factories/{id}/operator/queue"),
    Endpoint(
        "op-post-stop",
        "POST",
        "/api/v1/factories/{id}/operator/stops",
        lambda f: {"json": _stop_body(_client_id(f))},
    ),
    Endpoint(
        "op-put-stop",
        "PUT",
        "/api/v1/factories/{id}/operator/stops/999999",
        lambda f: {"json": {"client_id": _client_id(f), "version": 1, "comment": "x"}},
    ),
    Endpoint("op-audit", "GET", "/api/v1/factories/{id}/operator/stops/999999/audit"),
    Endpoint(
        "op-scrap",
        "POST",
        "/api/v1/factories/{id}/operator/scrap",
        lambda f: {
            "json": {
                "client_id": _client_id(f),
                "line": "line-1",
                "machine": "press-01" if f == DEMO else "m1",
                "at": STOP_START,
                "quantity": 2,
                "reason": "jam",
            }
        },
    ),
    Endpoint(
        "op-count",
        "POST",
        "/api/v1/factories/{id}/operator/counts",
        lambda f: {
            "json": {
                "client_id": _client_id(f),
                "line": "line-1",
                "machine": "press-01" if f == DEMO else "m1",
                "day": "2024-03-05",
                "new_count": 100,
            }
        },
    ),
]
#: what an allowed caller gets from each operator route (the PUT and audit name no entry)
ALLOWED = {
    "op-queue": 200,
    "op-post-stop": 201,
    "op-put-stop": 404,
    "op-audit": 200,
    "op-scrap": 201,
    "op-count": 201,
}


@pytest.fixture
async def line_env(env: AssessorEnv) -> AssessorEnv:
    from dataclasses import replace

    from assessor.domain.models import DowntimeReason

    tree = tuple(DowntimeReason(code, code, code, cat) for code, cat in REASONS_YAML_TREE)
    env.store.upsert_factories([replace(f, downtime_reasons=tree) for f in env.store.factories()])
    env.tokens[LINE] = create_token(env.store, "line", DEMO, "line-1 tablet")
    return env


def _operator_entries(env: AssessorEnv, factory_id: str) -> int:
    with env.store.transaction() as db:
        return sum(
            db.execute(f"SELECT count(*) FROM {t} WHERE factory_id = ?", (factory_id,)).fetchone()[0]
            for t in ("stop_reasons", "scrap_entries", "count_corrections")
        )


#: (caller, target) -> allowed; a factory's own users may enter too, the line role only there
OPERATOR_ACCESS = {
    ("operator", DEMO): True,
    ("operator", OTHER): True,
    (DEMO, DEMO): True,
    (DEMO, OTHER): False,
    (OTHER, DEMO): False,
    (LINE, DEMO): True,
    (LINE, OTHER): False,
    (LINE, UNKNOWN): False,
}


@pytest.mark.parametrize(
    ("caller", "target"), list(OPERATOR_ACCESS), ids=[f"{c}->{t}" for c, t in OPERATOR_ACCESS]
)
@pytest.mark.parametrize("ep", OPERATOR_ENDPOINTS, ids=lambda ep: ep.name)
async def test_operator_route_access(line_env: AssessorEnv, ep: Endpoint, caller: str, target: str) -> None:
    r = await call(line_env, ep, target, line_env.auth(caller))
    if OPERATOR_ACCESS[(caller, target)]:
        assert r.status_code == ALLOWED[ep.name], r.text
        return
    assert r.status_code == 403, r.text
    assert_error_body(r)
    assert _operator_entries(line_env, target) == 0 if target != UNKNOWN else True


@pytest.mark.parametrize("caller", list(UNAUTHENTICATED))
@pytest.mark.parametrize("ep", OPERATOR_ENDPOINTS, ids=lambda ep: ep.name)
async def test_operator_routes_refuse_the_unauthenticated(
    line_env: AssessorEnv, ep: Endpoint, caller: str
) -> None:
    r = await call(line_env, ep, DEMO, UNAUTHENTICATED[caller](line_env))
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert _operator_entries(line_env, DEMO) == 0


@pytest.mark.parametrize("target", [DEMO, OTHER, UNKNOWN])
@pytest.mark.parametrize("ep", ALL_ENDPOINTS, ids=lambda ep: ep.name)
async def test_line_token_is_refused_on_every_other_route(
    line_env: AssessorEnv, ep: Endpoint, target: str
) -> None:
    r = await call(line_env, ep, target, line_env.auth(LINE))
    assert r.status_code == 403, r.text
    assert_error_body(r)
    assert_no_side_effects(line_env, ep, target)


def _route_paths(env: AssessorEnv) -> list[str]:
    """Every GET path the app serves, with the demo factory's id filled in."""
    from fastapi.routing import APIRoute

    app = env.client._transport.app  # type: ignore[attr-defined]
    paths = []
    routes = list(app.routes)
    # routes of an included APIRouter sit behind one entry of app.routes
    routes += [r for x in app.routes if hasattr(x, "original_router") for r in x.original_router.routes]
    for route in routes:
        if isinstance(route, APIRoute) and "GET" in route.methods and "/operator" not in route.path:
            paths.append(route.path.replace("{id}", DEMO).replace("{factory_id}", DEMO))
    return sorted(set(paths))


async def test_line_session_is_refused_on_every_page_and_route_but_its_own(line_env: AssessorEnv) -> None:
    client = line_env.client
    client.cookies.set("fl_session", line_env.tokens[LINE])
    open_paths = {"/", "/login", "/healthz"}
    paths = [p for p in _route_paths(line_env) if "{" not in p and not p.startswith("/static/")]
    refused = [p for p in paths if p not in open_paths]
    assert "/portfolio" in refused and f"/factories/{DEMO}" in refused and "/api/v1/portfolio" in refused
    for path in refused:
        r = await client.get(path)
        assert r.status_code == 403, path
    own = await client.get(f"/factories/{DEMO}/operator")
    assert own.status_code == 200 and "현장 입력" in own.text
    assert (await client.get(f"/factories/{OTHER}/operator")).status_code == 403
    start = await client.get("/")
    assert start.status_code == 303 and start.headers["location"] == f"/factories/{DEMO}/operator"


async def test_resend_is_stored_once_and_a_stale_edit_gets_the_current_entry(line_env: AssessorEnv) -> None:
    url = f"/api/v1/factories/{DEMO}/operator/stops"
    body = _stop_body("d-resend-1")
    first = await line_env.client.post(url, json=body, headers=line_env.auth(LINE))
    again = await line_env.client.post(url, json=body, headers=line_env.auth(LINE))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["entry"]["id"] == again.json()["entry"]["id"] and again.json()["created"] is False
    sid = first.json()["entry"]["id"]
    edit = {"client_id": "e-1", "version": 1, "segments": [{**body["segments"][0], "reason": "wait"}]}
    assert (
        await line_env.client.put(f"{url}/{sid}", json=edit, headers=line_env.auth(LINE))
    ).status_code == 200
    stale = await line_env.client.put(
        f"{url}/{sid}",
        json={"client_id": "e-2", "version": 1, "comment": "late"},
        headers=line_env.auth(DEMO),
    )
    assert stale.status_code == 409
    current = stale.json()["error"]["details"]["current"]
    assert current["version"] == 2 and current["segments"][0]["reason"] == "wait" and current["comment"] == ""
