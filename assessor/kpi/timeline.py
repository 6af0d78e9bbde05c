"""From state samples to episodes and to seconds per state inside planned time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from assessor.kpi.calendar import Interval, normalise
from assessor.kpi.model import StateTime
from datacontract import CANONICAL_STATES, MachineState

UNKNOWN = MachineState.UNKNOWN.value
#: states that say nothing about what the machine did: counted as unknown time
UNKNOWN_STATES = frozenset({MachineState.UNKNOWN.value, MachineState.OFFLINE.value})

_TIMED_STATES = ("running", "idle", "fault", "setup", "stopped", "planned_stop")


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


def state_episodes(
    samples: Sequence[StateSample],
    start: float,
    end: float,
    *,
    hold_s: float,
    before: StateSample | None = None,
) -> list[Episode]:
    """Episodes tiling ``[start, end)`` exactly, in time order.

    A sample's state holds until the next sample, but at most ``hold_s`` seconds; time
    no sample covers becomes an ``unknown`` episode, so the gap a dead collector leaves
    is never credited to the last state it saw. ``before`` is the last sample before the
    window (samples before ``start`` in ``samples`` serve the same purpose). A state
    outside the canonical set is treated as ``unknown``; ``offline`` is kept as such
    (both count as unknown time). Consecutive equal states merge. Of samples sharing a
    time stamp the last one given wins.
    """
    if hold_s <= 0:
        raise ValueError(f"hold_s must be positive, got {hold_s}")
    if end <= start:
        return []
    ordered = sorted([*([before] if before is not None else []), *samples], key=lambda s: s.t)
    episodes: list[Episode] = []
    # The episode being extended, as (state, start, end, continued): building an Episode
    # per sample would dominate the cost on second-by-second data.
    state, lo, hi, continued = UNKNOWN, start, start, False
    for i, sample in enumerate(ordered):
        if sample.t >= end:
            break
        following = ordered[i + 1].t if i + 1 < len(ordered) else math.inf
        seg_lo = max(sample.t, start)
        seg_hi = min(following, sample.t + hold_s, end)
        if seg_hi <= seg_lo:
            continue
        seg_state = sample.state if sample.state in CANONICAL_STATES else UNKNOWN
        if seg_lo > hi:
            # A gap beyond the hold limit: unknown, merged with an unknown state around it.
            if state != UNKNOWN:
                _close(episodes, state, lo, hi, continued)
                state, lo, continued = UNKNOWN, hi, False
            hi = seg_lo
        if seg_state != state:
            _close(episodes, state, lo, hi, continued)
            state, lo, continued = seg_state, seg_lo, sample.t < start
        hi = seg_hi
    if hi < end:
        if state != UNKNOWN:
            _close(episodes, state, lo, hi, continued)
            state, lo, continued = UNKNOWN, hi, False
        hi = end
    _close(episodes, state, lo, hi, continued)
    return episodes


def _close(episodes: list[Episode], state: str, start: float, end: float, continued: bool) -> None:
    if end > start:
        episodes.append(Episode(state, start, end, continued=continued))


def state_time(episodes: Sequence[Episode], planned: Sequence[Interval]) -> StateTime:
    """Seconds per state inside ``planned``, unknown time and failure events.

    Planned time no episode covers (outside the episodes' window) is unknown. A failure
    is a ``fault`` episode that starts inside planned time and was not carried over
    from before the episodes' window; its repair time is its whole duration within that
    window, planned or not, because a repair that runs into a break is still one repair.
    For per-day figures, build the episodes over the whole period once and call this
    per day with that day's planned intervals: a fault crossing midnight then counts
    once, on the day it started.
    """
    intervals = normalise(planned)
    calendar_s = sum(hi - lo for lo, hi in intervals)
    seconds = dict.fromkeys(_TIMED_STATES, 0.0)
    failures = 0
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
        if episode.state in seconds:
            seconds[episode.state] += inside
        starts_planned = j < len(intervals) and intervals[j][0] <= episode.start < intervals[j][1]
        if episode.state == MachineState.FAULT and starts_planned and not episode.continued:
            failures += 1
            repair_s += episode.duration
    known = sum(seconds.values())
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
    )
