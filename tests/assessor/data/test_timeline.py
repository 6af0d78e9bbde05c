"""The factory page's timeline and downtime Pareto under liveness: reasons stored on
change, liveness gaps, small stops, bucket modes within alive time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.downtime import (
    DOWN_STATES,
    SMALL_STOP,
    MachineTimeline,
    Timeline,
    align_to_alive,
    downtime_by_reason,
    held_until,
)
from assessor.domain.kpi.calendar import intersect, normalise
from assessor.domain.kpi.timeline import Episode, StateSample, state_episodes

ALWAYS = [(0.0, 100_000.0)]


def timeline(
    episodes: list[Episode],
    reasons: list[tuple[float, str]],
    alive: list[tuple[float, float]] | None,
    hold: float = 60.0,
) -> Timeline:
    machine = MachineTimeline("l", "m", episodes, alive)
    return Timeline(0.0, 100_000.0, [machine], None, {("l", "m"): reasons}, hold)


def test_a_sample_holds_to_the_end_of_its_alive_interval() -> None:
    until = held_until([(100.0, 5000.0), (6000.0, 9000.0)], 60.0)
    assert until(200.0) == 5000.0
    assert until(6000.0) == 9000.0
    # in a liveness gap: holds for no time
    assert until(5500.0) == 5500.0
    # before the first alive record (written before liveness existed): the old rule, capped
    assert until(0.0) == 60.0 and until(80.0) == 100.0
    # a machine without alive records: the old rule
    assert held_until(None, 60.0)(200.0) == 260.0


def test_a_reason_stored_on_change_holds_for_the_whole_stop() -> None:
    eps = [Episode("running", 0, 1000), Episode("fault", 1000, 8200), Episode("running", 8200, 20000)]
    # one sample when the reason changed, none while it stays the same
    got = downtime_by_reason(timeline(eps, [(1000.0, "유압 이상")], [(0.0, 20000.0)]), ALWAYS)
    assert got == {("fault", "유압 이상"): pytest.approx(7200.0)}
    # without liveness the old rule stops it after hold_s
    legacy = downtime_by_reason(timeline(eps, [(1000.0, "유압 이상")], None), ALWAYS)
    assert legacy[("fault", "유압 이상")] == pytest.approx(60.0)
    assert legacy[("fault", "")] == pytest.approx(7140.0)


def test_an_unchanged_reason_carries_into_the_next_stop_but_not_across_a_liveness_gap() -> None:
    eps = [
        Episode("idle", 0, 600),
        Episode("running", 600, 1200),
        Episode("idle", 1200, 1800),
        Episode("unknown", 1800, 2400),
        Episode("idle", 2400, 3000),
    ]
    # the reason register kept "자재 대기": no new sample at the second stop; the path was
    # dead from 1800 to 2400, so after it the reason is not known until a new sample
    got = downtime_by_reason(
        timeline(eps, [(0.0, "자재 대기")], [(0.0, 1800.0), (2400.0, 3000.0)]), ALWAYS, small_stop_s=0
    )
    assert got == {("idle", "자재 대기"): pytest.approx(1200.0), ("idle", ""): pytest.approx(600.0)}


def test_a_cleared_reason_ends_with_its_sample() -> None:
    eps = [Episode("stopped", 0, 3000)]
    reasons = [(0.0, "금형 교환"), (1000.0, ""), (2000.0, "점검")]
    got = downtime_by_reason(timeline(eps, reasons, [(0.0, 3000.0)]), ALWAYS)
    assert got == {
        ("stopped", "금형 교환"): pytest.approx(1000.0),
        ("stopped", ""): pytest.approx(1000.0),
        ("stopped", "점검"): pytest.approx(1000.0),
    }


def test_short_stops_are_small_stops_whatever_their_reason() -> None:
    eps = [
        Episode("running", 0, 10),
        Episode("fault", 10, 100),
        Episode("running", 100, 1000),
        Episode("setup", 1000, 1060),
        Episode("idle", 1060, 1400),
        Episode("stopped", 1400, 1430),
        Episode("running", 1430, 100_000),
    ]
    reasons = [(10.0, "센서"), (1000.0, ""), (1060.0, "자재 대기")]
    got = downtime_by_reason(timeline(eps, reasons, [(0.0, 2000.0)]), ALWAYS, small_stop_s=120)
    # setup is never a small stop; idle of 340 s is longer than the limit
    assert got == {
        (SMALL_STOP, ""): pytest.approx(120.0),
        ("setup", ""): pytest.approx(60.0),
        ("idle", "자재 대기"): pytest.approx(340.0),
    }
    off = downtime_by_reason(timeline(eps, reasons, [(0.0, 2000.0)]), ALWAYS, small_stop_s=0)
    assert SMALL_STOP not in {k[0] for k in off} and off[("fault", "센서")] == pytest.approx(90.0)


def test_a_stop_cut_by_the_period_is_not_taken_for_a_small_stop() -> None:
    # a fault going on when the period starts, and one still going on when it ends: how
    # long they really were is not known from the period
    eps = [
        Episode("fault", 0, 60, continued=True),
        Episode("running", 60, 99_970),
        Episode("idle", 99_970, 100_000),
    ]
    got = downtime_by_reason(timeline(eps, [], None), ALWAYS, small_stop_s=120)
    assert got == {("fault", ""): pytest.approx(60.0), ("idle", ""): pytest.approx(30.0)}


def test_bucket_modes_hold_from_the_first_alive_moment_of_their_bucket() -> None:
    alive = [(130.0, 300.0), (500.0, 900.0)]
    # 0: no alive time in [0, 60): unchanged; 120: alive from 130; 240: alive all along;
    # 360: alive only from 500, beyond its bucket [360, 420): unchanged
    assert align_to_alive([0.0, 120.0, 240.0, 360.0, 480.0], 60.0, alive) == [0.0, 130.0, 240.0, 360.0, 500.0]
    samples = [StateSample(120.0, "running"), StateSample(480.0, "fault")]
    moved = align_to_alive([s.t for s in samples], 60.0, alive)
    eps = state_episodes(
        [StateSample(t, s.state) for t, s in zip(moved, samples, strict=True)],
        0,
        1000,
        hold_s=120,
        alive=alive,
    )
    assert [(e.state, e.start, e.end) for e in eps] == [
        ("unknown", 0, 130),
        ("running", 130, 300),
        ("unknown", 300, 500),
        ("fault", 500, 900),
        ("unknown", 900, 1000),
    ]


STATES = ["running", "idle", "fault", "setup", "stopped", "planned_stop", "unknown"]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 400), st.sampled_from(STATES), st.sampled_from(["", "a", "b"])),
        min_size=1,
        max_size=25,
    ),
    gaps=st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 900)), max_size=4),
    planned=st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 3000)), min_size=1, max_size=3),
    small_stop_s=st.sampled_from([0.0, 60.0, 120.0]),
    legacy=st.booleans(),
)
def test_downtime_by_reason_splits_the_planned_down_time_exactly(
    steps: list[tuple[int, str, str]],
    gaps: list[tuple[int, int]],
    planned: list[tuple[int, int]],
    small_stop_s: float,
    legacy: bool,
) -> None:
    """Whatever the reasons and liveness, the Pareto's seconds add up to the planned time
    of the down episodes: no stop is counted twice or lost."""
    t, states, reasons = 0.0, [], []
    for length, state, reason in steps:
        states.append(StateSample(t, state))
        reasons.append((t + length / 2, reason))
        t += length
    end = t
    dead = normalise([(float(a), float(a + n)) for a, n in gaps])
    alive = None if legacy else _subtract([(0.0, end)], dead) or None
    eps = state_episodes(states, 0.0, end, hold_s=150.0, alive=alive)
    plan = normalise([(float(a), float(a + n)) for a, n in planned])
    tl = Timeline(0.0, end, [MachineTimeline("l", "m", eps, alive)], None, {("l", "m"): reasons}, 150.0)
    got = downtime_by_reason(tl, plan, small_stop_s=small_stop_s)
    expected = sum(
        b - a for e in eps if e.state in DOWN_STATES for a, b in intersect(plan, [(e.start, e.end)])
    )
    assert sum(got.values()) == pytest.approx(expected)
    assert all(v > 0 for v in got.values())


def _subtract(base: list[tuple[float, float]], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    from assessor.domain.kpi.calendar import subtract

    return subtract(base, holes)
