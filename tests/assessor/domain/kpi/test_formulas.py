"""ISO 22400 KPIs: the reference vector end to end, undefined ratios, roll-ups, flags."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.domain.kpi.calendar import day_cuts, local_days, planned_intervals
from assessor.domain.kpi.counters import increase_between, increase_within
from assessor.domain.kpi.formulas import derive_counts, kpis, machine_totals, rollup
from assessor.domain.kpi.model import Flag, KpiPolicy, Kpis, StateTime, Totals
from assessor.domain.kpi.timeline import Episode, StateSample, state_episodes, state_time
from assessor.domain.models import BreakRule, ShiftCalendar, ShiftRule, Weekday

#: shows every KPI the formulas give (as before flags existed), ratios still capped at 1
LENIENT = KpiPolicy(min_coverage=0.0, performance_tolerance=math.inf, count_rate_tolerance=math.inf)
RATIOS = ("coverage", "availability", "performance", "quality", "oee", "defect_rate")

SEOUL = ZoneInfo("Asia/Seoul")


def at(hour: int, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(2024, 3, 4, hour, minute, second, tzinfo=SEOUL).timestamp()


def test_reference_vector_through_calendar_timeline_and_counters() -> None:
    """480-minute shift, two 15-minute breaks and a 30-minute meal; 47 minutes down; ideal
    cycle 1 s; 19,271 units of which 423 rejected (Vorne's worked example)."""
    cal = ShiftCalendar(
        timezone="Asia/Seoul",
        shifts=(ShiftRule(frozenset(Weekday), dt.time(6), dt.time(14)),),
        breaks=(
            BreakRule(dt.time(8), dt.time(8, 15)),
            BreakRule(dt.time(10), dt.time(10, 15)),
            BreakRule(dt.time(12), dt.time(12, 30)),
        ),
    )
    window = (at(0), at(0) + 86400)
    planned = planned_intervals(cal, *window)

    def state_at(t: float) -> str:
        if not any(lo <= t < hi for lo, hi in planned):
            return "idle"
        if at(9) <= t < at(9, 20):
            return "fault"
        if at(11) <= t < at(11, 27):
            return "setup"
        return "running"

    # A sample every 30 s from 05:30 to 14:30, held for three sampling periods.
    grid = [at(5, 30) + 30.0 * i for i in range(9 * 120 + 1)]
    episodes = state_episodes([StateSample(t, state_at(t)) for t in grid], *window, hold_s=90)
    times = state_time(episodes, planned)
    assert times.running_s == 373 * 60
    assert times.down_s == 47 * 60
    assert times.failures == 1 and times.repair_s == 20 * 60
    assert times.unknown_s == 0  # no samples outside 05:30-14:30, but none is planned there

    # Units are made evenly over run time; the total counter wraps at 2**32 mid-morning and
    # both counters restart from zero in the meal break (a PLC restart).
    run_before = [0.0]
    for a, b in pairwise(grid):
        run_before.append(run_before[-1] + (b - a if state_at(a) == "running" else 0))

    def made(n: int, i: int) -> int:
        return math.floor(n * run_before[i] / (373 * 60))

    restart = next(i for i, t in enumerate(grid) if t >= at(12, 15))

    def reading(n: int, i: int, base: int) -> int:
        if i >= restart:
            return made(n, i) - made(n, restart - 1)
        return (base + made(n, i)) % 2**32

    totals_points = [(t, reading(19_271, i, 2**32 - 7_000)) for i, t in enumerate(grid)]
    reject_points = [(t, reading(423, i, 1_000)) for i, t in enumerate(grid)]
    # Counted per local day, as the daily totals are.
    cuts = day_cuts(local_days(cal.timezone, *window))
    (total,) = increase_between(totals_points, cuts)
    (rejects,) = increase_between(reject_points, cuts)
    assert (total.increase, total.wraps, total.resets) == (19_271, 1, 1)
    assert (rejects.increase, rejects.wraps, rejects.resets) == (423, 0, 1)
    # Counting only what is seen in planned time loses the steps that straddle the three
    # break starts and the shift end: at most one 30 s sample's units each.
    planned_only = increase_within(totals_points, planned).increase
    assert 0 <= total.increase - planned_only <= 4 * 30

    result = kpis(
        machine_totals(times, total=total.increase, reject=rejects.increase, ideal_cycle_time_s=1.0)
    )
    assert result.planned_time_s == 420 * 60
    assert result.good_count == 18_848
    assert round(result.availability * 100, 2) == 88.81
    assert round(result.performance * 100, 2) == 86.11
    assert round(result.quality * 100, 2) == 97.80
    assert round(result.oee * 100, 2) == 74.79
    assert result.oee == pytest.approx(18_848 / 25_200)
    assert result.mtbf_s == 373 * 60 and result.mttr_s == 20 * 60
    assert result.coverage == 1.0


def state(**seconds: float) -> StateTime:
    parts = {k: seconds.get(k, 0.0) for k in ("running", "idle", "fault", "setup", "stopped", "planned_stop")}
    unknown = seconds.get("unknown", 0.0)
    return StateTime(
        calendar_s=sum(parts.values()) + unknown,
        **{f"{k}_s": v for k, v in parts.items()},
        unknown_s=unknown,
        failures=int(seconds.get("failures", 0)),
        repair_s=seconds.get("repair", 0.0),
    )


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((100, 90, 10), (100, 90, 10, 100)),
        ((100, None, 10), (100, 90, 10, 100)),
        ((100, 95, None), (100, 95, 5, 100)),
        ((None, 95, 5), (100, 95, 5, 100)),
        ((100, None, None), (100, 0, 0, 0)),
        ((None, 80, None), (80, 0, 0, 0)),
        ((None, None, 7), (0, 0, 0, 0)),
        ((None, None, None), (0, 0, 0, 0)),
    ],
)
def test_derive_counts(counts: tuple[int | None, ...], expected: tuple[int, ...]) -> None:
    assert derive_counts(*counts) == expected


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((10, None, 12), (10, 0, 12, 10)), ((10, 3, 12), (10, 3, 12, 10)), ((10, 13, None), (10, 13, 0, 10))],
)
def test_more_rejects_or_good_units_than_units_are_kept_and_flagged(
    counts: tuple[int | None, ...], expected: tuple[int, ...]
) -> None:
    """Counters read at slightly different moments: derive_counts keeps them as read
    (never a negative count), and the KPIs show no quality or defect rate made of them."""
    assert derive_counts(*counts) == expected
    total, good, reject, graded = expected
    k = kpis(machine_totals(state(running=100), total=counts[0], good=counts[1], reject=counts[2],
                            ideal_cycle_time_s=1))  # fmt: skip
    assert k.quality is None and k.defect_rate is None and k.oee is None
    assert Flag("defect_rate", "inconsistent_counts", reject / graded) in k.flags
    assert Flag("quality", "inconsistent_counts", good / graded) in k.flags
    assert {f.reason for f in k.flags} == {"inconsistent_counts"}
    # the counts themselves are shown as read, and time-based KPIs are not touched
    assert (k.total_count, k.good_count, k.reject_count) == (total, good, reject)
    assert k.availability == 1 and k.performance == 0.1


