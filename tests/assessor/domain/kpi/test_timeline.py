"""State samples to episodes and to seconds per state: hold limit, liveness, unknown time,
failures, small stops."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.kpi.calendar import total
from assessor.domain.kpi.model import StateTime
from assessor.domain.kpi.timeline import Episode, StateSample, merge_alive, state_episodes, state_time


def samples(*pairs: tuple[float, str]) -> list[StateSample]:
    return [StateSample(t, state) for t, state in pairs]


def spans(episodes: list[Episode]) -> list[tuple[str, float, float]]:
    return [(e.state, e.start, e.end) for e in episodes]


def test_state_holds_until_the_next_sample_and_equal_states_merge() -> None:
    eps = state_episodes(
        samples((0, "running"), (10, "running"), (20, "fault"), (30, "running")), 0, 40, hold_s=15
    )
    assert spans(eps) == [("running", 0, 20), ("fault", 20, 30), ("running", 30, 40)]


def test_time_beyond_the_hold_limit_is_unknown() -> None:
    eps = state_episodes(samples((0, "running"), (100, "idle")), 0, 130, hold_s=15)
    assert spans(eps) == [("running", 0, 15), ("unknown", 15, 100), ("idle", 100, 115), ("unknown", 115, 130)]


def test_window_before_the_first_sample_is_unknown() -> None:
    eps = state_episodes(samples((50, "running")), 0, 60, hold_s=30)
    assert spans(eps) == [("unknown", 0, 50), ("running", 50, 60)]


def test_sample_before_the_window_carries_in_within_the_hold_limit() -> None:
    eps = state_episodes(samples((20, "idle")), 10, 40, hold_s=30, before=StateSample(0, "fault"))
    assert spans(eps) == [("fault", 10, 20), ("idle", 20, 40)]
    assert eps[0].continued and not eps[1].continued
    stale = state_episodes(samples((20, "idle")), 10, 40, hold_s=5, before=StateSample(0, "fault"))
    assert spans(stale) == [("unknown", 10, 20), ("idle", 20, 25), ("unknown", 25, 40)]


def test_unknown_offline_and_unmapped_states_are_unknown_time() -> None:
    eps = state_episodes(
        samples((0, "offline"), (10, "unknown"), (20, "made-up"), (30, "running")), 0, 40, hold_s=60
    )
    assert spans(eps) == [("offline", 0, 10), ("unknown", 10, 30), ("running", 30, 40)]
    st_ = state_time(eps, [(0, 40)])
    assert (st_.unknown_s, st_.running_s) == (30, 10)


def test_unsorted_samples_and_samples_outside_the_window() -> None:
    eps = state_episodes(
        samples((30, "idle"), (-100, "fault"), (10, "running"), (500, "fault")), 0, 40, hold_s=60
    )
    assert spans(eps) == [("unknown", 0, 10), ("running", 10, 30), ("idle", 30, 40)]
    assert state_episodes(samples((0, "running")), 10, 10, hold_s=5) == []
    with pytest.raises(ValueError):
        state_episodes([], 0, 10, hold_s=0)


def test_state_time_counts_only_planned_time() -> None:
    eps = [
        Episode("running", 0, 100),
        Episode("planned_stop", 100, 120),
        Episode("setup", 120, 150),
        Episode("unknown", 150, 200),
    ]
    result = state_time(eps, [(50, 130), (140, 300)])
    assert result == StateTime(
        calendar_s=240, running_s=50, idle_s=0, fault_s=0, setup_s=20, stopped_s=0,
        planned_stop_s=20, unknown_s=150, failures=0, repair_s=0,
    )  # fmt: skip
    assert result.down_s == 20


def test_failures_start_in_planned_time_and_repair_is_not_clipped() -> None:
    eps = [
        Episode("fault", 0, 30, continued=True),  # began before the window: not this window's failure
        Episode("running", 30, 40),
        Episode("fault", 40, 70),  # starts planned, ends in the break
        Episode("running", 70, 80),
        Episode("fault", 80, 90),  # starts in the break
        Episode("running", 90, 100),
        Episode("fault", 100, 105),
    ]
    result = state_time(eps, [(0, 60), (95, 200)], small_stop_s=0)
    assert result.failures == 2
    assert result.repair_s == 30 + 5
    assert result.fault_s == 30 + 20 + 5


def test_a_fault_across_midnight_counts_once_when_split_per_day() -> None:
    eps = state_episodes(samples((0, "running"), (80, "fault"), (130, "running")), 0, 200, hold_s=100)
    days = [state_time(eps, [(0, 100)], small_stop_s=0), state_time(eps, [(100, 200)], small_stop_s=0)]
    assert [d.failures for d in days] == [1, 0]
    assert days[0].repair_s == 50
    assert sum(d.fault_s for d in days) == 50


# --- liveness -----------------------------------------------------------------------------


def test_merge_alive_joins_touching_and_overlapping_records_and_drops_empty_ones() -> None:
    records = [(3600.0, 3600.0), (0.0, 3600.0), (7200.0, 10.0), (100.0, 50.0), (9000.0, 0.0), (8000.0, 5.0)]
    assert merge_alive(records) == [(0.0, 7210.0), (8000.0, 8005.0)]
    assert merge_alive([]) == []
    assert merge_alive([(0.0, float("nan")), (5.0, -1.0)]) == []


def test_a_state_holds_to_the_next_sample_while_the_path_is_alive_however_long() -> None:
    # stored on change: one sample, hours apart, and the path alive all along
    alive = merge_alive([(0.0, 3600.0), (3600.0, 3600.0), (7200.0, 3600.0)])
    eps = state_episodes(samples((10, "running"), (9000, "idle")), 0, 10_000, hold_s=60, alive=alive)
    assert spans(eps) == [("unknown", 0, 10), ("running", 10, 9000), ("idle", 9000, 10_000)]
    # the same samples without liveness: the old hold limit
    old = state_episodes(samples((10, "running"), (9000, "idle")), 0, 10_000, hold_s=60)
    assert spans(old) == [
        ("unknown", 0, 10), ("running", 10, 70), ("unknown", 70, 9000), ("idle", 9000, 9060),
        ("unknown", 9060, 10_000),
    ]  # fmt: skip


def test_a_state_ends_where_the_path_died_and_does_not_cross_a_gap() -> None:
    alive = [(0.0, 500.0), (800.0, 1000.0)]
    eps = state_episodes(samples((0, "running"), (850, "idle")), 0, 1000, hold_s=60, alive=alive)
    # the path came back at 800, but the state is unknown until the next state sample
    assert spans(eps) == [("running", 0, 500), ("unknown", 500, 850), ("idle", 850, 1000)]


def test_a_sample_inside_no_alive_interval_holds_for_no_time() -> None:
    eps = state_episodes(samples((600, "running")), 0, 1000, hold_s=60, alive=[(0.0, 500.0), (800.0, 900.0)])
    assert spans(eps) == [("unknown", 0, 1000)]


def test_samples_before_the_first_alive_record_use_the_hold_limit_capped_at_it() -> None:
    alive = [(100.0, 1000.0)]
    eps = state_episodes(
        samples((0, "idle"), (80, "fault"), (150, "running")), 0, 1000, hold_s=60, alive=alive
    )
    # idle 0..60 (hold), unknown 60..80, fault 80..100 (capped at the first record), then
    # unknown until the next sample inside the alive time
    assert spans(eps) == [("idle", 0, 60), ("unknown", 60, 80), ("fault", 80, 100), ("unknown", 100, 150),
                          ("running", 150, 1000)]  # fmt: skip


def test_the_state_before_the_window_carries_in_while_alive_and_is_marked_continued() -> None:
    alive = merge_alive([(-7200.0, 3600.0), (-3600.0, 3600.0), (0.0, 3600.0)])
    eps = state_episodes([], 0, 1000, hold_s=60, before=StateSample(-5000, "stopped"), alive=alive)
    assert spans(eps) == [("stopped", 0, 1000)] and eps[0].continued


# --- small stops ---------------------------------------------------------------------------


def test_short_stops_are_small_stops_not_availability_losses_or_failures() -> None:
    eps = [
        Episode("running", 0, 100),
        Episode("fault", 100, 130),  # 30 s: a small stop, no failure
        Episode("running", 130, 200),
        Episode("idle", 200, 260),  # 60 s: small
        Episode("running", 260, 300),
        Episode("fault", 300, 500),  # 200 s: a breakdown
        Episode("setup", 500, 510),  # setup is never a small stop
        Episode("stopped", 510, 600),  # 90 s, half of it unplanned: planned part is small
    ]
    planned = [(0, 550)]
    result = state_time(eps, planned, small_stop_s=120)
    assert result.small_stop_s == 30 + 60 + 40 and result.small_stops == 3
    assert (result.fault_s, result.idle_s, result.stopped_s, result.setup_s) == (200, 0, 0, 10)
    assert result.failures == 1 and result.repair_s == 200
    assert result.running_s == 210
    assert math.isclose(result.running_s + result.small_stop_s + result.down_s + result.unknown_s, 550)
    off = state_time(eps, planned, small_stop_s=0)
    assert off.small_stop_s == 0 and off.small_stops == 0 and off.failures == 2
    assert (off.fault_s, off.idle_s, off.stopped_s) == (230, 60, 40)


def test_a_stop_is_classified_by_its_whole_length_not_the_part_in_one_day() -> None:
    eps = state_episodes(samples((0, "running"), (95, "fault"), (300, "running")), 0, 400, hold_s=1000)
    # 205 s of fault, of which 5 s fall in the first day: a breakdown on both days
    days = [state_time(eps, [(0, 100)]), state_time(eps, [(100, 400)])]
    assert [d.small_stop_s for d in days] == [0, 0]
    assert [d.fault_s for d in days] == [5, 200]
    assert [d.failures for d in days] == [1, 0]


# --- properties ---------------------------------------------------------------------------

STATES = ["running", "idle", "fault", "setup", "stopped", "planned_stop", "unknown", "offline"]
KNOWN = ["running", "idle", "fault", "setup", "stopped", "planned_stop"]

sample_lists = st.lists(
    st.builds(StateSample, t=st.integers(-50, 1000).map(float), state=st.sampled_from(STATES)), max_size=40
)
interval_lists = st.lists(
    st.tuples(st.integers(-100, 1100), st.integers(0, 300)).map(lambda p: (float(p[0]), float(p[0] + p[1]))),
    max_size=5,
)
holds = st.integers(1, 200).map(float)


def known_seconds(result: StateTime) -> dict[str, float]:
    return {s: getattr(result, f"{s}_s") for s in KNOWN}


@settings(max_examples=200, deadline=None)
@given(ss=sample_lists, planned=interval_lists, hold=holds)
def test_episodes_tile_the_window_and_states_add_up_to_planned_time(
    ss: list[StateSample], planned: list[tuple[float, float]], hold: float
) -> None:
    eps = state_episodes(ss, 0, 1000, hold_s=hold)
    assert eps[0].start == 0 and eps[-1].end == 1000
    assert all(a.end == b.start and a.state != b.state for a, b in pairwise(eps))
    result = state_time(eps, planned)
    assert result.calendar_s == total(planned)
    assert math.isclose(
        sum(known_seconds(result).values()) + result.small_stop_s + result.unknown_s,
        result.calendar_s,
        abs_tol=1e-6,
    )
    assert result.running_s + result.small_stop_s + result.down_s <= total(planned) + 1e-6
    assert result.repair_s >= 0 and result.failures >= 0


@settings(max_examples=200, deadline=None)
@given(ss=sample_lists, planned=interval_lists, hold=holds, data=st.data())
def test_unknown_time_never_adds_to_run_or_down_time(
    ss: list[StateSample], planned: list[tuple[float, float]], hold: float, data: st.DataObject
) -> None:
    before = known_seconds(state_time(state_episodes(ss, 0, 1000, hold_s=hold), planned))
    # Turn some samples into unknown/offline ones, and shorten the hold limit.
    lost = data.draw(st.sets(st.integers(0, max(len(ss) - 1, 0))))
    worse = [StateSample(s.t, "offline" if i in lost else s.state) for i, s in enumerate(ss)]
    shorter = data.draw(st.floats(0.5, hold))
    after = known_seconds(state_time(state_episodes(worse, 0, 1000, hold_s=shorter), planned))
    for state in KNOWN:
        assert after[state] <= before[state] + 1e-9


@settings(max_examples=100, deadline=None)
@given(ss=sample_lists, hold=holds, cut=st.integers(1, 999).map(float))
def test_per_day_state_time_adds_up_to_the_whole_window(
    ss: list[StateSample], hold: float, cut: float
) -> None:
    eps = state_episodes(ss, 0, 1000, hold_s=hold)
    whole = state_time(eps, [(0, 1000)])
    parts = [state_time(eps, [(0, cut)]), state_time(eps, [(cut, 1000)])]
    assert whole.failures == sum(p.failures for p in parts)
    assert math.isclose(whole.repair_s, sum(p.repair_s for p in parts))
    for state in KNOWN:
        assert math.isclose(
            known_seconds(whole)[state], sum(known_seconds(p)[state] for p in parts), abs_tol=1e-9
        )


@settings(max_examples=300, deadline=None)
@given(
    samples=st.lists(
        st.tuples(st.integers(-20, 120), st.sampled_from(["running", "idle", "fault", "offline", "bogus"])),
        max_size=40,
    ),
    before=st.one_of(st.none(), st.tuples(st.integers(-60, -1), st.sampled_from(["running", "idle"]))),
    alive=st.one_of(st.none(), st.lists(st.tuples(st.integers(-30, 110), st.integers(0, 40)), max_size=5)),
    hold=st.sampled_from([5.0, 30.0]),
)
def test_episodes_are_those_of_taking_the_samples_one_by_one(samples, before, alive, hold) -> None:
    """``state_episodes`` folds runs of one state with whole-list operations; the episodes
    must be those of following every sample by the documented rule (ties: last wins)."""
    given_samples = [StateSample(float(t), s) for t, s in samples]
    b = StateSample(float(before[0]), before[1]) if before else None
    merged = merge_alive((float(t), float(a)) for t, a in alive) if alive is not None else None
    got = state_episodes(given_samples, 0.0, 100.0, hold_s=hold, before=b, alive=merged)
    assert got == _episodes_reference(given_samples, 0.0, 100.0, hold, b, merged or None)


def _episodes_reference(samples, start, end, hold_s, before, alive):
    """The per-sample rule: each sample holds until the next one, its hold limit (alive
    interval end, or hold_s without liveness) and the window end; gaps are unknown."""
    import math as _m

    ordered = sorted([*([before] if before else []), *samples], key=lambda x: x.t)
    starts = [a for a, _ in alive] if alive else []

    def limit(t: float) -> float:
        if not alive:
            return t + hold_s
        if t < starts[0]:
            return min(t + hold_s, starts[0])
        k = max(i for i, a in enumerate(starts) if a <= t)
        return alive[k][1] if t < alive[k][1] else t

    # every sample's segment and the unknown gaps, from a zero-length unknown at the start
    parts = [("unknown", start, start, False)]
    for i, x in enumerate(ordered):
        if x.t >= end:
            break
        nxt = ordered[i + 1].t if i + 1 < len(ordered) else _m.inf
        lo, hi = max(x.t, start), min(nxt, limit(x.t), end)
        if hi <= lo:
            continue
        if lo > parts[-1][2]:
            parts.append(("unknown", parts[-1][2], lo, False))
        state = x.state if x.state in {"running", "idle", "fault", "offline"} else "unknown"
        parts.append((state, lo, hi, x.t < start))
    if parts[-1][2] < end:
        parts.append(("unknown", parts[-1][2], end, False))
    out: list[Episode] = []
    for state, lo, hi, continued in parts:
        if out and out[-1].state == state:
            out[-1] = Episode(state, out[-1].start, hi, out[-1].continued)
        else:
            out.append(Episode(state, lo, hi, continued))
    return [e for e in out if e.end > e.start]


def test_an_alive_record_shorter_than_a_second_still_vouches() -> None:
    # a record cut short by a death a fraction of a second after its start
    assert merge_alive([(100.0, 0.25), (200.0, 1.0)]) == [(100.0, 100.25), (200.0, 201.0)]
