"""Machine state timeline and downtime Pareto of one factory, read from the raw signals.

One request counts the state samples in the window and fetches what was in force just
before it, and the machines' alive records (``machine_liveness``); a second one reads
the samples themselves. When there are more than ``max_points`` the second request asks
InfluxDB for the most frequent state (and downtime reason) per time bucket instead, so a
week of one-second data from fifty machines never reaches the browser as millions of
bars.

Episodes follow the KPI rules (``assessor.kpi.timeline.state_episodes``): a state holds
until the next state sample or the end of the alive interval it lies in; a machine
without alive records falls back to the ``hold_s`` rule. Downtime reasons follow the
same rule, so a reason stored only when it changes holds as long as the path stays
alive.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from assessor.domain import Factory
from assessor.domain.operator_input import OperatorStop, fill_unexplained, operator_segments
from assessor.influx_client import InfluxClient, Series
from assessor.influxql import ident, tag_equals, time_range
from assessor.kpi.calendar import Interval, intersect
from assessor.kpi.timeline import STOP_STATES, Episode, StateSample, merge_alive, state_episodes
from assessor.measured import STATE_LOOKBACK_S
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
#: known planned time that is not running: the availability loss the Pareto breaks down
DOWN_STATES = frozenset({"idle", "fault", "setup", "stopped"})
#: the Pareto key of stops shorter than the factory's small-stop limit
SMALL_STOP = "small_stop"
#: how far back the state (and reason) in force at the window start is looked for: the
#: KPIs' look-back, so that the timeline and the KPIs agree. A state stored only on change
#: may be days old (a weekend); liveness says whether it still held, and a machine
#: without liveness cuts it at ``hold_s`` anyway, so one look-back serves both.
BEFORE_LOOKBACK_S = STATE_LOOKBACK_S

MachineKey = tuple[str, str]  # (line, machine)


@dataclass
class MachineSamples:
    states: list[StateSample] = field(default_factory=list)
    #: (time, reason) in time order; an empty reason means "no reason given"
    reasons: list[tuple[float, str]] = field(default_factory=list)
    before_state: StateSample | None = None
    before_reason: tuple[float, str] | None = None
    #: alive records as (start, alive_s)
    alive: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class MachineTimeline:
    line: str
    machine: str
    episodes: list[Episode]
    #: merged alive intervals; None: the machine has no alive records (``hold_s`` rule)
    alive: list[Interval] | None = None


@dataclass(frozen=True)
class Timeline:
    start: float
    end: float
    machines: list[MachineTimeline]
    #: None for raw samples, else the bucket width the states were reduced to
    bucket_s: float | None
    #: the machine -> (time, reason) samples behind the Pareto
    reasons: dict[MachineKey, list[tuple[float, str]]]
    #: how long one sample (or bucket) holds on a machine without alive records
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


def align_to_alive(times: Sequence[float], bucket_s: float, alive: Sequence[Interval]) -> list[float]:
    """Bucket start times moved to the first alive moment inside their bucket.

    A bucket's mode stands for the alive part of its bucket only: stamped at the bucket
    start, a bucket whose path came alive halfway would otherwise lie outside any alive
    interval and hold for no time at all. A bucket with no alive time keeps its time.
    """
    los = [lo for lo, _ in alive]
    out = []
    for t in times:
        i = max(bisect.bisect_right(los, t) - 1, 0)
        moved = t
        for lo, hi in alive[i:]:
            if lo >= t + bucket_s:
                break
            if hi > t:
                moved = max(t, lo)
                break
        out.append(moved)
    return out


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


def held_until(alive: Sequence[Interval] | None, hold_s: float) -> Callable[[float], float]:
    """When a sample taken at ``t`` stops holding, by the rule of ``state_episodes`` (for
    downtime reasons, which are not states): the
    end of the alive interval it lies in (none: it holds for no time); before the first
    alive interval, or without alive intervals, ``t + hold_s`` (capped at that interval)."""
    if not alive:
        return lambda t: t + hold_s
    los = [lo for lo, _ in alive]
    first = los[0]

    def until(t: float) -> float:
        if t < first:
            return min(t + hold_s, first)
        hi = alive[bisect.bisect_right(los, t) - 1][1]
        return hi if t < hi else t

    return until


def _reason_spans(
    reasons: list[tuple[float, str]],
    times: list[float],
    lo: float,
    hi: float,
    until: Callable[[float], float],
) -> list[tuple[str, float, float]]:
    """Cut ``[lo, hi)`` by the reason in force: the last reason sample, while it holds
    (``until``). ``times`` are the times of ``reasons`` (bisected: a week has thousands
    of stops). Time no reason covers gets the empty reason."""
    first = bisect.bisect_right(times, lo) - 1
    last = bisect.bisect_left(times, hi)
    points = reasons[max(first, 0) : last]
    spans: list[tuple[str, float, float]] = []
    cursor = lo
    for i, (t, reason) in enumerate(points):
        seg_lo = max(t, lo)
        seg_hi = min(points[i + 1][0] if i + 1 < len(points) else hi, hi)
        if seg_hi <= seg_lo:
            continue
        if seg_lo > cursor:
            spans.append(("", cursor, seg_lo))
        # a stale reason (beyond the hold, or across a liveness gap) says nothing more
        held = min(until(t), seg_hi)
        if held > seg_lo:
            spans.append((reason, seg_lo, held))
        if held < seg_hi:
            spans.append(("", max(seg_lo, held), seg_hi))
        cursor = seg_hi
    if cursor < hi:
        spans.append(("", cursor, hi))
    return spans


def is_small_stop(episode: Episode, small_stop_s: float, start: float, end: float) -> bool:
    """A stop (idle, fault, stopped) shorter than the limit, as ``state_time`` counts it.
    A stop cut by the period (begun before ``start``, or still on at ``end``) may be
    longer than what the period shows, so it is not taken for a small one."""
    cut = episode.continued or episode.start <= start or episode.end >= end
    return episode.state in STOP_STATES and not cut and episode.duration < small_stop_s


def downtime_by_reason(
    timeline: Timeline, planned: list[Interval], *, small_stop_s: float = 0.0
) -> dict[tuple[str, str], float]:
    """(state, reason) -> seconds of planned down time (idle, fault, setup, stopped).

    Stops shorter than ``small_stop_s`` are performance losses, not availability losses
    (the six big losses): they are summed under ``(SMALL_STOP, "")`` whatever their
    reason, so the Pareto shows them as one bar of their own. 0 turns that off.
    """
    out: dict[tuple[str, str], float] = defaultdict(float)
    for (state, reason, _), seconds in downtime_by_reason_source(
        timeline, planned, small_stop_s=small_stop_s
    ).items():
        out[(state, reason)] += seconds
    return dict(out)


def reason_pieces(
    timeline: Timeline, *, small_stop_s: float = 0.0, operator: Sequence[OperatorStop] = ()
) -> Iterator[tuple[MachineKey, Episode, str, str, float, float]]:
    """``(machine, episode, reason, source, lo, hi)`` for each piece of each down episode:
    a small stop is one piece with state SMALL_STOP; elsewhere time the PLC gave no reason
    for takes the reason people entered for that stop (``operator``), and the source says
    which (``plc``, ``operator``, or ``""`` for none)."""
    for m in timeline.machines:
        key = (m.line, m.machine)
        reasons = timeline.reasons.get(key, [])
        times = [t for t, _ in reasons]
        until = held_until(m.alive, timeline.hold_s)
        for ep in m.episodes:
            if ep.state not in DOWN_STATES:
                continue
            if is_small_stop(ep, small_stop_s, timeline.start, timeline.end):
                yield key, Episode(SMALL_STOP, ep.start, ep.end, ep.continued), "", "", ep.start, ep.end
                continue
            spans = _reason_spans(reasons, times, ep.start, ep.end, until)
            segments = operator_segments(operator, m.line, m.machine, ep.start, ep.end)
            for reason, source, lo, hi in fill_unexplained(spans, segments):
                yield key, ep, reason, source, lo, hi


def downtime_by_reason_source(
    timeline: Timeline,
    planned: list[Interval],
    *,
    small_stop_s: float = 0.0,
    operator: Sequence[OperatorStop] = (),
) -> dict[tuple[str, str, str], float]:
    """(state, reason, source) -> seconds of planned down time, by ``reason_pieces``."""
    out: dict[tuple[str, str, str], float] = defaultdict(float)
    pieces = reason_pieces(timeline, small_stop_s=small_stop_s, operator=operator)
    for _, ep, reason, source, lo, hi in pieces:
        seconds = sum(b - a for a, b in intersect(planned, [(lo, hi)]))
        if seconds > 0:
            out[(ep.state, reason, source)] += seconds
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