def test_undefined_ratios_are_none_not_zero() -> None:
    nothing = kpis(Totals.zero())
    for name in (
        "coverage", "availability", "performance", "quality", "oee", "units_per_hour",
        "units_per_labour_hour", "defect_rate", "mtbf_s", "mttr_s", "energy_per_unit_kwh",
    ):  # fmt: skip
        assert getattr(nothing, name) is None, name
    no_data = kpis(machine_totals(state(unknown=3600), total=None, ideal_cycle_time_s=1))
    assert no_data.coverage == 0 and no_data.availability is None and no_data.oee is None


def test_planned_time_without_running_is_an_oee_of_zero() -> None:
    idle = kpis(machine_totals(state(idle=3600), total=0, ideal_cycle_time_s=1))
    assert (idle.availability, idle.performance, idle.quality, idle.oee) == (0, None, None, 0)
    no_output = kpis(machine_totals(state(running=3600), total=0, ideal_cycle_time_s=1))
    assert (no_output.availability, no_output.performance, no_output.oee) == (1, 0, 0)


def test_counts_far_beyond_the_ideal_rate_are_flagged_never_shown() -> None:
    """The reported machine-day: 3,874,754 units in a day whose run time at the ideal
    cycle time allows 9,300: not a count at all, so no count and no ratio made of it."""
    t = machine_totals(state(running=9300), total=3_874_754, reject=12, ideal_cycle_time_s=1)
    k = kpis(t)
    for name in ("total_count", "good_count", "reject_count", "units_per_hour", "quality", "oee"):
        assert getattr(k, name) is None, name
    assert Flag("total_count", "counts_exceed_ideal_rate", 3_874_754) in k.flags
    assert {f.reason for f in k.flags} == {"counts_exceed_ideal_rate"}
    assert k.availability == 1
    # up to ten times the ideal rate only performance is left out (a setting error)
    slow = kpis(machine_totals(state(running=100), total=1000, reject=0, ideal_cycle_time_s=1))
    assert slow.total_count == 1000 and slow.performance is None
    assert {f.reason for f in slow.flags} == {"implausible_ideal_time"}


