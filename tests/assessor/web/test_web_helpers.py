"""Pure parts of the dashboard: CSRF origin check, downloads, waterfall, portfolio cells."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from starlette.requests import Request

from assessor.domain import labels
from assessor.domain.kpi import KpiPolicy, Totals
from assessor.domain.losses_view import waterfall
from assessor.services.kpis import kpi_row
from assessor.web.base import attachment, same_origin
from assessor.web.charts import oee_waterfall
from assessor.web.pages_factory import TOTAL_KEYS, pareto_hours, waterfall_notes
from assessor.web.pages_portfolio import (
    Cell,
    ago,
    columns,
    gain_cell,
    health_cell,
    oee_cell,
    sort_rows,
    to_csv,
)


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


def totals(
    *,
    planned: float = 36000.0,
    unknown: float = 0.0,
    run: float = 28800.0,
    small: float = 0.0,
    fault: float = 3600.0,
    setup: float = 3600.0,
    units: int = 25000,
    rejects: int = 500,
    cycle: float = 1.0,
) -> Totals:
    """A factory's period: ``run`` includes the small stops, the rest of the known time
    is fault and setup."""
    return Totals(
        planned_s=planned,
        run_s=run,
        idle_s=0.0,
        fault_s=fault,
        setup_s=setup,
        stopped_s=0.0,
        planned_stop_s=0.0,
        unknown_s=unknown,
        ideal_run_s=cycle * units,
        total_count=units,
        good_count=units - rejects,
        reject_count=rejects,
        failures=2,
        repair_s=fault,
        small_stop_s=small,
        small_stops=3 if small else 0,
    )


def test_waterfall_steps_sum_to_the_fully_productive_time() -> None:
    row = kpi_row(totals(small=600.0), KpiPolicy())
    w = waterfall(row)
    assert w is not None and w.cut_by is None
    keys = [k for k, _ in w.steps]
    assert keys == ["known_s", "breakdowns_s", "setup_s", "small_stops_s", "speed_s", "production_rejects_s"]
    assert sum(v for _, v in w.steps) == pytest.approx(w.total[1])
    assert w.total == ("fully_productive_s", pytest.approx(row["losses"]["fully_productive_s"]))
    # the last bar is OEE x known time: the chart and the KPI tell one story
    assert w.total[1] == pytest.approx(row["oee"] * (36000.0 - 0.0))
    fig = oee_waterfall(row, "ko")
    assert fig is not None
    trace = fig["data"][0]
    assert trace["measure"] == ["absolute", *["relative"] * 5, "total"]
    assert trace["x"][0] == "계획 가동 시간 (데이터 있음)" and trace["x"][-1] == "완전 생산 시간"
    assert {"고장·비가동 정지", "준비·교체", "소정지", "속도 저하", "불량"} <= set(trace["x"])
    assert sum(trace["y"][:-1]) == pytest.approx(trace["y"][-1], abs=0.05)
    en = oee_waterfall(row, "en")
    assert en is not None and "Reduced speed" in en["data"][0]["x"] and "Small stops" in en["data"][0]["x"]


def test_unknown_time_is_outside_the_waterfall_and_said_so() -> None:
    row = kpi_row(totals(planned=39600.0, unknown=3600.0), KpiPolicy())
    w = waterfall(row)
    assert w is not None and w.steps[0] == ("known_s", pytest.approx(36000.0))
    assert any("미확인 시간" in n and "1.0 h" in n for n in waterfall_notes(row, "ko"))


# an ideal cycle time 4.32 times what the machine really needs: performance "432%"
TOO_SLOW_IDEAL = dict(units=25000, cycle=28800.0 * 4.32 / 25000)


def test_a_flagged_performance_cuts_the_waterfall_and_shows_the_reason_not_the_value() -> None:
    row = kpi_row(totals(**TOO_SLOW_IDEAL), KpiPolicy())
    assert row["performance"] is None and row["oee"] is None
    w = waterfall(row)
    assert w is not None and w.cut_by == ("performance", "implausible_ideal_time")
    assert [k for k, _ in w.steps] == ["known_s", "breakdowns_s", "setup_s", "small_stops_s"]
    assert w.total == ("running_s", pytest.approx(28800.0))
    fig = oee_waterfall(row, "ko")
    assert fig is not None and "속도 저하" not in fig["data"][0]["x"]
    notes = " ".join(waterfall_notes(row, "ko"))
    assert "성능가동률" in notes and "이상치(표준 사이클타임 확인)" in notes
    assert labels.fmt_kpi_row("performance", row, "ko") == "— 이상치(표준 사이클타임 확인)"
    en = labels.fmt_kpi_row("performance", row, "en")
    assert en == "— implausible ideal cycle time: check the registry"
    shown = " ".join(
        [*(labels.fmt_kpi_row(k, row, lang) for k in TOTAL_KEYS for lang in ("ko", "en")), json.dumps(fig)]
    )
    assert "432" not in shown


def test_too_little_data_shows_coverage_and_no_waterfall() -> None:
    half = totals(planned=36000.0, unknown=18000.0, run=14400.0, fault=1800.0, setup=1800.0)
    row = kpi_row(half, KpiPolicy())
    assert row["availability"] is None
    assert waterfall(row) is None and oee_waterfall(row, "ko") is None
    assert labels.fmt_kpi_row("availability", row, "ko") == "— 데이터 부족(수집률 50.0%)"
    assert labels.fmt_kpi_row("oee", row, "en") == "— coverage 50.0%"
    assert any("데이터 부족(수집률 50.0%)" in n for n in waterfall_notes(row, "ko"))
    # quality rests on counts, not on time: still shown
    assert labels.fmt_kpi_row("quality", row, "ko") == labels.fmt_pct(row["quality"])


def test_small_stops_are_one_pareto_bar_of_their_own() -> None:
    from assessor.domain.downtime import SMALL_STOP

    hours = pareto_hours({(SMALL_STOP, ""): 600.0, ("fault", ""): 60.0, ("idle", "자재"): 30.0}, 120.0, "ko")
    assert hours == {"소정지 (2분 미만)": 600.0, "사유 미입력 (고장)": 60.0, "자재": 30.0}
    assert "small stops (< 90 s)" in pareto_hours({(SMALL_STOP, ""): 1.0}, 90.0, "en")


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


def test_flagged_oee_and_excluded_gains_show_the_reason() -> None:
    flags = [{"kpi": "oee", "reason": "coverage", "value": 0.9}]
    row = {"oee_7d": None, "coverage_7d": 0.5, "flags_7d": flags}
    cell = oee_cell(row, "ko")
    assert cell.text == "— 데이터 부족(수집률 50.0%)" and cell.sort is None and "90" not in cell.text
    assert oee_cell({"oee_7d": 0.61}, "en").text == "61.0%"
    g = {
        "kpi": "units_per_hour",
        "before": 250.0,
        "after": None,
        "improvement": None,
        "excluded_reason": "after:coverage",
        "excluded": [{"side": "after", "reason": "coverage", "coverage": 0.62}],
    }
    cell = gain_cell(g, "ko")
    assert cell.text == "— 도입 후: 데이터 부족(수집률 62.0%)" and cell.sort is None
    assert gain_cell(g, "en").text == "— After: coverage 62.0%"


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
    from assessor.domain.downtime import MachineTimeline, ParetoBar, Timeline
    from assessor.domain.kpi.timeline import Episode
    from assessor.web.charts import downtime_pareto, state_timeline

    evil = '<a href="https://e.example/">click</a>'
    fig = downtime_pareto([ParetoBar(evil, 3600.0, 1.0)], "ko")
    assert all("<a" not in str(x) for tr in fig["data"] for x in tr["x"])
    tl = Timeline(0.0, 100.0, [MachineTimeline("l<b>", evil, [Episode("running", 0, 100)])], None, {}, 60.0)
    fig = state_timeline(tl, "Asia/Seoul", "en")
    assert all("<a" not in y and "<b>" not in y for tr in fig["data"] for y in tr["y"])


def test_odd_numbers_in_the_questionnaire_form_stay_text_for_validation() -> None:
    from assessor.domain.level import ITEMS
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
