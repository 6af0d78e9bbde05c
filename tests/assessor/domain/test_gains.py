"""Before/after gains: direction, ratio of sums, bootstrap interval, sources, reference figures."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from assessor.domain.gains import (
    KPI_DIRECTIONS,
    REFERENCE,
    DailyValue,
    Direction,
    Exclusion,
    baseline_daily_values,
    flag_exclusions,
    improvement_rate,
    kpi_gain,
    monthly_trend,
)
from assessor.domain.models import BaselineDay, Source

START = dt.date(2023, 1, 2)


def days(
    pairs: list[tuple[float, float]], source: Source = Source.MEASURED, start: dt.date = START
) -> list[DailyValue]:
    return [DailyValue(start + dt.timedelta(days=i), n, d, source) for i, (n, d) in enumerate(pairs)]


def flat(value: float, n: int, den: float = 100.0, source: Source = Source.MEASURED) -> list[DailyValue]:
    return days([(value * den, den)] * n, source)


def noisy(mean: float, n: int, seed: int, source: Source = Source.MEASURED) -> list[DailyValue]:
    """Days of ~8 h with units per hour scattered around ``mean``."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        hours = rng.uniform(6, 10)
        out.append((rng.gauss(mean, mean * 0.15) * hours, hours))
    return days(out, source)


def codes(gain) -> set[str]:
    return {w.code for w in gain.warnings}


# --- direction -------------------------------------------------------------------------------


def test_directions_of_the_programme_kpis() -> None:
    higher = ["units_per_hour", "units_per_labour_hour", "on_time_delivery", "oee", "availability"]
    lower = ["defect_rate", "energy_per_unit_kwh"]
    assert all(KPI_DIRECTIONS[k] is Direction.HIGHER for k in higher)
    assert all(KPI_DIRECTIONS[k] is Direction.LOWER for k in lower)


def test_higher_is_better_improvement() -> None:
    gain = kpi_gain("units_per_hour", flat(100, 10), flat(130, 10))
    assert gain.before == pytest.approx(100) and gain.after == pytest.approx(130)
    assert gain.improvement == pytest.approx(0.30)
    assert gain.direction is Direction.HIGHER
    worse = kpi_gain("units_per_hour", flat(100, 10), flat(90, 10))
    assert worse.improvement == pytest.approx(-0.10)


def test_lower_is_better_improvement() -> None:
    gain = kpi_gain("defect_rate", flat(0.04, 10), flat(0.01, 10))
    assert gain.improvement == pytest.approx(0.75)  # (before - after) / before
    assert gain.direction is Direction.LOWER
    worse = kpi_gain("defect_rate", flat(0.02, 10), flat(0.03, 10))
    assert worse.improvement == pytest.approx(-0.5)


def test_no_improvement_rate_when_before_is_zero_or_missing() -> None:
    assert improvement_rate(Direction.HIGHER, 0.0, 5.0) is None
    assert improvement_rate(Direction.LOWER, None, 5.0) is None
    zero = kpi_gain("defect_rate", flat(0.0, 10), flat(0.01, 10))
    assert zero.before == 0 and zero.improvement is None
    assert zero.ci95_low is None and "before_zero" in codes(zero)
    empty = kpi_gain("defect_rate", [], flat(0.01, 10))
    assert empty.before is None and empty.improvement is None and "no_data" in codes(empty)
    no_den = kpi_gain("units_per_hour", days([(0, 0)] * 6), flat(5, 6))
    assert no_den.before is None and no_den.improvement is None


# --- ratio of sums ---------------------------------------------------------------------------


def test_period_value_is_the_ratio_of_sums_not_the_mean_of_daily_ratios() -> None:
    # a small day with many defects and a big day with few: 10% and 1%
    before = days([(10, 100), (10, 1000)] * 3)
    after = flat(0.01, 6)
    gain = kpi_gain("defect_rate", before, after)
    mean_of_ratios = sum(d.value for d in before) / len(before)
    assert mean_of_ratios == pytest.approx(0.055)
    assert gain.before == pytest.approx(60 / 3300)
    assert gain.improvement == pytest.approx((60 / 3300 - 0.01) / (60 / 3300))


def test_day_with_zero_denominator_is_undefined_not_zero() -> None:
    day = DailyValue(START, 0, 0, Source.MEASURED)
    assert day.value is None
    with pytest.raises(ValueError, match="negative denominator"):
        DailyValue(START, 1, -1, Source.MEASURED)
    with pytest.raises(ValueError):
        DailyValue(START, float("nan"), 1, Source.MEASURED)
    with pytest.raises(ValueError):
        DailyValue(START, 1, 1, "guessed")  # type: ignore[arg-type]


# --- bootstrap interval ------------------------------------------------------------------------


def test_interval_contains_the_point_estimate() -> None:
    gain = kpi_gain("units_per_hour", noisy(100, 40, 1, Source.MANUAL), noisy(125, 40, 2))
    assert gain.ci95_low is not None and gain.ci95_high is not None
    assert gain.ci95_low < gain.improvement < gain.ci95_high


