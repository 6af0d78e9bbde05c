"""Manufacturing lead time: orders spanning midnight and shifts, several machines, resets."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assessor.domain.lead_time import (
    OrderLogError,
    OrderLogRow,
    daily_medians,
    finished_in,
    machine_spans,
    median_lead_time_h,
    merge_spans,
    spans_from_log,
    unit_events,
)

SEOUL = ZoneInfo("Asia/Seoul")


def at(day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=SEOUL).timestamp()


def test_unit_events_count_rises_and_resets() -> None:
    assert unit_events([(1, 10), (2, 12), (3, 12), (4, 3), (5, 5)], previous=9) == [
        (1, 1),
        (2, 2),
        (4, 3),
        (5, 2),
    ]
    assert unit_events([(1, 10), (2, 11)]) == [(2, 1)]


def test_order_over_midnight_and_two_shifts() -> None:
    """Order A starts on the evening shift, stops at the end of it, and is finished on the
    next day's day shift: one order, from its first unit at 20:10 to its last at 09:30."""
    orders = [(at(10, 20), "A"), (at(10, 23), ""), (at(11, 8), "A"), (at(11, 10), "B")]
    readings = [
        (at(10, 20, 10), 1),
        (at(10, 22, 50), 40),
        (at(10, 23, 30), 40),  # nothing made between shifts
        (at(11, 8, 5), 41),
        (at(11, 9, 30), 80),
        (at(11, 10, 15), 81),
        (at(11, 11, 0), 90),
    ]
    spans = merge_spans([machine_spans(orders, unit_events(readings, previous=0))])
    by_id = {s.order_id: s for s in spans}
    assert by_id["A"].first_unit == at(10, 20, 10)
    assert by_id["A"].last_unit == at(11, 9, 30)
    assert by_id["A"].lead_time_h == pytest.approx(13 + 20 / 60)
    assert by_id["A"].units == 80
    assert by_id["B"].lead_time_h == pytest.approx(0.75)
    days = daily_medians(spans, "Asia/Seoul")
    assert [(d.day, d.orders) for d in days] == [(dt.date(2026, 3, 11), 2)]
    assert days[0].median_h == pytest.approx((13 + 20 / 60 + 0.75) / 2)


def test_order_across_machines_runs_from_first_station_to_last() -> None:
    first = machine_spans([(at(12, 8), "C")], [(at(12, 8, 30), 1), (at(12, 9), 1)])
    last = machine_spans([(at(12, 8), "C")], [(at(12, 11), 1), (at(12, 14), 1)])
    (span,) = merge_spans([first, last])
    assert span.lead_time_h == pytest.approx(5.5)


def test_finished_in_counts_an_order_on_the_day_it_is_done() -> None:
    spans = merge_spans([machine_spans([(at(10, 20), "A")], [(at(10, 21), 1), (at(11, 2), 1)])])
    assert finished_in(spans, at(10, 0), at(11, 0)) == []
    assert len(finished_in(spans, at(11, 0), at(12, 0))) == 1
    assert median_lead_time_h([]) is None


def test_manual_log() -> None:
    rows = [
        OrderLogRow("A", dt.datetime(2026, 1, 5, 20, 0), dt.datetime(2026, 1, 5, 23, 0), 2),
        OrderLogRow("A", dt.datetime(2026, 1, 6, 8, 0), dt.datetime(2026, 1, 6, 10, 0), 3),
    ]
    (span,) = spans_from_log(rows, "Asia/Seoul")
    assert span.lead_time_h == pytest.approx(14.0)
    with pytest.raises(OrderLogError, match="row 4"):
        spans_from_log([OrderLogRow("B", dt.datetime(2026, 1, 6, 9), dt.datetime(2026, 1, 6, 8), 4)], "UTC")


@given(
    st.lists(
        st.tuples(st.sampled_from("ABC"), st.floats(0, 1e5), st.floats(0, 1e5)), min_size=1, max_size=20
    ),
    st.randoms(),
)
def test_merge_does_not_depend_on_how_the_machines_split_the_work(
    parts: list[tuple[str, float, float]], rnd: object
) -> None:
    """However an order's units are spread over machines, its span is its first to its last unit."""
    from assessor.domain.lead_time import OrderSpan

    spans = [{o: OrderSpan(o, min(a, b), max(a, b), 1)} for o, a, b in parts]
    shuffled = list(spans)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    merged = {s.order_id: s for s in merge_spans(shuffled)}
    for order in {o for o, _, _ in parts}:
        times = [t for o, a, b in parts if o == order for t in (a, b)]
        assert merged[order].first_unit == min(times)
        assert merged[order].last_unit == max(times)
        assert merged[order].lead_time_h >= 0
