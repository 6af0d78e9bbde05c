"""Increase of a cumulative counter (units, kWh) that may wrap or be reset.

``counter_increase``, ``increase_between`` and ``increase_within`` credit each rise
between consecutive samples to the time of the later sample, the moment it was seen;
windows are half-open, ``[lo, hi)``, like every interval in this package and like an
InfluxQL ``time >= lo AND time < hi`` range. They sum the same steps, so any split of a
series into sub-windows adds up exactly to the increase over the whole series.
``increase_spread`` spreads each step linearly over the time between its samples, and
``spread_units`` over the running time between them (what produced units use,
docs/kpi-method.md section 3).

Every function first judges the drops (``_judged``): a lower reading that the next one
does not continue from is a glitch and is left out, so one stray ``0`` or a second
source's reading cannot credit the whole counter again.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, pairwise
from operator import gt, itemgetter, le

from assessor.domain.kpi.calendar import Interval, normalise

Number = int | float
Point = tuple[float, Number]


@dataclass(frozen=True)
class CounterResult:
    increase: Number
    #: drops read as a wrap past the register's maximum
    wraps: int
    #: drops read as a restart from zero (PLC restart, shift reset)
    resets: int
    #: last value accepted, to pass as ``previous`` to the next window (None: no value
    #: yet); a held or glitch reading is never ``last``
    last: Number | None
    #: lower readings left out as glitches (a stray value, a second source, a clock step)
    glitches: int = 0
    #: 1 when the last reading is a drop nothing after it decides yet (credited nothing)
    held: int = 0


def counter_increase(
    points: Sequence[Point],
    *,
    previous: Number | None = None,
    width_bits: int | None = 32,
) -> CounterResult:
    """Sum of the positive steps of a cumulative counter over ``points`` (time, value).

    All points count; for a window ``[start, end)`` pass the points with
    ``start <= t < end`` and, as ``previous``, the last value before ``start`` (or the
    ``last`` of the previous window). Without ``previous`` the first point is
    only the starting value. A drop is first judged by the next reading (``_judged``):
    a glitch is left out. A drop that stands is a wrap when the previous value lay in
    the top quarter of the ``2**width_bits`` range and the new one in the bottom quarter
    (increase = new + 2**width_bits - previous); otherwise a reset (increase = new,
    counted from zero). ``width_bits=None`` (float meters) has no wraps.

    What no rule can tell apart: a reset from the top quarter to a small value reads as
    a wrap, and a reset followed by more units than the old value before the next
    sample reads as a plain rise. Sampling much faster than a quarter range fills keeps
    wraps unambiguous.
    """
    increase: Number = 0
    wraps = resets = 0
    last = previous
    kept, glitches, held = _judged_points(points, previous, None, width_bits)
    for _, value, step, kind in _steps(kept, previous, width_bits):
        increase += step
        wraps += kind == _WRAP
        resets += kind == _RESET
        last = value
    return CounterResult(increase, wraps, resets, last, len(glitches), held)


def increase_between(
    points: Sequence[Point],
    cuts: Sequence[float],
    *,
    previous: Number | None = None,
    width_bits: int | None = 32,
) -> list[CounterResult]:
    """The increase in each sub-window ``[cuts[i], cuts[i+1])``, one result per sub-window.

    Points before ``cuts[0]`` only set the starting value (the last one accepted
    replaces ``previous``); points at or after ``cuts[-1]`` credit nothing but still
    decide the drops before them. All points are judged together (``_judged``), so any
    split of ``[cuts[0], cuts[-1])`` adds up exactly to the increase over the whole.
    Each result's ``last`` is the accepted counter value at the end of its sub-window; a
    glitch or a held last reading is counted in the sub-window of its reading.
    """
    if any(b < a for a, b in pairwise(cuts)):
        raise ValueError("cuts must be non-decreasing")
    if len(cuts) < 2:
        return []
    # judged as a whole, so that a drop at a cut is decided by the reading after it and
    # any split of the same points adds up to the same increase
    ordered, glitch_times, held = _judged_points(points, previous, None, width_bits)
    first_inside = bisect_left(list(map(itemgetter(0), ordered)), cuts[0])
    start_value = ordered[first_inside - 1][1] if first_inside else previous
    inside = [p for p in ordered[first_inside:] if p[0] < cuts[-1]]

    windows = len(cuts) - 1
    increase: list[Number] = [0] * windows
    wraps = [0] * windows
    resets = [0] * windows
    glitches = [0] * windows
    held_in = [0] * windows
    decided = [(gt, glitches) for gt in glitch_times]
    if held:
        decided.append((max(map(itemgetter(0), points)), held_in))
    for at, out in decided:
        if cuts[0] <= at < cuts[-1]:
            out[bisect_right(cuts, at) - 1] += 1
    last: list[Number | None] = [None] * windows
    w = 0
    carried = start_value
    for t, value, step, kind in _steps(inside, start_value, width_bits):
        while t >= cuts[w + 1]:
            last[w] = carried
            w += 1
        increase[w] += step
        wraps[w] += kind == _WRAP
        resets[w] += kind == _RESET
        carried = value
    for rest in range(w, windows):
        last[rest] = carried
    return [
        CounterResult(increase[i], wraps[i], resets[i], last[i], glitches[i], held_in[i])
        for i in range(windows)
    ]


def increase_within(
    points: Sequence[Point],
    intervals: Sequence[Interval],
    *,
    previous: Number | None = None,
    width_bits: int | None = 32,
) -> CounterResult:
    """The increase seen inside ``intervals`` (e.g. planned time); other steps are dropped.

    Counting only what is seen in planned time keeps produced units consistent with run
    time, which is measured in planned time only. A step straddling an interval edge goes
    whole to the side of its later sample: up to one sampling period of units per edge
    can move across it.
    """
    spans = normalise(intervals)
    if not spans:
        return CounterResult(0, 0, 0, previous)
    cuts = [edge for span in spans for edge in span]
    parts = increase_between(points, cuts, previous=previous, width_bits=width_bits)
    # Even sub-windows are the intervals, odd ones the gaps between them.
    inside = parts[::2]
    increase: Number = 0
    for part in inside:
        increase += part.increase
    return CounterResult(
        increase=increase,
        wraps=sum(p.wraps for p in inside),
        resets=sum(p.resets for p in inside),
        last=parts[-1].last,
        glitches=sum(p.glitches for p in inside),
        held=parts[-1].held,
    )


_RISE, _WRAP, _RESET = 0, 1, 2

#: a drop to a non-zero value stands as a reset only if that value could have been
#: counted from zero since the previous accepted reading at up to this many times the
#: pace the counter keeps over the reading after it (docs/kpi-method.md section 3)
RESET_PACE_SLACK = 2.0


def _judged(
    ts: list[float], vs: list[Number], previous: Number | None, previous_t: float | None, span: int | None
) -> tuple[list[float], list[Number], list[float], int]:
    """The readings that count, in time order: ``(times, values, glitch times, held)``.

    A drop from the last accepted value ``m`` to ``v`` is judged by the next reading
    ``n``: it stands (a wrap or a reset) only if ``v <= n < m`` (the count goes on from
    the new value, not the old one) and, for a reset, ``v`` is near zero
    (``_near_zero``). Otherwise ``v`` is a glitch and left out: ``n >= m`` continues the
    old count (a stray reading, the other of two sources, a reading stamped by a clock
    stepped back), ``n < v`` does not continue ``v`` either (``n`` is judged next). A
    drop at the last reading is held: nothing credited, not accepted, ``held`` 1; a
    reset credits its value from zero, so a later reading that confirms it loses no unit.
    """
    n = len(vs)
    # where each reading is below the one before it; between two of them the readings rise
    drops = list(compress(range(1, n), map(gt, vs, vs[1:])))
    if not n or (not drops and (previous is None or vs[0] >= previous)):
        return ts, vs, [], 0
    kt: list[float] = []
    kv: list[Number] = []
    glitches: list[float] = []
    m, tm = previous, (previous_t if previous is not None else None)
    i = 0
    while i < n:
        t, v = ts[i], vs[i]
        if m is None or v >= m:
            # accepted, and so is every reading up to the next drop: taken in one go
            d = drops[k] if (k := bisect_right(drops, i)) < len(drops) else n
            kt += ts[i:d]
            kv += vs[i:d]
            m, tm = vs[d - 1], ts[d - 1]
            i = d
            continue
        if i + 1 == n:
            return kt, kv, glitches, 1
        nv, nt = vs[i + 1], ts[i + 1]
        wrap = span is not None and m >= span - span // 4 and v < span // 4
        if nv >= m or nv < v or not (wrap or _near_zero(v, t, tm, nv, nt)):
            glitches.append(t)
        else:
            kt.append(t)
            kv.append(v)
            m, tm = v, t
        i += 1
    return kt, kv, glitches, 0


def _near_zero(v: Number, t: float, tm: float | None, nv: Number, nt: float) -> bool:
    """Whether ``v`` units, counted from zero after a reset somewhere in ``(tm, t]``, fit
    the pace of the next step (``nv - v`` in ``nt - t``) with ``RESET_PACE_SLACK``. Zero
    always does; with the previous reading's time unknown the reset is believed."""
    if v <= 0 or tm is None:
        return True
    return v * (nt - t) <= RESET_PACE_SLACK * (nv - v) * (t - tm)


