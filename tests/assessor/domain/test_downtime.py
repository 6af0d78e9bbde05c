"""Downtime by reason from state episodes and reason samples, and the Pareto ordering."""

from __future__ import annotations

import pytest

from assessor.domain.downtime import MachineTimeline, Timeline, bucket_for, downtime_by_reason, pareto
from assessor.domain.kpi.timeline import Episode

ALWAYS = [(0.0, 10_000.0)]


def timeline(episodes: list[Episode], reasons: list[tuple[float, str]], hold: float = 60.0) -> Timeline:
    return Timeline(0.0, 10_000.0, [MachineTimeline("l", "m", episodes)], None, {("l", "m"): reasons}, hold)


def test_reason_in_force_is_attributed_within_the_hold() -> None:
    eps = [Episode("running", 0, 100), Episode("fault", 100, 400), Episode("running", 400, 1000)]
    # reason samples every 60 s during the fault, the first one exactly when it starts
    reasons = [(100.0 + 60 * i, "유압 이상") for i in range(5)]
    got = downtime_by_reason(timeline(eps, reasons), ALWAYS)
    assert got == {("fault", "유압 이상"): pytest.approx(300.0)}


def test_a_stale_reason_stops_counting_after_the_hold() -> None:
    eps = [Episode("stopped", 0, 500)]
    got = downtime_by_reason(timeline(eps, [(0.0, "자재 대기")]), ALWAYS)
    assert got[("stopped", "자재 대기")] == pytest.approx(60.0)
    assert got[("stopped", "")] == pytest.approx(440.0)


def test_reason_changes_inside_a_stop_and_planned_time_is_respected() -> None:
    eps = [Episode("setup", 0, 200)]
    reasons = [(0.0, "a"), (60.0, "a"), (100.0, "b"), (160.0, "b")]
    got = downtime_by_reason(timeline(eps, reasons), [(50.0, 150.0)])
    assert got == {("setup", "a"): pytest.approx(50.0), ("setup", "b"): pytest.approx(50.0)}


def test_running_planned_stop_and_unknown_are_not_downtime() -> None:
    eps = [Episode("running", 0, 10), Episode("planned_stop", 10, 20), Episode("unknown", 20, 30)]
    assert downtime_by_reason(timeline(eps, [(0.0, "x")]), ALWAYS) == {}


def test_pareto_orders_and_accumulates() -> None:
    bars = pareto({"a": 10.0, "b": 30.0, "c": 60.0, "zero": 0.0}, "기타")
    assert [b.reason for b in bars] == ["c", "b", "a"]
    assert [round(b.cumulative, 2) for b in bars] == [0.6, 0.9, 1.0]


def test_pareto_folds_the_tail_into_one_bar() -> None:
    bars = pareto({f"r{i}": float(100 - i) for i in range(20)}, "기타", limit=5)
    assert len(bars) == 5 and bars[-1].reason == "기타"
    assert sum(b.seconds for b in bars) == pytest.approx(sum(float(100 - i) for i in range(20)))
    assert bars[-1].cumulative == pytest.approx(1.0)


def test_bucket_only_when_there_are_too_many_points() -> None:
    assert bucket_for(1000, 0, 7 * 86400, 2, 20_000) is None
    width = bucket_for(1_000_000, 0, 7 * 86400, 2, 20_000)
    assert width is not None and 7 * 86400 * 2 / width <= 20_000 and width >= 60
