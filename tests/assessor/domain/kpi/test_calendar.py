"""Planned intervals from shift calendars: day and night shifts, breaks, holidays, DST; interval algebra."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.kpi.calendar import (
    day_cuts,
    intersect,
    local_days,
    normalise,
    planned_intervals,
    subtract,
    total,
)
from assessor.domain.models import BreakRule, ShiftCalendar, ShiftRule, Weekday

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0
WEEKDAYS = frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI})


def at(tz: ZoneInfo, *args: int) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()


def local(tz: ZoneInfo, intervals: list[tuple[float, float]]) -> list[tuple[str, str]]:
    """Intervals as local 'YYYY-MM-DD HH:MM' strings, for readable assertions."""

    def fmt(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")

    return [(fmt(a), fmt(b)) for a, b in intervals]


def shift(start: str, end: str, days: frozenset[Weekday] = frozenset(Weekday)) -> ShiftRule:
    return ShiftRule(days=days, start=dt.time.fromisoformat(start), end=dt.time.fromisoformat(end))


def pause(start: str, end: str, days: frozenset[Weekday] = frozenset(Weekday)) -> BreakRule:
    return BreakRule(start=dt.time.fromisoformat(start), end=dt.time.fromisoformat(end), days=days)


# 2024-03-04 is a Monday.
MONDAY = (2024, 3, 4)


def test_day_shift_minus_two_breaks_and_a_meal_is_420_minutes() -> None:
    cal = ShiftCalendar(
        shifts=(shift("06:00", "14:00"),),
        breaks=(pause("08:00", "08:15"), pause("10:00", "10:15"), pause("12:00", "12:30")),
    )
    day = at(SEOUL, *MONDAY)
    planned = planned_intervals(cal, day, day + 24 * HOUR)
    assert total(planned) == 420 * 60
    assert local(SEOUL, planned) == [
        ("2024-03-04 06:00", "2024-03-04 08:00"),
        ("2024-03-04 08:15", "2024-03-04 10:00"),
        ("2024-03-04 10:15", "2024-03-04 12:00"),
        ("2024-03-04 12:30", "2024-03-04 14:00"),
    ]


def test_no_shifts_means_the_whole_window() -> None:
    start, end = at(SEOUL, 2024, 3, 4, 7, 13), at(SEOUL, 2024, 3, 9, 1, 2)
    assert planned_intervals(ShiftCalendar(), start, end) == [(start, end)]
    assert planned_intervals(ShiftCalendar(), end, start) == []


def test_no_shifts_still_drops_holidays() -> None:
    cal = ShiftCalendar(holidays=frozenset({dt.date(2024, 3, 5)}))
    planned = planned_intervals(cal, at(SEOUL, *MONDAY), at(SEOUL, 2024, 3, 7))
    assert local(SEOUL, planned) == [
        ("2024-03-04 00:00", "2024-03-05 00:00"),
        ("2024-03-06 00:00", "2024-03-07 00:00"),
    ]


def test_shifts_only_on_their_weekdays() -> None:
    cal = ShiftCalendar(shifts=(shift("08:00", "17:00", WEEKDAYS),))
    week = at(SEOUL, *MONDAY)
    planned = planned_intervals(cal, week, week + 7 * 24 * HOUR)
    assert total(planned) == 5 * 9 * HOUR
    assert local(SEOUL, planned)[-1] == ("2024-03-08 08:00", "2024-03-08 17:00")


def test_night_shift_belongs_to_the_day_it_starts_on() -> None:
    cal = ShiftCalendar(shifts=(shift("22:00", "06:00", WEEKDAYS),))
    week = at(SEOUL, *MONDAY)
    planned = planned_intervals(cal, week, week + 7 * 24 * HOUR)
    assert total(planned) == 5 * 8 * HOUR
    assert local(SEOUL, planned)[0] == ("2024-03-04 22:00", "2024-03-05 06:00")
    # Friday's shift runs into Saturday; nothing starts on Saturday or Sunday.
    assert local(SEOUL, planned)[-1] == ("2024-03-08 22:00", "2024-03-09 06:00")


def test_night_shift_of_the_previous_day_reaches_into_the_window() -> None:
    cal = ShiftCalendar(shifts=(shift("22:00", "06:00", WEEKDAYS),))
    tuesday = at(SEOUL, 2024, 3, 5)
    planned = planned_intervals(cal, tuesday, tuesday + 24 * HOUR)
    assert local(SEOUL, planned) == [
        ("2024-03-05 00:00", "2024-03-05 06:00"),
        ("2024-03-05 22:00", "2024-03-06 00:00"),
    ]


def test_holiday_removes_the_shift_starting_on_it_only() -> None:
    cal = ShiftCalendar(
        shifts=(shift("22:00", "06:00", WEEKDAYS),),
        holidays=frozenset({dt.date(2024, 3, 6)}),  # Wednesday
    )
    planned = planned_intervals(cal, at(SEOUL, 2024, 3, 5), at(SEOUL, 2024, 3, 8))
    assert local(SEOUL, planned) == [
        ("2024-03-05 00:00", "2024-03-05 06:00"),
        ("2024-03-05 22:00", "2024-03-06 06:00"),  # Tuesday's shift ends on the holiday
        ("2024-03-07 22:00", "2024-03-08 00:00"),
    ]


def test_breaks_inside_a_night_shift_follow_the_shift_weekday() -> None:
    cal = ShiftCalendar(
        shifts=(shift("22:00", "06:00", WEEKDAYS),),
        # 02:00 on Saturday lies inside Friday's shift: a Friday break.
        breaks=(pause("02:00", "02:30", frozenset({Weekday.FRI})), pause("23:45", "00:15")),
    )
    planned = planned_intervals(cal, at(SEOUL, 2024, 3, 8), at(SEOUL, 2024, 3, 10))
    assert local(SEOUL, planned) == [
        # Thursday's shift: the midnight break, but not the Friday one.
        ("2024-03-08 00:15", "2024-03-08 06:00"),
        ("2024-03-08 22:00", "2024-03-08 23:45"),
        ("2024-03-09 00:15", "2024-03-09 02:00"),
        ("2024-03-09 02:30", "2024-03-09 06:00"),
    ]


def test_window_clips_a_running_shift() -> None:
    cal = ShiftCalendar(shifts=(shift("06:00", "14:00"),), breaks=(pause("10:00", "10:30"),))
    planned = planned_intervals(cal, at(SEOUL, 2024, 3, 4, 9, 0), at(SEOUL, 2024, 3, 4, 12, 0))
    assert local(SEOUL, planned) == [
        ("2024-03-04 09:00", "2024-03-04 10:00"),
        ("2024-03-04 10:30", "2024-03-04 12:00"),
    ]


def test_round_the_clock_shift_and_overlapping_shifts_merge() -> None:
    cal = ShiftCalendar(shifts=(shift("06:00", "06:00"), shift("05:00", "07:00")))
    day = at(SEOUL, *MONDAY)
    assert planned_intervals(cal, day, day + 3 * 24 * HOUR) == [(day, day + 3 * 24 * HOUR)]


def test_berlin_night_shifts_last_the_time_that_really_elapses() -> None:
    cal = ShiftCalendar(timezone="Europe/Berlin", shifts=(shift("22:00", "06:00"), shift("08:00", "16:00")))

    def nights_and_days(*day: int) -> list[float]:
        start = at(BERLIN, *day)
        planned = planned_intervals(cal, start, start + 4 * 24 * HOUR)
        return [(b - a) / HOUR for a, b in planned]

    # Clocks go forward in the night of 30/31 March 2024 and back in the night of 26/27 October.
    assert nights_and_days(2024, 3, 29, 7) == [8, 8, 8, 7, 8, 8, 8, 8]
    assert nights_and_days(2024, 10, 25, 7) == [8, 8, 8, 9, 8, 8, 8, 8]


def test_berlin_shift_inside_the_skipped_hour_is_empty() -> None:
    cal = ShiftCalendar(timezone="Europe/Berlin", shifts=(shift("02:00", "03:00"),))
    planned = planned_intervals(cal, at(BERLIN, 2024, 3, 30), at(BERLIN, 2024, 4, 1))
    assert local(BERLIN, planned) == [("2024-03-30 02:00", "2024-03-30 03:00")]


def test_seoul_has_no_dst() -> None:
    cal = ShiftCalendar(shifts=(shift("22:00", "06:00"),))
    for month in range(1, 13):
        start = at(SEOUL, 2024, month, 1)
        assert [b - a for a, b in planned_intervals(cal, start + 12 * HOUR, start + 36 * HOUR)] == [8 * HOUR]


def test_local_days_split_at_local_midnight() -> None:
    start, end = at(SEOUL, 2024, 3, 4, 18), at(SEOUL, 2024, 3, 6, 9)
    days = local_days("Asia/Seoul", start, end)
    assert [d for d, _, _ in days] == [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)]
    assert [(b - a) / HOUR for _, a, b in days] == [6, 24, 9]
    assert day_cuts(days) == [start, at(SEOUL, 2024, 3, 5), at(SEOUL, 2024, 3, 6), end]
    assert local_days(SEOUL, end, start) == []
    assert day_cuts([]) == []


def test_local_days_in_berlin_last_23_and_25_hours_on_dst_changes() -> None:
    spring = local_days(BERLIN, at(BERLIN, 2024, 3, 30), at(BERLIN, 2024, 4, 1))
    autumn = local_days("Europe/Berlin", at(BERLIN, 2024, 10, 26), at(BERLIN, 2024, 10, 28))
    assert [(b - a) / HOUR for _, a, b in spring] == [24, 23]
    assert [(b - a) / HOUR for _, a, b in autumn] == [24, 25]


# --- properties ---------------------------------------------------------------------------

quarter_hours = st.integers(0, 95).map(lambda q: dt.time(q // 4, q % 4 * 15))
some_days = st.frozensets(st.sampled_from(list(Weekday)), min_size=1)
shift_rules = st.builds(ShiftRule, days=some_days, start=quarter_hours, end=quarter_hours)
break_rules = st.builds(BreakRule, start=quarter_hours, end=quarter_hours, days=some_days)
calendars = st.builds(
    ShiftCalendar,
    timezone=st.sampled_from(["Asia/Seoul", "Europe/Berlin"]),
    shifts=st.lists(shift_rules, max_size=3).map(tuple),
    breaks=st.lists(break_rules, max_size=3).map(tuple),
    holidays=st.frozensets(st.dates(dt.date(2024, 3, 25), dt.date(2024, 4, 5)), max_size=3),
)
# Around the spring DST change in Berlin, in seconds on a one-minute grid.
moments = st.integers(0, 10 * 24 * 60).map(lambda m: at(BERLIN, 2024, 3, 26) + 60.0 * m)


@settings(max_examples=150, deadline=None)
@given(cal=calendars, a=moments, b=moments, c=moments)
def test_planned_intervals_split_anywhere_add_up(cal: ShiftCalendar, a: float, b: float, c: float) -> None:
    a, b, c = sorted((a, b, c))
    whole = planned_intervals(cal, a, c)
    assert whole == normalise(whole)
    assert all(a <= lo < hi <= c for lo, hi in whole)
    assert whole == normalise(planned_intervals(cal, a, b) + planned_intervals(cal, b, c))


@settings(max_examples=100, deadline=None)
@given(cal=calendars, a=moments, b=moments)
def test_planned_intervals_cover_exactly_the_listed_shift_minutes(
    cal: ShiftCalendar, a: float, b: float
) -> None:
    """Every minute checked one by one against the rules, read independently of the implementation."""
    a, b = sorted((a, b))
    b = min(b, a + 2 * 24 * HOUR)
    planned = planned_intervals(cal, a, b)
    tz = ZoneInfo(cal.timezone)
    rules = cal.shifts or (ShiftRule(frozenset(Weekday), dt.time(0), dt.time(0)),)
    t = a
    while t < b:
        assert _covered(planned, t + 30) == _planned_by_rules(cal, rules, tz, t + 30)
        t += 60 * 37  # a coprime stride keeps the test fast yet hits every time of day


def _covered(intervals: list[tuple[float, float]], t: float) -> bool:
    return any(lo <= t < hi for lo, hi in intervals)


def _planned_by_rules(cal: ShiftCalendar, rules: tuple[ShiftRule, ...], tz: ZoneInfo, t: float) -> bool:
    now = dt.datetime.fromtimestamp(t, tz)
    for back in (0, 1):
        day = now.date() - dt.timedelta(days=back)
        if day in cal.holidays:
            continue
        weekday = list(Weekday)[day.weekday()]
        for rule in rules:
            if weekday not in rule.days:
                continue
            lo, hi = _span(day, rule.start, rule.end, tz)
            if not lo <= t < hi:
                continue
            in_break = False
            for b in cal.breaks:
                if weekday not in b.days:
                    continue
                for offset in (-1, 0, 1):
                    blo, bhi = _span(day + dt.timedelta(days=offset), b.start, b.end, tz)
                    in_break |= blo <= t < bhi
            if not in_break:
                return True
    return False


def _span(day: dt.date, start: dt.time, end: dt.time, tz: ZoneInfo) -> tuple[float, float]:
    end_day = day + dt.timedelta(days=0 if end > start else 1)
    return (
        dt.datetime.combine(day, start, tzinfo=tz).timestamp(),
        dt.datetime.combine(end_day, end, tzinfo=tz).timestamp(),
    )


grid_intervals = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=8).map(
    lambda pairs: [(float(x), float(y)) for x, y in pairs]
)


def _cells(intervals: list[tuple[float, float]]) -> set[int]:
    return {cell for lo, hi in intervals for cell in range(int(lo), int(hi))}


@given(a=grid_intervals, b=grid_intervals)
def test_interval_algebra_matches_sets_of_seconds(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> None:
    for result, expected in (
        (normalise(a), _cells(a)),
        (intersect(a, b), _cells(a) & _cells(b)),
        (subtract(a, b), _cells(a) - _cells(b)),
    ):
        assert result == normalise(result)
        assert _cells(result) == expected
    assert total(a) == len(_cells(a))