def test_interval_narrows_with_more_days() -> None:
    short = kpi_gain("units_per_hour", noisy(100, 10, 1), noisy(125, 10, 2))
    long = kpi_gain("units_per_hour", noisy(100, 200, 1), noisy(125, 200, 2))
    assert long.ci95_high - long.ci95_low < 0.6 * (short.ci95_high - short.ci95_low)


def test_interval_is_reproducible_with_the_seed() -> None:
    before, after = noisy(100, 30, 1), noisy(120, 30, 2)
    a = kpi_gain("units_per_hour", before, after, seed=7)
    b = kpi_gain("units_per_hour", before, after, seed=7)
    c = kpi_gain("units_per_hour", before, after, seed=8)
    assert (a.ci95_low, a.ci95_high) == (b.ci95_low, b.ci95_high)
    assert (a.ci95_low, a.ci95_high) != (c.ci95_low, c.ci95_high)


def test_interval_resamples_days_and_recomputes_ratio_of_sums() -> None:
    # every before day has the same ratio, whatever its size: any resample of days gives
    # exactly that ratio, so the interval collapses onto the point estimate
    before = days([(50, 10), (500, 100), (5, 1)] * 4)
    after = days([(60, 10), (600, 100), (6, 1)] * 4)
    gain = kpi_gain("units_per_hour", before, after)
    assert gain.ci95_low == pytest.approx(0.2) and gain.ci95_high == pytest.approx(0.2)


def test_too_few_days_gives_no_interval_and_a_warning() -> None:
    few = kpi_gain("units_per_hour", noisy(100, 4, 1), noisy(120, 30, 2))
    assert few.improvement is not None
    assert few.ci95_low is None and few.ci95_high is None
    (warning,) = [w for w in few.warnings if w.code == "too_few_days"]
    assert "4 before" in warning.en and "4일" in warning.ko
    enough = kpi_gain("units_per_hour", noisy(100, 5, 1), noisy(120, 5, 2))
    assert enough.ci95_low is not None and "too_few_days" not in codes(enough)


def test_interval_is_withheld_when_resampled_before_is_often_zero() -> None:
    before = days([(1, 100)] + [(0, 100)] * 5)  # most resamples draw no defect at all
    gain = kpi_gain("defect_rate", before, flat(0.001, 30))
    assert gain.improvement is not None and gain.ci95_low is None
    assert "unstable_interval" in codes(gain)


# --- sources ---------------------------------------------------------------------------------


def test_mixed_sources_warn_in_both_languages() -> None:
    gain = kpi_gain("units_per_hour", flat(100, 10, source=Source.MANUAL), flat(120, 10))
    assert gain.source_before == "manual" and gain.source_after == "measured"
    (warning,) = [w for w in gain.warnings if w.code == "mixed_sources"]
    assert "under-report downtime" in warning.en
    assert "수기 기록" in warning.ko and "비가동" in warning.ko

    same = kpi_gain("units_per_hour", flat(100, 10), flat(120, 10))
    assert "mixed_sources" not in codes(same)

    mixed_before = flat(100, 5, source=Source.MANUAL) + days(
        [(100, 1)] * 5, start=START + dt.timedelta(days=5)
    )
    mixed = kpi_gain("units_per_hour", mixed_before, flat(120, 10))
    assert mixed.source_before == "mixed" and "mixed_sources" in codes(mixed)


# --- reference figures -------------------------------------------------------------------------


def test_reference_figures_of_the_2019_study() -> None:
    assert REFERENCE["productivity"].improvement == pytest.approx(0.30)
    assert REFERENCE["quality"].improvement == pytest.approx(0.435)
    assert REFERENCE["cost"].improvement == pytest.approx(0.159)
    assert REFERENCE["delivery"].improvement == pytest.approx(0.155)
    assert "5,003" in REFERENCE["productivity"].source
    assert "proxy" in REFERENCE["cost"].note_en or "stands in" in REFERENCE["cost"].note_en


@pytest.mark.parametrize(
    ("kpi", "before", "after", "area", "meets"),
    [
        ("units_per_hour", 100, 135, "productivity", True),
        ("units_per_hour", 100, 120, "productivity", False),
        ("units_per_labour_hour", 10, 13, "productivity", True),
        ("defect_rate", 0.04, 0.02, "quality", True),
        ("defect_rate", 0.04, 0.03, "quality", False),
        ("energy_per_unit_kwh", 2.0, 1.6, "cost", True),
        ("on_time_delivery", 0.8, 0.9, "delivery", False),
    ],
)
def test_reference_comparison(kpi: str, before: float, after: float, area: str, meets: bool) -> None:
    gain = kpi_gain(kpi, flat(before, 10), flat(after, 10))
    assert gain.reference is REFERENCE[area]
    assert gain.meets_reference is meets