def _judged_points(
    points: Sequence[Point], previous: Number | None, previous_t: float | None, width_bits: int | None
) -> tuple[list[Point], list[float], int]:
    ordered = sorted(points, key=itemgetter(0))
    span = None if width_bits is None else 1 << width_bits
    ts, vs = list(map(itemgetter(0), ordered)), list(map(itemgetter(1), ordered))
    kt, kv, glitches, held = _judged(ts, vs, previous, previous_t, span)
    return (ordered if kt is ts else list(zip(kt, kv, strict=True))), glitches, held


def _steps(
    ordered: Sequence[Point], previous: Number | None, width_bits: int | None
) -> Iterator[tuple[float, Number, Number, int]]:
    """(time, value, increase, kind) per point; without ``previous`` the first point only
    anchors the series (a zero step) but is still reported as the latest value."""
    span = None if width_bits is None else 1 << width_bits
    prev = previous
    for t, value in ordered:
        if prev is None:
            step: Number = 0
            kind = _RISE
        else:
            step, kind = _increase(prev, value, span)
        yield t, value, step, kind
        prev = value


def _increase(prev: Number, value: Number, span: int | None) -> tuple[Number, int]:
    """The increase from ``prev`` to ``value`` and its kind: a rise, a wrap of a counter of
    ``span`` values (from its top quarter to its bottom quarter), or a reset."""
    if value >= prev:
        return value - prev, _RISE
    if span is not None and prev >= span - span // 4 and value < span // 4:
        return value + span - prev, _WRAP
    return value, _RESET


