"""The six big losses: they split known time, and the last bar is OEE x known time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.kpi.formulas import kpis, machine_totals, rollup
from assessor.domain.kpi.losses import six_big_losses
from assessor.domain.kpi.model import KpiPolicy, StateTime, Totals

LENIENT = KpiPolicy(min_coverage=0.0, performance_tolerance=math.inf)


def times(**s: float) -> StateTime:
    parts = {
        k: s.get(k, 0.0)
        for k in ("running", "idle", "fault", "setup", "stopped", "planned_stop", "small_stop")
    }
    unknown = s.get("unknown", 0.0)
    return StateTime(
        calendar_s=sum(parts.values()) + unknown,
        running_s=parts["running"], idle_s=parts["idle"], fault_s=parts["fault"], setup_s=parts["setup"],
        stopped_s=parts["stopped"], planned_stop_s=parts["planned_stop"], unknown_s=unknown,
        failures=0, repair_s=0.0, small_stop_s=parts["small_stop"], small_stops=int(parts["small_stop"] > 0),
    )  # fmt: skip


def test_reference_example_as_losses() -> None:
    """Vorne: 420 min planned, 47 min down, 373 min run, 19,271 units at 1 s, 423 rejects."""
    t = machine_totals(times(running=373 * 60, fault=20 * 60, setup=27 * 60), total=19_271, reject=423,
                       ideal_cycle_time_s=1.0)  # fmt: skip
    losses = six_big_losses(t)
    assert losses.known_s == 25_200
    assert (losses.breakdowns_s, losses.setup_s, losses.small_stops_s) == (1200, 1620, 0)
    assert losses.speed_s == 373 * 60 - 19_271
    assert losses.production_rejects_s == pytest.approx(423)
    assert losses.fully_productive_s == pytest.approx(18_848)
    assert losses.fully_productive_s / losses.known_s == pytest.approx(kpis(t).oee)
    assert losses.startup_rejects_s is None
    steps = losses.as_steps()
    assert [k for k, _ in steps] == [
        "known_s", "breakdowns_s", "setup_s", "small_stops_s", "speed_s", "production_rejects_s",
        "fully_productive_s",
    ]  # fmt: skip
    assert sum(v for _, v in steps[:-1]) == pytest.approx(steps[-1][1])


def test_small_stops_are_a_performance_loss_and_idle_a_breakdown() -> None:
    t = machine_totals(times(running=3000, small_stop=200, idle=400), total=2500, ideal_cycle_time_s=1.0)
    losses = six_big_losses(t)
    assert losses.small_stops_s == 200 and losses.breakdowns_s == 400
    assert losses.speed_s == 3000 - 2500
    # no graded units: quality unknown, no reject loss shown
    assert losses.production_rejects_s == 0 and losses.fully_productive_s == 2500


@st.composite
def machines(draw: st.DrawFn) -> Totals:
    s = st.integers(0, 20_000).map(float)
    counts = draw(st.tuples(*(st.none() | st.integers(0, 30_000) for _ in range(3))))
    names = ("running", "idle", "fault", "setup", "stopped", "planned_stop", "small_stop", "unknown")
    return machine_totals(
        times(**{n: draw(s) for n in names}),
        total=counts[0],
        good=counts[1],
        reject=counts[2],
        ideal_cycle_time_s=draw(st.floats(0.01, 30)),
    )


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(machines(), min_size=1, max_size=4))
def test_the_losses_add_up_to_known_time(parts: list[Totals]) -> None:
    t = rollup(parts)
    losses = six_big_losses(t)
    assert losses.known_s == pytest.approx(losses.planned_s - losses.unknown_s)
    assert (
        losses.breakdowns_s + losses.setup_s + losses.small_stops_s + losses.speed_s
        + losses.production_rejects_s + losses.fully_productive_s
    ) == pytest.approx(losses.known_s, abs=1e-6)  # fmt: skip
    assert sum(v for _, v in losses.as_steps()[:-1]) == pytest.approx(losses.fully_productive_s, abs=1e-6)
    for v in (losses.breakdowns_s, losses.setup_s, losses.small_stops_s, losses.production_rejects_s):
        assert v >= 0
    k = kpis(t, LENIENT)
    # where nothing is flagged or capped, the last bar is OEE x known time
    raw = kpis(t, KpiPolicy(min_coverage=0.0, performance_tolerance=0.0))
    if raw.oee is not None and t.known_s > 0 and t.graded == t.total_count and not raw.flags:
        assert losses.fully_productive_s / t.known_s == pytest.approx(k.oee, abs=1e-9)