def test_planned_stop_leaves_planned_busy_time_and_unknown_is_reported_apart() -> None:
    t = machine_totals(
        state(running=600, fault=200, planned_stop=300, unknown=100), total=60, ideal_cycle_time_s=5
    )
    k = kpis(t)
    assert t.planned_s == 900 and t.known_s == 800
    assert k.availability == 600 / 800
    assert k.coverage == 800 / 900
    assert k.units_per_hour == 60 / (800 / 3600)


def test_optimistic_ideal_cycle_time_is_flagged_never_shown_above_one() -> None:
    k = kpis(machine_totals(state(running=100), total=150, reject=0, ideal_cycle_time_s=1))
    assert k.performance is None and k.oee is None
    assert k.availability == 1 and k.quality == 1
    assert k.flags == (
        Flag("performance", "implausible_ideal_time", 1.5),
        Flag("oee", "implausible_ideal_time", 1.5),
    )
    assert k.total_count == 150  # a setting error: the counts are real
    # within the tolerance (counter edges, rounding) it is shown as 100 %
    near = kpis(machine_totals(state(running=100), total=104, reject=0, ideal_cycle_time_s=1))
    assert near.performance == 1.0 and near.oee == 1.0 and near.flags == ()


def test_low_coverage_flags_the_time_based_kpis() -> None:
    t = machine_totals(
        state(running=500, fault=100, unknown=400, failures=1, repair=100), total=400, reject=40,
        ideal_cycle_time_s=1,
    )  # fmt: skip
    k = kpis(t)
    assert k.coverage == 0.6
    for name in ("availability", "performance", "oee", "units_per_hour", "mtbf_s", "mttr_s"):
        assert getattr(k, name) is None, name
    assert {f.kpi: f.value for f in k.flags if f.reason == "coverage"} == {
        "availability": 500 / 600, "performance": 400 / 500, "oee": pytest.approx(400 / 600 * 0.9),
        "units_per_hour": 400 / (600 / 3600), "mtbf_s": 500, "mttr_s": 100,
    }  # fmt: skip
    # counts are not time: quality stays
    assert k.quality == 0.9 and k.defect_rate == pytest.approx(0.1)
    assert kpis(t, KpiPolicy(min_coverage=0.5)).availability == 500 / 600


def test_more_rejects_than_units_are_flagged() -> None:
    k = kpis(machine_totals(state(running=100), total=10, reject=12, ideal_cycle_time_s=1))
    assert k.quality is None and k.defect_rate is None and k.oee is None
    assert {(f.kpi, f.reason) for f in k.flags} == {
        (kpi, "inconsistent_counts") for kpi in ("quality", "defect_rate", "oee")
    }
    assert next(f.value for f in k.flags if f.kpi == "defect_rate") == 1.2
    assert k.availability == 1 and k.performance == 0.1


def test_planned_time_without_data_is_flagged_no_data() -> None:
    k = kpis(machine_totals(state(unknown=3600), total=None, ideal_cycle_time_s=1))
    assert k.oee is None and k.flags == (Flag("oee", "no_data", None),)
    assert kpis(Totals.zero()).flags == ()


def test_small_stops_stay_in_run_time_and_leave_mtbf_and_oee_alone() -> None:
    eps = [Episode("running", 0, 1000), Episode("fault", 1000, 1060), Episode("running", 1060, 3000),
           Episode("fault", 3000, 3600)]  # fmt: skip
    small = machine_totals(state_time(eps, [(0, 3600)], small_stop_s=120), total=2400, ideal_cycle_time_s=1)
    none = machine_totals(state_time(eps, [(0, 3600)], small_stop_s=0), total=2400, ideal_cycle_time_s=1)
    assert small.run_s == 3000 and small.small_stop_s == 60 and none.run_s == 2940
    ks, kn = kpis(small), kpis(none)
    assert ks.availability == 3000 / 3600 and kn.availability == 2940 / 3600
    assert ks.performance == 2400 / 3000 and kn.performance == 2400 / 2940
    assert ks.oee == pytest.approx(kn.oee)
    assert (small.failures, none.failures) == (1, 2)
    assert ks.mtbf_s == 2940 and ks.mttr_s == 600
    assert ks.small_stop_time_s == 60


