"""The support project's targets: parsing, direction-aware achievement, pass or fail."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assessor.domain.targets import (
    CATALOGUE,
    Status,
    Target,
    bootstrap_interval,
    parse_target,
    project_verdict,
    ratio_of_sums,
    target_problem,
    verdict,
)

UPH, DEFECTS, LEAD, INVENTORY = (
    CATALOGUE[k] for k in ("units_per_hour", "defect_rate", "manufacturing_lead_time", "inventory_days")
)


def test_catalogue_says_what_the_data_can_measure() -> None:
    assert UPH.measured and DEFECTS.measured and LEAD.measured
    assert not INVENTORY.measured and not INVENTORY.manual_log
    assert CATALOGUE["unit_cost"].name_ko == "원가"
    assert {k.direction.value for k in CATALOGUE.values()} == {"higher", "lower"}


@pytest.mark.parametrize(
    ("text", "target"),
    [("+20%", Target(0.2, True)), ("-15%", Target(-0.15, True)), (0.018, Target(0.018)), (15, Target(15.0))],
)
def test_parse_target(text: object, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("bad", ["20%", "1.8%", "+0%", "abc", True, None, float("nan")])
def test_parse_target_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_target(bad)


def test_relative_target_the_wrong_way_is_refused() -> None:
    assert "higher is better" in (target_problem(UPH, None, parse_target("-10%")) or "")
    assert "lower is better" in (target_problem(LEAD, None, parse_target("+15%")) or "")
    assert target_problem(DEFECTS, 0.029, Target(0.018)) is None
    assert "no improvement" in (target_problem(DEFECTS, 0.029, Target(0.03)) or "")
    assert "fraction" in (target_problem(DEFECTS, None, Target(1.8)) or "")


def test_relative_higher_is_better() -> None:
    v = verdict(UPH, 100.0, parse_target("+20%"), 125.0)
    assert v.target == pytest.approx(120.0)
    assert v.achievement == pytest.approx(1.25)
    assert v.status is Status.PASS
    assert verdict(UPH, 100.0, parse_target("+20%"), 115.0).status is Status.FAIL
    # exactly at the target passes, whatever the rounding of 100 x 1.2
    assert verdict(UPH, 100.0, parse_target("+20%"), 120.0).status is Status.PASS


def test_relative_lower_is_better() -> None:
    v = verdict(LEAD, 40.0, parse_target("-15%"), 36.0)
    assert v.target == pytest.approx(34.0)
    assert v.achievement == pytest.approx(4 / 6)
    assert v.status is Status.FAIL
    assert verdict(LEAD, 40.0, parse_target("-15%"), 30.0).status is Status.PASS


def test_absolute_both_directions() -> None:
    assert verdict(DEFECTS, 0.029, Target(0.018), 0.017).status is Status.PASS
    assert verdict(DEFECTS, 0.029, Target(0.018), 0.02).status is Status.FAIL
    assert verdict(UPH, 100.0, Target(130.0), 131.0).status is Status.PASS
    assert verdict(UPH, 100.0, Target(130.0), 129.0).status is Status.FAIL
    # a defect rate of 0 beats the target, and its achievement is finite
    assert verdict(DEFECTS, 0.029, Target(0.018), 0.0).achievement == pytest.approx(0.029 / 0.011)


def test_without_data_neither_passes_nor_fails() -> None:
    assert verdict(INVENTORY, 21.0, Target(15.0), None) == verdict(INVENTORY, 21.0, Target(15.0), None)
    no_result = verdict(INVENTORY, 21.0, Target(15.0), None)
    assert (no_result.status, no_result.reason) == (Status.NO_DATA, "no_result")
    no_baseline = verdict(UPH, None, parse_target("+20%"), 130.0)
    assert (no_baseline.status, no_baseline.reason, no_baseline.target) == (
        Status.NO_DATA,
        "no_baseline",
        None,
    )
    # an absolute target is judged without a baseline; only the achievement is unknown
    v = verdict(UPH, None, Target(120.0), 130.0)
    assert (v.status, v.achievement) == (Status.PASS, None)


def test_project_verdict() -> None:
    P, F, N = Status.PASS, Status.FAIL, Status.NO_DATA
    assert project_verdict([P, P, P]).status == "pass"
    assert project_verdict([P, P, F]).status == "fail"
    assert project_verdict([P, P, N]).status == "open"
    assert project_verdict([P, P, P, F], pass_share=0.75).status == "pass"
    assert project_verdict([P, P, F, F], pass_share=0.75).status == "fail"
    assert project_verdict([]).status == "none"
    v = project_verdict([P, P, P, F])
    assert (v.met, v.total) == (3, 4)


finite = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)


@given(baseline=finite, change=st.floats(min_value=0.01, max_value=0.9), result=finite)
def test_achievement_one_means_the_target_is_reached(baseline: float, change: float, result: float) -> None:
    """In both directions: passing is reaching the target, and an achievement of at least
    1 (the whole way from baseline to target) is the same as passing."""
    for kpi, sign in ((UPH, 1), (LEAD, -1)):
        v = verdict(kpi, baseline, Target(sign * change, relative=True), result)
        assert v.status in (Status.PASS, Status.FAIL)
        assert v.achievement is not None
        if abs(v.achievement - 1) > 1e-6:
            assert (v.achievement > 1) == (v.status is Status.PASS)


@given(st.lists(st.sampled_from([Status.PASS, Status.FAIL, Status.NO_DATA]), max_size=12))
def test_open_kpis_decide_an_open_project(statuses: list[Status]) -> None:
    """Filling every open KPI with a pass or a fail never contradicts a decided verdict."""
    v = project_verdict(statuses)
    best = project_verdict([Status.PASS if s is Status.NO_DATA else s for s in statuses]).status
    worst = project_verdict([Status.FAIL if s is Status.NO_DATA else s for s in statuses]).status
    if v.status == "pass":
        assert worst == "pass"
    elif v.status == "fail":
        assert best == "fail"
    elif v.status == "open":
        assert (best, worst) == ("pass", "fail")


def test_bootstrap_interval_brackets_the_ratio() -> None:
    days = [(100.0 + i, 1.0) for i in range(10)]
    low, high = bootstrap_interval(days, ratio_of_sums) or (None, None)
    value = ratio_of_sums(days)
    assert low is not None and high is not None and value is not None
    assert low <= value <= high
    assert bootstrap_interval(days[:3], ratio_of_sums) is None
