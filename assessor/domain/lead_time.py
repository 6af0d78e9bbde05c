"""Manufacturing lead time (제조리드타임): from the first to the last unit of each
production order, per order and as a daily median (docs/targets.md, "Lead time").

From the data: the machines' ``order_id`` samples (held until the next one, like a state)
and their ``count_total`` readings; a unit belongs to the order in force when it was made.
An order worked on several machines, or stopped overnight and taken up on the next shift,
is one order: its lead time runs from its first unit anywhere to its last, nights and
breaks included, since that is the time the customer waits. From manual logs: the order's
start and finish as written.
"""

from __future__ import annotations

import datetime as dt
import statistics
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class OrderSpan:
    order_id: str
    #: epoch seconds of the first and the last unit of the order
    first_unit: float
    last_unit: float
    units: float

    @property
    def lead_time_h(self) -> float:
        return (self.last_unit - self.first_unit) / 3600.0


def unit_events(
    readings: Sequence[tuple[float, float]], previous: float | None = None
) -> list[tuple[float, float]]:
    """(time, units) of each rise of a cumulative counter, readings in time order. A drop
    is a reset (a PLC restart, a counter cleared at the start of a shift): the new value
    is what was counted since."""
    out = []
    last = previous
    for t, value in readings:
        if last is None:
            last = value
            continue
        step = value - last if value >= last else value
        if step > 0:
            out.append((t, step))
        last = value
    return out


def machine_spans(
    orders: Sequence[tuple[float, str]], units: Sequence[tuple[float, float]]
) -> dict[str, OrderSpan]:
    """Per order, the first and last unit of one machine. ``orders``: (time, order id)
    samples in time order, the one in force at the window's start first; a unit counted
    at t was made before t, so it belongs to the order in force just before t. An empty
    order id is "no order": its units belong to none."""
    times = [t for t, _ in orders]
    spans: dict[str, OrderSpan] = {}
    for t, n in units:
        i = bisect_left(times, t) - 1
        if i < 0:
            continue
        order = orders[i][1]
        if not order:
            continue
        got = spans.get(order)
        spans[order] = (
            OrderSpan(order, t, t, n)
            if got is None
            else OrderSpan(order, min(got.first_unit, t), max(got.last_unit, t), got.units + n)
        )
    return spans


def merge_spans(per_machine: Iterable[dict[str, OrderSpan]]) -> list[OrderSpan]:
    """An order's span over every machine that worked on it, ordered by its last unit."""
    merged: dict[str, OrderSpan] = {}
    for spans in per_machine:
        for order, s in spans.items():
            got = merged.get(order)
            merged[order] = (
                s
                if got is None
                else OrderSpan(
                    order,
                    min(got.first_unit, s.first_unit),
                    max(got.last_unit, s.last_unit),
                    got.units + s.units,
                )
            )
    return sorted(merged.values(), key=lambda s: (s.last_unit, s.order_id))


def finished_in(spans: Iterable[OrderSpan], start: float, end: float) -> list[OrderSpan]:
    """The orders whose last unit falls in [start, end): an order counts on the day it is done."""
    return [s for s in spans if start <= s.last_unit < end]


@dataclass(frozen=True)
class DayLeadTime:
    day: dt.date
    median_h: float
    orders: int


def daily_medians(spans: Iterable[OrderSpan], timezone: str) -> list[DayLeadTime]:
    """Median lead time of the orders finished on each local day, oldest day first."""
    tz = ZoneInfo(timezone)
    by_day: dict[dt.date, list[float]] = defaultdict(list)
    for s in spans:
        by_day[dt.datetime.fromtimestamp(s.last_unit, tz).date()].append(s.lead_time_h)
    return [DayLeadTime(day, statistics.median(v), len(v)) for day, v in sorted(by_day.items())]


def median_lead_time_h(spans: Sequence[OrderSpan]) -> float | None:
    """The window's lead time: the median over its finished orders (one order stuck for
    a week moves it less than a mean)."""
    return statistics.median(s.lead_time_h for s in spans) if spans else None


# -- manual logs -------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLogRow:
    """One order of a manual log: when work on it started and when it finished."""

    order_id: str
    start: dt.datetime
    finish: dt.datetime
    #: row number in the file, for errors
    row: int = 0


class OrderLogError(ValueError):
    def __init__(self, row: int, message: str):
        self.row = row
        super().__init__(f"row {row}: {message}")


def spans_from_log(rows: Sequence[OrderLogRow], timezone: str) -> list[OrderSpan]:
    """Order spans from a manual log; a time without zone is local to the factory. An order
    written on several rows (started, interrupted, finished) spans its first start to its
    last finish."""
    tz = ZoneInfo(timezone)
    per: list[dict[str, OrderSpan]] = []
    for r in rows:
        if not r.order_id.strip():
            raise OrderLogError(r.row, "the order number is empty")
        start = r.start if r.start.tzinfo else r.start.replace(tzinfo=tz)
        finish = r.finish if r.finish.tzinfo else r.finish.replace(tzinfo=tz)
        if finish < start:
            raise OrderLogError(r.row, f"order {r.order_id!r} finishes ({finish}) before it starts ({start})")
        per.append({r.order_id: OrderSpan(r.order_id, start.timestamp(), finish.timestamp(), 0)})
    return merge_spans(per)
