"""CSV reports: encoding Excel in Korea reads, one row per KPI or factory, exact numbers."""

from __future__ import annotations

import csv
import io

from assessor.domain.report.csv_export import (
    FACTORY_COLUMNS,
    factory_csv,
    number,
    portfolio_columns,
    portfolio_csv,
)
from tests.support.report_samples import factory_data, portfolio_data


def rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark missing: Excel would read CP949"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_number_round_trips_exactly():
    for value in (0.1 + 0.2, 1 / 3, 253.375, 1e-12, 123456789.123):
        assert float(number(value)) == value
    assert number(None) == "" and number(True) == "true" and number(7) == "7"


def test_factory_csv_has_one_row_per_kpi_with_the_gain_values():
    data = factory_data()
    assert data.gains is not None
    got = {r["kpi"]: r for r in rows(factory_csv(data, "en"))}
    assert list(got) == [g.kpi for g in data.gains.gains]
    for g in data.gains.gains:
        r = got[g.kpi]
        for field in ("before", "after", "improvement", "ci95_low", "ci95_high"):
            value = getattr(g, field)
            assert (r[field] == "") if value is None else float(r[field]) == value, (g.kpi, field)
        assert int(r["days_before"]) == g.days_before and int(r["days_after"]) == g.days_after
        assert r["source_before"] == g.source_before and r["source_after"] == g.source_after
    uph = got["units_per_hour"]
    assert uph["company"] == "시뮬정밀" and uph["project"] == "sp-2024"
    assert (uph["baseline_start"], uph["baseline_end"]) == ("2024-01-01", "2024-01-10")
    assert float(uph["reference_improvement"]) == 0.3 and uph["reference_area"] == "productivity"
    assert uph["meets_reference"] == "true"
    assert uph["warnings"] == "mixed_sources"
    assert uph["generated_at"] == "2024-05-05T10:30:00+09:00"
    assert float(uph["recent_30d"]) == 331.25
    assert got["on_time_delivery"]["after"] == "" and got["on_time_delivery"]["recent_30d"] == ""


def test_korean_heads_and_labels():
    content = factory_csv(factory_data(), "ko")
    text = content.decode("utf-8-sig")
    head = text.splitlines()[0].split(",")
    assert head == [ko for _, ko in FACTORY_COLUMNS]
    first = rows(content)[0]
    assert first["지표"] == "시간당 생산량" and first["도입 전 데이터 출처"] == "수기 기록"
    assert first["개선 방향"] == "높을수록 좋음" and first["참고치 분야"] == "생산성"
    assert "\r\n" in text  # Excel's own line ends


def test_factory_without_project_still_lists_the_kpis():
    got = rows(factory_csv(factory_data(with_project=False), "en"))
    assert [r["kpi"] for r in got][:4] == [
        "units_per_hour",
        "units_per_labour_hour",
        "standard_hours_per_hour",
        "defect_rate",
    ]
    assert all(r["project"] == "" and r["before"] == "" and r["after"] == "" for r in got)
    assert got[0]["company"] == "평범산업 <주>" and float(got[0]["recent_30d"]) == 331.25


def test_portfolio_csv_one_row_per_factory():
    data = portfolio_data()
    got = rows(portfolio_csv(data, "en"))
    assert list(got[0]) == [key for key, _ in portfolio_columns()]
    assert [r["factory"] for r in got] == ["sim-factory", "other"]
    sim, other = got
    assert (
        float(sim["units_per_hour_improvement"]) == 0.35 and sim["units_per_hour_meets_reference"] == "true"
    )
    assert sim["employees"] == "12" and float(sim["score"]) == 312.5 and float(sim["oee_7d"]) == 0.61
    assert sim["machines"] == "2" and sim["machines_reporting"] == "1" and sim["silent_machines"] == "m2"
    assert sim["last_seen"] == "2024-05-05T10:29:00+09:00"
    assert other["project"] == "" and other["units_per_hour_improvement"] == ""
    ko = rows(portfolio_csv(data, "ko"))
    assert ko[0]["기업명"] == "시뮬정밀" and ko[0]["지원 유형"] == "기초"


def test_flagged_kpis_are_empty_with_their_reason():
    from tests.support.report_samples import FLAGGED_KPIS

    got = {r["kpi"]: r for r in rows(factory_csv(factory_data(recent_kpis=FLAGGED_KPIS), "en"))}
    oee = got["oee"]
    assert oee["recent_30d"] == "" and oee["recent_30d_flag"] == "implausible_ideal_time"
    assert oee["excluded_reason"] == "after:implausible_ideal_time"
    assert oee["after"] == "" and oee["improvement"] == "" and oee["warnings"] == "flagged"
    assert got["units_per_hour"]["excluded_reason"] == "" and got["units_per_hour"]["recent_30d_flag"] == ""
    ko = rows(factory_csv(factory_data(recent_kpis=FLAGGED_KPIS), "ko"))
    assert next(r for r in ko if r["지표 ID"] == "oee")["제외 사유"] == "after:implausible_ideal_time"
