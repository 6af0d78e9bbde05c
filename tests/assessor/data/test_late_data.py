"""Which materialised days are stale: pure comparison of raw counts."""

from __future__ import annotations

import datetime as dt

from assessor.data.late_data import stale_days

D1, D2, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)
M = {("l", "a"), ("l", "b")}


def test_a_changed_count_makes_the_day_stale() -> None:
    stored = {("l", "a", D1): 10, ("l", "b", D1): 5, ("l", "a", D2): 7, ("l", "b", D2): 0}
    now = {("l", "a", D1): 10, ("l", "b", D1): 9, ("l", "a", D2): 7}
    assert stale_days(now, stored, M, [D1, D2]) == [D1]


def test_unmaterialised_days_and_unregistered_machines_are_not_stale() -> None:
    stored = {("l", "a", D1): 10, ("l", "b", D1): 0}
    now = {("l", "a", D1): 10, ("x", "ghost", D1): 99, ("l", "a", D3): 4}
    assert stale_days(now, stored, M, [D1, D3]) == []


def test_rows_from_before_counts_were_kept_are_computed_once() -> None:
    stored: dict = {("l", "a", D1): None, ("l", "b", D1): None}
    assert stale_days({("l", "a", D1): 3}, stored, M, [D1]) == [D1]


def test_rows_of_older_rules_are_not_current() -> None:
    from assessor.data.daily_rows import KPI_RULES_VERSION, current_rules

    assert current_rules({"rules_version": KPI_RULES_VERSION})
    assert not current_rules({"rules_version": KPI_RULES_VERSION - 1})
    assert not current_rules({"planned_s": 1.0})
