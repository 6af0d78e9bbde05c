"""ISO 22400 KPIs from Totals, and Totals from one machine's measurements.

The reasons behind each definition are in docs/kpi-method.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from assessor.domain.kpi.model import Flag, KpiPolicy, Kpis, StateTime, Totals


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
    unattributed: int = 0,
) -> Totals:
    """Totals of one machine over a window from its state time and counter increases.

    Counts should be the units credited to the running time inside the same planned
    intervals the state time was measured in (``counters.spread_units``), otherwise
    units made outside planned time inflate performance. ``unattributed``: units made
    in unknown planned time (kept apart, in no ratio). Run time (APT) includes small
    stops.
    """
    produced, good_count, reject_count, graded = derive_counts(total, good, reject)
    return Totals(
        planned_s=state_time.calendar_s - state_time.planned_stop_s,
        run_s=state_time.running_s + state_time.small_stop_s,
        idle_s=state_time.idle_s,
        fault_s=state_time.fault_s,
        setup_s=state_time.setup_s,
        stopped_s=state_time.stopped_s,
        planned_stop_s=state_time.planned_stop_s,
        unknown_s=state_time.unknown_s,
        ideal_run_s=ideal_cycle_time_s * produced,
        standard_s=ideal_cycle_time_s * good_count,
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
        small_stop_s=state_time.small_stop_s,
        small_stops=state_time.small_stops,
        unattributed_count=unattributed,
    )


def rollup(parts: Iterable[Totals]) -> Totals:
    """Totals of a larger work unit or a longer window: the plain sum of its parts."""
    return sum(parts, Totals.zero())


#: which KPIs each flag reason removes
FLAGGED_BY: dict[str, tuple[str, ...]] = {
    "coverage": (
        "availability", "performance", "oee", "units_per_hour", "units_per_labour_hour", "mtbf_s", "mttr_s",
    ),
    "implausible_ideal_time": ("performance", "oee"),
    "counts_exceed_ideal_rate": (
        "total_count", "good_count", "reject_count", "performance", "quality", "oee", "units_per_hour",
        "units_per_labour_hour", "defect_rate", "energy_per_unit_kwh",
    ),
    "inconsistent_counts": ("quality", "defect_rate", "oee"),
    "inconsistent_times": ("availability", "oee"),
    "no_data": ("oee",),
}  # fmt: skip
#: float noise allowed above 1 before a ratio counts as above 1
_EPS = 1e-9


DEFAULT_POLICY = KpiPolicy()


def kpis(t: Totals, policy: KpiPolicy = DEFAULT_POLICY) -> Kpis:
    """KPIs of one Totals; a ratio whose denominator is zero is None, and so is a KPI the
    ``policy`` flags (the value the formula gave is in ``Kpis.flags``).

    OEE is availability x performance x quality of the ratios shown, so it always equals
    their product; a flagged factor leaves OEE out too. No ratio above 1 is returned:
    performance up to ``1 + policy.performance_tolerance`` is shown as 1, above that it
    is flagged; counts more than ``1 + policy.count_rate_tolerance`` times what the ideal
    cycle time allows in the run time are flagged with every KPI made of them.
    """
    known_s = t.known_s
    coverage = _ratio(known_s, t.planned_s)
    availability = _ratio(t.run_s, known_s)
    performance = _ratio(t.ideal_run_s, t.run_s)
    quality = _ratio(t.good_count, t.graded)
    defect_rate = _ratio(t.reject_count, t.graded)
    raw = {
        "availability": availability,
        "performance": performance,
        "quality": quality,
        "units_per_hour": _ratio(t.total_count * 3600.0, known_s),
        "units_per_labour_hour": _ratio(t.staffed * 3600.0, t.labour_s),
        "defect_rate": defect_rate,
        "mtbf_s": _ratio(t.running_s, t.failures),
        "mttr_s": _ratio(t.repair_s, t.failures),
        "energy_per_unit_kwh": _ratio(t.energy_kwh, t.metered),
        "total_count": t.total_count,
        "good_count": t.good_count,
        "reject_count": t.reject_count,
    }
    reasons = _reasons(t, policy, coverage, raw)
    # small excesses within the tolerance (and float noise) are shown as 1
    shown = {k: (_clip(v) if k in _FRACTIONS else v) for k, v in raw.items()}
    raw["oee"] = _oee(availability, performance, quality)
    shown["oee"] = _oee(shown["availability"], shown["performance"], shown["quality"])
    flags = tuple(
        Flag(kpi, reason, raw[kpi])
        for reason in reasons
        for kpi in FLAGGED_BY[reason]
        if raw[kpi] is not None or reason == "no_data"
    )
    for flag in flags:
        shown[flag.kpi] = None
    return Kpis(
        planned_time_s=t.planned_s,
        run_time_s=t.run_s,
        unknown_time_s=t.unknown_s,
        total_count=shown["total_count"],
        good_count=shown["good_count"],
        reject_count=shown["reject_count"],
        coverage=None if coverage is None else _clip(coverage),
        availability=shown["availability"],
        performance=shown["performance"],
        quality=shown["quality"],
        oee=shown["oee"],
        units_per_hour=shown["units_per_hour"],
        units_per_labour_hour=shown["units_per_labour_hour"],
        defect_rate=shown["defect_rate"],
        mtbf_s=shown["mtbf_s"],
        mttr_s=shown["mttr_s"],
        energy_per_unit_kwh=shown["energy_per_unit_kwh"],
        small_stop_time_s=t.small_stop_s,
        unattributed_count=t.unattributed_count,
        flags=flags,
    )


_FRACTIONS = frozenset({"availability", "performance", "quality", "defect_rate"})


def _reasons(t: Totals, policy: KpiPolicy, coverage: float | None, raw: dict[str, float | None]) -> list[str]:
    """Why KPIs of ``t`` must not be shown, in a fixed order."""
    reasons = []
    if t.planned_s > 0 and t.known_s <= 0:
        reasons.append("no_data")
    elif coverage is not None and coverage < policy.min_coverage:
        reasons.append("coverage")
    availability, performance = raw["availability"], raw["performance"]
    if availability is not None and availability > 1 + _EPS:
        reasons.append("inconsistent_times")
    if performance is not None and performance > 1 + policy.count_rate_tolerance + _EPS:
        # far more units than the machine can make: a counter fault (or an ideal cycle
        # time off by a unit), so the counts themselves cannot be shown
        reasons.append("counts_exceed_ideal_rate")
    elif performance is not None and performance > 1 + policy.performance_tolerance + _EPS:
        reasons.append("implausible_ideal_time")
    if any(v is not None and not -_EPS <= v <= 1 + _EPS for v in (raw["quality"], raw["defect_rate"])):
        reasons.append("inconsistent_counts")
    return reasons


def _clip(v: float | None) -> float | None:
    # only ever applied to values the flags let through: at most 1 + tolerance
    return None if v is None else min(1.0, max(0.0, v))


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
