"""Hostile identifiers and parameters: no request injects InfluxQL, breaks the server
(never a 5xx) or shows one factory's data to another factory's token.

Both factories have machine data, so a leak would show: other-factory's machine ``m1``
counts 21000 units, which demo-factory's token must never see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import urllib.parse
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from assessor.data.influxql import (
    UnsafeIdentifier,
    check_id,
    ident,
    literal,
    tag_equals,
    tag_in,
    time_literal,
)
from assessor.services.auth import create_token
from datacontract.lineprotocol import encode_point, series_prefix
from localservices.influxd import InfluxServer
from tests.support.assessor_env import AssessorEnv

DEMO, OTHER = "demo-factory", "other-factory"
KST = dt.timezone(dt.timedelta(hours=9))
#: pinned "now", so the open-ended "after" window of sp-2023 stays short
NOW = dt.datetime(2024, 3, 6, 12, tzinfo=KST).timestamp()
DAY = {"start": "2024-03-04", "end": "2024-03-04"}
#: count_total increase seeded per factory on 2024-03-04
SEEDED_COUNT = {DEMO: 150, OTHER: 21000}
#: what demo-factory's token must never see
LEAK_MARKERS = (OTHER, "다른공장", '"m1"', "21000")


def _lp_tag(value: str) -> str:
    """A tag value escaped by hand: the literal test writes values the name rule (and so
    datacontract.lineprotocol) refuses, to see that InfluxQL quoting finds them anyway."""
    return value.replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def _point(factory: str, machine: str, t: float, count: int, line: str = "line-1") -> str:
    prefix = series_prefix("machine_data", {"factory": factory, "line": line, "machine": machine})
    return encode_point(prefix, [("state", "running"), ("count_total", count)], round(t * 1e9)).decode()


def seed(env: AssessorEnv, factory: str, machine: str, total: int, line: str = "line-1") -> None:
    t0 = dt.datetime(2024, 3, 4, 9, tzinfo=KST).timestamp()
    lines = [_point(factory, machine, t0 + 60 * i, i * total // 3, line) for i in range(4)]
    status, text = env.influx.write(lines, env.database)
    assert status == 204, text


@pytest.fixture
async def env(assessor_env: AssessorEnv) -> AssessorEnv:
    assessor_env.service.clock = lambda: NOW
    seed(assessor_env, DEMO, "press-01", SEEDED_COUNT[DEMO])
    seed(assessor_env, OTHER, "m1", SEEDED_COUNT[OTHER])
    return assessor_env


async def request(env: AssessorEnv, method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
    """A request that must not fail the server; its errors are JSON, its answers to
    demo-factory's token carry nothing of other-factory."""
    r = await env.client.request(method, url, headers=env.auth(who), **kwargs)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["message"]
    if who == DEMO:
        for marker in LEAK_MARKERS:
            assert marker not in r.text, f"{marker!r} leaked to {DEMO}: {r.text[:300]}"
    return r


def assert_store_intact(env: AssessorEnv, **extra: int) -> None:
    """The database is still there and holds exactly the seeded points."""
    assert env.database in env.influx.databases()
    counted = env.influx.query(
        'SELECT COUNT("count_total") FROM "machine_data" GROUP BY "factory"', env.database
    )
    per_factory = {s["tags"]["factory"]: s["values"][0][1] for s in counted[0]["series"]}
    assert per_factory == {DEMO: 4, OTHER: 4, **extra}


# -- hostile factory ids in the path -----------------------------------------------------

HOSTILE_IDS = {
    "quote-or-true": "x' OR '1'='1",
    "quote-or-other-factory": "demo-factory' OR factory='other-factory",
    "double-quote-drop": '"; DROP DATABASE x',
    "backslash": "a\\b",
    "newline": "demo-factory\nother-factory",
    "nul": "demo-factory\x00",
    "trailing-blank": "demo-factory ",
    "upper-case": "DEMO-FACTORY",
    "korean": "다른공장",
    "very-long": "x" * 5000,
}
FACTORY_GETS = [
    ("kpis", {"params": {**DAY, "group": "machine"}}),
    ("gains", {"params": {"project": "sp-2023"}}),
    ("assessment", {}),
    ("questionnaire", {}),
    ("", {}),
]


