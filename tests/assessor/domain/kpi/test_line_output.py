"""A line's finished units and hours, as a daily log counts them."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from assessor.domain.kpi.line_output import line_output
from assessor.domain.kpi.model import Totals
from assessor.domain.models import Line, Machine


def totals(count: int, known_s: float) -> Totals:
    return dataclasses.replace(Totals.zero(), total_count=count, planned_s=known_s)


def line(lid: str, *machines: tuple[str, bool]) -> Line:
    return Line(lid, tuple(Machine(mid, lid, 1.0, "", out) for mid, out in machines))


def test_parallel_machines_add_units_over_the_line_hours() -> None:
    press = line("press", ("p1", False), ("p2", False))
    parts = {("press", "p1"): totals(100, 3600.0), ("press", "p2"): totals(80, 3000.0)}
    assert line_output(parts, [press]) == (180, 3600.0)


def test_a_serial_line_counts_its_output_station_only() -> None:
    serial = line("assembly", ("cut", False), ("weld", False), ("pack", True))
    parts = {
        ("assembly", "cut"): totals(120, 3600.0),
        ("assembly", "weld"): totals(110, 3500.0),
        ("assembly", "pack"): totals(100, 3400.0),
    }
    assert line_output(parts, [serial]) == (100, 3600.0)


def test_unregistered_machines_and_lines_without_data_do_not_count() -> None:
    a, b = line("a", ("m1", False)), line("b", ("m2", False))
    parts = {("a", "m1"): totals(10, 600.0), ("x", "ghost"): totals(999, 9999.0)}
    assert line_output(parts, [a, b]) == (10, 600.0)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 86400)), min_size=1, max_size=8))
def test_one_machine_per_line_is_the_plain_sum(machines: list[tuple[int, float]]) -> None:
    lines = [line(f"l{i}", (f"m{i}", False)) for i in range(len(machines))]
    parts = {(f"l{i}", f"m{i}"): totals(c, s) for i, (c, s) in enumerate(machines)}
    units, seconds = line_output(parts, lines)
    assert units == sum(c for c, _ in machines)
    assert abs(seconds - sum(s for _, s in machines)) < 1e-6
