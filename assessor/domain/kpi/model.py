"""Value types of the KPI computation: state time of one machine, additive totals, KPIs.

Totals are what rolls up (machine -> line -> factory, day -> month); KPIs are ratios
computed from one Totals and never added or averaged themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class StateTime:
    """Seconds per canonical state inside the calendar-planned intervals of one machine.

    ``running_s + small_stop_s + idle_s + fault_s + setup_s + stopped_s + planned_stop_s
    + unknown_s == calendar_s`` (up to float rounding). A small stop's seconds are in
    ``small_stop_s`` only, not in its state's field.
    """

    #: calendar-planned time (shifts minus breaks and holidays) the states were measured against
    calendar_s: float
    running_s: float
    idle_s: float
    fault_s: float
    setup_s: float
    stopped_s: float
    planned_stop_s: float
    #: planned time without a sample within the hold limit, or in state unknown/offline
    unknown_s: float
    #: fault episodes that started inside planned time (a fault carried over from
    #: before the window is counted in the window it started in)
    failures: int
    #: whole duration within the window of those fault episodes, planned or not
    repair_s: float
    #: planned seconds of stops (idle, fault, stopped) shorter than the small-stop limit:
    #: a performance loss, not an availability loss
    small_stop_s: float = 0.0
    #: small stops that started inside planned time (counted once, like failures)
    small_stops: int = 0

    @property
    def down_s(self) -> float:
        """Known planned busy time not running, small stops excluded: idle, fault, setup, stopped."""
        return self.idle_s + self.fault_s + self.setup_s + self.stopped_s


@dataclass(frozen=True)
class Totals:
    """Additive quantities of one work unit (machine, line, factory) over a window.

    The ``*_count`` coverage fields say which part of ``total_count`` a partly measured
    quantity belongs to, so that a ratio never divides a subset's numerator by the whole
    roll-up's units. ``None`` means "all of total_count" when the quantity is present.
    """

    #: ISO 22400 PBT: calendar-planned time minus time in planned_stop
    planned_s: float
    #: ISO 22400 APT: running within planned time, small stops included (their time is a
    #: performance loss, so it stays in the run time performance divides by)
    run_s: float
    idle_s: float
    fault_s: float
    setup_s: float
    stopped_s: float
    #: planned_stop inside calendar-planned time (already removed from planned_s)
    planned_stop_s: float
    #: part of planned_s without data
    unknown_s: float
    #: PRU x PQ summed over machines and products (each unit timed by its product)
    ideal_run_s: float
    total_count: int
    good_count: int
    reject_count: int
    failures: int
    repair_s: float
    #: None when no machine is metered
    energy_kwh: float | None = None
    #: worker-seconds, None when no headcount is known
    labour_s: float | None = None
    #: produced units whose good/reject status is measured (quality denominator)
    graded_count: int | None = None
    #: produced units of the metered machines (energy-per-unit denominator)
    metered_count: int | None = None
    #: produced units of the work units with a known headcount (labour productivity numerator)
    staffed_count: int | None = None
    #: part of run_s in small stops (docs/kpi-method.md, "Small stops")
    small_stop_s: float = 0.0
    small_stops: int = 0
    #: units whose counting interval lay in unknown planned time: made while no one could
    #: tell whether the machine ran, so in no ratio; NOT part of total_count
    unattributed_count: int = 0
    #: standard time produced: sum over products of ideal_time(P, machine) x good units(P)
    #: (docs/kpi-method.md, "Products"); the numerator of standard hours per hour worked,
    #: which a shift of the product mix cannot move
    standard_s: float = 0.0

    @property
    def known_s(self) -> float:
        """Planned busy time with data: the denominator of availability."""
        return self.planned_s - self.unknown_s

    @property
    def running_s(self) -> float:
        """Running time proper: APT without the small stops."""
        return self.run_s - self.small_stop_s

    @property
    def graded(self) -> int:
        return self.total_count if self.graded_count is None else self.graded_count

    @property
    def metered(self) -> int:
        if self.metered_count is not None:
            return self.metered_count
        return self.total_count if self.energy_kwh is not None else 0

    @property
    def staffed(self) -> int:
        if self.staffed_count is not None:
            return self.staffed_count
        return self.total_count if self.labour_s is not None else 0

    @classmethod
    def zero(cls) -> Totals:
        """The neutral element of ``+``: nothing planned, nothing produced, nothing metered."""
        return cls(**{f.name: 0 for f in fields(cls) if f.name not in _OPTIONAL_FIELDS})

    def __add__(self, other: object) -> Totals:
        if not isinstance(other, Totals):
            return NotImplemented
        summed = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in _OPTIONAL_FIELDS
        }
        return Totals(
            **summed,
            # A missing meter is "not measured", not zero: the sum is the measured part,
            # and None only when neither side measured anything.
            energy_kwh=_add_optional(self.energy_kwh, other.energy_kwh),
            labour_s=_add_optional(self.labour_s, other.labour_s),
            graded_count=self.graded + other.graded,
            metered_count=self.metered + other.metered,
            staffed_count=self.staffed + other.staffed,
        )

    def __radd__(self, other: object) -> Totals:
        # Lets the built-in sum() start from its default 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


_OPTIONAL_FIELDS = frozenset({"energy_kwh", "labour_s", "graded_count", "metered_count", "staffed_count"})


def _add_optional(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True)
class Flag:
    """A KPI left out because the data behind it is not good enough to show it.

    ``reason``: ``coverage`` (too little of the planned time has data),
    ``implausible_ideal_time`` (performance above 1 + tolerance: the ideal cycle time is
    slower than the machine really runs), ``inconsistent_counts`` (quality or defect rate
    outside [0, 1]), ``inconsistent_times`` (run time longer than the known time: totals
    that contradict each other), ``no_data`` (planned time without any known state),
    ``counts_exceed_ideal_rate`` (more units than ``1 + count_rate_tolerance`` times what
    the ideal cycle time allows in the run time: the counts are not shown).
    ``value`` is what the formula gave (None when it gave nothing)."""

    kpi: str
    reason: str
    value: float | None


@dataclass(frozen=True)
class KpiPolicy:
    """When a KPI is shown at all (docs/kpi-method.md, "Flags")."""

    #: below this share of planned time with data, time-based KPIs are flagged
    min_coverage: float = 0.8
    #: performance up to 1 + this is shown as 1 (counter edges, rounding); above, flagged
    performance_tolerance: float = 0.05
    #: units above (1 + this) x run time / ideal cycle time are no count at all: the
    #: counts and every KPI made of them are flagged (``counts_exceed_ideal_rate``). Wider
    #: than ``performance_tolerance``: an ideal cycle time a few times too slow is a
    #: setting error whose counts are real; ten times the ideal rate is a counter fault
    count_rate_tolerance: float = 9.0


@dataclass(frozen=True)
class Kpis:
    """KPIs of one Totals. Ratios are fractions within [0, 1]; None means undefined (a zero
    denominator, never 0) or flagged (see ``flags``)."""

    planned_time_s: float
    run_time_s: float
    unknown_time_s: float
    #: None when flagged (``counts_exceed_ideal_rate``)
    total_count: int | None
    good_count: int | None
    reject_count: int | None
    #: share of planned busy time with data (1 - unknown / planned)
    coverage: float | None
    availability: float | None
    #: never above 1: a higher measured value is flagged (implausible_ideal_time)
    performance: float | None
    quality: float | None
    oee: float | None
    units_per_hour: float | None
    units_per_labour_hour: float | None
    defect_rate: float | None
    mtbf_s: float | None
    mttr_s: float | None
    energy_per_unit_kwh: float | None
    #: planned seconds in small stops (part of run_time_s)
    small_stop_time_s: float = 0.0
    #: units made in unknown time, in no ratio
    unattributed_count: int = 0
    #: KPIs left out (None above) and why, with the value the formula gave
    flags: tuple[Flag, ...] = ()
