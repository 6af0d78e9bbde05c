"""What people at the line tell about stops, as pure rules: the factory's reason tree, the
queue of stops still waiting for a reason, splitting a stop, and merging operator
reasons into the PLC's (docs/kpi-method.md, "Downtime reasons and their source").

Times are epoch seconds. A stop is a state episode (``assessor.domain.kpi.timeline.Episode``)
of one machine; an operator entry names the stop by its machine and its start and end
as the queue showed them, and is matched to the episodes of a later read by overlap:
an episode read again after more samples arrived may start or end a little elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from assessor.domain.kpi.model import Totals
from assessor.domain.models import ShiftCalendar

if TYPE_CHECKING:
    from assessor.domain.level.evidence import MachineEvidence

#: the 4M/5M categories of a downtime reason, in their Korean and English names
CATEGORIES: dict[str, tuple[str, str]] = {
    "man": ("사람", "Man"),
    "machine": ("설비", "Machine"),
    "material": ("자재", "Material"),
    "method": ("방법", "Method"),
    "measurement": ("측정", "Measurement"),
}
#: states whose stops wait for a reason
QUEUE_STATES = frozenset({"fault", "stopped", "idle", "setup"})
#: where a stop's reason came from
SOURCE_PLC = "plc"
SOURCE_OPERATOR = "operator"
#: pieces one stop may be split into; more is a slip of the finger, not a stop
MAX_SEGMENTS = 8
#: the shortest piece of a split stop, seconds
MIN_SEGMENT_S = 1.0

MachineKey = tuple[str, str]  # (line, machine)


class OperatorInputError(ValueError):
    """An entry that cannot be taken as given; ``field`` names the place."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class OperatorStop:
    """An operator's reasons for one stop of one machine (stored in the registry)."""

    line: str
    machine: str
    start: float
    end: float
    segments: tuple[Segment, ...]
    comment: str = ""
    id: int = 0
    version: int = 1


@dataclass(frozen=True)
class Stop:
    """A stop of a machine as the timeline shows it, with what the PLC said about it."""

    line: str
    machine: str
    state: str
    start: float
    end: float
    #: reason codes the PLC gave for some part of the stop
    plc_reasons: tuple[str, ...] = ()
    #: seconds of the stop without a PLC reason
    unexplained_s: float = 0.0
    #: still going at the end of the read
    ongoing: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


def overlaps(a_start: float, a_end: float, b_start: float, b_end: float) -> bool:
    return a_start < b_end and b_start < a_end


def explained_by(stop: Stop, entries: Iterable[OperatorStop]) -> OperatorStop | None:
    """The operator entry for ``stop``: one of the same machine that overlaps it."""
    for e in entries:
        if (e.line, e.machine) == (stop.line, stop.machine) and overlaps(
            e.start, e.end, stop.start, stop.end
        ):
            return e
    return None


def reason_queue(
    stops: Iterable[Stop],
    entries: Sequence[OperatorStop],
    window: tuple[float, float],
    small_stop_s: float,
) -> list[Stop]:
    """The stops still waiting for a reason, newest first: a fault, stop, idle or setup
    longer than the small-stop limit (shorter ones are a performance loss, nobody is
    asked about each), reaching into ``window`` (the current and previous shift), with
    some part the PLC gave no reason for, and no operator entry yet."""
    lo, hi = window
    out = [
        s
        for s in stops
        if s.state in QUEUE_STATES
        and s.duration > small_stop_s
        and overlaps(s.start, s.end, lo, hi)
        and s.unexplained_s > 0
        and explained_by(s, entries) is None
    ]
    return sorted(out, key=lambda s: (-s.start, s.line, s.machine))


