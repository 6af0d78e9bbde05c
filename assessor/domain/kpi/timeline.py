"""From state samples to episodes and to seconds per state inside planned time.

How long a state sample holds: until the next state sample, but never past the end of
the alive interval of the machine's data path that contains it (liveness,
docs/data-model.md); without liveness records, at most ``hold_s`` (the old rule).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, gt, lt, ne, or_

from assessor.domain.kpi.calendar import Interval, normalise
from assessor.domain.kpi.model import StateTime
from datacontract import CANONICAL_STATES, MachineState

UNKNOWN = MachineState.UNKNOWN.value
#: states that say nothing about what the machine did: counted as unknown time
UNKNOWN_STATES = frozenset({MachineState.UNKNOWN.value, MachineState.OFFLINE.value})

_TIMED_STATES = ("running", "idle", "fault", "setup", "stopped", "planned_stop")
#: states that can be a small stop: the machine stood without a planned reason. Setup is
#: a changeover (an availability loss however short); planned_stop is not planned time.
STOP_STATES = frozenset({MachineState.IDLE.value, MachineState.FAULT.value, MachineState.STOPPED.value})
#: the default small-stop limit (seconds): a stop shorter than this is a performance loss
SMALL_STOP_S = 120.0


@dataclass(frozen=True)
class StateSample:
    #: epoch seconds
    t: float
    #: canonical state (datacontract.MachineState)
    state: str


@dataclass(frozen=True)
class Episode:
    state: str
    start: float
    end: float
    #: the state was already on before the window: the episode is cut at the window start,
    #: so it must not count as an event (a failure) of this window
    continued: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


def merge_alive(records: Iterable[tuple[float, float]]) -> list[Interval]:
    """Alive records ``(start, alive_s)`` as sorted, disjoint ``[lo, hi)`` intervals.

    Touching or overlapping records merge: the collector starts the next record exactly
    where a full one ends, and a rewritten record may overlap its earlier version. Records
    without length (``alive_s <= 0``, or not a finite number) vouch for nothing and are
    dropped.
    """
    return normalise(
        (float(t), float(t) + float(a)) for t, a in records if math.isfinite(t) and math.isfinite(a) and a > 0
    )


class _Holds:
    """Until when a sample at ``t`` may hold (before the next sample cuts it)."""

    def __init__(self, hold_s: float, alive: Sequence[Interval] | None) -> None:
        self.hold_s = hold_s
        self.alive = list(alive) if alive else []
        self.starts = [lo for lo, _ in self.alive]

    def limits(self, ts: list[float]) -> list[float]:
        if not self.alive:
            return list(map(add, ts, repeat(self.hold_s)))
        return list(map(self.limit, ts))

    def limit(self, t: float) -> float:
        if not self.alive:
            return t + self.hold_s
        if t < self.starts[0]:
            # before the machine's first alive record: written before liveness existed
            return min(t + self.hold_s, self.starts[0])
        k = bisect_right(self.starts, t) - 1
        hi = self.alive[k][1]
        # a sample inside no alive interval holds for no time at all
        return hi if t < hi else t


def state_episodes(
    samples: Sequence[StateSample],
    start: float,
    end: float,
    *,
    hold_s: float,
    before: StateSample | None = None,
    alive: Sequence[Interval] | None = None,
) -> list[Episode]:
    """Episodes tiling ``[start, end)`` exactly, in time order.

    ``alive`` (merged, sorted intervals, see ``merge_alive``): a sample at ``s`` holds
    over ``[s, min(next sample, end of the alive interval containing s))``; a sample in
    no alive interval holds for no time; samples before the first alive interval use the
    old rule, capped at that interval's start. ``alive=None`` (or empty: a machine with no
    liveness records) is the old rule: a sample holds until the next sample, at most
    ``hold_s`` seconds. Time no sample covers becomes an ``unknown`` episode, so the gap a
    dead collector leaves is never credited to the last state it saw. ``before`` is the
    last sample before the window (samples before ``start`` in ``samples`` serve the same
    purpose). A state outside the canonical set is treated as ``unknown``; ``offline`` is
    kept as such (both count as unknown time). Consecutive equal states merge. Of samples
    sharing a time stamp the last one given wins.
    """
    return episodes_of(
        [x.t for x in samples],
        [x.state for x in samples],
        start,
        end,
        hold_s=hold_s,
        before=before,
        alive=alive,
    )


def episodes_of(
    times: Sequence[float],
    states: Sequence[str],
    start: float,
    end: float,
    *,
    hold_s: float,
    before: StateSample | None = None,
    alive: Sequence[Interval] | None = None,
    canonical: bool = True,
    fill: str = UNKNOWN,
) -> list[Episode]:
    """``state_episodes`` of samples given as two columns (times, states).

    A month of states polled every few seconds is millions of samples and a handful of
    episodes, so the per-sample work is done by whole-list operations, and only the
    points where a run of one state ends are visited one by one.

    ``canonical=False`` keeps the values as given (another slowly changing role, such as
    the product, held by the same rules); ``fill`` is the value of time no sample covers.
    """
    if hold_s <= 0:
        raise ValueError(f"hold_s must be positive, got {hold_s}")
    if end <= start:
        return []
    ts, ss = _ordered(times, states, before)
    n = bisect_left(ts, end)
    ts, ss = ts[:n], ss[:n]
    if canonical:
        ss = list(map(_CANONICAL.get, ss, repeat(UNKNOWN)))
    # each sample's segment [lo, hi): from its time (or the window start) until the next
    # sample, the end of its hold and the window end
    holds = _Holds(hold_s, alive)
    his = list(map(min, [*ts[1:], math.inf], holds.limits(ts), repeat(end)))
    los = list(map(max, ts, repeat(start)))
    keep = list(compress(range(len(ts)), map(lt, los, his)))
    if len(keep) < len(ts):
        ts, ss, los, his = ([col[i] for i in keep] for col in (ts, ss, los, his))
    # a run of one state with no gap between its segments is one segment
    firsts = [0, *compress(range(1, len(ss)), map(or_, map(ne, ss[1:], ss), map(gt, los[1:], his)))]
    lasts = [k - 1 for k in firsts[1:]] + [len(ss) - 1]
    episodes: list[Episode] = []
    state, lo, hi, continued = fill, start, start, False
    for f, z in zip(firsts, lasts, strict=True) if ss else ():
        seg_lo, seg_hi, seg_state = los[f], his[z], ss[f]
        if seg_lo > hi:
            # A gap nothing vouches for: unknown, merged with an unknown state around it.
            if state != fill:
                _close(episodes, state, lo, hi, continued)
                state, lo, continued = fill, hi, False
            hi = seg_lo
        if seg_state != state:
            _close(episodes, state, lo, hi, continued)
            state, lo, continued = seg_state, seg_lo, ts[f] < start
        hi = seg_hi
    if hi < end:
        if state != fill:
            _close(episodes, state, lo, hi, continued)
            state, lo, continued = fill, hi, False
        hi = end
    _close(episodes, state, lo, hi, continued)
    return episodes


_CANONICAL = {s: s for s in CANONICAL_STATES}


def _ordered(
    times: Sequence[float], states: Sequence[str], before: StateSample | None
) -> tuple[list[float], list[str]]:
    """The samples in time order; of samples sharing a time stamp only the last given,
    which is the one whose segment is not empty."""
    ts = [before.t, *times] if before is not None else list(times)
    ss = [before.state, *states] if before is not None else list(states)
    if any(map(gt, ts, ts[1:])):
        order = sorted(range(len(ts)), key=ts.__getitem__)
        ts, ss = [ts[i] for i in order], [ss[i] for i in order]
    return ts, ss


def _close(episodes: list[Episode], state: str, start: float, end: float, continued: bool) -> None:
    if end > start:
        episodes.append(Episode(state, start, end, continued=continued))


def state_time(
    episodes: Sequence[Episode], planned: Sequence[Interval], *, small_stop_s: float = SMALL_STOP_S
) -> StateTime:
    """Seconds per state inside ``planned``, small stops, unknown time and failure events.

    Planned time no episode covers (outside the episodes' window) is unknown. A stop
    episode (idle, fault, stopped) shorter than ``small_stop_s`` as a whole, planned or
    not, is a *small stop*: its planned seconds go to ``small_stop_s`` instead of its
    state, and a fault that is a small stop is no failure. ``small_stop_s=0`` disables
    this. A failure is a ``fault`` episode, not a small stop, that starts inside planned
    time and was not carried over from before the episodes' window; its repair time is
    its whole duration within that window, planned or not, because a repair that runs
    into a break is still one repair. Small stops are counted the same way (where they
    start). For per-day figures, build the episodes over the whole period once and call
    this per day with that day's planned intervals: a fault crossing midnight then
    counts once, on the day it started, and is classified by its whole length.
    """
    intervals = normalise(planned)
    calendar_s = sum(hi - lo for lo, hi in intervals)
    seconds = dict.fromkeys(_TIMED_STATES, 0.0)
    small_s = 0.0
    small_stops = failures = 0
    repair_s = 0.0
    j = 0
    for episode in sorted(episodes, key=lambda e: e.start):
        while j < len(intervals) and intervals[j][1] <= episode.start:
            j += 1
        k = j
        inside = 0.0
        while k < len(intervals) and intervals[k][0] < episode.end:
            inside += min(episode.end, intervals[k][1]) - max(episode.start, intervals[k][0])
            k += 1
        small = episode.state in STOP_STATES and episode.duration < small_stop_s
        starts_planned = j < len(intervals) and intervals[j][0] <= episode.start < intervals[j][1]
        event = starts_planned and not episode.continued
        if small:
            small_s += inside
            small_stops += event
        elif episode.state in seconds:
            seconds[episode.state] += inside
            if episode.state == MachineState.FAULT and event:
                failures += 1
                repair_s += episode.duration
    known = sum(seconds.values()) + small_s
    return StateTime(
        calendar_s=calendar_s,
        running_s=seconds["running"],
        idle_s=seconds["idle"],
        fault_s=seconds["fault"],
        setup_s=seconds["setup"],
        stopped_s=seconds["stopped"],
        planned_stop_s=seconds["planned_stop"],
        # By difference, so that the parts add up to the calendar time whatever the
        # episodes cover; rounding could make it a hair negative.
        unknown_s=max(0.0, calendar_s - known),
        failures=failures,
        repair_s=repair_s,
        small_stop_s=small_s,
        small_stops=small_stops,
    )


def intervals_of(episodes: Sequence[Episode], states: frozenset[str]) -> list[Interval]:
    """The spans of the episodes in one of ``states``, merged, in time order."""
    return normalise([(e.start, e.end) for e in episodes if e.state in states])
