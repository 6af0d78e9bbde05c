"""Machine state timeline and downtime Pareto of one factory, read from the raw signals.

One request counts the state samples in the window and fetches what was in force just
before it, and the machines' alive records (``machine_liveness``); a second one reads
the samples themselves. When there are more than ``max_points`` the second request asks
InfluxDB for the most frequent state (and downtime reason) per time bucket instead, so a
week of one-second data from fifty machines never reaches the browser as millions of
bars.

Episodes follow the KPI rules (``assessor.domain.kpi.timeline.state_episodes``): a state holds
until the next state sample or the end of the alive interval it lies in; a machine
without alive records falls back to the ``hold_s`` rule. Downtime reasons follow the
same rule, so a reason stored only when it changes holds as long as the path stays
alive.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from assessor.data.influx_client import InfluxClient, Series
from assessor.data.influxql import ident, tag_equals, time_range
from assessor.data.signals import STATE_LOOKBACK_S
from assessor.domain.downtime import (
    MachineKey,
    MachineTimeline,
    Timeline,
    align_to_alive,
    bucket_for,
)
from assessor.domain.kpi.calendar import Interval
from assessor.domain.kpi.timeline import StateSample, merge_alive, state_episodes
from assessor.domain.models import Factory
from datacontract import (
    FIELD_ALIVE_S,
    LIVENESS_MAX_RECORD_S,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
)

STATE = "state"
REASON = "downtime_reason"
#: samples per factory above which the timeline is read as per-bucket modes
MAX_POINTS = 20_000
#: how far back the state (and reason) in force at the window start is looked for: the
#: KPIs' look-back, so that the timeline and the KPIs agree. A state stored only on change
#: may be days old (a weekend); liveness says whether it still held, and a machine
#: without liveness cuts it at ``hold_s`` anyway, so one look-back serves both.
BEFORE_LOOKBACK_S = STATE_LOOKBACK_S


@dataclass
class MachineSamples:
    states: list[StateSample] = field(default_factory=list)
    #: (time, reason) in time order; an empty reason means "no reason given"
    reasons: list[tuple[float, str]] = field(default_factory=list)
    before_state: StateSample | None = None
    before_reason: tuple[float, str] | None = None
    #: alive records as (start, alive_s)
    alive: list[tuple[float, float]] = field(default_factory=list)


def _key(tags: dict[str, str]) -> MachineKey:
    return tags.get(TAG_LINE, ""), tags.get(TAG_MACHINE, "")


async def fetch_samples(
    client: InfluxClient, factory: Factory, start: float, end: float, hold_s: float, max_points: int
) -> tuple[dict[MachineKey, MachineSamples], float | None]:
    """Samples of state and downtime reason and alive records per machine, and the bucket
    width used (None: raw)."""
    m = ident(MEASUREMENT_MACHINE)
    where = tag_equals(TAG_FACTORY, factory.id)
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    before = time_range(start - max(hold_s, BEFORE_LOOKBACK_S), start)
    # an alive record is at most LIVENESS_MAX_RECORD_S long: one that covers the oldest
    # "before" sample started at most that long before it
    alive_from = start - max(hold_s, BEFORE_LOOKBACK_S) - LIVENESS_MAX_RECORD_S
    first = [
        f"SELECT COUNT({ident(STATE)}) FROM {m} WHERE {where} AND {time_range(start, end)}",
        f"SELECT LAST({ident(STATE)}) AS {ident(STATE)} FROM {m} WHERE {where} AND {before} {group}",
        f"SELECT LAST({ident(REASON)}) AS {ident(REASON)} FROM {m} WHERE {where} AND {before} {group}",
        f"SELECT {ident(FIELD_ALIVE_S)} FROM {ident(MEASUREMENT_LIVENESS)} WHERE {where} "
        f"AND {time_range(alive_from, end)} {group}",
    ]
    results = await client.query("; ".join(first))
    results += [[]] * (len(first) - len(results))
    count = sum(int(row[1] or 0) for s in results[0] for row in s.values)
    out: dict[MachineKey, MachineSamples] = defaultdict(MachineSamples)
    for s in results[1]:
        for row in s.rows():
            if row.get(STATE) is not None:
                out[_key(s.tags)].before_state = StateSample(row["time"] / 1000.0, str(row[STATE]))
    for s in results[2]:
        for row in s.rows():
            if row.get(REASON) is not None:
                out[_key(s.tags)].before_reason = (row["time"] / 1000.0, str(row[REASON]))
    for s in results[3]:
        records = out[_key(s.tags)].alive
        for row in s.rows():
            if row.get(FIELD_ALIVE_S) is not None:
                records.append((row["time"] / 1000.0, float(row[FIELD_ALIVE_S])))
    if count == 0:
        return out, None
    bucket = bucket_for(count, start, end, len(factory.machines), max_points)
    if bucket is None:
        fields = f"{ident(STATE)}, {ident(REASON)}"
        q = f"SELECT {fields} FROM {m} WHERE {where} AND {time_range(start, end)} {group}"
    else:
        q = (
            f"SELECT MODE({ident(STATE)}) AS {ident(STATE)}, MODE({ident(REASON)}) AS {ident(REASON)} "
            f"FROM {m} WHERE {where} AND {time_range(start, end)} "
            f"GROUP BY time({int(bucket)}s), {ident(TAG_LINE)}, {ident(TAG_MACHINE)} fill(none)"
        )
    raw = await client.query(q)
    for s in raw[0] if raw else []:
        _add_series(out[_key(s.tags)], s)
    return out, bucket


def _add_series(target: MachineSamples, series: Series) -> None:
    idx = {c: i for i, c in enumerate(series.columns)}
    ti, si, ri = idx["time"], idx.get(STATE), idx.get(REASON)
    for row in series.values:
        t = row[ti] / 1000.0
        if si is not None and row[si] is not None:
            target.states.append(StateSample(t, str(row[si])))
        if ri is not None and row[ri] is not None:
            target.reasons.append((t, str(row[ri])))


def _machine_alive(got: MachineSamples) -> list[Interval] | None:
    return merge_alive(got.alive) if got.alive else None


async def state_timeline(
    client: InfluxClient,
    factory: Factory,
    start: float,
    end: float,
    hold_s: float,
    *,
    max_points: int = MAX_POINTS,
) -> Timeline:
    """Episodes of every registered machine over ``[start, end)``; time without data is unknown."""
    samples, bucket = await fetch_samples(client, factory, start, end, hold_s, max_points)
    # without liveness a bucket's mode stands for the whole bucket, so it must hold at
    # least that long; with liveness it holds until the next bucket with a sample or the
    # end of the alive interval, whichever is first
    hold = hold_s if bucket is None else bucket + hold_s
    machines = []
    reasons: dict[MachineKey, list[tuple[float, str]]] = {}
    for machine in factory.machines:
        key = (machine.line_id, machine.id)
        got = samples.get(key) or MachineSamples()
        alive = _machine_alive(got)
        states, got_reasons = got.states, sorted(got.reasons)
        if bucket is not None and alive is not None:
            moved = align_to_alive([s.t for s in states], bucket, alive)
            states = [StateSample(t, s.state) for t, s in zip(moved, states, strict=True)]
            moved = align_to_alive([t for t, _ in got_reasons], bucket, alive)
            got_reasons = [(t, r) for t, (_, r) in zip(moved, got_reasons, strict=True)]
        episodes = state_episodes(states, start, end, hold_s=hold, before=got.before_state, alive=alive)
        machines.append(MachineTimeline(machine.line_id, machine.id, episodes, alive))
        reasons[key] = ([got.before_reason] if got.before_reason else []) + got_reasons
    return Timeline(start, end, machines, bucket, reasons, hold)


