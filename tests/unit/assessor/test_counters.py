"""Counter increases across wraps and resets, and their split into sub-windows."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.kpi.calendar import subtract
from assessor.kpi.counters import CounterResult, counter_increase, increase_between, increase_within

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
    result = counter_increase(series(TOP - 10, TOP - 2, 3))
    assert result == CounterResult(8 + 5, 1, 0, 3)
    assert isinstance(result.increase, int)
    assert counter_increase(series(65_530, 4), width_bits=16) == CounterResult(10, 1, 0, 4)


def test_any_other_drop_is_a_reset_counted_from_zero() -> None:
    assert counter_increase(series(1000, 1010, 4, 9)) == CounterResult(10 + 4 + 5, 0, 1, 9)
    # From the top quarter but not into the bottom quarter: a reset to a preset, not a wrap.
    assert counter_increase(series(TOP - 10, TOP // 2)) == CounterResult(TOP // 2, 0, 1, TOP // 2)


def test_float_meters_have_no_width_so_every_drop_is_a_reset() -> None:
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
    """A 16-bit counter sampled often enough (under a quarter range per sample) that wraps
    are unambiguous, with resets that a reading can detect: returns the samples, the
    start value and the units really produced."""
    value = draw(st.integers(0, SPAN - 1))
    start = value
    produced = 0
    points: list[tuple[float, int]] = []
    for i in range(draw(st.integers(0, 60))):
        if 0 < value < SPAN // 2 and draw(st.integers(0, 9)) == 0:
            # Reset: restarted from zero and counted fewer units than before.
            made = draw(st.integers(0, value - 1))
            value = made
        else:
            made = draw(st.sampled_from([0, 1, 17, 500, SPAN // 4 - 1]))
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
    assert result.increase == produced
    assert result.last == (points[-1][1] if points else start)


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
    before = [v for t, v in points if t < cuts[0]]
    inside = [(t, v) for t, v in points if cuts[0] <= t < cuts[-1]]
    whole = counter_increase(inside, previous=before[-1] if before else start, width_bits=WIDTH)
    assert sum(p.increase for p in parts) == whole.increase
    assert sum(p.wraps for p in parts) == whole.wraps
    assert sum(p.resets for p in parts) == whole.resets
    assert parts[-1].last == whole.last
    # Chaining: each window started from the value the previous one ended on.
    for prev, part, lo, hi in zip(parts, parts[1:], cuts[1:], cuts[2:], strict=False):
        own = [(t, v) for t, v in points if lo <= t < hi]
        assert counter_increase(own, previous=prev.last, width_bits=WIDTH).increase == part.increase


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
    steps=st.lists(st.floats(0, 50, allow_nan=False), max_size=30),
    reset_at=st.sets(st.integers(0, 29)),
)
def test_float_meter_with_resets(steps: list[float], reset_at: set[int]) -> None:
    value = 1000.0
    used = 0.0
    points = []
    for i, step in enumerate(steps):
        if i in reset_at and 0 < step < value:
            value = step  # restarted from zero and counted `step` since
        else:
            value += step
        used += step
        points.append((float(i), value))
    assert abs(counter_increase(points, previous=1000.0, width_bits=None).increase - used) < 1e-6


class TestIncreaseSpread:
    def test_step_across_an_edge_is_split_by_time(self):
        from assessor.kpi.counters import increase_spread

        # 10 units between t=0 and t=10; planned [0, 4) and [4, 10) in two buckets
        out = increase_spread([(0.0, 100), (10.0, 110)], [[(0.0, 4.0)], [(4.0, 10.0)]])
        assert out == pytest.approx([4.0, 6.0])

    def test_time_outside_every_interval_is_dropped(self):
        from assessor.kpi.counters import increase_spread

        out = increase_spread([(0.0, 0), (10.0, 10)], [[(0.0, 5.0)]])
        assert out == pytest.approx([5.0])

    @given(
        st.lists(st.integers(0, 50), min_size=2, max_size=40),
        st.lists(st.floats(0.5, 20), min_size=1, max_size=6),
    )
    def test_buckets_covering_everything_add_up_to_the_whole_increase(self, rises, cut_gaps):
        from assessor.kpi.counters import counter_increase, increase_spread

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
        from assessor.kpi.counters import spread_units

        # read at 0 and 100; ran 0..30 (day 1) and 70..100 (day 2), idle between
        out = spread_units(
            [(0.0, 0), (100.0, 60)], [[(0.0, 50.0)], [(50.0, 100.0)]], running=[(0.0, 30.0), (70.0, 100.0)],
            unknown=[],
        )  # fmt: skip
        assert out == [pytest.approx((30.0, 0.0)), pytest.approx((30.0, 0.0))]

    def test_the_share_on_unknown_planned_time_is_unattributed_outside_planned_time_dropped(self) -> None:
        from assessor.kpi.counters import spread_units

        # 100 units between 0 and 100: ran 0..40, unknown 40..100; planned 0..80 only
        out = spread_units(
            [(0.0, 0), (100.0, 100)], [[(0.0, 80.0)]], running=[(0.0, 40.0)], unknown=[(40.0, 100.0)]
        )
        assert out == [pytest.approx((40.0, 40.0))]

    def test_neither_running_nor_unknown_spreads_linearly_and_the_first_reading_anchors(self) -> None:
        from assessor.kpi.counters import spread_units

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
        from assessor.kpi.counters import spread_units

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
        from assessor.kpi.calendar import normalise
        from assessor.kpi.counters import spread_units

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
            st.one_of(st.integers(0, 3), st.just(-1), st.just("wrap")), min_size=1, max_size=80
        ),
        gaps=st.lists(st.sampled_from([1.0, 2.5, 10.0]), min_size=80, max_size=80),
        running=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60)), max_size=6),
        unknown=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60)), max_size=6),
        cuts=st.lists(st.integers(0, 400), min_size=1, max_size=3),
        previous=st.one_of(st.none(), st.integers(0, 5)),
    )
    def test_the_per_step_rule_holds_over_long_runs_resets_and_wraps(
        self, steps, gaps, running, unknown, cuts, previous
    ) -> None:
        """``spread_units`` adds up runs of readings inside one running span in one go;
        the result must be what spreading every step by the documented rule gives, also
        where a run holds a reset (-1: the counter restarts at 0) or a wrap."""
        from assessor.kpi.calendar import normalise
        from assessor.kpi.counters import spread_units

        points, value, t = [], 10, 0.0
        for step, gap in zip(steps, gaps, strict=False):
            t += gap
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


def _spread_units_reference(points, buckets, running, unknown, previous, previous_t):
    """Every step of the counter alone, over the running and unknown time between its two
    readings by overlap (linearly when there is neither), as spread_units' docstring says."""
    credited, unattributed = [0.0] * len(buckets), [0.0] * len(buckets)
    prev_v, prev_t = previous, previous_t
    for t, v in points:
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