def increase_spread(
    points: Sequence[Point],
    buckets: Sequence[Sequence[Interval]],
    *,
    previous: Number | None = None,
    previous_t: float | None = None,
    width_bits: int | None = 32,
) -> list[float]:
    """Increase inside each bucket's intervals (e.g. each day's planned time), with every
    step spread over the time between its two samples in proportion to the overlap.

    A counter read at a shift or break edge holds units made on both sides of it; crediting
    the whole step to one side moves up to a sampling period of units across the edge,
    enough to shift a day's performance by tenths of a percent. Spreading linearly is
    exact for steady production. Drops are judged first (``_judged``). A step whose
    earlier time is unknown (``previous`` without ``previous_t``) goes whole to its
    later sample's time. Buckets' intervals must not overlap each other.
    """
    flat, starts = _flat(buckets)
    out = [0.0] * len(buckets)
    if not flat:
        return out
    for lo, t, step in _timed_steps(points, previous, previous_t, width_bits):
        _spread_linearly(lo, t, step, flat, starts, out)
    return out


def spread_units(
    points: Sequence[Point],
    buckets: Sequence[Sequence[Interval]],
    *,
    running: Sequence[Interval],
    unknown: Sequence[Interval],
    previous: Number | None = None,
    previous_t: float | None = None,
    width_bits: int | None = 32,
) -> list[tuple[float, float]]:
    """``(credited, unattributed)`` units per bucket (e.g. each day's planned time).

    Units are made while the machine runs, so each step of the counter is spread over
    the *running* time between its two readings, together with the *unknown* time
    between them (the machine may have run then; no one can tell). The share that falls
    on running time inside a bucket is credited to it; the share on unknown time inside
    a bucket is *unattributed* there (made in that day's planned time, but not
    attributable to run time, so in no ratio); shares outside every bucket (running or
    unknown outside planned time) are dropped, as units made outside planned time are.
    A step between readings with neither running nor unknown time between them (the
    counter rose while the state said stopped) is spread linearly over that time and
    credited, as ``increase_spread`` does. A step whose earlier time is unknown goes
    whole to its later sample's time. Spreading over running time makes the credited
    units independent of how often the counter is read: with a steady rate, readings
    every second or every ten minutes credit the same units to each bucket.
    ``running`` and ``unknown`` must be sorted, disjoint and disjoint from each other
    (``timeline.intervals_of``); buckets' intervals must not overlap each other.
    """
    flat, starts = _flat(buckets)
    credited = [0.0] * len(buckets)
    unattributed = [0.0] * len(buckets)
    if not flat:
        return list(zip(credited, unattributed, strict=True))
    segments = _labelled(running, unknown, flat, starts)
    seg_starts = [a for a, _, _, _ in segments]
    ordered = sorted(points, key=itemgetter(0))
    span = None if width_bits is None else 1 << width_bits
    ts, vs, _, _ = _judged(
        list(map(itemgetter(0), ordered)), list(map(itemgetter(1), ordered)), previous, previous_t, span
    )
    prev_v = previous
    prev_t = previous_t if previous is not None else None
    # the segment the last step fell in: most steps lie inside one segment (a run in one
    # day), which then takes no search and no shares
    cur_lo, cur_hi, cur_out, cur_bucket = 0.0, -1.0, credited, -1
    i, n = 0, len(ts)
    while i < n:
        lo, t, v = prev_t, ts[i], vs[i]
        step = 0 if prev_v is None else (v - prev_v if v >= prev_v else _increase(prev_v, v, span)[0])
        prev_v, prev_t = v, t
        i += 1
        if not step:
            continue
        if lo is None or lo >= t:
            _spread_linearly(lo, t, step, flat, starts, credited)
            continue
        if not (cur_lo <= lo and t <= cur_hi):
            k = max(0, bisect_right(seg_starts, lo) - 1)
            if not (k < len(segments) and segments[k][0] <= lo and t <= segments[k][1]):
                _spread_over_segments(lo, t, step, k, segments, flat, starts, credited, unattributed)
                continue
            cur_lo, cur_hi, is_running, cur_bucket = segments[k]
            cur_out = credited if is_running else unattributed
        if cur_bucket >= 0:
            cur_out[cur_bucket] += step
        # the readings after this one inside the same segment: where the counter only rose
        # over them, their steps add up to the last one's value minus this one's
        j = bisect_right(ts, cur_hi, i)
        if j - i > 1 and all(map(le, vs[i - 1 : j - 1], vs[i:j])):
            if cur_bucket >= 0:
                cur_out[cur_bucket] += vs[j - 1] - v
            prev_v, prev_t = vs[j - 1], ts[j - 1]
            i = j
    return list(zip(credited, unattributed, strict=True))


