"""One machine history, rendered the ways real sources report it.

A ``MachineHistory`` is the truth: states that change on a grid of ``slot_s`` seconds and
units completed at whole seconds while running. Renderings are what a source would send
of it: a report every N seconds (a PLC gateway, our simulator), a report only on change
(Sparkplug B), or a Modbus register bank that follows it in real time. The KPIs the
history implies (``truth``) are computed here from the history itself, not with the
assessor's code, so a test compares the product with an independent answer.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from hypothesis import strategies as st

from simulator.sparkplug_node import OnChangeEdgeNode

STOP_STATES = ("idle", "fault", "setup", "stopped")


@dataclass(frozen=True)
class Slot:
    state: str
    #: seconds per unit while running (ignored otherwise)
    cycle_s: int = 0


@dataclass(frozen=True)
class Report:
    ts: int
    state: str
    total: int
    reject: int


@dataclass(frozen=True)
class MachineHistory:
    start: int
    slot_s: int
    slots: tuple[Slot, ...]
    #: every n-th unit is a reject
    reject_every: int
    ideal_cycle_s: float

    @property
    def end(self) -> int:
        return self.start + self.slot_s * len(self.slots)

    @cached_property
    def unit_times(self) -> tuple[int, ...]:
        """Completion times, strictly inside their running slot."""
        out: list[int] = []
        for i, slot in enumerate(self.slots):
            if slot.state != "running":
                continue
            a = self.start + i * self.slot_s
            out.extend(range(a + slot.cycle_s, a + self.slot_s, slot.cycle_s))
        return tuple(out)

    def state_at(self, t: int) -> str:
        i = min(max(0, (t - self.start) // self.slot_s), len(self.slots) - 1)
        return self.slots[i].state

    def counts_at(self, t: int) -> tuple[int, int]:
        """(total, rejects) of the units completed at or before ``t``."""
        n = bisect.bisect_right(self.unit_times, t)
        return n, n // self.reject_every

    def report(self, t: int) -> Report:
        total, reject = self.counts_at(t)
        return Report(t, self.state_at(t), total, reject)

    # -- renderings --------------------------------------------------------------------

    def every(self, period_s: int) -> list[Report]:
        """A report every ``period_s`` from start to end, both included."""
        return [self.report(t) for t in range(self.start, self.end + 1, period_s)]

    def on_change(self) -> list[Report]:
        """A first full report, then one whenever the state or a counter changes."""
        times = {self.start}
        times.update(self.start + i * self.slot_s for i in range(1, len(self.slots)))
        times.update(self.unit_times)
        out: list[Report] = []
        for t in sorted(times):
            r = self.report(t)
            if not out or (r.state, r.total, r.reject) != (out[-1].state, out[-1].total, out[-1].reject):
                out.append(r)
        return out

    # -- the answer ----------------------------------------------------------------------

    def truth(self) -> dict[str, float]:
        """ISO 22400 KPIs of the whole history (always planned)."""
        planned = float(self.end - self.start)
        run = float(sum(self.slot_s for s in self.slots if s.state == "running"))
        units, rejects = self.counts_at(self.end)
        good = units - rejects
        availability = run / planned
        performance = self.ideal_cycle_s * units / run if run else None
        quality = good / units if units else None
        oee = (
            availability * performance * quality
            if performance is not None and quality is not None
            else (0.0 if run == 0 else None)
        )
        return {
            "planned_time_s": planned,
            "run_time_s": run,
            "total_count": float(units),
            "reject_count": float(rejects),
            "availability": availability,
            "performance": performance,  # type: ignore[dict-item]
            "quality": quality,  # type: ignore[dict-item]
            "oee": oee,  # type: ignore[dict-item]
        }


# -- how sources send it ---------------------------------------------------------------


def json_messages(topic: str, reports: list[Report]) -> Iterator[tuple[str, bytes]]:
    for r in reports:
        body = {"ts": r.ts * 1000, "state": r.state, "total": r.total, "reject": r.reject}
        yield topic, json.dumps(body).encode()


JSON_FIELDS = (
    "      timestamp: {path: $.ts, unit: ms}\n"
    "      fields:\n"
    "        state: {path: $.state, role: state, type: string}\n"
    "        count_total: {path: $.total, role: count_total}\n"
    "        count_reject: {path: $.reject, role: count_reject}\n"
)


def sparkplug_messages(
    group: str, node: str, device: str, reports: list[Report], end: int | None = None
) -> list[tuple[str, bytes]]:
    """NBIRTH and DBIRTH with the first report, then a DDATA per change (only what changed).

    ``end``: a last DDATA at that time with only the device's ``uptime_s``. Live, the
    collector vouches for a quiet device up to now from its connection; a history sent
    after the fact has no "now" inside it, so the device says once more that it is there.
    """
    edge = OnChangeEdgeNode(group, node)
    first, rest = reports[0], reports[1:]

    def values(r: Report) -> dict[str, int | str]:
        return {"state": r.state, "count_total": r.total, "count_reject": r.reject}

    out = edge.birth(first.ts * 1000, {device: {**values(first), "uptime_s": 0}})
    for r in rest:
        msg = edge.changes(device, r.ts * 1000, values(r))
        if msg is not None:
            out.append(msg)
    if end is not None:
        last = edge.changes(device, end * 1000, {"uptime_s": end - first.ts})
        assert last is not None
        out.append(last)
    return out


# -- generated histories ------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn, start: int, *, slot_s: int = 300, slots: int = 96) -> MachineHistory:
    """A shift of ``slots`` slots: runs of states with production in the running ones."""
    chosen: list[Slot] = []
    while len(chosen) < slots:
        state = draw(st.sampled_from(("running", "running", "running", *STOP_STATES)))
        length = draw(st.integers(1, 12))
        cycle = draw(st.integers(4, 40))
        chosen.extend([Slot(state, cycle if state == "running" else 0)] * length)
    if not any(s.state == "running" for s in chosen[:slots]):
        chosen[0] = Slot("running", 10)
    ideal = draw(st.sampled_from((2.0, 3.0, 3.5)))
    return MachineHistory(start, slot_s, tuple(chosen[:slots]), draw(st.integers(5, 50)), ideal)