def test_energy_and_labour_per_unit_use_only_the_covered_units() -> None:
    metered = machine_totals(
        state(running=3600), total=100, ideal_cycle_time_s=1, energy_kwh=50.0, labour_s=7200
    )
    unmetered = machine_totals(state(running=3600), total=300, ideal_cycle_time_s=1)
    line = kpis(metered + unmetered)
    assert line.total_count == 400
    assert line.energy_per_unit_kwh == 0.5
    assert line.units_per_labour_hour == 50
    assert kpis(unmetered).energy_per_unit_kwh is None


def test_totals_add_optional_quantities_as_measured_parts() -> None:
    a = machine_totals(state(running=10), total=1, ideal_cycle_time_s=1, energy_kwh=2.0)
    b = machine_totals(state(running=10), total=1, ideal_cycle_time_s=1)
    assert (a + b).energy_kwh == 2.0 and (b + a).energy_kwh == 2.0
    assert (b + b).energy_kwh is None
    assert (a + a).energy_kwh == 4.0
    assert sum([a, b]) == a + b
    assert rollup([]) == Totals.zero()
    # Defaults: a hand-built Totals with energy covers all of its units.
    hand = replace(Totals.zero(), total_count=4, energy_kwh=2.0)
    assert kpis(hand).energy_per_unit_kwh == 0.5


def test_rolled_up_oee_is_not_the_mean_of_machine_oees() -> None:
    busy = machine_totals(state(running=28_000, fault=800), total=27_000, reject=100, ideal_cycle_time_s=1)
    rarely = machine_totals(state(running=600, idle=2_400), total=300, reject=30, ideal_cycle_time_s=1.5)
    line = kpis(rollup([busy, rarely]))
    mean = (kpis(busy).oee + kpis(rarely).oee) / 2
    assert line.oee == pytest.approx(line.availability * line.performance * line.quality)
    assert abs(line.oee - mean) > 0.2


# --- properties ---------------------------------------------------------------------------

seconds = st.integers(0, 30_000).map(float)


@st.composite
def machines(draw: st.DrawFn) -> Totals:
    """One machine's totals as machine_totals builds them, from consistent counts."""
    times = state(
        running=draw(seconds), idle=draw(seconds), fault=draw(seconds), setup=draw(seconds),
        stopped=draw(seconds), planned_stop=draw(seconds), unknown=draw(seconds),
        failures=draw(st.integers(0, 20)), repair=draw(seconds),
    )  # fmt: skip
    total = draw(st.integers(0, 50_000))
    reject = draw(st.integers(0, total))
    cycle = draw(st.floats(0.01, 60))
    return machine_totals(
        times,
        total=draw(st.sampled_from([total, None])),
        good=draw(st.sampled_from([total - reject, None])),
        reject=draw(st.sampled_from([reject, None])),
        ideal_cycle_time_s=cycle,
        energy_kwh=draw(st.none() | st.floats(0, 1e4)),
        labour_s=draw(st.none() | seconds),
    )


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(machines(), min_size=1, max_size=6))
def test_roll_up_computes_from_summed_totals(parts: list[Totals]) -> None:
    k = kpis(rollup(parts), LENIENT)
    planned = sum(p.planned_s for p in parts)
    known = planned - sum(p.unknown_s for p in parts)
    run = sum(p.run_s for p in parts)
    graded = sum(p.graded for p in parts)
    assert k.availability == (pytest.approx(run / known) if known > 0 else None)
    assert k.quality == (pytest.approx(sum(p.good_count for p in parts) / graded) if graded else None)
    failures = sum(p.failures for p in parts)
    assert k.mtbf_s == (pytest.approx(run / failures) if failures else None)
    # Availability of the roll-up is the mean of the parts' availabilities weighted by known
    # time; the plain mean agrees only by accident.
    weighted = [(kpis(p, LENIENT).availability, p.known_s) for p in parts if p.known_s > 0]
    if weighted:
        assert k.availability == pytest.approx(sum(a * w for a, w in weighted) / sum(w for _, w in weighted))


