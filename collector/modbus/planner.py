"""Read planning: group the configured values of a device into as few Modbus reads as possible.

The planner is pure: it knows nothing of connections. It works on ``ValueSpan``s (where a value
sits, 0-based) and returns ``ReadRequest``s. A request never cuts a value in two, never exceeds
the per-request limit (at most 125 registers or 2,000 bits, the protocol maxima), and reads at
most ``max_gap`` unused addresses between two values it joins. ``max_gap`` counts registers in
the register areas and bits in the bit areas.

Values that overlap (two bits of one word, a word read both as ``uint16`` and as a ``bit``)
may share a request; values that start at the same address always do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from collector.modbus.datatypes import Area

if TYPE_CHECKING:
    from collector.modbus.config import DeviceConfig

#: Protocol maxima per read: function codes 3/4 (registers) and 1/2 (bits).
PROTOCOL_MAX_REGISTERS = 125
PROTOCOL_MAX_BITS = 2000
ADDRESS_SPACE = 65536


@dataclass(frozen=True, slots=True)
class ValueSpan:
    index: int  # position of the register in DeviceConfig.registers
    area: Area
    start: int  # 0-based protocol address (caller already subtracted address_base)
    width: int  # registers, or bits for coil/discrete

    @property
    def end(self) -> int:
        return self.start + self.width


@dataclass(frozen=True, slots=True)
class ReadRequest:
    area: Area
    start: int
    count: int
    spans: tuple[ValueSpan, ...]  # sorted by start

    @property
    def end(self) -> int:
        return self.start + self.count


# A position is every span that starts at one address; it is the unit the planner moves.
# Keeping such spans together never costs a request or a register: the longest of them
# already covers the others.
@dataclass(frozen=True, slots=True)
class _Position:
    start: int
    end: int
    spans: tuple[ValueSpan, ...]


def _limit(area: Area, max_registers: int, max_bits: int) -> int:
    if area.is_bit:
        return min(max_bits, PROTOCOL_MAX_BITS)
    return min(max_registers, PROTOCOL_MAX_REGISTERS)


def _check_limits(max_registers: int, max_bits: int) -> None:
    if max_registers < 1 or max_bits < 1:
        raise ValueError(f"request limits must be positive, got {max_registers}/{max_bits}")


def _positions_by_area(
    spans: Iterable[ValueSpan], max_registers: int, max_bits: int
) -> dict[Area, list[_Position]]:
    ordered = sorted(spans, key=lambda s: (s.area, s.start, s.width, s.index))
    out: dict[Area, list[_Position]] = {}
    for area, in_area in groupby(ordered, key=lambda s: s.area):
        limit = _limit(area, max_registers, max_bits)
        positions = out.setdefault(area, [])
        for start, same in groupby(in_area, key=lambda s: s.start):
            group = tuple(same)
            end = max(s.end for s in group)
            for s in group:
                _check_span(s, limit)
            positions.append(_Position(start, end, group))
    return out


def _check_span(span: ValueSpan, limit: int) -> None:
    if span.width < 1:
        raise ValueError(f"value {span.index}: width must be at least 1, got {span.width}")
    if span.start < 0 or span.end > ADDRESS_SPACE:
        where = f"{span.start}..{span.end - 1}"
        raise ValueError(f"value {span.index}: addresses {where} are outside 0..65535")
    if span.width > limit:
        raise ValueError(f"value {span.index}: {span.width} wide, more than one request ({limit})")


# Why the greedy merge below gives the fewest requests (positions sorted by start; a set of
# positions is a valid request if its range is within the limit and no hole in it is wider
# than max_gap). Let greedy's first request hold positions 0..m-1, ending at E.
#  (a) No valid request holds both position 0 and position m: greedy refused m either for
#      the limit (then m's end - start 0 is over it) or for the gap (then [E, start m) is a
#      hole no position can fill: those before m end by E, those after start at or after m).
#  (b) Every position before m ends by E, and position m covers [start m, E): if it started
#      below E it was refused for the limit, so it reaches past E.
# Take any valid plan (even one that reads a position twice), and drop positions 0..m-1
# from each of its requests. By (b), a request that keeps m has no new hole (below E, m
# covers everything; at or above E, the dropped positions covered nothing); a request that
# loses its start but not m stays valid once m is added to it. By (a), the request with
# position 0 and the one with position m are different, and what remains of both fits in
# one request (both now start at m). So the remaining positions take at most one request
# fewer than the plan, and greedy's remaining requests are greedy on them: by induction
# greedy needs no more requests than any plan.
#
# Greedy packs each request as full as it can, which can read needless registers: with a
# limit of 10, values at 0, 8 and 12 give [0..8] + [12] where [0] + [8..12] reads less. So
# the count comes from greedy, and a small dynamic programme over contiguous runs of
# positions then picks, among plans of that count, one that reads the fewest addresses
# (the tests check both against an exhaustive search over all partitions of small maps).


def _greedy_runs(positions: Sequence[_Position], limit: int, max_gap: int) -> list[int]:
    """Index where each greedy run starts."""
    cuts: list[int] = []
    run_start = run_end = 0
    for i, p in enumerate(positions):
        if cuts and p.start - run_end <= max_gap and max(run_end, p.end) - run_start <= limit:
            run_end = max(run_end, p.end)
            continue
        cuts.append(i)
        run_start, run_end = p.start, p.end
    return cuts


def _run_span(positions: Sequence[_Position], cuts: Sequence[int]) -> int:
    """Addresses read by the runs that start at ``cuts``."""
    total = 0
    for a, b in zip(cuts, [*cuts[1:], len(positions)], strict=True):
        total += max(p.end for p in positions[a:b]) - positions[a].start
    return total


def _covered(positions: Sequence[_Position]) -> int:
    """Addresses covered by at least one position: no plan reads fewer."""
    total = reach = 0
    for p in positions:
        if p.end > reach:
            total += p.end - max(p.start, reach)
            reach = p.end
    return total


def _cheapest_runs(positions: Sequence[_Position], limit: int, max_gap: int) -> list[int]:
    """Run starts of a plan with the fewest runs and, among those, the fewest addresses."""
    greedy = _greedy_runs(positions, limit, max_gap)
    if _run_span(positions, greedy) == _covered(positions):
        return greedy  # already reads nothing needless; skip the quadratic search
    n = len(positions)
    starts = [p.start for p in positions]
    ends = [p.end for p in positions]
    unreached = (n + 1, 0)
    # best[i]: (runs, addresses) of the cheapest plan for positions[:i]; back[i]: its last run
    best: list[tuple[int, int]] = [unreached] * (n + 1)
    back = [0] * (n + 1)
    best[0] = (0, 0)
    for j in range(n):
        runs, cost = best[j]
        runs += 1
        start, end = starts[j], ends[j]
        ceiling = start + limit
        i = j
        while True:
            candidate = (runs, cost + end - start)
            if candidate < best[i + 1]:
                best[i + 1] = candidate
                back[i + 1] = j
            i += 1
            # extending a run only gets harder, so the first refusal ends this run's options
            if i == n or starts[i] - end > max_gap or ends[i] > ceiling:
                break
            end = max(end, ends[i])
    cuts: list[int] = []
    i = n
    while i > 0:
        i = back[i]
        cuts.append(i)
    cuts.reverse()
    return cuts


def _request(area: Area, positions: Sequence[_Position]) -> ReadRequest:
    start = positions[0].start
    end = max(p.end for p in positions)
    spans = tuple(s for p in positions for s in p.spans)
    return ReadRequest(area=area, start=start, count=end - start, spans=spans)


def plan_reads(
    spans: Iterable[ValueSpan],
    *,
    max_gap: int,
    max_registers: int = PROTOCOL_MAX_REGISTERS,
    max_bits: int = PROTOCOL_MAX_BITS,
) -> list[ReadRequest]:
    """The fewest reads that fetch every span, sorted by (area, start)."""
    if max_gap < 0:
        raise ValueError(f"max_gap must not be negative, got {max_gap}")
    _check_limits(max_registers, max_bits)
    requests: list[ReadRequest] = []
    for area, positions in _positions_by_area(spans, max_registers, max_bits).items():
        cuts = _cheapest_runs(positions, _limit(area, max_registers, max_bits), max_gap)
        for a, b in zip(cuts, [*cuts[1:], len(positions)], strict=True):
            requests.append(_request(area, positions[a:b]))
    return requests


def minimum_requests(
    spans: Iterable[ValueSpan],
    *,
    max_registers: int = PROTOCOL_MAX_REGISTERS,
    max_bits: int = PROTOCOL_MAX_BITS,
) -> int:
    """Fewest requests any plan could use if every gap could be bridged: a lower bound."""
    _check_limits(max_registers, max_bits)
    return sum(
        len(_greedy_runs(positions, _limit(area, max_registers, max_bits), ADDRESS_SPACE))
        for area, positions in _positions_by_area(spans, max_registers, max_bits).items()
    )


def split_request(req: ReadRequest) -> tuple[ReadRequest, ReadRequest] | None:
    """Split a request the device refused (exception 2, illegal address) in two.

    The cut falls between two value positions so that the larger half is as small as
    possible; each half is trimmed to its own values, so a hole between them is no longer
    read. None when every value of the request starts at one address: nothing to split.
    """
    spans = sorted(req.spans, key=lambda s: (s.start, s.width, s.index))
    tail_reach = [s.end for s in spans]
    for i in range(len(spans) - 2, -1, -1):
        tail_reach[i] = max(tail_reach[i], tail_reach[i + 1])
    best: tuple[tuple[int, int], int] | None = None
    reach = spans[0].end
    for i in range(1, len(spans)):
        if spans[i].start != spans[i - 1].start:
            left = reach - spans[0].start
            right = tail_reach[i] - spans[i].start
            key = (max(left, right), abs(left - right))
            if best is None or key < best[0]:
                best = (key, i)
        reach = max(reach, spans[i].end)
    if best is None:
        return None
    cut = best[1]
    return _trimmed(req.area, spans[:cut]), _trimmed(req.area, spans[cut:])


def _trimmed(area: Area, spans: Sequence[ValueSpan]) -> ReadRequest:
    start = spans[0].start
    end = max(s.end for s in spans)
    return ReadRequest(area=area, start=start, count=end - start, spans=tuple(spans))


def device_spans(dev: DeviceConfig) -> list[ValueSpan]:
    """Where each of the device's registers sits, 0-based, in the order configured."""
    return [
        ValueSpan(index=i, area=reg.area, start=reg.address - dev.address_base, width=reg.width)
        for i, reg in enumerate(dev.registers)
    ]


def device_plan(dev: DeviceConfig) -> list[ReadRequest]:
    """The reads of one poll of ``dev``: what the poller sends and ``collector check --plan``
    shows, built here only so that the two never differ."""
    return plan_reads(
        device_spans(dev),
        max_gap=dev.max_gap,
        max_registers=dev.max_registers_per_request,
        max_bits=dev.max_bits_per_request,
    )