def _spread_over_segments(
    lo: float,
    t: float,
    step: Number,
    k: int,
    segments: list[tuple[float, float, bool, int]],
    flat: Flat,
    starts: list[float],
    credited: list[float],
    unattributed: list[float],
) -> None:
    """A step over several segments: shared by their overlaps with ``(lo, t]``."""
    weight = 0.0
    shares: list[tuple[bool, int, float]] = []
    while k < len(segments) and segments[k][0] < t:
        a, b, is_running, bucket = segments[k]
        overlap = min(b, t) - max(a, lo)
        if overlap > 0:
            weight += overlap
            if bucket >= 0:
                shares.append((is_running, bucket, overlap))
        k += 1
    if weight <= 0:
        _spread_linearly(lo, t, step, flat, starts, credited)
        return
    for is_running, bucket, overlap in shares:
        (credited if is_running else unattributed)[bucket] += step * overlap / weight


Flat = list[tuple[float, float, int]]


def _flat(buckets: Sequence[Sequence[Interval]]) -> tuple[Flat, list[float]]:
    """Every bucket's intervals in one sorted list of ``(lo, hi, bucket)``, and their starts."""
    flat = sorted((a, b, i) for i, intervals in enumerate(buckets) for a, b in intervals if b > a)
    return flat, [a for a, _, _ in flat]