def validate_segments(
    start: float, end: float, segments: Sequence[Segment], codes: Iterable[str]
) -> tuple[Segment, ...]:
    """Segments that cover ``[start, end)`` edge to edge in time order, each at least
    MIN_SEGMENT_S long and naming a reason of the tree; else OperatorInputError."""
    known = set(codes)
    if end <= start:
        raise OperatorInputError("end", "the stop must end after it starts")
    if not segments:
        raise OperatorInputError("segments", "give at least one reason")
    if len(segments) > MAX_SEGMENTS:
        raise OperatorInputError("segments", f"at most {MAX_SEGMENTS} pieces per stop")
    cursor = start
    for i, s in enumerate(segments):
        at = f"segments[{i}]"
        if s.reason not in known:
            raise OperatorInputError(f"{at}.reason", f"unknown reason code {s.reason!r}")
        if abs(s.start - cursor) > 1e-6:
            raise OperatorInputError(f"{at}.start", "pieces must follow each other without gap or overlap")
        if s.end - s.start < MIN_SEGMENT_S:
            raise OperatorInputError(f"{at}.end", f"a piece must last at least {MIN_SEGMENT_S:g} s")
        cursor = s.end
    if abs(cursor - end) > 1e-6:
        raise OperatorInputError(
            f"segments[{len(segments) - 1}].end", "the last piece must end with the stop"
        )
    return tuple(segments)


def split(start: float, end: float, at: float, first: str, second: str) -> tuple[Segment, Segment]:
    """A stop cut in two at ``at``, each piece with its own reason."""
    if not start + MIN_SEGMENT_S <= at <= end - MIN_SEGMENT_S:
        raise OperatorInputError(
            "at", f"the split must lie inside the stop, {MIN_SEGMENT_S:g} s from its ends"
        )
    return Segment(start, at, first), Segment(at, end, second)


def fit_to_episode(ep_start: float, ep_end: float, segments: Sequence[Segment]) -> list[Segment]:
    """An entry's segments laid over an episode read again: the first piece starts with
    the episode and the last ends with it (a stop that went on after the entry keeps
    the last reason given), the cuts between them stay where the operator put them."""
    ordered = sorted(segments, key=lambda s: s.start)
    cuts = [min(max(s.start, ep_start), ep_end) for s in ordered[1:]]
    bounds = [ep_start, *cuts, ep_end]
    return [
        Segment(bounds[i], bounds[i + 1], s.reason)
        for i, s in enumerate(ordered)
        if bounds[i + 1] > bounds[i]
    ]


def fill_unexplained(
    spans: Sequence[tuple[str, float, float]], segments: Sequence[Segment]
) -> list[tuple[str, str, float, float]]:
    """``(reason, source, lo, hi)``: a PLC reason stays (source ``plc``); time the PLC gave
    no reason for takes the operator's (source ``operator``) where one covers it, and
    is left without reason (source ``""``) elsewhere."""
    out: list[tuple[str, str, float, float]] = []
    for reason, lo, hi in spans:
        if reason.strip():
            out.append((reason.strip(), SOURCE_PLC, lo, hi))
            continue
        cursor = lo
        for s in sorted(segments, key=lambda s: s.start):
            a, b = max(s.start, lo), min(s.end, hi)
            if b <= a:
                continue
            if a > cursor:
                out.append(("", "", cursor, a))
            out.append((s.reason, SOURCE_OPERATOR, a, b))
            cursor = b
        if cursor < hi:
            out.append(("", "", cursor, hi))
    return out


def operator_segments(
    entries: Iterable[OperatorStop], line: str, machine: str, ep_start: float, ep_end: float
) -> list[Segment]:
    """The operator's segments for one episode, fitted to it (none: no entry)."""
    for e in entries:
        if (e.line, e.machine) == (line, machine) and overlaps(e.start, e.end, ep_start, ep_end):
            return fit_to_episode(ep_start, ep_end, e.segments)
    return []


def with_operator_reasons(
    machines: Sequence[MachineEvidence], explained: Iterable[str]
) -> list[MachineEvidence]:
    """Level evidence: a machine whose stops people explained records downtime reasons
    as much as one whose PLC sends them."""
    ids = set(explained)
    return [replace(m, has_downtime_reasons=True) if m.machine_id in ids else m for m in machines]


