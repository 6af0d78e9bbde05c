"""Standard hours produced per hour worked: the productivity gain a change of product mix
cannot move, from manual logs with a product column (품목, 제품) and their absence."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assessor.domain.baseline import parse_baseline
from assessor.domain.gains import (
    FACTORY_GAIN_KPIS,
    GAIN_KPIS,
    STANDARD_KPI,
    baseline_daily_values,
    baseline_standard_values,
    kpi_gain,
    line_ideal_time,
    mix_unknown_warning,
)
from assessor.domain.labels import fmt_kpi, kpi_name
from assessor.domain.models import BaselineDay, BaselineProduct, Product
from assessor.registry import parse_registry

REGISTRY = """\
factories:
  - id: mix-factory
    name: 혼류정밀
    lines:
      - id: line-1
        name: 1라인
        machines:
          - {id: cnc-01, ideal_cycle_time: 30s}
      - id: line-2
        machines:
          - {id: m-a, ideal_cycle_time: 10s}
          - {id: m-b, ideal_cycle_time: 20s}
      - id: line-3
        machines:
          - {id: cut, ideal_cycle_time: 50s}
          - {id: pack, ideal_cycle_time: 10s, line_output: true}
"""
FACTORY = dataclasses.replace(
    parse_registry(REGISTRY)[0],
    products=(
        Product("A-100", 20.0, "브래킷"),
        Product("B-200", 45.0, "하우징", {"cnc-01": 40.0, "m-a": 30.0, "m-b": 60.0}),
    ),
)
DAY0 = dt.date(2024, 3, 4)


def log_day(i: int, hours: float, mix: dict[str, int], line: str = "line-1") -> BaselineDay:
    products = tuple(BaselineProduct(p, n, 0) for p, n in mix.items())
    return BaselineDay(
        "mix-factory", DAY0 + dt.timedelta(days=i), line, hours, 2.0, sum(mix.values()), 0, products=products
    )


def test_a_mix_shift_toward_the_slower_product_moves_units_per_hour_not_standard_hours():
    # cnc-01 at 80% of its ideal rate all along: 8 h hold 6.4 standard hours, spent on
    # A-100 (20 s) and B-200 (40 s on cnc-01) three to one before, one to three after
    standard_s = 0.8 * 8 * 3600
    def mix(a_share: float) -> dict[str, int]:
        return {"A-100": round(standard_s * a_share / 20), "B-200": round(standard_s * (1 - a_share) / 40)}

    before = [log_day(i, 8, mix(0.75)) for i in range(6)]
    after = [log_day(i + 30, 8, mix(0.25)) for i in range(6)]
    units = kpi_gain(
        "units_per_hour",
        baseline_daily_values(before, "units_per_hour"),
        baseline_daily_values(after, "units_per_hour"),
    )
    b_std, b_unknown = baseline_standard_values(before, FACTORY)
    a_std, a_unknown = baseline_standard_values(after, FACTORY)
    standard = kpi_gain(STANDARD_KPI, b_std, a_std)
    assert (b_unknown, a_unknown) == (0, 0)
    assert units.improvement == pytest.approx(720 / 1008 - 1)  # 126 -> 90 units per hour
    assert standard.before == pytest.approx(0.8) and standard.after == pytest.approx(0.8)
    assert standard.improvement == pytest.approx(0.0, abs=1e-12)
    assert not standard.warnings


@given(
    st.lists(st.tuples(st.sampled_from(["A-100", "B-200"]), st.integers(1, 5000)), min_size=1, max_size=6),
    st.floats(0.2, 1.0),
)
def test_standard_hours_per_hour_is_the_efficiency_whatever_the_mix(mix, efficiency):
    units: dict[str, int] = {}
    for product, n in mix:
        units[product] = units.get(product, 0) + n
    seconds = sum(line_ideal_time(FACTORY, "line-1", p) * n for p, n in units.items())  # type: ignore[operator]
    values, _ = baseline_standard_values([log_day(0, seconds / 3600 / efficiency, units)], FACTORY)
    assert values[0].value == pytest.approx(efficiency)


def test_a_line_times_a_unit_by_its_output_machines():
    # one machine: its own (product) ideal time
    assert line_ideal_time(FACTORY, "line-1", "B-200") == 40.0
    assert line_ideal_time(FACTORY, "line-1", "A-100") == 20.0
    # two parallel machines at 30 s and 60 s make 3 units a minute together: 2 per machine-minute
    assert line_ideal_time(FACTORY, "line-2", "B-200") == pytest.approx(40.0)
    # a serial line's marked last station, not its slowest one
    assert line_ideal_time(FACTORY, "line-3", "A-100") == 20.0
    # a product the registry does not know: the machine's own ideal time (Factory.ideal_cycle_time)
    assert line_ideal_time(FACTORY, "line-1", "Z-9") == 30.0
    assert line_ideal_time(FACTORY, "retired-line", "A-100") is None


def test_good_units_count_not_rejects():
    row = dataclasses.replace(
        log_day(0, 8, {}), produced=1100, defects=10,
        products=(BaselineProduct("A-100", 1000, 10), BaselineProduct("B-200", 100, 0)),
    )  # fmt: skip
    values, _ = baseline_standard_values([row], FACTORY)
    assert values[0].num == pytest.approx((990 * 20 + 100 * 40) / 3600)
    assert values[0].den == 8


@pytest.mark.parametrize("header", ["품목", "제품", "product", "품목 (코드)"])
def test_a_product_column_in_a_baseline_csv_is_read_and_counted(header: str):
    csv = (
        f"날짜,라인,{header},작업시간,작업인원,생산수량,불량수량,전력량\n"
        "2024-03-04,1라인,A-100,6,2,1000,10,40\n"
        "2024-03-04,1라인,하우징,2,3,100,0,20\n"
        "2024-03-05,line-1,B-200,7.5,2,600,6,50\n"
    ).encode()
    rows = parse_baseline(csv, "log.csv", factory=FACTORY)
    # one row per line and day, its product rows summed; workers are labour hours / hours
    assert [(r.day.day, r.hours_worked, r.workers, r.produced, r.defects, r.energy_kwh) for r in rows] == [
        (4, 8.0, (6 * 2 + 2 * 3) / 8, 1100, 10, 60.0),
        (5, 7.5, 2.0, 600, 6, 50.0),
    ]
    assert rows[0].products == (BaselineProduct("A-100", 1000, 10), BaselineProduct("B-200", 100, 0))
    values, unknown = baseline_standard_values(rows, FACTORY)
    assert unknown == 0
    assert [(v.num, v.den) for v in values] == [
        pytest.approx(((990 * 20 + 100 * 40) / 3600, 8.0)),
        pytest.approx((594 * 40 / 3600, 7.5)),
    ]


def test_without_a_product_column_the_gain_says_the_mix_was_not_known():
    csv = (
        b"date,line,hours_worked,workers,produced,defects\n"
        b"2024-03-04,line-1,8,2,700,7\n2024-03-05,line-1,8,2,650,5\n"
    )
    rows = parse_baseline(csv, "log.csv", factory=FACTORY)
    assert all(r.products == () for r in rows)
    values, unknown = baseline_standard_values(rows, FACTORY)
    assert values == [] and unknown == 2
    after, _ = baseline_standard_values([log_day(30 + i, 8, {"A-100": 1000}) for i in range(5)], FACTORY)
    gain = kpi_gain(STANDARD_KPI, values, after, notes=[mix_unknown_warning("before", unknown)])
    assert gain.before is None and gain.improvement is None
    assert gain.warnings[0].code == "mix_unknown"
    assert "2 day(s)" in gain.warnings[0].en and "2일" in gain.warnings[0].ko


def test_a_day_with_a_row_without_its_mix_is_left_out_whole():
    rows = [log_day(0, 4, {"A-100": 500}), dataclasses.replace(log_day(0, 4, {}, "line-2"), produced=300)]
    assert baseline_standard_values(rows, FACTORY) == ([], 1)


def test_the_factory_gains_list_standard_hours_beside_units_per_hour():
    assert FACTORY_GAIN_KPIS.index(STANDARD_KPI) == FACTORY_GAIN_KPIS.index("units_per_labour_hour") + 1
    assert STANDARD_KPI not in GAIN_KPIS  # the portfolio's window sums have no line products
    assert kpi_name(STANDARD_KPI, "ko") == "시간당 표준생산시간"
    assert kpi_name(STANDARD_KPI, "en") == "Standard hours per hour worked"
    assert fmt_kpi(STANDARD_KPI, 0.8123) == "0.81"