def _timed_steps(
    points: Sequence[Point], previous: Number | None, previous_t: float | None, width_bits: int | None
) -> Iterator[tuple[float | None, float, Number]]:
    """``(earlier time or None, later time, increase)`` of every non-zero step (as
    ``_steps``, without its per-point tuples: this runs once per reading of a month)."""
    span = None if width_bits is None else 1 << width_bits
    prev = previous
    prev_t = previous_t if previous is not None else None
    kept, _, _ = _judged_points(points, previous, previous_t, width_bits)
    for t, value in kept:
        lo = prev_t
        prev_t = t
        if prev is None:
            prev = value
            continue
        # a rise inline, the rarer wraps and resets by the one rule
        step = value - prev if value >= prev else _increase(prev, value, span)[0]
        prev = value
        if step:
            yield lo, t, step


def _spread_linearly(
    lo: float | None, t: float, step: Number, flat: Flat, starts: list[float], out: list[float]
) -> None:
    if lo is None or lo >= t:
        k = bisect_right(starts, t) - 1
        if k >= 0 and flat[k][0] <= t < flat[k][1]:
            out[flat[k][2]] += step
        return
    span = t - lo
    k = max(0, bisect_right(starts, lo) - 1)
    while k < len(flat) and flat[k][0] < t:
        a, b, bucket = flat[k]
        overlap = min(b, t) - max(a, lo)
        if overlap > 0:
            out[bucket] += step * overlap / span
        k += 1


def _labelled(
    running: Sequence[Interval], unknown: Sequence[Interval], flat: Flat, starts: list[float]
) -> list[tuple[float, float, bool, int]]:
    """Running and unknown spans cut at bucket edges: ``(lo, hi, is_running, bucket)``,
    bucket -1 outside every bucket, in time order."""
    spans = sorted([(a, b, True) for a, b in running] + [(a, b, False) for a, b in unknown])
    out: list[tuple[float, float, bool, int]] = []
    for a, b, is_running in spans:
        pos = a
        k = max(0, bisect_right(starts, a) - 1)
        while pos < b:
            while k < len(flat) and flat[k][1] <= pos:
                k += 1
            if k < len(flat) and flat[k][0] <= pos:
                hi, bucket = min(b, flat[k][1]), flat[k][2]
            else:
                hi, bucket = min(b, flat[k][0] if k < len(flat) else b), -1
            out.append((pos, hi, is_running, bucket))
            pos = hi
    return out