# -- shifts -------------------------------------------------------------------------------


def shift_starts(cal: ShiftCalendar, now: float, days_back: int = 3) -> list[float]:
    """Start times of the shift occurrences that began in the ``days_back`` days up to
    ``now``, oldest first. No shifts: every local midnight."""
    tz = ZoneInfo(cal.timezone)
    today = dt.datetime.fromtimestamp(now, tz).date()
    starts = []
    for back in range(days_back, -1, -1):
        day = today - dt.timedelta(days=back)
        weekday = day.strftime("%a").lower()
        rules = [s for s in cal.shifts if weekday in {d.value for d in s.days}] if cal.shifts else None
        times = [r.start for r in rules] if rules is not None else [dt.time(0)]
        for t in times:
            ts = dt.datetime.combine(day, t.replace(tzinfo=None), tzinfo=tz).timestamp()
            if ts <= now:
                starts.append(ts)
    return sorted(starts)


def queue_window(cal: ShiftCalendar, now: float) -> tuple[float, float]:
    """``[start of the previous shift, now)``: the current and the previous shift. With
    fewer than two shift starts in the last days, the last three days."""
    starts = shift_starts(cal, now)
    if len(starts) >= 2:
        return starts[-2], now
    return now - 3 * 86400.0, now


# -- scrap and count corrections in the KPIs ---------------------------------------------------

#: (line, machine, local day)
MachineDay = tuple[str, str, dt.date]


@dataclass(frozen=True)
class LineCounts:
    """What the line entered for one machine-day: rejects (scrap) and, if corrected, the
    produced count (docs/kpi-method.md, "Scrap and count corrections")."""

    scrap: int = 0
    #: the produced count that replaces the measured one; None: not corrected
    count: int | None = None
    #: with no whole-day correction: new - old of each shift's latest correction
    shift_delta: int = 0


def line_counts(
    scrap: Iterable[tuple[MachineDay, int]],
    corrections: Iterable[tuple[MachineDay, str, int | None, int]],
) -> dict[MachineDay, LineCounts]:
    """Per machine-day: the scrap quantities summed; of the corrections, given oldest first
    as ``(key, shift, old_count, new_count)``, the latest whole-day one (no shift) sets the
    count, and without one the latest correction of each shift adds new - old."""
    scrap_of: dict[MachineDay, int] = {}
    for key, qty in scrap:
        scrap_of[key] = scrap_of.get(key, 0) + qty
    day_count: dict[MachineDay, int] = {}
    shifts: dict[MachineDay, dict[str, int]] = {}
    for key, shift, old, new in corrections:
        if not shift:
            day_count[key] = new
        else:
            shifts.setdefault(key, {})[shift] = new - (old or 0)
    out = {}
    for key in scrap_of.keys() | day_count.keys() | shifts.keys():
        delta = 0 if key in day_count else sum(shifts.get(key, {}).values())
        out[key] = LineCounts(scrap_of.get(key, 0), day_count.get(key), delta)
    return out


def corrected_totals(t: Totals, entered: LineCounts, ideal_cycle_s: float) -> Totals:
    """A machine-day's totals with the line's entries: the produced count replaced by a
    correction (or moved by shift corrections), the scrap added to the rejects. Scrap
    entered for a machine without quality counters grades its output: what was not
    scrapped counts as good. Performance follows the corrected count (ideal time per unit
    as measured, else the machine's ideal cycle time)."""
    total = t.total_count if entered.count is None else entered.count
    total = max(total + entered.shift_delta, 0)
    if t.total_count > 0:
        ideal = t.ideal_run_s * total / t.total_count
    else:
        ideal = t.ideal_run_s + total * ideal_cycle_s
    graded = total if (t.graded == t.total_count or entered.scrap) else min(t.graded, total)
    reject = min((t.reject_count if t.graded else 0) + entered.scrap, graded)
    return replace(
        t,
        total_count=total,
        good_count=graded - reject,
        reject_count=reject,
        graded_count=graded,
        ideal_run_s=ideal,
    )
