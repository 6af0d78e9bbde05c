"""Operator input: the queue of stops waiting for a reason, and the entries people make
at the line (reasons, splits, comments, scrap, count corrections), kept in the registry.

The rules are in ``assessor.domain.operator_input``; this module reads the timeline
and the stored entries, and turns storage outcomes into what the routes answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from assessor.data.timeline import state_timeline
from assessor.domain.downtime import (
    ReasonStat,
    Timeline,
    downtime_by_reason_source,
    held_until,
    reason_pieces,
    reason_spans,
    reason_stats,
)
from assessor.domain.kpi.calendar import intersect, planned_intervals, total
from assessor.domain.models import Factory
from assessor.domain.operator_input import (
    QUEUE_STATES,
    OperatorInputError,
    OperatorStop,
    Segment,
    Stop,
    queue_window,
    reason_queue,
    validate_segments,
)
from assessor.registry.operator_store import (
    CountCorrection,
    EditWindowClosed,
    EntryConflict,
    OperatorStore,
    Saved,
    ScrapEntry,
    StoredStop,
)

if TYPE_CHECKING:
    from assessor.services import AssessorService

#: the queue reads two shifts of raw samples; its stops must keep their sample times
#: (a per-bucket mode would move them), so it allows far more points than the timeline
QUEUE_MAX_POINTS = 400_000
#: a client id: made by the tablet (a UUID), so a resent entry is recognised
MAX_CLIENT_ID = 64
MAX_COMMENT = 500
#: days of downtime reasons in the factory report
REPORT_REASON_DAYS = 7

__all__ = [
    "CountCorrection",
    "EditWindowClosed",
    "EntryConflict",
    "OperatorInputError",
    "OperatorInputService",
    "ScrapEntry",
    "StoredStop",
]


@dataclass(frozen=True)
class QueueView:
    window: tuple[float, float]
    waiting: list[Stop]
    entries: list[StoredStop]


def check_client_id(value: str, field: str = "client_id") -> str:
    if not value or len(value) > MAX_CLIENT_ID or not all(c.isalnum() or c in "-_" for c in value):
        raise OperatorInputError(field, f"1-{MAX_CLIENT_ID} letters, digits, '-' or '_'")
    return value


def check_comment(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_COMMENT:
        raise OperatorInputError("comment", f"at most {MAX_COMMENT} characters")
    return value


class OperatorInputService:
    def __init__(self, service: AssessorService):
        self.service = service
        self.store = OperatorStore(service.store)

    @property
    def edit_window_s(self) -> float:
        return self.service.cfg.operator_input.edit_window

    # -- reading ---------------------------------------------------------------------------

    async def stops(self, f: Factory, start: float, end: float) -> list[Stop]:
        """The stops of every machine in ``[start, end)`` with what the PLC said about them."""
        hold_s = self.service.cfg.kpi.hold_s
        timeline = await state_timeline(
            self.service.raw(f), f, start, end, hold_s, max_points=QUEUE_MAX_POINTS
        )
        out = []
        for m in timeline.machines:
            reasons = timeline.reasons.get((m.line, m.machine), [])
            times = [t for t, _ in reasons]
            until = held_until(m.alive, timeline.hold_s)
            for ep in m.episodes:
                if ep.state not in QUEUE_STATES:
                    continue
                spans = reason_spans(reasons, times, ep.start, ep.end, until)
                plc = tuple(dict.fromkeys(r.strip() for r, _, _ in spans if r.strip()))
                unexplained = sum(hi - lo for r, lo, hi in spans if not r.strip())
                out.append(
                    Stop(m.line, m.machine, ep.state, ep.start, ep.end, plc, unexplained, ep.end >= end)
                )
        return out

    async def queue(self, f: Factory) -> QueueView:
        now = self.service.clock()
        window = queue_window(f.calendar, now)
        stops = await self.stops(f, *window)
        entries = self.store.stops(f.id, window[0], window[1] + 1.0)
        small = self.service.cfg.kpi.small_stop_for(f)
        waiting = reason_queue(stops, [e.stop for e in entries], window, small)
        return QueueView(window, waiting, sorted(entries, key=lambda e: -e.stop.start))

    def operator_stops(self, f: Factory, start: float, end: float) -> list[OperatorStop]:
        return [e.stop for e in self.store.stops(f.id, start, end)]

    def downtime_by_source(self, f: Factory, timeline: Timeline) -> dict[tuple[str, str, str], float]:
        """The Pareto's (state, reason, source) -> seconds over a timeline already read."""
        return downtime_by_reason_source(
            timeline,
            planned_intervals(f.calendar, timeline.start, timeline.end),
            small_stop_s=self.service.cfg.kpi.small_stop_for(f),
            operator=self.operator_stops(f, timeline.start, timeline.end),
        )

    def reason_stats(self, f: Factory, timeline: Timeline) -> list[ReasonStat]:
        """MTBF and MTTR per downtime reason over a timeline already read."""
        operator = self.operator_stops(f, timeline.start, timeline.end)
        small = self.service.cfg.kpi.small_stop_for(f)
        pieces = reason_pieces(timeline, small_stop_s=small, operator=operator)
        planned = planned_intervals(f.calendar, timeline.start, timeline.end)
        running = sum(
            total(intersect(planned, [(ep.start, ep.end)]))
            for m in timeline.machines
            for ep in m.episodes
            if ep.state == "running"
        )
        return reason_stats(pieces, planned, running)

    def episode_reasons(
        self, f: Factory, timeline: Timeline
    ) -> dict[tuple[str, str, float], list[tuple[str, str]]]:
        """(line, machine, episode start) -> the (reason, source) pairs of each down episode."""
        operator = self.operator_stops(f, timeline.start, timeline.end)
        small = self.service.cfg.kpi.small_stop_for(f)
        out: dict[tuple[str, str, float], list[tuple[str, str]]] = {}
        for (line, machine), ep, reason, source, _, _ in reason_pieces(
            timeline, small_stop_s=small, operator=operator
        ):
            found = out.setdefault((line, machine, ep.start), [])
            if reason and (reason, source) not in found:
                found.append((reason, source))
        return out

    async def recent_reason_stats(
        self, f: Factory, now: float, days: int = REPORT_REASON_DAYS
    ) -> list[ReasonStat]:
        """The reason table of the factory report: the last ``days`` days up to ``now``."""
        start = now - days * 86400.0
        timeline = await state_timeline(self.service.raw(f), f, start, now, self.service.cfg.kpi.hold_s)
        return self.reason_stats(f, timeline)

    # -- writing ---------------------------------------------------------------------------

    def _machine(self, f: Factory, line: str, machine: str) -> None:
        if not any(m.line_id == line and m.id == machine for m in f.machines):
            raise OperatorInputError("machine", f"no machine {machine!r} on line {line!r} in {f.id}")

    def _codes(self, f: Factory) -> list[str]:
        return [r.code for r in f.downtime_reasons]

    def add_stop(
        self,
        f: Factory,
        *,
        client_id: str,
        line: str,
        machine: str,
        state: str,
        start: float,
        end: float,
        segments: Sequence[Segment],
        comment: str,
        who: str,
    ) -> Saved:
        check_client_id(client_id)
        self._machine(f, line, machine)
        if end > self.service.clock() + 60.0:
            raise OperatorInputError("end", "a stop cannot end in the future")
        good = validate_segments(start, end, segments, self._codes(f))
        stop = OperatorStop(line, machine, start, end, good, check_comment(comment))
        saved = self.store.add_stop(f.id, stop, state, client_id, who, self._now())
        # the level's "downtime reasons recorded" may change with the first entry
        self.service.forget_assessment(f.id)
        return saved

    def edit_stop(
        self,
        f: Factory,
        stop_id: int,
        *,
        version: int,
        segments: Sequence[Segment] | None,
        comment: str | None,
        client_id: str,
        who: str,
    ) -> Saved:
        check_client_id(client_id)
        current = self.store.stop(f.id, stop_id)
        if current is None:
            raise LookupError(f"no entry {stop_id} in {f.id}")
        good = None
        if segments is not None:
            good = validate_segments(current.stop.start, current.stop.end, segments, self._codes(f))
        return self.store.edit_stop(
            f.id,
            stop_id,
            version,
            good,
            None if comment is None else check_comment(comment),
            client_id,
            who,
            self.edit_window_s,
            self._now(),
        )

    def add_scrap(
        self,
        f: Factory,
        *,
        client_id: str,
        line: str,
        machine: str,
        product: str,
        at: float,
        quantity: int,
        reason: str,
        comment: str,
        who: str,
    ) -> Saved:
        check_client_id(client_id)
        self._machine(f, line, machine)
        if product and f.products and product not in {p.id for p in f.products}:
            raise OperatorInputError("product", f"unknown product {product!r}")
        if quantity <= 0:
            raise OperatorInputError("quantity", "a whole number above 0")
        if reason not in self._codes(f):
            raise OperatorInputError("reason", f"unknown reason code {reason!r}")
        entry = ScrapEntry(line, machine, product, at, quantity, reason, check_comment(comment))
        saved = self.store.add_scrap(f.id, entry, client_id, who, self._now())
        # quality, and with it the level, read the entry from now on
        self.service.forget_assessment(f.id)
        return saved

    def add_count_correction(
        self,
        f: Factory,
        *,
        client_id: str,
        line: str,
        machine: str,
        product: str,
        day: str,
        shift: str,
        old_count: int | None,
        new_count: int,
        who: str,
    ) -> Saved:
        check_client_id(client_id)
        self._machine(f, line, machine)
        try:
            when = dt.date.fromisoformat(day)
        except ValueError:
            raise OperatorInputError("day", f"not an ISO date (YYYY-MM-DD): {day!r}") from None
        today = dt.datetime.fromtimestamp(self.service.clock(), ZoneInfo(f.calendar.timezone)).date()
        if when > today:
            raise OperatorInputError("day", "a day in the future")
        if new_count < 0:
            raise OperatorInputError("new_count", "a whole number, 0 or more")
        shift = shift.strip()[:40]
        if shift and old_count is None:
            raise OperatorInputError("old_count", "a shift's correction needs the count it replaces")
        c = CountCorrection(line, machine, product, when.isoformat(), shift, old_count, new_count)
        saved = self.store.add_count_correction(f.id, c, client_id, who, self._now())
        self.service.forget_assessment(f.id)
        return saved

    def today_entries(self, f: Factory) -> tuple[str, list[ScrapEntry], list[CountCorrection]]:
        """The factory's local day, its scrap entries and the corrections of its counts."""
        tz = ZoneInfo(f.calendar.timezone)
        today = dt.datetime.fromtimestamp(self.service.clock(), tz).date()
        start = dt.datetime.combine(today, dt.time(), tz).timestamp()
        end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tz).timestamp()
        day = today.isoformat()
        return day, self.store.scrap(f.id, start, end), self.store.count_corrections(f.id, day, day)

    def edit_scrap(
        self,
        f: Factory,
        scrap_id: int,
        *,
        version: int,
        quantity: int | None,
        reason: str | None,
        comment: str | None,
        client_id: str,
        who: str,
    ) -> Saved:
        check_client_id(client_id)
        if quantity is not None and quantity <= 0:
            raise OperatorInputError("quantity", "a whole number above 0")
        if reason is not None and reason not in self._codes(f):
            raise OperatorInputError("reason", f"unknown reason code {reason!r}")
        changes = {
            "quantity": quantity,
            "reason": reason,
            "comment": None if comment is None else check_comment(comment),
        }
        saved = self.store.edit_scrap(
            f.id, scrap_id, version, changes, client_id, who, self.edit_window_s, self._now()
        )
        self.service.forget_assessment(f.id)
        return saved

    def edit_count_correction(
        self, f: Factory, correction_id: int, *, version: int, new_count: int, client_id: str, who: str
    ) -> Saved:
        check_client_id(client_id)
        if new_count < 0:
            raise OperatorInputError("new_count", "a whole number, 0 or more")
        saved = self.store.edit_count_correction(
            f.id,
            correction_id,
            version,
            {"new_count": new_count},
            client_id,
            who,
            self.edit_window_s,
            self._now(),
        )
        self.service.forget_assessment(f.id)
        return saved

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.service.clock(), dt.UTC)