def test_kpi_without_reference() -> None:
    gain = kpi_gain("oee", flat(0.6, 10), flat(0.7, 10))
    assert gain.reference is None and gain.meets_reference is None


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown KPI"):
        kpi_gain("happiness", flat(1, 5), flat(2, 5))
    with pytest.raises(ValueError, match="more than once"):
        kpi_gain("oee", flat(0.5, 5) + flat(0.5, 1), flat(0.6, 5))


# --- monthly trend and manual baselines --------------------------------------------------------


def test_monthly_trend_is_ratio_of_sums_per_calendar_month() -> None:
    after = [
        DailyValue(dt.date(2024, 3, 30), 10, 100, Source.MEASURED),
        DailyValue(dt.date(2024, 3, 31), 10, 1000, Source.MEASURED),
        DailyValue(dt.date(2024, 2, 1), 1, 100, Source.MEASURED),
        DailyValue(dt.date(2024, 4, 1), 0, 0, Source.MEASURED),
    ]
    trend = monthly_trend(after)
    assert [p.label for p in trend] == ["2024-02", "2024-03", "2024-04"]
    assert [p.days for p in trend] == [1, 2, 1]
    assert trend[1].value == pytest.approx(20 / 1100)
    assert trend[2].value is None
    assert trend[0].source == "measured"
    assert monthly_trend([]) == []


def test_baseline_daily_values_sum_lines_of_a_day() -> None:
    rows = [
        BaselineDay("f1", START, "L1", hours_worked=8, workers=2, produced=800, defects=8, energy_kwh=100),
        BaselineDay("f1", START, "L2", hours_worked=8, workers=1, produced=200, defects=12, energy_kwh=None),
        BaselineDay("f1", START + dt.timedelta(days=1), "L1", 8, 2, 600, 6, 90.0),
    ]
    defects = baseline_daily_values(rows, "defect_rate")
    assert [(d.num, d.den) for d in defects] == [(20, 1000), (6, 600)]
    assert all(d.source == Source.MANUAL for d in defects)
    labour = baseline_daily_values(rows, "units_per_labour_hour")
    assert labour[0].value == pytest.approx(1000 / 24)
    energy = baseline_daily_values(rows, "energy_per_unit_kwh")
    assert [(d.num, d.den) for d in energy] == [(100, 800), (90, 600)]  # L2 had no meter reading
    assert baseline_daily_values(rows, "on_time_delivery") == []
    with pytest.raises(ValueError, match="manual logs"):
        baseline_daily_values(rows, "oee")


# --- flagged KPIs are left out ---------------------------------------------------------------


def test_a_kpi_flagged_on_a_side_is_left_out_with_the_reason() -> None:
    flags = [{"kpi": "oee", "reason": "implausible_ideal_time", "value": 4.32}]
    after_row = {"coverage": 0.95, "flags": flags}
    excluded = flag_exclusions("oee", "after", after_row, flat(0.6, 10))
    assert excluded == [Exclusion("after", "implausible_ideal_time", 0.95)]
    gain = kpi_gain("oee", flat(0.5, 10), flat(0.6, 10), excluded=excluded)
    assert gain.excluded_reason == "after:implausible_ideal_time"
    assert gain.after is None and gain.improvement is None and gain.meets_reference is None
    assert gain.ci95_low is None and gain.ci95_high is None
    assert gain.before == pytest.approx(0.5) and gain.days_after == 10
    assert codes(gain) == {"flagged"}
    (w,) = gain.warnings
    assert "implausible ideal cycle time" in w.en and "이상치(표준 사이클타임 확인)" in w.ko
    assert "432" not in w.en + w.ko


def test_measured_flags_do_not_exclude_a_manual_side() -> None:
    row = {"coverage": 0.4, "flags": [{"kpi": "units_per_hour", "reason": "coverage", "value": 300.0}]}
    assert flag_exclusions("units_per_hour", "before", row, flat(250, 10, source=Source.MANUAL)) == []
    assert flag_exclusions("units_per_hour", "before", row, flat(250, 10)) == [
        Exclusion("before", "coverage", 0.4)
    ]
    # another KPI's flag, or no row at all, excludes nothing
    assert flag_exclusions("defect_rate", "before", row) == [] and flag_exclusions("oee", "after", None) == []


def test_portfolio_gain_rows_leave_out_a_flagged_side() -> None:
    from assessor.domain.portfolio import gain_rows

    before = {"units_per_hour": (2500.0, 10.0), "defect_rate": (50.0, 2500.0)}
    after = {"units_per_hour": (9000.0, 10.0), "defect_rate": (20.0, 9000.0)}
    rows = {
        r["kpi"]: r
        for r in gain_rows(
            before, after, ("manual", "measured"), {"units_per_hour": [Exclusion("after", "coverage", 0.5)]}
        )
    }
    uph = rows["units_per_hour"]
    assert uph["excluded_reason"] == "after:coverage" and uph["after"] is None
    assert uph["improvement"] is None and uph["meets_reference"] is None and uph["before"] == 250.0
    assert uph["excluded"] == [{"side": "after", "reason": "coverage", "coverage": 0.5}]
    assert rows["defect_rate"]["excluded_reason"] is None and rows["defect_rate"]["improvement"] > 0
