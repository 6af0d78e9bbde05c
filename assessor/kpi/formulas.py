"""ISO 22400 KPIs from Totals, and Totals from one machine's measurements.

The reasons behind each definition are in docs/kpi-method.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from assessor.kpi.model import Kpis, StateTime, Totals


def derive_counts(total: int | None, good: int | None, reject: int | None) -> tuple[int, int, int, int]:
    """``(total, good, reject, graded)`` from whichever counters a machine has.

    Two measured counters give the third (good = total - reject). With fewer than two,
    the quality of the units is unknown: ``graded`` is 0 and good/reject are 0, so the
    machine adds its units to throughput but nothing to quality. A lone good counter is
    taken as the produced quantity, a lone reject counter cannot be used. Inconsistent
    counters (more rejects than units, which happens when counters are read at
    slightly different moments) give no negative count.
    """
    if total is not None and good is not None and reject is not None:
        return total, good, reject, total
    if total is not None and reject is not None:
        return total, max(0, total - reject), reject, total
    if total is not None and good is not None:
        return total, good, max(0, total - good), total
    if good is not None and reject is not None:
        return good + reject, good, reject, good + reject
    if total is not None:
        return total, 0, 0, 0
    if good is not None:
        return good, 0, 0, 0
    return 0, 0, 0, 0


def machine_totals(
    state_time: StateTime,
    *,
    total: int | None,
    good: int | None = None,
    reject: int | None = None,
    ideal_cycle_time_s: float,
    energy_kwh: float | None = None,
    labour_s: float | None = None,
) -> Totals:
    """Totals of one machine over a window from its state time and counter increases.

    Counts should be the increases seen inside the same planned intervals the state time
    was measured in (``counters.increase_within``), otherwise units made outside planned
    time inflate performance.
    """
    produced, good_count, reject_count, graded = derive_counts(total, good, reject)
    return Totals(
        planned_s=state_time.calendar_s - state_time.planned_stop_s,
        run_s=state_time.running_s,
        idle_s=state_time.idle_s,
        fault_s=state_time.fault_s,
        setup_s=state_time.setup_s,
        stopped_s=state_time.stopped_s,
        planned_stop_s=state_time.planned_stop_s,
        unknown_s=state_time.unknown_s,
        ideal_run_s=ideal_cycle_time_s * produced,
        total_count=produced,
        good_count=good_count,
        reject_count=reject_count,
        failures=state_time.failures,
        repair_s=state_time.repair_s,
        energy_kwh=energy_kwh,
        labour_s=labour_s,
        graded_count=graded,
        metered_count=produced if energy_kwh is not None else 0,
        staffed_count=produced if labour_s is not None else 0,
    )


def rollup(parts: Iterable[Totals]) -> Totals:
    """Totals of a larger work unit or a longer window: the plain sum of its parts."""
    return sum(parts, Totals.zero())


def kpis(t: Totals) -> Kpis:
    """KPIs of one Totals; a ratio whose denominator is zero is None."""
    known_s = t.known_s
    availability = _ratio(t.run_s, known_s)
    performance = _ratio(t.ideal_run_s, t.run_s)
    quality = _ratio(t.good_count, t.graded)
    return Kpis(
        planned_time_s=t.planned_s,
        run_time_s=t.run_s,
        unknown_time_s=t.unknown_s,
        total_count=t.total_count,
        good_count=t.good_count,
        reject_count=t.reject_count,
        coverage=_ratio(known_s, t.planned_s),
        availability=availability,
        performance=performance,
        quality=quality,
        oee=_oee(availability, performance, quality),
        units_per_hour=_ratio(t.total_count * 3600.0, known_s),
        units_per_labour_hour=_ratio(t.staffed * 3600.0, t.labour_s),
        defect_rate=_ratio(t.reject_count, t.graded),
        mtbf_s=_ratio(t.run_s, t.failures),
        mttr_s=_ratio(t.repair_s, t.failures),
        energy_per_unit_kwh=_ratio(t.energy_kwh, t.metered),
    )


def _oee(availability: float | None, performance: float | None, quality: float | None) -> float | None:
    if availability is not None and performance is not None and quality is not None:
        return availability * performance * quality
    # A zero factor settles the product even when a later one is undefined: planned
    # time without running (or running without output) is an OEE of 0, not "unknown".
    if availability == 0 or (availability is not None and performance == 0):
        return 0.0
    return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator
