"""Machine state timeline and downtime Pareto of one factory, read from the raw signals.

One request counts the state samples in the window and fetches what was in force just
before it; a second one reads the samples themselves. When there are more than
``max_points`` the second request asks InfluxDB for the most frequent state (and
downtime reason) per time bucket instead, so a week of one-second data from fifty
machines never reaches the browser as millions of bars.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field

from assessor.domain import Factory
from assessor.influx_client import InfluxClient, Series
from assessor.influxql import ident, tag_equals, time_range
from assessor.kpi.calendar import Interval, intersect
from assessor.kpi.timeline import Episode, StateSample, state_episodes
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE

STATE = "state"
REASON = "downtime_reason"
#: samples per factory above which the timeline is read as per-bucket modes
MAX_POINTS = 20_000
#: known planned time that is not running: the availability loss the Pareto breaks down
DOWN_STATES = frozenset({"idle", "fault", "setup", "stopped"})

MachineKey = tuple[str, str]  # (line, machine)


@dataclass
class MachineSamples:
    states: list[StateSample] = field(default_factory=list)
    #: (time, reason) in time order; an empty reason means "no reason given"
    reasons: list[tuple[float, str]] = field(default_factory=list)
    before_state: StateSample | None = None
    before_reason: tuple[float, str] | None = None


@dataclass(frozen=True)
class MachineTimeline:
    line: str
    machine: str
    episodes: list[Episode]


@dataclass(frozen=True)
class Timeline:
    start: float
    end: float
    machines: list[MachineTimeline]
    #: None for raw samples, else the bucket width the states were reduced to
    bucket_s: float | None
    #: the machine -> (time, reason) samples behind the Pareto
    reasons: dict[MachineKey, list[tuple[float, str]]]
    #: how long one sample (or bucket) holds
    hold_s: float

    @property
    def has_data(self) -> bool:
        return any(ep.state != "unknown" for m in self.machines for ep in m.episodes)


@dataclass(frozen=True)
class ParetoBar:
    reason: str
    seconds: float
    #: cumulative share of all downtime up to and including this bar (0..1)
    cumulative: float


def _key(tags: dict[str, str]) -> MachineKey:
    return tags.get(TAG_LINE, ""), tags.get(TAG_MACHINE, "")


def bucket_for(count: int, start: float, end: float, machines: int, max_points: int) -> float | None:
    """Bucket width (whole seconds) that keeps the timeline of ``machines`` machines under
    ``max_points`` bars; None when the ``count`` raw samples already are."""
    if count <= max_points:
        return None
    width = math.ceil((end - start) * max(machines, 1) / max_points)
    # the mode of a bucket needs several samples to mean anything: at least a minute
    return float(max(60, width))


async def fetch_samples(
    client: InfluxClient, factory: Factory, start: float, end: float, hold_s: float, max_points: int
) -> tuple[dict[MachineKey, MachineSamples], float | None]:
    """Samples of state and downtime reason per machine, and the bucket width used (None: raw)."""
    m = ident(MEASUREMENT_MACHINE)
    where = tag_equals(TAG_FACTORY, factory.id)
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    first = [
        f"SELECT COUNT({ident(STATE)}) FROM {m} WHERE {where} AND {time_range(start, end)}",
        f"SELECT LAST({ident(STATE)}) AS {ident(STATE)} FROM {m} WHERE {where} "
        f"AND {time_range(start - hold_s, start)} {group}",
        f"SELECT LAST({ident(REASON)}) AS {ident(REASON)} FROM {m} WHERE {where} "
        f"AND {time_range(start - hold_s, start)} {group}",
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
    # a bucket's mode stands for the whole bucket, so it must hold at least that long
    hold = hold_s if bucket is None else bucket + hold_s
    machines = []
    reasons: dict[MachineKey, list[tuple[float, str]]] = {}
    for machine in factory.machines:
        key = (machine.line_id, machine.id)
        got = samples.get(key) or MachineSamples()
        episodes = state_episodes(got.states, start, end, hold_s=hold, before=got.before_state)
        machines.append(MachineTimeline(machine.line_id, machine.id, episodes))
        reasons[key] = ([got.before_reason] if got.before_reason else []) + sorted(got.reasons)
    return Timeline(start, end, machines, bucket, reasons, hold)


def _reason_spans(
    reasons: list[tuple[float, str]], times: list[float], lo: float, hi: float, hold: float
) -> list[tuple[str, float, float]]:
    """Cut ``[lo, hi)`` by the reason in force: the last reason sample at most ``hold`` old.
    ``times`` are the times of ``reasons`` (bisected: a week has thousands of stops)."""
    first = bisect.bisect_right(times, lo) - 1
    last = bisect.bisect_left(times, hi)
    points = reasons[max(first, 0) : last]
    if first < 0:
        # nothing before the stop: no reason until the first sample inside it
        points.insert(0, (lo - hold - 1.0, ""))
    spans: list[tuple[str, float, float]] = []
    for i, (t, reason) in enumerate(points):
        seg_lo = max(t, lo)
        seg_hi = min(points[i + 1][0] if i + 1 < len(points) else hi, hi)
        if seg_hi <= seg_lo:
            continue
        held_until = t + hold
        if held_until >= seg_hi:
            spans.append((reason, seg_lo, seg_hi))
            continue
        # a stale reason says nothing about the rest of the stop
        if held_until > seg_lo:
            spans.append((reason, seg_lo, held_until))
        spans.append(("", max(seg_lo, held_until), seg_hi))
    return spans


def downtime_by_reason(timeline: Timeline, planned: list[Interval]) -> dict[tuple[str, str], float]:
    """(state, reason) -> seconds of planned down time (idle, fault, setup, stopped)."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for m in timeline.machines:
        reasons = timeline.reasons.get((m.line, m.machine), [])
        times = [t for t, _ in reasons]
        for ep in m.episodes:
            if ep.state not in DOWN_STATES:
                continue
            for reason, lo, hi in _reason_spans(reasons, times, ep.start, ep.end, timeline.hold_s):
                seconds = sum(b - a for a, b in intersect(planned, [(lo, hi)]))
                if seconds > 0:
                    out[(ep.state, reason.strip())] += seconds
    return dict(out)


def pareto(seconds_by_label: dict[str, float], rest_label: str, limit: int = 12) -> list[ParetoBar]:
    """Largest first with the cumulative share; labels beyond ``limit`` are summed into a
    last bar named ``rest_label`` so the total stays right."""
    ordered = sorted(((k, v) for k, v in seconds_by_label.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) > limit:
        rest = sum(v for _, v in ordered[limit - 1 :])
        ordered = [*ordered[: limit - 1], (rest_label, rest)]
    grand = sum(v for _, v in ordered)
    bars, running = [], 0.0
    for label, value in ordered:
        running += value
        bars.append(ParetoBar(label, value, running / grand if grand else 0.0))
    return bars