@settings(max_examples=200, deadline=None)
@given(machine=machines(), extra=st.integers(1, 10_000).map(float))
def test_unknown_time_changes_coverage_not_availability(machine: Totals, extra: float) -> None:
    before = kpis(machine, LENIENT)
    blind = kpis(
        replace(machine, planned_s=machine.planned_s + extra, unknown_s=machine.unknown_s + extra), LENIENT
    )
    assert blind.availability == before.availability
    assert blind.run_time_s == before.run_time_s
    assert blind.coverage is not None and (before.coverage is None or blind.coverage <= before.coverage)


@st.composite
def breaking(draw: st.DrawFn) -> Totals:
    """Totals as they come out of bad settings and bad counters: ideal time far too long,
    more rejects or good units than units, little coverage, small stops."""
    times = state(
        running=draw(seconds), idle=draw(seconds), fault=draw(seconds), setup=draw(seconds),
        stopped=draw(seconds), unknown=draw(seconds), failures=draw(st.integers(0, 5)), repair=draw(seconds),
    )  # fmt: skip
    small = draw(st.floats(0, 1)) * times.idle_s
    times = replace(times, idle_s=times.idle_s - small, small_stop_s=small, small_stops=int(small > 0))
    counts = draw(st.tuples(*(st.none() | st.integers(0, 60_000) for _ in range(3))))
    return machine_totals(
        times,
        total=counts[0],
        good=counts[1],
        reject=counts[2],
        ideal_cycle_time_s=draw(st.floats(0.01, 600)),
        energy_kwh=draw(st.none() | st.floats(0, 1e4)),
        labour_s=draw(st.none() | seconds),
    )


policies = st.builds(
    KpiPolicy,
    min_coverage=st.floats(0, 1),
    performance_tolerance=st.floats(0, 0.5),
    count_rate_tolerance=st.floats(0.5, 20),
)


def check_shown(k: Kpis) -> None:
    for name in RATIOS:
        v = getattr(k, name)
        assert v is None or 0 <= v <= 1, (name, v)
    if None not in (k.availability, k.performance, k.quality):
        assert k.oee == k.availability * k.performance * k.quality
    for flag in k.flags:
        assert getattr(k, flag.kpi) is None, flag


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(breaking(), min_size=1, max_size=4), policy=policies)
def test_no_ratio_above_one_is_ever_returned_and_oee_is_the_product(
    parts: list[Totals], policy: KpiPolicy
) -> None:
    for t in [*parts, rollup(parts)]:
        check_shown(kpis(t, policy))


@settings(max_examples=300, deadline=None)
@given(t=breaking(), policy=policies)
def test_what_the_formulas_gave_above_one_is_flagged_with_its_value(t: Totals, policy: KpiPolicy) -> None:
    lenient = kpis(t, LENIENT)
    k = kpis(t, policy)
    raw_performance = t.ideal_run_s / t.run_s if t.run_s > 0 else None
    if raw_performance is not None and raw_performance > 1 + policy.count_rate_tolerance + 1e-9:
        assert Flag("total_count", "counts_exceed_ideal_rate", t.total_count) in k.flags
        assert k.total_count is None and k.units_per_hour is None and k.good_count is None
    elif raw_performance is not None and raw_performance > 1 + policy.performance_tolerance + 1e-9:
        assert Flag("performance", "implausible_ideal_time", raw_performance) in k.flags
        assert k.total_count == t.total_count
    if t.graded and (t.reject_count > t.graded or t.good_count > t.graded):
        assert {"quality", "defect_rate", "oee"} <= {
            f.kpi for f in k.flags if f.reason == "inconsistent_counts"
        }
    if k.coverage is not None and k.coverage < policy.min_coverage and t.known_s > 0:
        assert k.availability is None and k.mtbf_s is None
    else:
        assert k.availability == lenient.availability


@st.composite
def any_machine(draw: st.DrawFn) -> Totals:
    """One machine's totals, sane or broken: an ideal cycle time from far too short to far
    too long for the counts (and counts ten times beyond it), more rejects or good units
    than units, good + reject != total, units counted in no run time, any coverage down to
    none, and (hand-built) run time longer than known time."""
    times = state(
        running=draw(st.just(0.0) | seconds), idle=draw(seconds), fault=draw(seconds), setup=draw(seconds),
        stopped=draw(seconds), planned_stop=draw(seconds), unknown=draw(seconds),
        failures=draw(st.integers(0, 20)), repair=draw(seconds),
    )  # fmt: skip
    total = draw(st.integers(0, 50_000))
    reject = draw(st.integers(0, 2 * total + 10))
    good = draw(st.just(max(0, total - reject)) | st.integers(0, 2 * total + 10))
    counts = (
        draw(st.sampled_from([total, None])), draw(st.sampled_from([good, None])),
        draw(st.sampled_from([reject, None])),
    )  # fmt: skip
    produced = derive_counts(*counts)[0]
    if produced and times.running_s:
        # the performance the counts give: far below 1, within the tolerance, far above it
        rate = draw(st.floats(0.001, 1) | st.floats(1, 1.1) | st.floats(1, 30))
        cycle = rate * times.running_s / produced
    else:
        cycle = draw(st.floats(0.01, 600))
    t = machine_totals(
        times, total=counts[0], good=counts[1], reject=counts[2], ideal_cycle_time_s=cycle,
        energy_kwh=draw(st.none() | st.floats(0, 1e4)), labour_s=draw(st.none() | seconds),
    )  # fmt: skip
    if draw(st.integers(0, 9)) == 0 and t.known_s > 0:
        t = replace(t, run_s=t.run_s + t.known_s)
    return t


