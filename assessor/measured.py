"""From collector data in InfluxDB to per-machine, per-day ISO 22400 totals.

One multi-statement query per factory and window (GROUP BY line, machine) pulls the
canonical signals of all its machines, the state then in force before the window, the
machines' alive records (``machine_liveness``) and the counters' last values before the
window, so the first minute of a day is neither lost nor double counted. The pure KPI
functions do the rest (docs/kpi-method.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from assessor.domain import Factory, Machine
from assessor.influx_client import InfluxClient
from assessor.influxql import ident, tag_equals, time_range
from assessor.kpi.calendar import Interval, intersect, local_days, planned_intervals
from assessor.kpi.counters import increase_spread, spread_units
from assessor.kpi.formulas import derive_counts, machine_totals
from assessor.kpi.model import Totals
from assessor.kpi.timeline import (
    SMALL_STOP_S,
    UNKNOWN_STATES,
    Episode,
    StateSample,
    intervals_of,
    merge_alive,
    state_episodes,
    state_time,
)
from datacontract import (
    FIELD_ALIVE_S,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
    MachineState,
)

COUNTS = ("count_total", "count_good", "count_reject")
COUNTERS = (*COUNTS, "energy_kwh")
#: how far back to look for a counter's last value before a window
COUNTER_LOOKBACK_S = 31 * 86400.0
#: how far back to look for the state in force at a window's start. A state stored only
#: on change may be days old (a machine stopped over a weekend or a holiday week) and
#: still hold, as long as the machine's alive records chain from it to the window: the
#: alive records are read from as far back. Older samples are not found, and the window
#: starts in unknown time until the next state sample.
STATE_LOOKBACK_S = 7 * 86400.0
#: how far past a window to read: the readings that close the last counter steps of the
#: window (a gateway may publish every 15 minutes) and the end of stops that run past it
#: (a stop's whole length decides whether it is a small stop)
AFTER_END_S = 900.0

MachineKey = tuple[str, str]  # (line, machine)
_RUNNING = frozenset({MachineState.RUNNING.value})


@dataclass
class MachineSignals:
    states: list[StateSample] = field(default_factory=list)
    before_state: StateSample | None = None
    counters: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    previous: dict[str, float] = field(default_factory=dict)
    previous_t: dict[str, float] = field(default_factory=dict)
    #: alive records (start, alive_s) of the machine's data path
    alive: list[tuple[float, float]] = field(default_factory=list)


def _key(tags: dict[str, str]) -> MachineKey:
    return tags.get(TAG_LINE, ""), tags.get(TAG_MACHINE, "")


def after_end_s(hold_s: float, small_stop_s: float = SMALL_STOP_S) -> float:
    """How far past a window ``fetch_signals`` reads."""
    return max(AFTER_END_S, hold_s, small_stop_s)


async def fetch_signals(
    client: InfluxClient,
    factory_id: str,
    start: float,
    end: float,
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> dict[MachineKey, MachineSignals]:
    m = ident(MEASUREMENT_MACHINE)
    where = tag_equals(TAG_FACTORY, factory_id)
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    after = end + after_end_s(hold_s, small_stop_s)
    lookback = max(STATE_LOOKBACK_S, hold_s)
    signals = ("state", *COUNTERS)
    statements = (
        [
            # one statement per field: InfluxDB stores fields apart and returns only the points
            # that have the field, so a state stored on change costs its changes, not a row
            # per counter reading, and no row is padded with nulls for absent fields
            f"SELECT {ident(f)} FROM {m} WHERE {where} AND {time_range(start, after)} {group}"
            for f in signals
        ]
        + [
            # the newest state sample before the window: a descending raw read stops at the
            # first point of each series, however far back the range reaches
            f"SELECT {ident('state')} FROM {m} WHERE {where} AND {time_range(start - lookback, start)} "
            f"{group} ORDER BY time DESC LIMIT 1",
            f"SELECT {ident(FIELD_ALIVE_S)} FROM {ident(MEASUREMENT_LIVENESS)} WHERE {where} "
            f"AND {time_range(start - lookback, after)} {group}",
        ]
        + [
            # one statement per counter: a lone LAST() also gives the time of that value
            f"SELECT LAST({ident(c)}) AS {ident(c)} FROM {m} WHERE {where} "
            f"AND {time_range(start - COUNTER_LOOKBACK_S, start)} {group}"
            for c in COUNTERS
        ]
    )
    results = await client.query("; ".join(statements))
    results += [[]] * (len(statements) - len(results))
    n = len(signals)
    before, alive = results[n], results[n + 1]
    previous = [s for stmt in results[n + 2 :] for s in stmt]
    out: dict[MachineKey, MachineSignals] = defaultdict(MachineSignals)
    for series in results[0]:
        out[_key(series.tags)].states = [
            StateSample(t / 1000.0, v) for t, v in series.values if v is not None
        ]
    for c, stmt in zip(COUNTERS, results[1:n], strict=True):
        for series in stmt:
            out[_key(series.tags)].counters[c] = [(t / 1000.0, v) for t, v in series.values if v is not None]
    for series in before:
        for row in series.rows():
            sig = out[_key(series.tags)]
            t = row["time"] / 1000.0
            if row.get("state") is not None and (sig.before_state is None or t > sig.before_state.t):
                sig.before_state = StateSample(t, row["state"])
    for series in alive:
        records = out[_key(series.tags)].alive
        for row in series.rows():
            v = row.get(FIELD_ALIVE_S)
            if isinstance(v, int | float):
                records.append((row["time"] / 1000.0, float(v)))
    for series in previous:
        for row in series.rows():
            for c in COUNTERS:
                if row.get(c) is not None:
                    out[_key(series.tags)].previous[c] = row[c]
                    out[_key(series.tags)].previous_t[c] = row["time"] / 1000.0
    return out


def _width(counter: str) -> int | None:
    return None if counter == "energy_kwh" else 32


def machine_episodes(sig: MachineSignals, start: float, end: float, hold_s: float) -> list[Episode]:
    """The machine's episodes over ``[start, end)`` widened to every reading it was given:
    back to the state sample before the window and the counters' previous readings (the
    first steps of a window are spread over the time since them), and on to the last
    reading past the window. Liveness decides how long each state holds; a machine
    without alive records falls back to ``hold_s``."""
    alive = merge_alive(sig.alive) or None
    lo = min(
        [start]
        + ([sig.before_state.t] if sig.before_state is not None else [])
        + [sig.previous_t[c] for c in COUNTS if c in sig.previous_t]
    )
    hi = max([end] + [s.t for s in sig.states] + [t for p in sig.counters.values() for t, _ in p])
    return state_episodes(sig.states, lo, hi, hold_s=hold_s, before=sig.before_state, alive=alive)


def machine_day_totals(
    sig: MachineSignals | None,
    machine: Machine,
    days: Sequence[tuple[dt.date, float, float]],
    planned_by_day: Sequence[list[tuple[float, float]]],
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> list[Totals]:
    """Totals of one machine for each of ``days`` (consecutive local days)."""
    if not days:
        return []
    start, end = days[0][1], days[-1][2]
    sig = sig or MachineSignals()
    episodes = machine_episodes(sig, start, end, hold_s)
    running = intervals_of(episodes, _RUNNING)
    unknown = intervals_of(episodes, UNKNOWN_STATES)
    counts = {c: _units(sig, c, planned_by_day, running, unknown) for c in COUNTS}
    energy_points = sig.counters.get("energy_kwh") or []
    energy = (
        increase_spread(
            energy_points,
            planned_by_day,
            previous=sig.previous.get("energy_kwh"),
            previous_t=sig.previous_t.get("energy_kwh"),
            width_bits=None,
        )
        if energy_points
        else None
    )
    out = []
    for i, planned in enumerate(planned_by_day):
        credited = {c: None if v is None else round(v[i][0]) for c, v in counts.items()}
        lost = {c: None if v is None else round(v[i][1]) for c, v in counts.items()}
        out.append(
            machine_totals(
                state_time(episodes, planned, small_stop_s=small_stop_s),
                total=credited["count_total"],
                good=credited["count_good"],
                reject=credited["count_reject"],
                ideal_cycle_time_s=machine.ideal_cycle_time_s,
                energy_kwh=None if energy is None else float(energy[i]),
                unattributed=derive_counts(lost["count_total"], lost["count_good"], lost["count_reject"])[0],
            )
        )
    return out


def _units(
    sig: MachineSignals,
    counter: str,
    planned_by_day: Sequence[list[Interval]],
    running: list[Interval],
    unknown: list[Interval],
) -> list[tuple[float, float]] | None:
    points = sig.counters.get(counter) or []
    if not points:
        return None
    return spread_units(
        points,
        planned_by_day,
        running=running,
        unknown=unknown,
        previous=sig.previous.get(counter),
        previous_t=sig.previous_t.get(counter),
        width_bits=_width(counter),
    )


def factory_days(factory: Factory, start: float, end: float) -> list[tuple[dt.date, float, float]]:
    return local_days(factory.calendar.timezone, start, end)


def planned_for_days(
    factory: Factory, days: Sequence[tuple[dt.date, float, float]]
) -> list[list[tuple[float, float]]]:
    if not days:
        return []
    whole = planned_intervals(factory.calendar, days[0][1], days[-1][2])
    return [intersect(whole, [(s, e)]) for _, s, e in days]


async def measured_day_totals(
    client: InfluxClient,
    factory: Factory,
    start: float,
    end: float,
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> dict[tuple[str, str, dt.date], Totals]:
    """(line, machine, day) -> Totals for every registered machine and local day in the window."""
    days = factory_days(factory, start, end)
    if not days:
        return {}
    signals = await fetch_signals(
        client, factory.id, days[0][1], days[-1][2], hold_s, small_stop_s=small_stop_s
    )
    planned = planned_for_days(factory, days)
    out: dict[tuple[str, str, dt.date], Totals] = {}
    for machine in factory.machines:
        per_day = machine_day_totals(
            signals.get((machine.line_id, machine.id)),
            machine,
            days,
            planned,
            hold_s,
            small_stop_s=small_stop_s,
        )
        for (day, _, _), totals in zip(days, per_day, strict=True):
            out[(machine.line_id, machine.id, day)] = totals
    return out
