"""State timelines and downtime, as the factory page shows them: the episodes of each
machine, downtime per (state, reason) and its Pareto. Pure code; the samples are read
by assessor.data.timeline."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from assessor.domain.kpi.calendar import Interval, intersect, total
from assessor.domain.kpi.timeline import STOP_STATES, Episode
from assessor.domain.operator_input import OperatorStop, fill_unexplained, operator_segments

#: known planned time that is not running: the availability loss the Pareto breaks down
DOWN_STATES = frozenset({"idle", "fault", "setup", "stopped"})
#: the Pareto key of stops shorter than the factory's small-stop limit
SMALL_STOP = "small_stop"
#: reason texts that say the PLC knows no reason: a reason register's 0 is commonly
#: mapped to "none" (docs/kpi-method.md, "Downtime reasons and their source")
NO_REASON = frozenset({"", "none"})


def is_no_reason(reason: str) -> bool:
    return reason.strip().lower() in NO_REASON

MachineKey = tuple[str, str]  # (line, machine)


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


def bucket_for(count: int, start: float, end: float, machines: int, max_points: int) -> float | None:
    """Bucket width (whole seconds) that keeps the timeline of ``machines`` machines under
    ``max_points`` bars; None when the ``count`` raw samples already are."""
    if count <= max_points:
        return None
    width = math.ceil((end - start) * max(machines, 1) / max_points)
    # the mode of a bucket needs several samples to mean anything: at least a minute
    return float(max(60, width))


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


def reason_spans(
    reasons: list[tuple[float, str]],
    times: list[float],
    lo: float,
    hi: float,
    until: Callable[[float], float],
) -> list[tuple[str, float, float]]:
    """Cut ``[lo, hi)`` by the reason in force: the last reason sample, while it holds
    (``until``). ``times`` are the times of ``reasons`` (bisected: a week has thousands
    of stops). Time no reason covers, and a reason saying none (``NO_REASON``), gets the
    empty reason."""
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
            spans.append(("" if is_no_reason(reason) else reason, seg_lo, held))
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
            spans = reason_spans(reasons, times, ep.start, ep.end, until)
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


@dataclass(frozen=True)
class ReasonStat:
    reason: str
    #: ``plc``, ``operator`` or "" (no reason given)
    source: str
    stops: int
    down_s: float
    #: running time of the period per stop with this reason; None: no stop
    mtbf_s: float | None
    #: down time of this reason per stop
    mttr_s: float | None


def reason_stats(pieces: Iterable[tuple], planned: list[Interval], running_s: float) -> list[ReasonStat]:
    """Per (reason, source): stops (an episode counts once per reason it holds), planned
    down seconds, MTBF (running time / stops) and MTTR (down time / stops); largest down
    time first. Small stops are left out, as from availability."""
    down: dict[tuple[str, str], float] = {}
    stops: dict[tuple[str, str], set[tuple]] = {}
    for key, ep, reason, source, lo, hi in pieces:
        if ep.state == SMALL_STOP:
            continue
        k = (reason, source)
        down[k] = down.get(k, 0.0) + total(intersect(planned, [(lo, hi)]))
        stops.setdefault(k, set()).add((key, ep.start))
    out = []
    for k, seconds in down.items():
        n = len(stops[k])
        out.append(ReasonStat(k[0], k[1], n, seconds, running_s / n, seconds / n))
    return sorted(out, key=lambda r: (-r.down_s, r.reason))


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
