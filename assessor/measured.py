"""From collector data in InfluxDB to per-machine, per-day ISO 22400 totals.

One query per factory and window pulls the canonical signals of all its machines
(GROUP BY line, machine); two more fetch what happened just before the window (the
state then in force, the counters' last values), so the first minute of a day is
neither lost nor double counted. The pure KPI functions do the rest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from assessor.domain import Factory, Machine
from assessor.influx_client import InfluxClient
from assessor.influxql import ident, tag_equals, time_range
from assessor.kpi.calendar import intersect, local_days, planned_intervals
from assessor.kpi.counters import increase_spread
from assessor.kpi.formulas import machine_totals
from assessor.kpi.model import Totals
from assessor.kpi.timeline import StateSample, state_episodes, state_time
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE

COUNTERS = ("count_total", "count_good", "count_reject", "energy_kwh")
#: how far back to look for a counter's last value before a window
COUNTER_LOOKBACK_S = 31 * 86400.0

MachineKey = tuple[str, str]  # (line, machine)


@dataclass
class MachineSignals:
    states: list[StateSample] = field(default_factory=list)
    before_state: StateSample | None = None
    counters: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    previous: dict[str, float] = field(default_factory=dict)
    previous_t: dict[str, float] = field(default_factory=dict)


def _key(tags: dict[str, str]) -> MachineKey:
    return tags.get(TAG_LINE, ""), tags.get(TAG_MACHINE, "")


async def fetch_signals(
    client: InfluxClient, factory_id: str, start: float, end: float, hold_s: float
) -> dict[MachineKey, MachineSignals]:
    m = ident(MEASUREMENT_MACHINE)
    where = tag_equals(TAG_FACTORY, factory_id)
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    fields = ", ".join(ident(f) for f in ("state", *COUNTERS))
    statements = [
        # a hold past the end: the sample that closes the last step of a counter or state
        f"SELECT {fields} FROM {m} WHERE {where} AND {time_range(start, end + hold_s)} {group}",
        f"SELECT LAST({ident('state')}) AS {ident('state')} FROM {m} WHERE {where} "
        f"AND {time_range(start - hold_s, start)} {group}",
    ] + [
        # one statement per counter: a lone LAST() also gives the time of that value
        f"SELECT LAST({ident(c)}) AS {ident(c)} FROM {m} WHERE {where} "
        f"AND {time_range(start - COUNTER_LOOKBACK_S, start)} {group}"
        for c in COUNTERS
    ]
    results = await client.query("; ".join(statements))
    results += [[]] * (len(statements) - len(results))
    raw, before, previous = results[0], results[1], [s for stmt in results[2:] for s in stmt]
    out: dict[MachineKey, MachineSignals] = defaultdict(MachineSignals)
    for series in raw:
        sig = out[_key(series.tags)]
        idx = {c: i for i, c in enumerate(series.columns)}
        ti, si = idx["time"], idx.get("state")
        counter_idx = [(c, idx[c]) for c in COUNTERS if c in idx]
        for row in series.values:
            t = row[ti] / 1000.0
            if si is not None and row[si] is not None:
                sig.states.append(StateSample(t, row[si]))
            for c, ci in counter_idx:
                v = row[ci]
                if v is not None:
                    sig.counters[c].append((t, v))
    for series in before:
        for row in series.rows():
            if row.get("state") is not None:
                out[_key(series.tags)].before_state = StateSample(row["time"] / 1000.0, row["state"])
    for series in previous:
        for row in series.rows():
            for c in COUNTERS:
                if row.get(c) is not None:
                    out[_key(series.tags)].previous[c] = row[c]
                    out[_key(series.tags)].previous_t[c] = row["time"] / 1000.0
    return out


def _width(counter: str) -> int | None:
    return None if counter == "energy_kwh" else 32


def machine_day_totals(
    sig: MachineSignals | None,
    machine: Machine,
    days: Sequence[tuple[dt.date, float, float]],
    planned_by_day: Sequence[list[tuple[float, float]]],
    hold_s: float,
) -> list[Totals]:
    """Totals of one machine for each of ``days`` (consecutive local days)."""
    if not days:
        return []
    start, end = days[0][1], days[-1][2]
    sig = sig or MachineSignals()
    episodes = state_episodes(sig.states, start, end, hold_s=hold_s, before=sig.before_state)
    increases: dict[str, list[float] | None] = {}
    for c in COUNTERS:
        points = sig.counters.get(c) or []
        increases[c] = (
            increase_spread(
                points,
                planned_by_day,
                previous=sig.previous.get(c),
                previous_t=sig.previous_t.get(c),
                width_bits=_width(c),
            )
            if points
            else None
        )
    out = []
    for i, planned in enumerate(planned_by_day):
        energy = increases["energy_kwh"]
        out.append(
            machine_totals(
                state_time(episodes, planned),
                total=_count(increases["count_total"], i),
                good=_count(increases["count_good"], i),
                reject=_count(increases["count_reject"], i),
                ideal_cycle_time_s=machine.ideal_cycle_time_s,
                energy_kwh=None if energy is None else float(energy[i]),
            )
        )
    return out


def _count(values: list[float] | None, i: int) -> int | None:
    return None if values is None else round(values[i])


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
    client: InfluxClient, factory: Factory, start: float, end: float, hold_s: float
) -> dict[tuple[str, str, dt.date], Totals]:
    """(line, machine, day) -> Totals for every registered machine and local day in the window."""
    days = factory_days(factory, start, end)
    if not days:
        return {}
    signals = await fetch_signals(client, factory.id, days[0][1], days[-1][2], hold_s)
    planned = planned_for_days(factory, days)
    out: dict[tuple[str, str, dt.date], Totals] = {}
    for machine in factory.machines:
        per_day = machine_day_totals(
            signals.get((machine.line_id, machine.id)), machine, days, planned, hold_s
        )
        for (day, _, _), totals in zip(days, per_day, strict=True):
            out[(machine.line_id, machine.id, day)] = totals
    return out