@pytest.mark.parametrize("who", ["operator", DEMO])
@pytest.mark.parametrize("factory_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
async def test_hostile_factory_id_in_path(env: AssessorEnv, factory_id: str, who: str) -> None:
    base = "/api/v1/factories/" + urllib.parse.quote(factory_id, safe="")
    expected = 404 if who == "operator" else 403
    for suffix, kwargs in FACTORY_GETS:
        r = await request(env, "GET", f"{base}/{suffix}".rstrip("/"), who, **kwargs)
        assert (r.status_code, r.json()["error"].get("parameter")) == (expected, "id"), suffix
    put = await request(env, "PUT", f"{base}/questionnaire", who, json={"answers": {}})
    post = await request(
        env, "POST", f"{base}/baseline", who, content=b"date,line\n", params={"filename": "a.csv"}
    )
    assert put.status_code == post.status_code == expected
    assert_store_intact(env)


@pytest.mark.parametrize(
    "raw_path",
    [
        "demo-factory%27%20OR%20%271%27%3D%271",  # percent-encoded quotes
        "demo-factory%2527",  # double-encoded: the id is the text "demo-factory%27"
        "%22%3B%20DROP%20DATABASE%20x",
        "%EB%8B%A4%EB%A5%B8%EA%B3%B5%EC%9E%A5",  # 다른공장
    ],
)
@pytest.mark.parametrize("who", ["operator", DEMO])
async def test_url_encoded_factory_id(env: AssessorEnv, raw_path: str, who: str) -> None:
    r = await request(env, "GET", f"/api/v1/factories/{raw_path}/kpis", who, params=DAY)
    assert r.status_code == (404 if who == "operator" else 403)
    assert r.json()["error"]["parameter"] == "id"
    assert_store_intact(env)


async def test_encoded_slash_matches_no_route_for_anyone(env: AssessorEnv) -> None:
    url = "/api/v1/factories/demo-factory%2F..%2Fother-factory/kpis"
    by_operator = await request(env, "GET", url, "operator", params=DAY)
    by_factory = await request(env, "GET", url, DEMO, params=DAY)
    assert by_operator.status_code == by_factory.status_code == 404
    assert by_operator.content == by_factory.content


# -- hostile ids the registry accepts: they reach InfluxQL, escaped -----------------------

REGISTERED_IDS = [
    "x' OR '1'='1",
    "demo-factory' OR factory='other-factory",
    "other-factory' OR '1'='1",
    '" OR ""="',
    "; DROP DATABASE x; --",
    "공장 1,a=b",
]


def _registry_yaml(factory_ids: list[str]) -> str:
    entries = "".join(
        f"  - id: {json.dumps(fid)}\n"
        f"    name: hostile\n"
        f"    lines: [{{id: line-1, machines: [{{id: press-01, ideal_cycle_time: 1s}}]}}]\n"
        for fid in factory_ids
    )
    return "factories:\n" + entries


async def test_registered_hostile_ids_query_only_their_own_data(env: AssessorEnv) -> None:
    r = await request(
        env, "POST", "/api/v1/registry", "operator", content=_registry_yaml(REGISTERED_IDS).encode()
    )
    assert r.json() == {"imported": REGISTERED_IDS}
    # the last one has data of its own (tag value with blank, comma and equals sign)
    seed(env, REGISTERED_IDS[-1], "press-01", 999)
    for fid in REGISTERED_IDS:
        path = "/api/v1/factories/" + urllib.parse.quote(fid, safe="")
        r = await request(env, "GET", f"{path}/kpis", "operator", params={**DAY, "group": "machine"})
        counts = [(row["machine"], row["total_count"]) for row in r.json()["rows"]]
        assert counts == [("press-01", 999 if fid == REGISTERED_IDS[-1] else 0)]
        r = await request(env, "GET", f"{path}/gains", "operator", params=WINDOWS)
        assert r.json()["factory_id"] == fid
        r = await request(env, "GET", f"{path}/assessment", "operator")
        # the level rests on this factory's machine data alone: a quote that escaped its
        # literal would find the seeded factories' counters and days
        own = fid == REGISTERED_IDS[-1]
        evidence = _gate_evidence(r.json(), "has_counters", "data_days")
        assert evidence == {"has_counters": own, "data_days": int(own)}, fid
    # a factory token bound to such an id sees that factory only
    token = create_token(env.store, "factory", REGISTERED_IDS[1])
    for fid in (DEMO, OTHER):
        r = await request(env, "GET", f"/api/v1/factories/{fid}/kpis", token, params=DAY)
        assert r.status_code == 403
    listed = await request(env, "GET", "/api/v1/factories", token)
    assert [f["id"] for f in listed.json()] == [REGISTERED_IDS[1]]
    portfolio = await request(env, "GET", "/api/v1/portfolio", "operator")
    assert {f["factory"] for f in portfolio.json()["factories"]} == {DEMO, OTHER, *REGISTERED_IDS}
    assert_store_intact(env, **{REGISTERED_IDS[-1]: 4})


@pytest.mark.parametrize("factory_id", ["a\\b", "x" * 300], ids=["backslash", "300-chars"])
async def test_registry_refuses_ids_the_query_layer_cannot_carry(env: AssessorEnv, factory_id: str) -> None:
    r = await request(
        env, "POST", "/api/v1/registry", "operator", content=_registry_yaml([factory_id]).encode()
    )
    assert r.status_code == 400
    assert "factories[0].id" in r.json()["error"]["message"]
    assert env.store.factory(factory_id) is None


async def test_portfolio_survives_a_factory_id_the_query_layer_refuses(env: AssessorEnv) -> None:
    # the importer refuses such ids; a registry written by hand (or by an older version)
    # may still hold one, and it must not take the portfolio down for everybody
    demo = env.store.factory(DEMO)
    assert demo is not None
    env.store.upsert_factories([dataclasses.replace(demo, id="a\\b", name="odd")])
    r = await request(env, "GET", "/api/v1/portfolio", "operator")
    assert r.status_code == 200
    assert DEMO in {f["factory"] for f in r.json()["factories"]}


# -- query parameters ---------------------------------------------------------------------

KPI_PARAMS = {
    "start-not-a-date": ({"start": "yesterday", "end": "2024-03-04"}, "start"),
    "start-injection": ({"start": "2024-03-04' OR '1'='1", "end": "2024-03-04"}, "start"),
    "start-statement": ({"start": "2024-03-04; DROP DATABASE x", "end": "2024-03-04"}, "start"),
    "end-impossible-date": ({"start": "2024-03-04", "end": "2024-02-30"}, "end"),
    "end-month-13": ({"start": "2024-03-04", "end": "2024-13-01"}, "end"),
    "end-before-start": ({"start": "2024-03-05", "end": "2024-03-01"}, "end"),
    "end-equals-start-instant": ({"start": "2024-03-04T10:00", "end": "2024-03-04T10:00"}, "end"),
    "window-over-limit": ({"start": "2020-01-01", "end": "2024-03-04"}, "end"),
    "start-missing": ({"end": "2024-03-04"}, "start"),
    "end-missing": ({"start": "2024-03-04"}, "end"),
    "group-injection": ({**DAY, "group": "machine;DROP"}, "group"),
    "group-quote": ({**DAY, "group": "line' OR '1'='1"}, "group"),
    "group-tag-key": ({**DAY, "group": '"factory"'}, "group"),
    "granularity-hour": ({**DAY, "granularity": "hour"}, "granularity"),
    "granularity-injection": ({**DAY, "granularity": "day GROUP BY *"}, "granularity"),
}


@pytest.mark.parametrize(("params", "parameter"), list(KPI_PARAMS.values()), ids=list(KPI_PARAMS))
async def test_bad_kpi_parameters_are_400_naming_the_parameter(
    env: AssessorEnv, params: dict[str, str], parameter: str
) -> None:
    r = await request(env, "GET", f"/api/v1/factories/{DEMO}/kpis", DEMO, params=params)
    assert r.status_code == 400
    assert r.json()["error"]["parameter"] == parameter
    assert_store_intact(env)


OUT_OF_RANGE = {
    # the inclusive end date is turned into the next midnight: OverflowError in parse_time
    "end-9999-12-31": {"start": "9999-12-30", "end": "9999-12-31"},
    # calendar.local_days cannot place the instant in a local day: ValueError
    "year-1": {"start": "0001-01-01", "end": "0001-01-02"},
    # outside InfluxDB's int64 nanoseconds: answered 503 "measurement store unavailable"
    "year-1600": {"start": "1600-01-01", "end": "1600-01-02"},
}


@pytest.mark.parametrize("params", list(OUT_OF_RANGE.values()), ids=list(OUT_OF_RANGE))
async def test_dates_out_of_range_are_400(env: AssessorEnv, params: dict[str, str]) -> None:
    r = await request(env, "GET", f"/api/v1/factories/{DEMO}/kpis", DEMO, params=params)
    assert r.status_code == 400
    assert r.json()["error"]["parameter"] in ("start", "end")


WINDOWS = {
    "baseline_start": "2024-03-01",
    "baseline_end": "2024-03-02",
    "after_start": "2024-03-04",
    "after_end": "2024-03-05",
}
GAINS_PARAMS = {
    "project-quote": ({"project": "sp-2023' OR '1'='1"}, 404, "project"),
    "project-statement": ({"project": '"; DROP DATABASE x'}, 404, "project"),
    "project-newline": ({"project": "sp-2023\n"}, 404, "project"),
    "baseline-start-not-a-date": (
        {**WINDOWS, "baseline_start": "2024-03-01' OR '1'='1"},
        400,
        "baseline_start",
    ),
    "after-end-impossible": ({**WINDOWS, "after_end": "2024-02-30"}, 400, "after_end"),
    "baseline-end-before-start": ({**WINDOWS, "baseline_end": "2024-02-01"}, 400, "baseline_end"),
    "after-end-before-start": ({**WINDOWS, "after_end": "2024-03-01"}, 400, "after_end"),
    "after-end-missing": ({k: v for k, v in WINDOWS.items() if k != "after_end"}, 400, "after_end"),
    "nothing": ({}, 400, "baseline_start"),
}


@pytest.mark.parametrize(
    ("params", "status", "parameter"), list(GAINS_PARAMS.values()), ids=list(GAINS_PARAMS)
)
async def test_bad_gains_parameters_name_the_parameter(
    env: AssessorEnv, params: dict[str, str], status: int, parameter: str
) -> None:
    r = await request(env, "GET", f"/api/v1/factories/{DEMO}/gains", DEMO, params=params)
    assert r.status_code == status
    assert r.json()["error"]["parameter"] == parameter
    assert_store_intact(env)


async def test_gains_window_at_the_end_of_the_calendar_is_400(env: AssessorEnv) -> None:
    params = {**WINDOWS, "after_start": "9999-12-30", "after_end": "9999-12-31"}
    r = await request(env, "GET", f"/api/v1/factories/{DEMO}/gains", DEMO, params=params)
    assert r.status_code == 400
    assert r.json()["error"]["parameter"] in ("after_start", "after_end")


QUESTIONNAIRE_BODIES = {
    "not-json": (b"answers=5", "body"),
    "not-utf8": (b"\xff\xfe{", "body"),
    "a-list": (b"[1, 2]", "answers"),
    "a-string": (b'"DROP DATABASE x"', "answers"),
    "unknown-item": (b"{\"answers\": {\"x' OR '1'='1\": 3}}", "answers.x' OR '1'='1"),
    "nan": (b'{"answers": {"strategy_targets": NaN}}', "answers.strategy_targets"),
    "text-score": (b'{"answers": {"strategy_targets": "5"}}', "answers.strategy_targets"),
}


@pytest.mark.parametrize(
    ("body", "parameter"), list(QUESTIONNAIRE_BODIES.values()), ids=list(QUESTIONNAIRE_BODIES)
)
async def test_bad_questionnaire_bodies(env: AssessorEnv, body: bytes, parameter: str) -> None:
    r = await request(env, "PUT", f"/api/v1/factories/{DEMO}/questionnaire", DEMO, content=body)
    assert r.status_code == 400
    assert r.json()["error"]["parameter"] == parameter
    assert env.store.answers(DEMO) is None


async def test_deeply_nested_questionnaire_body_is_400(env: AssessorEnv) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    r = await request(env, "PUT", f"/api/v1/factories/{DEMO}/questionnaire", DEMO, content=body)
    assert r.status_code == 400


# -- assessor/data/influxql.py ---------------------------------------------------------------------


def test_ident_and_literal_escape_their_quotes() -> None:
    assert ident('a"b') == '"a\\"b"'
    assert ident("it's") == '"it\'s"'
    assert literal("it's") == "'it\\'s'"
    assert literal('a"b') == "'a\"b'"
    assert literal("x' OR '1'='1") == "'x\\' OR \\'1\\'=\\'1'"
    assert tag_equals("factory", "a'b") == "\"factory\" = 'a\\'b'"
    assert tag_in("factory", []) == "false"
    assert tag_in("factory", ["a", "b'"]) == "(\"factory\" = 'a' OR \"factory\" = 'b\\'')"


@pytest.mark.parametrize(
    "value",
    ["", "a\\b", "a\\", "a\nb", "a\rb", "a\tb", "\x00", "\x1b[31m", "x" * 257, 42, None],
    ids=repr,
)
def test_check_id_refuses(value: Any) -> None:
    with pytest.raises(UnsafeIdentifier):
        check_id(value)
    if isinstance(value, str):
        with pytest.raises(UnsafeIdentifier):
            literal(value)
        with pytest.raises(UnsafeIdentifier):
            ident(value)


@pytest.mark.parametrize("value", ["demo-factory", "공장 1", "a'b", 'a"b', "a,b=c", "x" * 256, "/.*/"])
def test_check_id_accepts(value: str) -> None:
    assert check_id(value) == value


def test_time_literal_needs_a_zone() -> None:
    assert time_literal(1.5) == "1500000000"
    assert time_literal(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)) == "1000000000"
    with pytest.raises(ValueError):
        time_literal(dt.datetime(2024, 1, 1))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=24))