def check_against_raw(t: Totals, policy: KpiPolicy) -> None:
    """What kpis shows for ``t``, from the raw ratios: a ratio the formula gives above 1
    (beyond float noise or the tolerance) is None and flagged with its reason and value."""
    k = kpis(t, policy)
    check_shown(k)
    flagged = {(f.kpi, f.reason): f.value for f in k.flags}
    reasons = {f.reason for f in k.flags}
    no_data = t.planned_s > 0 and t.known_s <= 0
    low_coverage = not no_data and t.planned_s > 0 and t.known_s / t.planned_s < policy.min_coverage
    assert ("oee", "no_data") in flagged if no_data else "no_data" not in reasons
    # availability
    raw_a = t.run_s / t.known_s if t.known_s > 0 else None
    if raw_a is None:
        assert k.availability is None and "inconsistent_times" not in reasons
    elif raw_a > 1 + 1e-9:
        assert flagged[("availability", "inconsistent_times")] == raw_a and k.availability is None
    elif low_coverage:
        assert flagged[("availability", "coverage")] == raw_a and k.availability is None
    else:
        assert k.availability == min(raw_a, 1.0)
    # performance: the counts against the ideal cycle time
    raw_p = t.ideal_run_s / t.run_s if t.run_s > 0 else None
    exceeds = raw_p is not None and raw_p > 1 + policy.count_rate_tolerance + 1e-9
    if raw_p is None:
        # units in no run time: performance is undefined, not a ratio above 1
        assert k.performance is None and not any(f.kpi == "performance" for f in k.flags)
        assert "counts_exceed_ideal_rate" not in reasons and "implausible_ideal_time" not in reasons
    elif exceeds:
        assert flagged[("performance", "counts_exceed_ideal_rate")] == raw_p
        assert flagged[("total_count", "counts_exceed_ideal_rate")] == t.total_count
        assert k.total_count is None and k.good_count is None and k.reject_count is None
        assert "implausible_ideal_time" not in reasons
    elif raw_p > 1 + policy.performance_tolerance + 1e-9:
        assert flagged[("performance", "implausible_ideal_time")] == raw_p
        assert k.performance is None and k.total_count == t.total_count
    elif low_coverage:
        assert flagged[("performance", "coverage")] == raw_p and k.performance is None
    else:
        assert k.performance == min(raw_p, 1.0) and "counts_exceed_ideal_rate" not in reasons
    # quality and defect rate: the counts against each other
    graded = t.graded
    raw_q = t.good_count / graded if graded else None
    raw_d = t.reject_count / graded if graded else None
    if graded and (raw_q > 1 + 1e-9 or raw_d > 1 + 1e-9):
        assert flagged[("quality", "inconsistent_counts")] == raw_q
        assert flagged[("defect_rate", "inconsistent_counts")] == raw_d
    elif not exceeds:
        # counts within [0, 1] are shown even when good + reject != total
        assert (k.quality, k.defect_rate) == (raw_q, raw_d)
        assert "inconsistent_counts" not in reasons
    # OEE: zero when planned time had data but no run time, whatever the units counted
    if t.run_s == 0 and t.known_s > 0 and not low_coverage and "inconsistent_counts" not in reasons:
        assert k.availability == 0 and k.oee == 0


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(any_machine(), min_size=1, max_size=4), policy=st.just(KpiPolicy()) | policies)
def test_ratios_are_fractions_or_flagged_with_the_reason(parts: list[Totals], policy: KpiPolicy) -> None:
    for t in [*parts, rollup(parts)]:
        check_against_raw(t, policy)
