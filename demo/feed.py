"""The edge boxes of the history-only factories, kept sending while the demo runs.

Only the live demo factory has a real collector. Without this, the other factories'
data would end where their history ends (yesterday), and the portfolio's data-health
column would show every one of them as silent. This feed continues each machine's
"after" regime from the same seeded model up to the present, then every few seconds,
the way a collector would: full samples every minute in planned time, and outside it a
state-only heartbeat ("stopped", reason break or no shift) every few minutes, since a
real edge box polls its PLCs day and night. The factory whose box "went silent" gets
nothing, so the data-health warning stays true.

The model is replayed from the start of the after window on every demo start (a few
seconds per factory); only points newer than the newest one stored are written, so
restarts neither duplicate nor rewrite anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from assessor.domain.models import DateWindow
from datacontract import MachineState
from demo.history import (
    FactoryPlan,
    MachinePlan,
    Sample,
    _line,
    _state_fields,
    measured_samples,
    planned_by_day,
    series_key,
    utc_offset_s,
    window_bounds,
)

#: a state holds for the assessor up to kpi.hold_s (60 s): a slower heartbeat would read as unknown time
HEARTBEAT_S = 60
#: a gap in planned time up to this long is a break, longer is the time between shifts
BREAK_MAX_S = 2 * 3600
REASON_BREAK, REASON_NO_SHIFT = 501, 502
#: how far ahead the planned intervals are laid out: a demo left running for a year
HORIZON_DAYS = 366
BATCH_LINES = 5000


def with_heartbeats(samples: Iterable[Sample], every_s: int, m: MachinePlan) -> Iterator[Sample]:
    """``samples`` with a state-only sample every ``every_s`` seconds in their gaps."""
    brk = _state_fields(m.signals, MachineState.STOPPED, REASON_BREAK)
    off = _state_fields(m.signals, MachineState.STOPPED, REASON_NO_SHIFT)
    prev: int | None = None
    for t, fields in samples:
        if prev is not None and t - prev > every_s:
            beat = off if t - prev > BREAK_MAX_S else brk
            hb = prev + every_s
            while hb < t:
                yield hb, beat
                hb += every_s
        yield t, fields
        prev = t


def machine_stream(plan: FactoryPlan, m: MachinePlan, heartbeat_s: int = HEARTBEAT_S) -> Iterator[Sample]:
    """One machine's samples from the start of its after window on, without end."""
    f = plan.factory
    start, _ = window_bounds(f, plan.after_window)
    horizon = DateWindow(plan.after_window.start, plan.after_end + dt.timedelta(days=HORIZON_DAYS))
    planned = [iv for _, day in planned_by_day(f, horizon) for iv in day]
    samples = measured_samples(m, planned, start, step_s=60, utc_offset_s=utc_offset_s(f, start))
    return with_heartbeats(samples, heartbeat_s, m)


@dataclass
class _Stream:
    factory_id: str
    key: bytes
    samples: Iterator[Sample]
    #: newest time stamp already stored for this factory: only later points are written
    after_s: float
    pending: Sample | None = None


class EdgeBoxFeed:
    """Feeds the factories in ``plans`` up to the present each time ``feed`` is called.
    ``post(factory_id, body)`` sends one batch of a factory's points, as its box would:
    to its own database, with its own login."""

    def __init__(
        self,
        plans: Sequence[FactoryPlan],
        post: Callable[[str, bytes], None],
        newest_stored: dict[str, float],
        *,
        heartbeat_s: int = HEARTBEAT_S,
    ) -> None:
        self._post = post
        self._streams = [
            _Stream(
                p.factory.id,
                series_key(p.factory.id, m.line, m.machine),
                machine_stream(p, m, heartbeat_s),
                newest_stored.get(p.factory.id, 0.0),
            )
            for p in plans
            for m in p.machines
        ]

    def feed(self, now_s: float) -> int:
        """Write every sample due by ``now_s`` that is newer than what was stored; returns
        the number of points written."""
        lines: dict[str, list[str]] = {}
        for s in self._streams:
            while True:
                if s.pending is None:
                    s.pending = next(s.samples, None)
                    if s.pending is None:
                        break
                if s.pending[0] > now_s:
                    break
                if s.pending[0] > s.after_s:
                    lines.setdefault(s.factory_id, []).append(_line(s.key, s.pending))
                s.pending = None
        for factory_id, own in lines.items():
            for i in range(0, len(own), BATCH_LINES):
                self._post(factory_id, "\n".join(own[i : i + BATCH_LINES]).encode())
        return sum(len(own) for own in lines.values())


def fed_plans(plans: Sequence[FactoryPlan], live_factory: str) -> list[FactoryPlan]:
    """The factories whose edge boxes this feed plays: not the live one (a real collector
    runs for it) and not one whose box went silent."""
    return [p for p in plans if p.factory.id != live_factory and p.silent_from is None]
