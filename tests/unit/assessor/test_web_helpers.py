"""Pure parts of the dashboard: CSRF origin check, downloads, waterfall, portfolio cells."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from starlette.requests import Request

from assessor.web.base import attachment, same_origin
from assessor.web.charts import waterfall_steps
from assessor.web.pages_portfolio import Cell, ago, columns, gain_cell, health_cell, sort_rows, to_csv


def request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1:8080", **headers}.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""})


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"origin": "http://127.0.0.1:8080"}, True),
        ({"origin": "http://evil.example"}, False),
        ({"origin": "http://127.0.0.1:9999"}, False),
        ({"origin": "null", "referer": "http://127.0.0.1:8080/registry"}, True),
        ({"referer": "http://127.0.0.1:8080/x"}, True),
        ({"referer": "http://127.0.0.1.evil.example/x"}, False),
        ({}, False),
    ],
)
def test_same_origin(headers: dict[str, str], ok: bool) -> None:
    assert same_origin(request(headers)) is ok


def test_attachment_names_the_file_twice() -> None:
    r = attachment(b"x", '보고서 2024 "a".pdf', "application/pdf")
    cd = r.headers["content-disposition"]
    assert cd.startswith('attachment; filename="')
    fallback = cd.split('filename="')[1].split('"')[0]
    assert fallback.isascii() and '"' not in fallback
    assert unquote(cd.split("filename*=UTF-8''")[1]) == '보고서 2024 "a".pdf'


def test_waterfall_steps_add_up() -> None:
    k = {
        "planned_time_s": 36000.0,
        "unknown_time_s": 0.0,
        "availability": 0.8,
        "performance": 0.9,
        "quality": 0.95,
    }
    steps = dict(waterfall_steps(k) or [])
    assert steps["wf_planned"] == pytest.approx(10.0)
    assert sum(v for key, v in steps.items() if key != "wf_productive") == pytest.approx(
        steps["wf_productive"]
    )
    assert steps["wf_productive"] == pytest.approx(10.0 * 0.8 * 0.9 * 0.95)
    assert waterfall_steps({"planned_time_s": 0.0}) is None


def test_performance_above_one_is_no_loss() -> None:
    k = {
        "planned_time_s": 3600.0,
        "unknown_time_s": 0.0,
        "availability": 1.0,
        "performance": 1.2,
        "quality": 1.0,
    }
    assert dict(waterfall_steps(k) or [])["wf_performance_loss"] == 0.0


def test_ago() -> None:
    assert ago(59, "ko") == "0분 전"
    assert ago(3 * 3600 + 5, "ko") == "3시간 전"
    assert ago(3 * 86400, "en") == "3 days ago"


def test_health_cell_warns_about_a_silent_machine() -> None:
    now = 1_700_000_000.0
    h = {
        "machines": 2,
        "reporting": 2,
        "last_seen": now - 60,
        "last_sample": {"a": now - 60, "b": now - 3 * 3600},
    }
    cell = health_cell(h, now, 7, "ko")
    assert cell.text.startswith("⚠ 마지막 데이터 ") and cell.text.endswith("(1분 전)")
    assert any(n.startswith("b: ") and n.endswith("부터 수신 없음") for n in cell.notes)
    fresh = health_cell({**h, "last_sample": {"a": now - 60}}, now, 7, "ko")
    assert not fresh.text.startswith("⚠")


def test_gain_cell_marks() -> None:
    better = gain_cell(
        {"kpi": "defect_rate", "improvement": 0.5, "meets_reference": True, "reference": 0.435}, "ko"
    )
    assert better.text == "+50.0% ▲ ✔" and "better" in better.css
    worse = gain_cell(
        {"kpi": "units_per_hour", "improvement": -0.1, "meets_reference": False, "reference": 0.3}, "en"
    )
    assert worse.text == "-10.0% ▼" and worse.css == "worse"
    assert gain_cell(None, "ko").sort is None


def test_sort_puts_empty_cells_last_both_ways() -> None:
    rows = [{"x": Cell("a", 2.0)}, {"x": Cell("b", None)}, {"x": Cell("c", 1.0)}]
    assert [r["x"].text for r in sort_rows(rows, "x", False)] == ["c", "a", "b"]
    assert [r["x"].text for r in sort_rows(rows, "x", True)] == ["a", "c", "b"]


def test_csv_has_a_bom_and_the_headers() -> None:
    cols = columns("ko")
    row = {c.key: Cell("–", None) for c in cols}
    data = to_csv(cols, [row])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").startswith("기업,지역,")


def test_chart_labels_from_the_data_carry_no_markup() -> None:
    # plotly reads links and styles in labels: a downtime reason or machine id from an
    # edge box must reach the operator's page as text
    from assessor.kpi.timeline import Episode
    from assessor.timeline_query import MachineTimeline, ParetoBar, Timeline
    from assessor.web.charts import downtime_pareto, state_timeline

    evil = '<a href="https://e.example/">click</a>'
    fig = downtime_pareto([ParetoBar(evil, 3600.0, 1.0)], "ko")
    assert all("<a" not in str(x) for tr in fig["data"] for x in tr["x"])
    tl = Timeline(0.0, 100.0, [MachineTimeline("l<b>", evil, [Episode("running", 0, 100)])], None, {}, 60.0)
    fig = state_timeline(tl, "Asia/Seoul", "en")
    assert all("<a" not in y and "<b>" not in y for tr in fig["data"] for y in tr["y"])


def test_odd_numbers_in_the_questionnaire_form_stay_text_for_validation() -> None:
    from assessor.level import ITEMS
    from assessor.web.forms import form_answers

    first = ITEMS[0].id
    assert form_answers({first: "3"}) == {first: 3}
    for odd in ("²", "1" * 5000, "3.5", "three"):
        assert form_answers({first: odd}) == {first: odd}


@pytest.mark.parametrize(
    "query", ["tl_end=0001-01-01", "tl_start=9999-12-31", "tl_start=0001-01-01&tl_end=0001-01-02"]
)
def test_out_of_range_periods_fall_back_to_the_default(query: str) -> None:
    import datetime as dt

    from starlette.requests import Request

    from assessor.registry.importer import parse_registry
    from assessor.web.pages_factory import period
    from tests.support.assessor_env import REGISTRY_YAML

    factory = parse_registry(REGISTRY_YAML, "t")[0]
    request = Request({"type": "http", "query_string": query.encode(), "headers": []})
    now = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC).timestamp()
    p, problem = period(request, "tl", factory, 7, 31, now)
    assert problem is not None
    assert (p.end_day - p.start_day).days == 6
