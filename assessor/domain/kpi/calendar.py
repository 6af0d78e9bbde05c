"""When production is planned: a shift calendar turned into epoch-second intervals.

An interval is a half-open ``(start, end)`` pair of epoch seconds; an interval list
returned by this module is sorted, disjoint and free of empty intervals, so that
``total`` is plain addition and two lists can be merged in one pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from assessor.domain.models import ShiftCalendar, ShiftRule, Weekday

Interval = tuple[float, float]

_ONE_DAY = dt.timedelta(days=1)
# Weekday is declared Monday first, the order of date.weekday().
_WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)
# A calendar without shifts plans every whole local day; expressing that as a shift
# lets breaks and holidays apply to it the same way they apply to real shifts.
_ALL_DAY = ShiftRule(days=frozenset(Weekday), start=dt.time(0), end=dt.time(0), name="all day")


def normalise(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-empty intervals; overlapping or touching ones merged."""
    merged: list[list[float]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Time covered by both lists."""
    left, right = normalise(a), normalise(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if end > start:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Time covered by ``a`` but not by ``b``."""
    keep, remove = normalise(a), normalise(b)
    out: list[Interval] = []
    j = 0
    for start, end in keep:
        while j < len(remove) and remove[j][1] <= start:
            j += 1
        cursor = start
        # ``j`` is not advanced past intervals reaching beyond ``end``: they may cut the next one too.
        k = j
        while k < len(remove) and remove[k][0] < end:
            if remove[k][0] > cursor:
                out.append((cursor, remove[k][0]))
            cursor = max(cursor, remove[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def total(a: Iterable[Interval]) -> float:
    """Seconds covered (overlaps counted once)."""
    return sum(end - start for start, end in normalise(a))


def planned_intervals(cal: ShiftCalendar, start: float, end: float) -> list[Interval]:
    """Planned production time in ``[start, end)``: shifts minus breaks minus holidays.

    Rules are local times of ``cal.timezone``. A shift whose end is not after its start
    runs past midnight and belongs to the day it starts on, so a holiday removes the
    night shift that starts on it, not the one that ends on it. A break applies to a
    shift when the shift's starting weekday is among the break's days, and removes
    every occurrence of the break's local time span inside that shift. No shifts means
    every whole local day is planned (still minus breaks and holidays).

    Local times are converted with ``zoneinfo``: on a DST change a shift lasts the
    time that really elapses, a wall time skipped by the change does not exist (a span
    lying wholly inside the gap is empty) and a repeated wall time means its first
    occurrence.
    """
    if end <= start:
        return []
    tz = ZoneInfo(cal.timezone)
    shifts = cal.shifts or (_ALL_DAY,)
    # A shift lasts at most a day (25 h on a DST change), so the one starting the day
    # before the window can still reach into it.
    day = _local_date(start, tz) - _ONE_DAY
    last = _local_date(end, tz)
    planned: list[Interval] = []
    while day <= last:
        if day not in cal.holidays:
            weekday = _WEEKDAYS[day.weekday()]
            breaks = [b for b in cal.breaks if weekday in b.days]
            for rule in shifts:
                if weekday not in rule.days:
                    continue
                shift = _occurrence(day, rule.start, rule.end, tz)
                # A break may start the day before (crossing midnight into the shift) or
                # the day after (inside a night shift).
                around = (day - _ONE_DAY, day, day + _ONE_DAY)
                cuts = [_occurrence(d, b.start, b.end, tz) for b in breaks for d in around]
                planned.extend(subtract([shift], cuts))
        day += _ONE_DAY
    return intersect(planned, [(start, end)])


def local_days(tz: str | dt.tzinfo, start: float, end: float) -> list[tuple[dt.date, float, float]]:
    """``[start, end)`` cut at local midnights: ``(local date, start, end)`` per day touched.

    Days on a DST change last 23 or 25 hours; the first and last day are clipped to the
    window.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    days: list[tuple[dt.date, float, float]] = []
    if end <= start:
        return days
    day = _local_date(start, zone)
    while True:
        day_start = _local_timestamp(day, dt.time(0), zone)
        if day_start >= end:
            break
        day_end = _local_timestamp(day + _ONE_DAY, dt.time(0), zone)
        lo, hi = max(start, day_start), min(end, day_end)
        if hi > lo:
            days.append((day, lo, hi))
        day += _ONE_DAY
    return days


def day_cuts(days: Sequence[tuple[dt.date, float, float]]) -> list[float]:
    """Boundaries of consecutive ``local_days`` entries, as ``increase_between`` takes them."""
    if not days:
        return []
    return [days[0][1], *(hi for _, _, hi in days)]


def _occurrence(day: dt.date, start: dt.time, end: dt.time, tz: dt.tzinfo) -> Interval:
    end_day = day if end > start else day + _ONE_DAY
    return (_local_timestamp(day, start, tz), _local_timestamp(end_day, end, tz))


def _local_timestamp(day: dt.date, time: dt.time, tz: dt.tzinfo) -> float:
    # Rules are wall-clock times of the factory; any tzinfo on the rule itself is ignored.
    return dt.datetime.combine(day, time.replace(tzinfo=None), tzinfo=tz).timestamp()


def _local_date(ts: float, tz: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz).date()
