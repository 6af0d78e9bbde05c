"""The pure rules of operator input: the queue of stops waiting for a reason, splitting
a stop, and merging reasons entered at the line into the PLC's."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assessor.domain.downtime import reason_spans
from assessor.domain.kpi.model import Totals
from assessor.domain.level import MachineEvidence
from assessor.domain.models import ShiftCalendar, ShiftRule, Weekday
from assessor.domain.operator_input import (
    SOURCE_OPERATOR,
    SOURCE_PLC,
    LineCounts,
    OperatorInputError,
    OperatorStop,
    Segment,
    Stop,
    corrected_totals,
    fill_unexplained,
    fit_to_episode,
    line_counts,
    queue_window,
    reason_queue,
    split,
    validate_segments,
    with_operator_reasons,
)

WINDOW = (1000.0, 100_000.0)


def stop(
    start: float, end: float, state: str = "fault", machine: str = "m1", unexplained: float | None = None
):
    return Stop("l1", machine, state, start, end, (), end - start if unexplained is None else unexplained)


def entry(start: float, end: float, machine: str = "m1", reason: str = "jam") -> OperatorStop:
    return OperatorStop("l1", machine, start, end, (Segment(start, end, reason),))


def test_queue_keeps_long_unexplained_stops_newest_first() -> None:
    stops = [
        stop(2000, 2600),
        stop(5000, 5900, "idle"),
        stop(3000, 3100),  # a small stop: 100 s under the 120 s limit
        stop(4000, 4600, "running"),
        stop(6000, 6600, unexplained=0.0),  # the PLC gave a reason for all of it
        stop(7000, 7600, "setup"),
        stop(8000, 8600, machine="m2"),  # explained at the line
        stop(10, 500),  # before the previous shift
    ]
    got = reason_queue(stops, [entry(8100, 8300, "m2")], WINDOW, 120.0)
    assert [(s.machine, s.start) for s in got] == [("m1", 7000), ("m1", 5000), ("m1", 2000)]


def test_queue_limit_is_strict() -> None:
    # "longer than the small-stop limit": a stop of exactly the limit is a small stop
    assert reason_queue([stop(2000, 2120)], [], WINDOW, 120.0) == []
    assert len(reason_queue([stop(2000, 2121)], [], WINDOW, 120.0)) == 1


@given(
    starts=st.lists(st.integers(1000, 90_000), min_size=1, max_size=20, unique=True),
    explained=st.sets(st.integers(0, 19)),
)
def test_queue_is_ordered_and_never_lists_an_explained_stop(starts: list[int], explained: set[int]) -> None:
    stops = [stop(s, s + 300) for s in starts]
    entries = [entry(stops[i].start + 10, stops[i].end - 10) for i in explained if i < len(stops)]
    got = reason_queue(stops, entries, WINDOW, 120.0)
    assert [s.start for s in got] == sorted((s.start for s in got), reverse=True)
    for s in got:
        assert not any(e.start < s.end and s.start < e.end for e in entries)
    # every stop that no entry overlaps is still waiting
    waiting = {s.start for s in got}
    for s in stops:
        if not any(e.start < s.end and s.start < e.end for e in entries):
            assert s.start in waiting


def test_split_and_validation() -> None:
    a, b = split(100.0, 400.0, 250.0, "jam", "wait")
    assert validate_segments(100.0, 400.0, [a, b], {"jam", "wait"}) == (a, b)
    with pytest.raises(OperatorInputError, match="at"):
        split(100.0, 400.0, 100.5, "jam", "wait")
    with pytest.raises(OperatorInputError, match=r"segments\[1\].reason"):
        validate_segments(100.0, 400.0, [a, Segment(250.0, 400.0, "nope")], {"jam", "wait"})
    with pytest.raises(OperatorInputError, match=r"segments\[1\].start"):
        validate_segments(100.0, 400.0, [a, Segment(260.0, 400.0, "wait")], {"jam", "wait"})
    with pytest.raises(OperatorInputError, match=r"segments\[0\].end"):
        validate_segments(100.0, 400.0, [a], {"jam", "wait"})


@given(
    cut=st.floats(0.01, 0.99),
    ep_shift=st.floats(-50, 50),
    ep_grow=st.floats(-50, 500),
)
def test_fit_to_episode_covers_the_episode_edge_to_edge(cut: float, ep_shift: float, ep_grow: float) -> None:
    start, end = 1000.0, 2000.0
    at = start + cut * (end - start)
    segs = [Segment(start, at, "a"), Segment(at, end, "b")]
    lo, hi = start + ep_shift, end + ep_grow
    fitted = fit_to_episode(lo, hi, segs)
    assert fitted[0].start == lo and fitted[-1].end == hi
    assert all(x.end == y.start for x, y in itertools.pairwise(fitted))
    assert sum(s.end - s.start for s in fitted) == pytest.approx(hi - lo)


def test_operator_reasons_fill_only_what_the_plc_left_open() -> None:
    spans = [("", 0.0, 100.0), ("hydraulics", 100.0, 200.0), ("", 200.0, 300.0)]
    got = fill_unexplained(spans, [Segment(0.0, 250.0, "jam")])
    assert got == [
        ("jam", SOURCE_OPERATOR, 0.0, 100.0),
        ("hydraulics", SOURCE_PLC, 100.0, 200.0),
        ("jam", SOURCE_OPERATOR, 200.0, 250.0),
        ("", "", 250.0, 300.0),
    ]


@given(
    bounds=st.lists(st.floats(0, 1000), min_size=2, max_size=8, unique=True),
    plc=st.lists(st.booleans(), min_size=7, max_size=7),
    cut=st.floats(0, 1000),
)
def test_fill_keeps_every_second_and_every_plc_reason(
    bounds: list[float], plc: list[bool], cut: float
) -> None:
    b = sorted(bounds)
    spans = [("plc" if plc[i] else "", b[i], b[i + 1]) for i in range(len(b) - 1)]
    got = fill_unexplained(
        spans, [Segment(b[0], cut, "x"), Segment(cut, b[-1], "y")] if b[0] < cut < b[-1] else []
    )
    assert sum(hi - lo for *_, lo, hi in got) == pytest.approx(b[-1] - b[0])
    plc_time = sum(hi - lo for r, lo, hi in spans if r)
    assert sum(hi - lo for r, s, lo, hi in got if s == SOURCE_PLC) == pytest.approx(plc_time)


def test_queue_window_is_the_current_and_previous_shift() -> None:
    seoul = dt.timezone(dt.timedelta(hours=9))
    cal = ShiftCalendar(
        timezone="Asia/Seoul",
        shifts=(
            ShiftRule(frozenset(Weekday), dt.time(6), dt.time(14), "day"),
            ShiftRule(frozenset(Weekday), dt.time(14), dt.time(22), "late"),
        ),
    )
    now = dt.datetime(2024, 3, 6, 15, 30, tzinfo=seoul).timestamp()
    start, end = queue_window(cal, now)
    assert start == dt.datetime(2024, 3, 6, 6, tzinfo=seoul).timestamp() and end == now
    early = dt.datetime(2024, 3, 6, 7, tzinfo=seoul).timestamp()
    assert queue_window(cal, early)[0] == dt.datetime(2024, 3, 5, 14, tzinfo=seoul).timestamp()


def test_operator_reasons_count_as_recorded_reasons_for_the_level() -> None:
    machines = [MachineEvidence("m1", has_data=True), MachineEvidence("m2", has_data=True)]
    got = with_operator_reasons(machines, {"m2"})
    assert [m.has_downtime_reasons for m in got] == [False, True]


# -- scrap and count corrections in the KPIs ---------------------------------------------------


def _totals(total: int, reject: int, graded: int | None = None) -> Totals:
    return Totals(
        planned_s=3600.0,
        run_s=3000.0,
        idle_s=0.0,
        fault_s=600.0,
        setup_s=0.0,
        stopped_s=0.0,
        planned_stop_s=0.0,
        unknown_s=0.0,
        ideal_run_s=float(total),
        total_count=total,
        good_count=total - reject,
        reject_count=reject,
        failures=1,
        repair_s=600.0,
        graded_count=graded,
    )


KEY = ("line-1", "press-01", dt.date(2024, 3, 4))


def test_latest_whole_day_correction_wins_and_shift_corrections_add_their_change():
    got = line_counts(
        [(KEY, 5), (KEY, 7)],
        [(KEY, "A", 100, 110), (KEY, "A", 100, 120), (KEY, "B", 50, 40)],
    )
    assert got[KEY] == LineCounts(scrap=12, count=None, shift_delta=20 - 10)
    got = line_counts([], [(KEY, "", None, 900), (KEY, "A", 100, 120), (KEY, "", 900, 950)])
    assert got[KEY] == LineCounts(scrap=0, count=950, shift_delta=0)


def test_scrap_adds_to_measured_rejects_and_a_correction_replaces_the_count():
    t = corrected_totals(_totals(1000, 10), LineCounts(scrap=40, count=1200), 1.0)
    assert (t.total_count, t.reject_count, t.good_count, t.graded) == (1200, 50, 1150, 1200)
    assert t.ideal_run_s == pytest.approx(1200.0)


def test_scrap_grades_the_output_of_a_machine_without_quality_counters():
    t = corrected_totals(_totals(1000, 0, graded=0), LineCounts(scrap=30), 1.0)
    assert (t.reject_count, t.good_count, t.graded) == (30, 970, 1000)
    untouched = corrected_totals(_totals(1000, 0, graded=0), LineCounts(count=800), 1.0)
    assert (untouched.total_count, untouched.graded) == (800, 0)


@given(
    total=st.integers(0, 10_000),
    reject=st.integers(0, 10_000),
    scrap=st.integers(0, 10_000),
    count=st.none() | st.integers(0, 10_000),
)
def test_corrected_counts_stay_consistent(total, reject, scrap, count):
    reject = min(reject, total)
    t = corrected_totals(_totals(total, reject), LineCounts(scrap=scrap, count=count), 1.0)
    assert 0 <= t.reject_count <= t.graded <= t.total_count
    assert t.good_count + t.reject_count == t.graded


@pytest.mark.parametrize("said", ["none", "None", " NONE ", ""])
def test_a_plc_reason_saying_none_is_no_reason(said):
    spans = reason_spans([(0.0, said), (50.0, "jam")], [0.0, 50.0], 0.0, 100.0, lambda t: t + 1000.0)
    assert spans == [("", 0.0, 50.0), ("jam", 50.0, 100.0)]
