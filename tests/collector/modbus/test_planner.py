"""Read planner: hand-made maps, then properties over random maps of up to 5,000 values."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.modbus.config import DeviceConfig
from collector.modbus.datatypes import Area
from collector.modbus.planner import (
    ReadRequest,
    ValueSpan,
    device_plan,
    minimum_requests,
    plan_reads,
    split_request,
)

H = Area.HOLDING


def spans_at(*ranges: tuple[int, int], area: Area = H) -> list[ValueSpan]:
    """Spans from (start, width) pairs, indexed in the order given."""
    return [ValueSpan(i, area, start, width) for i, (start, width) in enumerate(ranges)]


def ranges(requests: Sequence[ReadRequest]) -> list[tuple[str, int, int]]:
    """(area, first, last address) of each request."""
    return [(r.area.value, r.start, r.start + r.count - 1) for r in requests]


# --- hand-made maps ------------------------------------------------------------------------


def test_device_plan_applies_the_devices_address_base_gap_and_limit() -> None:
    # `collector check --plan` and the poller both take their reads from device_plan
    dev = DeviceConfig.model_validate(
        {
            "machine": "m1",
            "host": "127.0.0.1",
            "address_base": 1,
            "max_gap": 2,
            "max_registers_per_request": 4,
            "registers": [
                {"name": "a", "address": 1},
                {"name": "b", "address": 4, "type": "uint32"},
                {"name": "c", "address": 20},
            ],
        }
    )
    # a and b would join across the 2-register gap, but 5 registers exceed the limit of 4
    assert ranges(device_plan(dev)) == [("holding", 0, 0), ("holding", 3, 4), ("holding", 19, 19)]


def test_gap_within_max_gap_is_bridged() -> None:
    # registers at 0, 10-11 and 12-13: the 9 unused registers 1..9 are within max_gap 10
    reqs = plan_reads(spans_at((0, 1), (10, 2), (12, 2)), max_gap=10)
    assert ranges(reqs) == [("holding", 0, 13)]
    assert [s.index for s in reqs[0].spans] == [0, 1, 2]


def test_gap_above_max_gap_splits() -> None:
    reqs = plan_reads(spans_at((0, 1), (10, 2), (12, 2)), max_gap=8)
    assert ranges(reqs) == [("holding", 0, 0), ("holding", 10, 13)]


def test_adjacent_values_join_even_with_max_gap_zero() -> None:
    reqs = plan_reads(spans_at((0, 2), (2, 2), (4, 4)), max_gap=0)
    assert ranges(reqs) == [("holding", 0, 7)]


def test_request_limit_is_respected_and_values_are_not_cut() -> None:
    # ten float32 back to back, at most 5 registers a request: two values each
    reqs = plan_reads(spans_at(*[(2 * i, 2) for i in range(10)]), max_gap=10, max_registers=5)
    assert ranges(reqs) == [("holding", 2 * k, 2 * k + 3) for k in range(0, 10, 2)]


def test_protocol_limit_caps_a_larger_setting() -> None:
    spans = spans_at(*[(i, 1) for i in range(300)])
    reqs = plan_reads(spans, max_gap=0, max_registers=1000)
    assert [r.count for r in reqs] == [125, 125, 50]
    coils = spans_at(*[(i, 1) for i in range(4500)], area=Area.COIL)
    assert [r.count for r in plan_reads(coils, max_gap=0, max_bits=9999)] == [2000, 2000, 500]


def test_bit_areas_use_the_bit_limit() -> None:
    coils = spans_at(*[(i, 1) for i in range(300)], area=Area.COIL)
    assert len(plan_reads(coils, max_gap=0, max_registers=10)) == 1
    assert [r.count for r in plan_reads(coils, max_gap=0, max_bits=100)] == [100, 100, 100]


def test_areas_are_planned_apart_and_sorted() -> None:
    spans = [
        ValueSpan(0, Area.INPUT, 5, 1),
        ValueSpan(1, Area.COIL, 3, 1),
        ValueSpan(2, Area.HOLDING, 5, 1),
        ValueSpan(3, Area.DISCRETE, 0, 1),
        ValueSpan(4, Area.HOLDING, 0, 1),
    ]
    reqs = plan_reads(spans, max_gap=10)
    assert ranges(reqs) == sorted(ranges(reqs))
    assert {r.area for r in reqs} == set(Area)
    assert all(len({s.area for s in r.spans}) == 1 and r.spans[0].area is r.area for r in reqs)


def test_two_bits_of_one_word_share_the_request() -> None:
    # a status word read whole and as two of its bits
    reqs = plan_reads(spans_at((7, 1), (7, 1), (7, 1)), max_gap=0)
    assert ranges(reqs) == [("holding", 7, 7)]
    assert sorted(s.index for s in reqs[0].spans) == [0, 1, 2]


def test_values_starting_together_stay_together_at_the_limit() -> None:
    # greedy over single spans would read [0..4] and then [4..8]; keeping everything that
    # starts at 4 together reads [0] and [4..8] instead
    reqs = plan_reads(spans_at((0, 1), (4, 1), (4, 5)), max_gap=10, max_registers=5)
    assert ranges(reqs) == [("holding", 0, 0), ("holding", 4, 8)]


def test_among_equal_counts_the_fewest_registers_are_read() -> None:
    # greedy alone would read [0..8] + [12] (10 registers); [0] + [8..12] reads 6
    reqs = plan_reads(spans_at((0, 1), (8, 1), (12, 1)), max_gap=10, max_registers=10)
    assert ranges(reqs) == [("holding", 0, 0), ("holding", 8, 12)]


def test_end_of_the_address_space() -> None:
    reqs = plan_reads(spans_at((65530, 2), (65535, 1)), max_gap=10)
    assert ranges(reqs) == [("holding", 65530, 65535)]
    with pytest.raises(ValueError, match=r"outside 0\.\.65535"):
        plan_reads(spans_at((65534, 4)), max_gap=0)


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="more than one request"):
        plan_reads(spans_at((0, 10)), max_gap=0, max_registers=5)
    with pytest.raises(ValueError, match="max_gap"):
        plan_reads(spans_at((0, 1)), max_gap=-1)
    with pytest.raises(ValueError, match="positive"):
        plan_reads(spans_at((0, 1)), max_gap=0, max_registers=0)
    with pytest.raises(ValueError, match="width"):
        plan_reads(spans_at((0, 0)), max_gap=0)


def test_no_spans_no_requests() -> None:
    assert plan_reads([], max_gap=10) == []
    assert minimum_requests([]) == 0


def test_minimum_requests_ignores_gaps() -> None:
    spans = spans_at((0, 1), (1000, 1), (1100, 2), (60000, 4))
    assert len(plan_reads(spans, max_gap=10)) == 4
    assert minimum_requests(spans) == 3
    assert minimum_requests(spans, max_registers=2000) == 3  # capped at 125
    assert minimum_requests(spans_at(*[(i, 1) for i in range(3000)], area=Area.COIL)) == 2


def test_split_cuts_out_the_hole() -> None:
    # merged block 0..13 the device refuses: halves are trimmed, the hole 1..9 is not read
    (req,) = plan_reads(spans_at((0, 1), (10, 2), (12, 2)), max_gap=10)
    left, right = split_request(req)  # type: ignore[misc]
    assert ranges([left, right]) == [("holding", 0, 0), ("holding", 10, 13)]
    assert [s.index for s in left.spans] == [0]
    assert [s.index for s in right.spans] == [1, 2]
    left2, right2 = split_request(right)  # type: ignore[misc]
    assert ranges([left2, right2]) == [("holding", 10, 11), ("holding", 12, 13)]
    assert split_request(left2) is None


def test_split_cuts_near_the_middle() -> None:
    (req,) = plan_reads(spans_at(*[(i, 1) for i in range(10)]), max_gap=0)
    left, right = split_request(req)  # type: ignore[misc]
    assert (left.count, right.count) == (5, 5)


def test_split_of_one_position_is_impossible() -> None:
    (req,) = plan_reads(spans_at((3, 1), (3, 1), (3, 2)), max_gap=0)
    assert split_request(req) is None


# --- reference planners --------------------------------------------------------------------


def valid_group(group: Sequence[ValueSpan], limit: int, max_gap: int) -> bool:
    start = min(s.start for s in group)
    end = max(s.end for s in group)
    if end - start > limit:
        return False
    return max(holes(group), default=0) <= max_gap


def holes(group: Sequence[ValueSpan]) -> list[int]:
    """Widths of the unread stretches between the values of one request."""
    out = []
    reach = None
    for s in sorted(group, key=lambda s: s.start):
        if reach is not None and s.start > reach:
            out.append(s.start - reach)
        reach = s.end if reach is None else max(reach, s.end)
    return out


def reference_greedy_count(spans: Sequence[ValueSpan], limit: int, max_gap: int) -> int:
    """Textbook greedy over single spans, written apart from the planner."""
    count = 0
    first = reach = None
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if first is None or s.start - reach > max_gap or max(reach, s.end) - first > limit:
            count += 1
            first, reach = s.start, s.end
        else:
            reach = max(reach, s.end)
    return count


def partitions(items: list[ValueSpan]) -> Iterator[list[list[ValueSpan]]]:
    if not items:
        yield []
        return
    head, rest = items[0], items[1:]
    for part in partitions(rest):
        yield [[head], *part]
        for i in range(len(part)):
            yield [*part[:i], [head, *part[i]], *part[i + 1 :]]


def exhaustive_best(spans: list[ValueSpan], limit: int, max_gap: int) -> tuple[int, int]:
    """(requests, registers read) of the best of all partitions into valid requests."""
    best = None
    for part in partitions(spans):
        if all(valid_group(g, limit, max_gap) for g in part):
            read = sum(max(s.end for s in g) - min(s.start for s in g) for g in part)
            if best is None or (len(part), read) < best:
                best = (len(part), read)
    assert best is not None
    return best


def check_plan(
    spans: Sequence[ValueSpan],
    reqs: Sequence[ReadRequest],
    max_gap: int,
    max_regs: int,
    max_bits: int,
) -> None:
    """Every span in exactly one request that holds it whole; limits, gaps and order kept."""
    seen: dict[int, ReadRequest] = {}
    for r in reqs:
        limit = min(max_bits, 2000) if r.area.is_bit else min(max_regs, 125)
        assert 1 <= r.count <= limit
        assert r.start >= 0 and r.start + r.count <= 65536
        assert list(r.spans) == sorted(r.spans, key=lambda s: s.start)
        assert r.start == min(s.start for s in r.spans)  # trimmed: nothing needless read
        assert r.start + r.count == max(s.end for s in r.spans)
        assert max(holes(r.spans), default=0) <= max_gap
        for s in r.spans:
            assert s.area is r.area and r.start <= s.start and s.end <= r.start + r.count
            assert s.index not in seen
            seen[s.index] = r
    assert sorted(seen) == sorted(s.index for s in spans)
    assert [(r.area, r.start) for r in reqs] == sorted((r.area, r.start) for r in reqs)


# --- properties ----------------------------------------------------------------------------


@st.composite
def small_maps(draw: st.DrawFn) -> tuple[list[ValueSpan], int, int]:
    limit = draw(st.integers(1, 12))
    max_gap = draw(st.integers(0, 5))
    cells = draw(st.lists(st.tuples(st.integers(0, 30), st.integers(1, limit)), min_size=1, max_size=6))
    return spans_at(*cells), limit, max_gap


@settings(max_examples=300, deadline=None)
@given(small_maps())
def test_plan_is_optimal_against_exhaustive_search(case: tuple[list[ValueSpan], int, int]) -> None:
    spans, limit, max_gap = case
    reqs = plan_reads(spans, max_gap=max_gap, max_registers=limit)
    check_plan(spans, reqs, max_gap, limit, 2000)
    best = exhaustive_best(spans, limit, max_gap)
    assert (len(reqs), sum(r.count for r in reqs)) == best
    assert len(reqs) == reference_greedy_count(spans, limit, max_gap)
    assert minimum_requests(spans, max_registers=limit) == exhaustive_best(spans, limit, 99)[0]


def random_map(seed: int, size: int, max_regs: int) -> list[ValueSpan]:
    """A sparse map over the whole address space, with some values sharing addresses."""
    rng = random.Random(seed)
    widths = [w for w in (1, 1, 1, 2, 2, 4, rng.randint(1, 20)) if w <= max_regs]
    spans: list[ValueSpan] = []
    for i in range(size):
        area = rng.choice(list(Area))
        width = 1 if area.is_bit else rng.choice(widths)
        if spans and rng.random() < 0.1:
            start = min(rng.choice(spans).start, 65536 - width)  # a second view of a value
        elif rng.random() < 0.3:
            start = rng.randrange(0, 600)  # a dense cluster
        else:
            start = rng.randrange(0, 65536 - width + 1)
        spans.append(ValueSpan(i, area, start, width))
    return spans


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    size=st.one_of(st.integers(1, 50), st.integers(1, 5000)),
    max_gap=st.integers(0, 124),
    max_regs=st.integers(4, 125),
    max_bits=st.integers(1, 2000),
)
def test_random_maps(seed: int, size: int, max_gap: int, max_regs: int, max_bits: int) -> None:
    spans = random_map(seed, size, max_regs)
    reqs = plan_reads(spans, max_gap=max_gap, max_registers=max_regs, max_bits=max_bits)
    check_plan(spans, reqs, max_gap, max_regs, max_bits)
    expected = 0
    for area in Area:
        in_area = [s for s in spans if s.area is area]
        limit = max_bits if area.is_bit else max_regs
        expected += reference_greedy_count(in_area, limit, max_gap) if in_area else 0
    assert len(reqs) == expected
    assert minimum_requests(spans, max_registers=max_regs, max_bits=max_bits) <= len(reqs)
    assert len(reqs) <= len({(s.area, s.start) for s in spans})  # never worse than one each
    assert (
        plan_reads(list(reversed(spans)), max_gap=max_gap, max_registers=max_regs, max_bits=max_bits) == reqs
    )  # deterministic whatever the input order


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 8)), min_size=1, max_size=40),
    max_gap=st.integers(0, 124),
)
def test_split_halves(cells: list[tuple[int, int]], max_gap: int) -> None:
    for req in plan_reads(spans_at(*cells), max_gap=max_gap):
        halves = split_request(req)
        if len({s.start for s in req.spans}) == 1:
            assert halves is None
            continue
        assert halves is not None
        left, right = halves
        assert sorted(s.index for s in left.spans + right.spans) == sorted(s.index for s in req.spans)
        for half in halves:
            assert 0 < len(half.spans) < len(req.spans)
            assert half.count <= req.count
            assert req.start <= half.start and half.end <= req.end
            assert half.start == min(s.start for s in half.spans)
            assert half.end == max(s.end for s in half.spans)
        assert right.count < req.count
        assert max(s.start for s in left.spans) < right.start  # cut between positions
        # only a value reaching the end of the block can keep the left half as wide
        assert left.count < req.count or max(s.end for s in left.spans) == req.end


def test_the_last_address_is_65535() -> None:
    """A value on the last register plans; one reaching past it is refused."""
    assert ranges(plan_reads(spans_at((65535, 1)), max_gap=0)) == [("holding", 65535, 65535)]
    with pytest.raises(ValueError, match=r"addresses 65535..65536 are outside 0..65535"):
        plan_reads(spans_at((65535, 2)), max_gap=0)
