"""ISO 22400 KPIs from machine data: pure functions, fed by the caller with queried samples.

calendar: planned intervals from a shift calendar; timeline: state samples to state
time; counters: increases of wrapping/resetting counters; formulas: Totals and KPIs.
The method and the reasons behind it are in docs/kpi-method.md.
"""

from assessor.kpi.calendar import (
    Interval,
    day_cuts,
    intersect,
    local_days,
    normalise,
    planned_intervals,
    subtract,
    total,
)
from assessor.kpi.counters import CounterResult, counter_increase, increase_between, increase_within
from assessor.kpi.formulas import derive_counts, kpis, machine_totals, rollup
from assessor.kpi.model import Kpis, StateTime, Totals
from assessor.kpi.timeline import UNKNOWN_STATES, Episode, StateSample, state_episodes, state_time

__all__ = [
    "UNKNOWN_STATES",
    "CounterResult",
    "Episode",
    "Interval",
    "Kpis",
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
    "normalise",
    "planned_intervals",
    "rollup",
    "state_episodes",
    "state_time",
    "subtract",
    "total",
]
