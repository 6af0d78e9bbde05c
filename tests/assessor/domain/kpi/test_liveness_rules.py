"""The same machine history reported at any pace gives the same KPIs (docs/kpi-method.md).

One underlying timeline (states changing on a 300 s grid, a counter rising at a steady
rate while running) is rendered as the collector would store it: every second, every
300 s, or states only on change with counters at every poll, each with alive records
covering the shift. All three give the same Totals through the pure path the assessor
uses (``measured.machine_day_totals``: episodes, small stops, units spread over running
time). A gap in liveness is unknown time, and the units made in it are unattributed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.data.signals import MachineSignals, machine_day_totals
from assessor.domain.kpi.calendar import intersect, subtract, total
from assessor.domain.kpi.formulas import kpis
from assessor.domain.kpi.model import Totals
from assessor.domain.kpi.timeline import StateSample
from assessor.domain.models import Machine
from datacontract import LIVENESS_MAX_RECORD_S

GRID = 300.0
DAY1, DAY2 = dt.date(2024, 3, 4), dt.date(2024, 3, 5)
#: two "days" of one hour each; the first with a break 1800-2100
DAYS = [(DAY1, 0.0, 3600.0), (DAY2, 3600.0, 7200.0)]
PLANNED = [[(0.0, 1800.0), (2100.0, 3600.0)], [(3600.0, 7200.0)]]
END = 7200.0
MACHINE = Machine("m", "l", 0.5)
STATES = ["running", "running", "idle", "fault", "setup", "stopped"]
FIELDS = ("planned_s", "run_s", "idle_s", "fault_s", "setup_s", "stopped_s", "unknown_s", "small_stop_s",
          "ideal_run_s", "repair_s")  # fmt: skip
COUNTS = ("total_count", "failures", "small_stops", "unattributed_count")


class Timeline:
    """States on a grid from 0 to END and a counter making ``rate`` units per running second."""

    def __init__(self, cells: list[str], rate: int) -> None:
        self.cells, self.rate = cells, rate

    def state(self, t: float) -> str:
        return self.cells[min(int(t // GRID), len(self.cells) - 1)]

    def running(self) -> list[tuple[float, float]]:
        return [(i * GRID, (i + 1) * GRID) for i, s in enumerate(self.cells) if s == "running"]

    def count(self, t: float) -> int:
        return self.rate * round(sum(max(0.0, min(b, t) - a) for a, b in self.running()))


def alive_records(lo: float, hi: float) -> list[tuple[float, float]]:
    """Chained records as the collector writes them: at most LIVENESS_MAX_RECORD_S each."""
    out, t = [], lo
    while t < hi:
        out.append((t, min(LIVENESS_MAX_RECORD_S, hi - t)))
        t += LIVENESS_MAX_RECORD_S
    return out


def every(tl: Timeline, pace: float, alive: bool = True) -> MachineSignals:
    sig = MachineSignals(alive=alive_records(0.0, END + 900) if alive else [])
    t = 0.0
    while t <= END:
        sig.add_state(t, tl.state(t))
        sig.counters["count_total"].append((t, tl.count(t)))
        t += pace
    return sig


def on_change(tl: Timeline, poll: float) -> MachineSignals:
    sig = MachineSignals(alive=alive_records(0.0, END + 900))
    last = None
    for i in range(len(tl.cells)):
        if tl.cells[i] != last:
            sig.add_state(i * GRID, tl.cells[i])
            last = tl.cells[i]
    sig.counters["count_total"] = [(t, tl.count(t)) for t in sorted({*_range(0.0, END, poll), END})]
    return sig


def _range(lo: float, hi: float, step: float) -> list[float]:
    return [lo + i * step for i in range(int((hi - lo) // step) + 1)]


def totals(sig: MachineSignals, small_stop_s: float) -> list[Totals]:
    return machine_day_totals(sig, MACHINE, DAYS, PLANNED, 60.0, small_stop_s=small_stop_s)


def same(a: list[Totals], b: list[Totals]) -> None:
    for x, y in zip(a, b, strict=True):
        for f in FIELDS:
            assert getattr(x, f) == pytest.approx(getattr(y, f), abs=1e-6), f
        for f in COUNTS:
            assert getattr(x, f) == getattr(y, f), f


timelines = st.builds(
    Timeline, st.lists(st.sampled_from(STATES), min_size=int(END // GRID), max_size=int(END // GRID)),
    st.integers(1, 4),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    tl=timelines, small_stop_s=st.sampled_from([0.0, 120.0, 400.0]), poll=st.sampled_from([7.0, 60.0, 290.0])
)
def test_every_second_every_300_s_and_on_change_give_the_same_totals(
    tl: Timeline, small_stop_s: float, poll: float
) -> None:
    fast = totals(every(tl, 1.0), small_stop_s)
    slow = totals(every(tl, GRID), small_stop_s)
    changes = totals(on_change(tl, poll), small_stop_s)
    same(fast, slow)
    same(fast, changes)
    # and they are the truth: run time and units are those of the running grid cells
    for day, planned in zip(fast, PLANNED, strict=True):
        running = total(intersect(tl.running(), planned))
        assert day.run_s - day.small_stop_s == pytest.approx(running)
        assert day.total_count == tl.rate * running
        assert day.unknown_s == 0 and day.unattributed_count == 0


@settings(max_examples=30, deadline=None)
@given(tl=timelines)
def test_without_liveness_the_hold_limit_still_gives_the_same_for_fast_samples(tl: Timeline) -> None:
    same(totals(every(tl, 1.0, alive=False), 120.0), totals(every(tl, 1.0), 120.0))
    # slower than the hold limit: time between samples beyond 60 s is unknown
    slow = totals(every(tl, GRID, alive=False), 120.0)
    assert sum(d.unknown_s for d in slow) > 0


@settings(max_examples=60, deadline=None)
@given(
    tl=timelines,
    gap=st.tuples(st.integers(1, 22), st.integers(1, 6)).map(lambda p: (p[0] * 300.0, (p[0] + p[1]) * 300.0)),
)
def test_an_alive_gap_is_unknown_time_and_its_units_are_unattributed(
    tl: Timeline, gap: tuple[float, float]
) -> None:
    """The path is dead over ``gap``: no readings in it; the collector stores the state
    again on the first answered poll after it."""
    g0, g1 = gap
    sig = on_change(tl, 60.0)
    sig.alive = alive_records(0.0, g0) + alive_records(g1, END + 900)
    sig.set_states([s for s in sig.states if not g0 <= s.t < g1] + [StateSample(g1, tl.state(g1))])
    sig.counters["count_total"] = sorted(
        {p for p in sig.counters["count_total"] if not g0 < p[0] < g1}
        | {(g0, tl.count(g0)), (g1, tl.count(g1))}
    )
    got = totals(sig, 120.0)
    gap_running = intersect(tl.running(), [gap])
    for day, planned in zip(got, PLANNED, strict=True):
        lost = intersect([gap], planned)
        assert day.unknown_s == pytest.approx(total(lost))
        known_running = total(intersect(subtract(tl.running(), [gap]), planned))
        assert day.run_s - day.small_stop_s == pytest.approx(known_running)
        assert day.total_count == tl.rate * known_running
        # the units made in the gap's planned part: spread over the gap (all unknown time)
        made_in_gap = tl.rate * total(gap_running)
        assert day.unattributed_count == pytest.approx(made_in_gap * total(lost) / (g1 - g0), abs=1)


def test_a_state_stored_only_on_change_holds_across_a_day_boundary_while_alive() -> None:
    tl = Timeline(["running"] * 24, 1)
    sig = on_change(tl, 60.0)
    assert len(sig.states) == 1
    # the second day alone, its state from the sample before it
    day2 = MachineSignals(
        before_state=sig.states[0], alive=sig.alive,
        counters=defaultdict(list, {"count_total": [p for p in sig.counters["count_total"] if p[0] >= 3600]}),
        previous={"count_total": tl.count(3540.0)}, previous_t={"count_total": 3540.0},
    )  # fmt: skip
    (alone,) = machine_day_totals(day2, MACHINE, DAYS[1:], PLANNED[1:], 60.0)
    both = totals(sig, 120.0)
    same([alone], both[1:])
    assert alone.run_s == 3600 and alone.total_count == 3600


def test_the_small_stop_limit_moves_time_between_losses_and_leaves_oee_alone() -> None:
    tl = Timeline(["running", "fault"] * 12, 1)
    sig = on_change(tl, 60.0)
    sig.counters["count_reject"] = [(t, 0) for t, _ in sig.counters["count_total"]]
    with_small = totals(sig, 400.0)
    without = totals(sig, 0.0)
    for a, b in zip(with_small, without, strict=True):
        assert a.total_count == b.total_count
        assert a.small_stop_s == b.fault_s and a.failures == 0 and b.failures > 0
        ka, kb = kpis(a), kpis(b)
        assert math.isclose(ka.oee, kb.oee)
        assert ka.availability > kb.availability and ka.performance < kb.performance
