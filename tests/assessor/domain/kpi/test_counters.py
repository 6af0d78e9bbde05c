"""Counter increases across wraps and resets, and their split into sub-windows."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.kpi.calendar import subtract
from assessor.domain.kpi.counters import (
    CounterResult,
    counter_increase,
    increase_between,
    increase_within,
    spread_units,
)

TOP = 2**32


def series(*values: float) -> list[tuple[float, float]]:
    return [(float(i), v) for i, v in enumerate(values)]


def test_sum_of_rises() -> None:
    assert counter_increase(series(5, 7, 7, 12)) == CounterResult(7, 0, 0, 12)
    assert counter_increase(series(5, 7), previous=1) == CounterResult(6, 0, 0, 7)
    assert counter_increase([], previous=3) == CounterResult(0, 0, 0, 3)
    assert counter_increase([]) == CounterResult(0, 0, 0, None)


def test_unsorted_points_are_read_in_time_order() -> None:
    assert counter_increase([(2.0, 12), (0.0, 5), (1.0, 7)]).increase == 7


def test_drop_from_the_top_quarter_to_the_bottom_quarter_is_a_wrap() -> None:
    result = counter_increase(series(TOP - 10, TOP - 2, 3, 4))
    assert result == CounterResult(8 + 5 + 1, 1, 0, 4)
    assert isinstance(result.increase, int)
    assert counter_increase(series(65_530, 4, 5), width_bits=16) == CounterResult(11, 1, 0, 5)


def test_a_drop_the_next_reading_continues_from_is_a_reset_counted_from_zero() -> None:
    assert counter_increase(series(1000, 1010, 4, 9)) == CounterResult(10 + 4 + 5, 0, 1, 9)
    # 16 bits: from 40,000 (below the top quarter, 49,152) down to 4 is a reset, not a wrap
    assert counter_increase(series(39_990, 40_000, 4, 9), width_bits=16) == CounterResult(10 + 4 + 5, 0, 1, 9)
    assert counter_increase(series(100, 101, 0, 1, 2)) == CounterResult(1 + 0 + 1 + 1, 0, 1, 2)


def test_a_drop_the_next_reading_does_not_continue_from_is_a_glitch() -> None:
    # a stray 0: the old count goes on
    assert counter_increase(series(100, 101, 0, 102, 103)) == CounterResult(3, 0, 0, 103, glitches=1)
    # a stray lower value, then another below it: both left out, the count goes on
    assert counter_increase(series(100, 101, 50, 7, 102)) == CounterResult(2, 0, 0, 102, glitches=2)
    # a stray 0 at the top of the range is no wrap
    assert counter_increase(series(TOP - 10, 0, TOP - 2)) == CounterResult(8, 0, 0, TOP - 2, glitches=1)


def test_a_drop_to_more_than_the_pace_allows_is_no_reset() -> None:
    """6,666 units then a reading of 5,000 that then rises by 1 a second: 5,000 units
    cannot have been counted from zero in the one second since 6,666; left out."""
    assert counter_increase(series(6665, 6666, 5000, 5001, 5002)) == CounterResult(1, 0, 0, 6666, 2, 1)
    # a reset found by a later reading: the pace allowance grows with the time since
    # the last accepted reading, and the units are credited from zero all the same
    late = counter_increase(series(1000, 2, 2, 3, 4))
    assert late.increase == 4 and late.resets == 1 and late.last == 4


def test_two_sources_reporting_one_counter_credit_the_higher_count_only() -> None:
    alternating = series(1000, 5, 1001, 6, 1002, 7, 1003, 8)
    assert counter_increase(alternating) == CounterResult(3, 0, 0, 1003, glitches=3, held=1)
    runs = series(1000, 5, 6, 1001, 7, 8, 9, 1002)
    assert counter_increase(runs).increase == 2


def test_a_drop_at_the_last_reading_is_held_until_a_later_reading_decides() -> None:
    held = counter_increase(series(100, 101, 0))
    assert held == CounterResult(1, 0, 0, 101, held=1)
    # the next window goes on from the last accepted value: a glitch...
    assert counter_increase(series(102, 103), previous=held.last).increase == 2
    # ... or a reset, credited from zero with no unit lost
    assert counter_increase([(3.0, 1), (4.0, 2)], previous=held.last).increase == 2


def test_the_reported_case_one_zero_at_a_past_time_does_not_credit_the_day_again() -> None:
    day = [(float(t), 6000 + t) for t in range(0, 6667)]
    day.append((1234.5, 0))  # one message with count_total 0, stamped in the past
    assert counter_increase(day).increase == 6666
    buckets = [[(0.0, 7000.0)]]
    assert spread_units(day, buckets, running=[(0.0, 7000.0)], unknown=[]) == [(6666.0, 0.0)]


def test_float_meters_have_no_width_so_every_standing_drop_is_a_reset() -> None:
    result = counter_increase(series(1234.5, 1236.0, 0.25, 1.0), width_bits=None)
    assert result == CounterResult(1.5 + 0.25 + 0.75, 0, 1, 1.0)


def test_increase_between_credits_each_step_to_its_later_sample() -> None:
    points = [(0.0, 100), (10.0, 110), (20.0, 125), (25.0, 3), (40.0, 10), (55.0, 20)]
    # Windows [0, 10), [10, 30), [30, 50); the point at 55 is after the last cut.
    parts = increase_between(points, [0, 10, 30, 50])
    assert parts == [
        CounterResult(0, 0, 0, 100),
        CounterResult(10 + 15 + 3, 0, 1, 3),
        CounterResult(7, 0, 0, 10),
    ]
    # A point before the first cut is the starting value.
    assert increase_between(points, [5, 50])[0].increase == 35
    assert increase_between(points, [50]) == []
    empty = increase_between(points, [100, 200, 300])
    assert empty == [CounterResult(0, 0, 0, 20), CounterResult(0, 0, 0, 20)]


def test_increase_within_keeps_steps_seen_inside_the_intervals() -> None:
    points = [(float(t), t * 2) for t in range(0, 101, 10)]
    # Steps seen at 20, 30 (inside [20, 40)) and at 70, 80 (inside [70, 85)).
    assert increase_within(points, [(20, 40), (70, 85)]) == CounterResult(80, 0, 0, 160)
    assert increase_within(points, [], previous=7) == CounterResult(0, 0, 0, 7)


# --- properties ---------------------------------------------------------------------------

WIDTH = 16
SPAN = 2**WIDTH


@st.composite
def counter_histories(draw: st.DrawFn) -> tuple[list[tuple[float, int]], int, int]:
    """A 16-bit counter read once a second at a steady pace (``pace`` units or none per
    reading), under a quarter range per reading so that wraps are unambiguous, with
    resets a reading can tell from a glitch: from well above the pace back to near zero
    (at most one reading's units counted since), the count going on at its pace. Returns
    the samples, the start value and the units really produced."""
    pace = draw(st.sampled_from([1, 17, 500, SPAN // 4 - 1]))
    value = draw(st.integers(0, SPAN - 1))
    start = value
    produced = 0
    points: list[tuple[float, int]] = []
    n = draw(st.integers(0, 60))
    forced = 0
    for i in range(n):
        if not forced and 4 * pace <= value < SPAN // 2 and i < n - 1 and draw(st.integers(0, 9)) == 0:
            made = draw(st.integers(0, pace))
            value = made
            forced = 2
        else:
            made = pace if forced else draw(st.sampled_from([0, pace]))
            forced = max(0, forced - 1)
            value = (value + made) % SPAN
        produced += made
        points.append((float(i), value))
    return points, start, produced


@settings(max_examples=300, deadline=None)
@given(history=counter_histories())
def test_counter_increase_recovers_the_units_produced(
    history: tuple[list[tuple[float, int]], int, int],
) -> None:
    points, start, produced = history
    result = counter_increase(points, previous=start, width_bits=WIDTH)
    if result.held:
        # a wrap at the last reading waits for the next one; then it is all there
        assert result.increase == counter_increase(points[:-1], previous=start, width_bits=WIDTH).increase
        points = [*points, (float(len(points)), points[-1][1])]
        result = counter_increase(points, previous=start, width_bits=WIDTH)
    assert result.increase == produced
    assert result.last == (points[-1][1] if points else start)
    assert result.glitches == 0 and result.held == 0


@settings(max_examples=300, deadline=None)
@given(history=counter_histories(), data=st.data())
def test_single_glitches_change_nothing(history: tuple[list[tuple[float, int]], int, int], data) -> None:
    """A stray reading (0, or any value below the one before it) between two readings, or
    after the last: the same increase as without it."""
    points, start, produced = history
    # one more reading of the last value, so that a wrap at the end is not held
    points = [*points, (float(len(points)), points[-1][1] if points else start)]
    glitched = list(points)
    gaps = data.draw(st.sets(st.integers(0, len(points)), max_size=8))
    for gap in gaps:
        before = points[gap - 1][1] if gap else start
        if before == 0:
            continue
        low = data.draw(st.one_of(st.just(0), st.integers(0, before - 1)))
        glitched.append((gap - 0.5, low))
    result = counter_increase(glitched, previous=start, width_bits=WIDTH)
    assert result.increase == produced
    # a stray low reading just before a reset may stand as that reset: the same units
    assert result.glitches + result.held <= len(glitched) - len(points)
    whole = [[(-1.0, 100.0)]]
    spread = spread_units([(-0.75, start), *points], whole, running=whole[0], unknown=[], width_bits=WIDTH)
    spread_glitched = spread_units(
        [(-0.75, start), *glitched], whole, running=whole[0], unknown=[], width_bits=WIDTH
    )
    assert spread_glitched == [pytest.approx(spread[0])]
    assert spread[0] == pytest.approx((produced, 0.0))


@st.composite
def busy_counters(draw: st.DrawFn) -> tuple[list[tuple[float, int]], int]:
    """A 32-bit counter far from zero read every second at up to 10 units a reading, and
    the units it counted (the history it came from has no reset)."""
    value = draw(st.integers(10_000, 10**9))
    points = []
    for i in range(draw(st.integers(2, 80))):
        value += draw(st.integers(0, 10))
        points.append((float(i), value))
    return points, value - points[0][1]


@settings(max_examples=300, deadline=None)
@given(
    history=busy_counters(),
    other=st.integers(0, 9_000),
    pattern=st.lists(st.booleans(), min_size=80, max_size=80),
    shift=st.floats(0.1, 0.9),
)
def test_a_second_source_reporting_a_lower_count_credits_nothing(
    history: tuple[list[tuple[float, int]], int], other: int, pattern: list[bool], shift: float
) -> None:
    """Readings of another, lower counter (a second gateway, a mis-mapped register)
    interleaved with the counter's, strictly or in runs: only the counter's units."""
    points, produced = history
    mixed, low = list(points), other
    for i, (t, _) in enumerate(points):
        low += i % 3
        if i % 2 or pattern[i]:
            mixed.append((t + shift, low))
    assert counter_increase(mixed).increase == produced
    got = spread_units(mixed, [[(-1.0, 200.0)]], running=[(-1.0, 200.0)], unknown=[])
    assert got == [pytest.approx((produced, 0.0))]


@settings(max_examples=300, deadline=None)
@given(history=busy_counters(), at=st.integers(1, 79), back=st.floats(0.1, 40.0))
def test_readings_stamped_by_a_clock_stepped_back_credit_nothing_twice(
    history: tuple[list[tuple[float, int]], int], at: int, back: float
) -> None:
    """The clock that stamps the readings steps back by ``back`` seconds at reading
    ``at``: the readings after it land among the earlier ones; each unit counts once."""
    points, produced = history
    stamped = [(t - back if i >= at else t, v) for i, (t, v) in enumerate(points)]
    assert counter_increase(stamped).increase <= produced
    if at < len(points) and points[-1][0] - back > points[at - 1][0] and points[at][0] - back > 0:
        # the first and last readings stay first and last: every unit is there
        assert counter_increase(stamped).increase == produced


@settings(max_examples=300, deadline=None)
@given(
    history=counter_histories(),
    cuts=st.lists(st.integers(-5, 65).map(float), min_size=2, max_size=8).map(sorted),
)
def test_increase_between_adds_up_to_the_window_total(
    history: tuple[list[tuple[float, int]], int, int], cuts: list[float]
) -> None:
    points, start, _ = history
    parts = increase_between(points, cuts, previous=start, width_bits=WIDTH)
    (whole,) = increase_between(points, [cuts[0], cuts[-1]], previous=start, width_bits=WIDTH)
    assert sum(p.increase for p in parts) == whole.increase
    assert sum(p.wraps for p in parts) == whole.wraps
    assert sum(p.resets for p in parts) == whole.resets
    assert parts[-1].last == whole.last
    # each sub-window alone gives its own part
    for part, lo, hi in zip(parts, cuts, cuts[1:], strict=False):
        assert increase_between(points, [lo, hi], previous=start, width_bits=WIDTH) == [part]
    # over every point, the increase of the whole series
    (everything,) = increase_between(points, [-10.0, 100.0], previous=start, width_bits=WIDTH)
    assert everything == counter_increase(points, previous=start, width_bits=WIDTH)


@settings(max_examples=200, deadline=None)
@given(
    history=counter_histories(),
    edges=st.lists(st.integers(-5, 65).map(float), max_size=8, unique=True).map(sorted),
)
def test_increase_within_and_its_complement_add_up(
    history: tuple[list[tuple[float, int]], int, int], edges: list[float]
) -> None:
    points, start, _ = history
    intervals = list(zip(edges[::2], edges[1::2], strict=False))
    complement = subtract([(-10.0, 70.0)], intervals)
    inside = increase_within(points, intervals, previous=start, width_bits=WIDTH).increase
    outside = increase_within(points, complement, previous=start, width_bits=WIDTH).increase
    assert inside + outside == counter_increase(points, previous=start, width_bits=WIDTH).increase


@settings(max_examples=200, deadline=None)
@given(
    pace=st.floats(0.5, 50, allow_nan=False),
    running=st.lists(st.booleans(), max_size=30),
    reset_at=st.sets(st.integers(0, 27)),
    share=st.floats(0, 1),
)
def test_float_meter_with_resets(pace: float, running: list[bool], reset_at: set[int], share: float) -> None:
    value = 1000.0
    used = 0.0
    points = []
    forced = 0
    for i, runs in enumerate(running):
        step = pace if runs or forced else 0.0
        if i in reset_at and not forced and value > 4 * pace and i < len(running) - 1:
            step = share * pace
            value = step  # restarted from zero and counted `step` since
            forced = 2
        else:
            value += step
            forced = max(0, forced - 1)
        used += step
        points.append((float(i), value))
    assert abs(counter_increase(points, previous=1000.0, width_bits=None).increase - used) < 1e-6


class TestIncreaseSpread:
    def test_step_across_an_edge_is_split_by_time(self):
        from assessor.domain.kpi.counters import increase_spread

        # 10 units between t=0 and t=10; planned [0, 4) and [4, 10) in two buckets
        out = increase_spread([(0.0, 100), (10.0, 110)], [[(0.0, 4.0)], [(4.0, 10.0)]])
        assert out == pytest.approx([4.0, 6.0])

    def test_time_outside_every_interval_is_dropped(self):
        from assessor.domain.kpi.counters import increase_spread

        out = increase_spread([(0.0, 0), (10.0, 10)], [[(0.0, 5.0)]])
        assert out == pytest.approx([5.0])

    @given(
        st.lists(st.integers(0, 50), min_size=2, max_size=40),
        st.lists(st.floats(0.5, 20), min_size=1, max_size=6),
    )
    def test_buckets_covering_everything_add_up_to_the_whole_increase(self, rises, cut_gaps):
        from assessor.domain.kpi.counters import counter_increase, increase_spread

        points, value = [], 0
        for i, rise in enumerate(rises):
            value += rise
            points.append((float(i), value))
        edges = [0.0]
        for gap in cut_gaps:
            edges.append(edges[-1] + gap)
        edges[-1] = max(edges[-1], float(len(rises)))
        buckets = [[(a, b)] for a, b in itertools.pairwise(edges)]
        spread = increase_spread(points, buckets)
        assert sum(spread) == pytest.approx(counter_increase(points).increase)


class TestSpreadUnits:
    """Units spread over running time; the share on unknown time is unattributed."""

    def test_a_step_goes_to_the_running_time_between_its_readings(self) -> None:
        from assessor.domain.kpi.counters import spread_units

        # read at 0 and 100; ran 0..30 (day 1) and 70..100 (day 2), idle between
        out = spread_units(
            [(0.0, 0), (100.0, 60)], [[(0.0, 50.0)], [(50.0, 100.0)]], running=[(0.0, 30.0), (70.0, 100.0)],
            unknown=[],
        )  # fmt: skip
        assert out == [pytest.approx((30.0, 0.0)), pytest.approx((30.0, 0.0))]

    def test_the_share_on_unknown_planned_time_is_unattributed_outside_planned_time_dropped(self) -> None:
        from assessor.domain.kpi.counters import spread_units

        # 100 units between 0 and 100: ran 0..40, unknown 40..100; planned 0..80 only
        out = spread_units(
            [(0.0, 0), (100.0, 100)], [[(0.0, 80.0)]], running=[(0.0, 40.0)], unknown=[(40.0, 100.0)]
        )
        assert out == [pytest.approx((40.0, 40.0))]

    def test_neither_running_nor_unknown_spreads_linearly_and_the_first_reading_anchors(self) -> None:
        from assessor.domain.kpi.counters import spread_units

        out = spread_units([(0.0, 5), (10.0, 15)], [[(0.0, 4.0)], [(4.0, 10.0)]], running=[], unknown=[])
        assert out == [pytest.approx((4.0, 0.0)), pytest.approx((6.0, 0.0))]
        # a previous value without its time: the step goes whole to its later reading
        whole = spread_units(
            [(6.0, 15)], [[(0.0, 4.0)], [(4.0, 10.0)]], running=[(0, 10)], unknown=[], previous=5
        )
        assert whole == [(0.0, 0.0), (10.0, 0.0)]

    @settings(max_examples=200, deadline=None)
    @given(
        rate=st.integers(1, 5),
        changes=st.lists(st.tuples(st.integers(1, 40), st.booleans()), min_size=1, max_size=15),
        paces=st.lists(st.integers(1, 97), min_size=2, max_size=2, unique=True),
        cut=st.integers(0, 600),
        data=st.data(),
    )
    def test_credited_units_do_not_depend_on_how_often_the_counter_is_read(
        self, rate: int, changes: list[tuple[int, bool]], paces: list[int], cut: int, data: st.DataObject
    ) -> None:
        """A machine making ``rate`` units per running second, read at two different
        paces (the second reading set also at random times): every bucket gets the same
        credited units, the running seconds in it times the rate."""
        from assessor.domain.kpi.counters import spread_units

        running, t = [], 0
        for length, runs in changes:
            if runs:
                running.append((float(t), float(t + length * 10)))
            t += length * 10
        end = t

        def made(at: float) -> int:
            return rate * round(sum(max(0.0, min(b, at) - a) for a, b in running))

        extra = data.draw(st.lists(st.integers(0, end), max_size=30))
        readings = [sorted({*range(0, end + 1, pace), end, *extra}) for pace in paces]
        buckets = [[(0.0, float(cut))], [(float(cut), float(end))]]
        expected = [
            rate * sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in running) for ((lo, hi),) in buckets
        ]
        for times in readings:
            got = spread_units([(float(x), made(x)) for x in times], buckets, running=running, unknown=[])
            assert [c for c, _ in got] == pytest.approx(expected, abs=1e-6)
            assert [u for _, u in got] == [0, 0]

    @settings(max_examples=200, deadline=None)
    @given(
        rises=st.lists(st.integers(0, 50), min_size=2, max_size=30),
        running=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 5)), max_size=6),
        unknown=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 5)), max_size=6),
    )
    def test_credited_and_unattributed_never_exceed_the_increase_and_match_it_when_planned_always(
        self, rises: list[int], running: list[tuple[int, int]], unknown: list[tuple[int, int]]
    ) -> None:
        from assessor.domain.kpi.calendar import normalise
        from assessor.domain.kpi.counters import spread_units

        points, value = [], 0
        for i, rise in enumerate(rises):
            value += rise
            points.append((float(i), value))
        run = normalise((float(a), float(a + n)) for a, n in running)
        unk = subtract(normalise((float(a), float(a + n)) for a, n in unknown), run)
        whole = counter_increase(points).increase
        always = spread_units(points, [[(-1.0, 100.0)]], running=run, unknown=unk)
        assert sum(always[0]) == pytest.approx(whole)
        part = spread_units(points, [[(0.0, 10.0)], [(15.0, 20.0)]], running=run, unknown=unk)
        assert all(c >= 0 and u >= 0 for c, u in part)
        assert sum(c + u for c, u in part) <= whole + 1e-6

    @settings(max_examples=300, deadline=None)
    @given(
        steps=st.lists(
            st.one_of(st.integers(0, 3), st.just(-1), st.just("wrap"), st.just("glitch")),
            min_size=1,
            max_size=80,
        ),
        gaps=st.lists(st.sampled_from([1.0, 2.5, 10.0]), min_size=80, max_size=80),
        running=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60)), max_size=6),
        unknown=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60)), max_size=6),
        cuts=st.lists(st.integers(0, 400), min_size=1, max_size=3),
        previous=st.one_of(st.none(), st.integers(0, 5)),
        low=st.integers(0, 50),
    )
    def test_the_per_step_rule_holds_over_long_runs_resets_wraps_and_glitches(
        self, steps, gaps, running, unknown, cuts, previous, low
    ) -> None:
        """``spread_units`` adds up runs of readings inside one running span in one go;
        the result must be what judging every reading and spreading every step by the
        documented rules gives, also where a run holds a reset (-1: the counter restarts
        at 0), a wrap or a glitch (a lower reading, the count going on after it)."""
        from assessor.domain.kpi.calendar import normalise

        points, value, t = [], 10, 0.0
        for step, gap in zip(steps, gaps, strict=False):
            t += gap
            if step == "glitch":
                points.append((t, min(low, value)))
                continue
            value = 0 if step == -1 else (value + TOP - 20) % TOP if step == "wrap" else value + step
            points.append((t, value))
        run = normalise((float(a), float(a + n)) for a, n in running)
        unk = subtract(normalise((float(a), float(a + n)) for a, n in unknown), run)
        edges = sorted({0, *cuts, 500})
        buckets = [[(float(a), float(b))] for a, b in itertools.pairwise(edges) if b > a]
        prev_t = 0.0 if previous is not None else None
        got = spread_units(points, buckets, running=run, unknown=unk, previous=previous, previous_t=prev_t)
        want = _spread_units_reference(points, buckets, run, unk, previous, prev_t)
        assert got == [pytest.approx(w, abs=1e-6) for w in want]


def _judged_reference(points, previous, previous_t):
    """docs/kpi-method.md section 3, one reading at a time: a drop from the last accepted
    value ``m`` to ``v`` stands if the next reading ``n`` has ``v <= n < m`` and it is a
    wrap (top quarter to bottom quarter) or ``v`` fits twice the next step's pace over
    the time since ``m``; a drop at the last reading is held."""
    kept, m, tm = [], previous, previous_t if previous is not None else None
    for i, (t, v) in enumerate(points):
        if m is not None and v < m:
            if i + 1 == len(points):
                break
            nt, nv = points[i + 1]
            wrap = m >= TOP - TOP // 4 and v < TOP // 4
            paced = v == 0 or tm is None or v * (nt - t) <= 2 * (nv - v) * (t - tm)
            if not (v <= nv < m and (wrap or paced)):
                continue
        kept.append((t, v))
        m, tm = v, t
    return kept


def _spread_units_reference(points, buckets, running, unknown, previous, previous_t):
    """Every step of the counter alone, over the running and unknown time between its two
    readings by overlap (linearly when there is neither), as spread_units' docstring says."""
    credited, unattributed = [0.0] * len(buckets), [0.0] * len(buckets)
    prev_v, prev_t = previous, previous_t
    for t, v in _judged_reference(points, previous, previous_t):
        lo = prev_t
        if prev_v is None:
            step = 0
        elif v >= prev_v:
            step = v - prev_v
        elif prev_v >= TOP - TOP // 4 and v < TOP // 4:
            step = v + TOP - prev_v
        else:
            step = v
        prev_v, prev_t = v, t
        if not step or lo is None:
            continue

        def overlap(a: float, b: float, lo: float = lo, t: float = t) -> float:
            return max(0.0, min(b, t) - max(a, lo))

        weight = sum(overlap(a, b) for a, b in [*running, *unknown])
        if weight <= 0:
            for i, ((a, b),) in enumerate(buckets):
                credited[i] += step * overlap(a, b) / (t - lo)
            continue
        for spans, out in ((running, credited), (unknown, unattributed)):
            for a, b in spans:
                for i, ((ba, bb),) in enumerate(buckets):
                    out[i] += step * max(0.0, min(b, t, bb) - max(a, lo, ba)) / weight
    return list(zip(credited, unattributed, strict=True))
