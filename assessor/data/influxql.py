"""InfluxQL text built safely: every identifier and string literal from a request is
validated and escaped here, so no request can inject InfluxQL."""

from __future__ import annotations

import datetime as dt

from datacontract import BadName, tag_value_problem


class UnsafeIdentifier(BadName):
    pass


def check_id(value: str, what: str = "identifier") -> str:
    """``value`` if it is a name the data contract allows (datacontract.names: the rule the
    collector stores by and the registry imports by), else UnsafeIdentifier. Without
    backslashes and control characters, quoting below is all InfluxQL needs."""
    problem = tag_value_problem(value, what)
    if problem is not None:
        raise UnsafeIdentifier(problem)
    return value


def ident(name: str) -> str:
    """A double-quoted identifier (measurement, tag key, field key)."""
    check_id(name)
    return '"' + name.replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A single-quoted string literal (tag values)."""
    check_id(value, "value")
    return "'" + value.replace("'", "\\'") + "'"


def time_literal(t: float | dt.datetime) -> str:
    """An absolute time as integer nanoseconds (no parsing ambiguity, no time zone)."""
    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            raise ValueError("naive datetime")
        t = t.timestamp()
    return f"{round(t * 1e9)}"


def time_range(start: float, end: float) -> str:
    return f"time >= {time_literal(start)} AND time < {time_literal(end)}"


def tag_equals(tag: str, value: str) -> str:
    return f"{ident(tag)} = {literal(value)}"


def tag_in(tag: str, values: list[str]) -> str:
    if not values:
        return "false"
    return "(" + " OR ".join(tag_equals(tag, v) for v in values) + ")"
