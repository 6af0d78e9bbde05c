"""Query parameters of the API read into times and windows, with errors naming the
parameter."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from assessor.api.errors import ApiError
from assessor.domain.models import Factory

MAX_WINDOW_DAYS = 800
#: a gains window is a baseline or an after period: a year is typical, two the most
MAX_GAINS_WINDOW_DAYS = 800
#: dates the KPI code and InfluxDB (int64 nanoseconds since 1970) can both represent
EARLIEST = dt.date(1970, 1, 2)
LATEST = dt.date(2200, 1, 1)


def parse_time(value: str, parameter: str, tz: str, *, end: bool = False) -> float:
    """ISO date or date-time; a date or a time without offset is in the factory's zone.
    A bare date as ``end`` means the end of that day (inclusive, as people write it)."""
    try:
        if len(value) == 10:
            day = _in_range(dt.date.fromisoformat(value), parameter)
            if end:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).timestamp()
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{parameter}: not an ISO date or date-time: {value!r}", parameter) from None
    _in_range(t.date(), parameter)
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t.timestamp()


def _in_range(day: dt.date, parameter: str) -> dt.date:
    if not EARLIEST <= day <= LATEST:
        raise ApiError(400, f"{parameter}: outside {EARLIEST} .. {LATEST}", parameter)
    return day


def window(factory: Factory, start: str, end: str) -> tuple[float, float]:
    tz = factory.calendar.timezone
    s, e = parse_time(start, "start", tz), parse_time(end, "end", tz, end=True)
    if e <= s:
        raise ApiError(400, "end: must be after start", "end")
    if e - s > MAX_WINDOW_DAYS * 86400:
        raise ApiError(400, f"end: window longer than {MAX_WINDOW_DAYS} days", "end")
    return s, e


def date(value: str | None, parameter: str) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{parameter}: not an ISO date (YYYY-MM-DD): {value!r}", parameter) from None
    return _in_range(day, parameter)
