"""ISO 22400 KPIs from machine data: pure functions, fed by the caller with queried samples.

calendar: planned intervals from a shift calendar; timeline: state samples (held by
liveness) to state time and small stops; counters: increases of wrapping/resetting
counters, spread over running time; formulas: Totals and KPIs with their flags; losses:
the six big losses.
The method and the reasons behind it are in docs/kpi-method.md.
"""

from assessor.domain.kpi.calendar import (
    Interval,
    day_cuts,
    intersect,
    local_days,
    normalise,
    planned_intervals,
    subtract,
    total,
)
from assessor.domain.kpi.counters import (
    CounterResult,
    counter_increase,
    increase_between,
    increase_within,
    spread_units,
)
from assessor.domain.kpi.formulas import derive_counts, kpis, machine_totals, rollup
from assessor.domain.kpi.losses import Losses, six_big_losses
from assessor.domain.kpi.model import Flag, KpiPolicy, Kpis, StateTime, Totals
from assessor.domain.kpi.timeline import (
    SMALL_STOP_S,
    UNKNOWN_STATES,
    Episode,
    StateSample,
    merge_alive,
    state_episodes,
    state_time,
)

__all__ = [
    "SMALL_STOP_S",
    "UNKNOWN_STATES",
    "CounterResult",
    "Episode",
    "Flag",
    "Interval",
    "KpiPolicy",
    "Kpis",
    "Losses",
    "StateSample",
    "StateTime",
    "Totals",
    "counter_increase",
    "day_cuts",
    "derive_counts",
    "increase_between",
    "increase_within",
    "intersect",
    "kpis",
    "local_days",
    "machine_totals",
    "merge_alive",
    "normalise",
    "planned_intervals",
    "rollup",
    "six_big_losses",
    "spread_units",
    "state_episodes",
    "state_time",
    "subtract",
    "total",
]
