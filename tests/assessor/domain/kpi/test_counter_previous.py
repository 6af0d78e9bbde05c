"""A counter's readings before a window are judged with the window's (assessor/data/signals.py)."""

from __future__ import annotations

import datetime as dt

from assessor.data.influx_wire import Series
from assessor.data.signals import COUNTERS, _context_signals, machine_day_totals
from assessor.domain.models import Machine

TAGS = {"line": "l", "machine": "m"}
DAY = [(dt.date(2024, 3, 4), 0.0, 3600.0)]
PLANNED = [[(0.0, 3600.0)]]


def context(count_total_desc: list[tuple[float, int]]) -> list[list[Series]]:
    """The context statements' answer: no state, no alive record, the count_total readings
    before the window newest first (times in ms, as the query returns them)."""
    rows = [[t * 1000.0, v] for t, v in count_total_desc]
    counters = [[Series("machine_data", TAGS, ["time", "count_total"], rows)]] + [[] for _ in COUNTERS[1:]]
    return [[], [], *counters]


def test_a_stray_zero_as_the_last_reading_before_a_window_is_not_its_starting_value() -> None:
    """A night shift: the counter read every 10 s across midnight, and one message with
    count_total 0 stamped a second before the day starts. The day counts what its
    readings say (359 units), not the whole counter again."""
    before = [(-1.0, 0), (-10.0, 50_000), (-20.0, 49_999)]
    sig = _context_signals(context(before))[("l", "m")]
    sig.counters["count_total"] += [(float(t), 50_000 + t // 10) for t in range(0, 3600, 10)]
    for t in range(-30, 3600, 10):
        sig.add_state(float(t), "running")
    (day,) = machine_day_totals(sig, Machine("m", "l", 1.0), DAY, PLANNED, 60.0)
    assert day.total_count == 359
    # the readings before the window credit nothing to it
    sig = _context_signals(context(before[1:]))[("l", "m")]
    assert sig.previous["count_total"] == 49_999 and sig.counters["count_total"] == [(-10.0, 50_000)]