@example(value="x' OR '1'='1")
@example(value="a, b=c")
@example(value="'")
@example(value='"')
@example(value="공장 1")
@example(value="a\\b")
@example(value="\x7f\x85\u2028")
@example(value="#not a comment")
def test_literal_round_trips_through_influxdb(influxd: InfluxServer, influx_db: str, value: str) -> None:
    try:
        quoted = literal(value)
    except UnsafeIdentifier:
        event("refused by check_id")
        return
    if "\n" in value or "\r" in value:
        # line protocol has no escape for a line break: no writer can store such a tag
        event("not writable in line protocol")
        return
    measurement = "m_" + uuid.uuid4().hex
    lines = [
        f"{measurement},tag={_lp_tag(value)} n=1i 1000000000",
        # a near miss: the same text with one more character
        f"{measurement},tag={_lp_tag(value)}_ n=2i 2000000000",
    ]
    status, text = influxd.write(lines, influx_db)
    assert status == 204, (value, text)
    result = influxd.query(
        f"SELECT {ident('n')}, {ident('tag')} FROM {ident(measurement)} WHERE {ident('tag')} = {quoted}",
        influx_db,
    )
    series = result[0].get("series", [])
    assert [row for s in series for row in s["values"]] == [[1000000000, 1, value]]


async def test_an_odd_field_name_of_another_factory_does_not_break_an_assessment(env: AssessorEnv) -> None:
    # the collector may store field names InfluxQL cannot name (a backslash); the field
    # list spans every factory, so one box's odd name must not break another's level
    t = dt.datetime(2024, 3, 4, 10, tzinfo=KST).timestamp()
    point = f"machine_data,factory={OTHER},line=line-1,machine=m1 sp_a\\\\b=1 {round(t * 1e9)}"
    status, text = env.influx.write([point], env.database)
    assert status == 204, text
    r = await env.client.get(f"/api/v1/factories/{DEMO}/assessment", headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    # not merely an answer: demo-factory's own counters and states still count as evidence
    assert _gate_evidence(r.json(), "has_counters", "has_state_signal", "data_days") == {
        "has_counters": True,
        "has_state_signal": True,
        "data_days": 1,
    }


def _gate_evidence(assessment: dict[str, Any], *gates: str) -> dict[str, Any]:
    """The evidence of the named level gates of an /assessment answer."""
    found = {g["id"]: g["evidence"] for g in assessment["gates"] if g["id"] in gates}
    assert set(found) == set(gates), assessment["gates"]
    return found
