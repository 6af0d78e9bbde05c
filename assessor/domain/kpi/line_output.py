"""A line's finished units and its hours, counted the way a daily production log counts
them, so that a manual "before" and a measured "after" compare the same thing.

A log row says: line L made N units in H hours. Measured data has one counter per
machine. Summing every machine's units over every machine's hours gives units per
*machine*-hour, which differs from the log by the number of machines on the line, and
on a serial line counts every unit once per station. Here a line's units are those of
the machines marked ``line_output`` in the registry (the last station of a serial line);
with none marked, every machine's (parallel machines, or a line of one). A line's hours
are the longest known time of any of its machines that day: the time the line was
producing or could have been, as the log's 작업시간.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assessor.domain.kpi.model import Totals
from assessor.domain.models import Line


def output_machines(line: Line) -> tuple[str, ...]:
    marked = tuple(m.id for m in line.machines if m.line_output)
    return marked or tuple(m.id for m in line.machines)


def line_output(parts: Mapping[tuple[str, str], Totals], lines: Sequence[Line]) -> tuple[int, float]:
    """(finished units, line seconds) of the machine Totals ``parts`` keyed (line, machine),
    summed over ``lines``; machines that are not registered do not count."""
    units, seconds = 0, 0.0
    for line in lines:
        present = [parts[(line.id, m.id)] for m in line.machines if (line.id, m.id) in parts]
        if not present:
            continue
        outputs = [(line.id, mid) for mid in output_machines(line)]
        units += sum(parts[key].total_count for key in outputs if key in parts)
        seconds += max(t.known_s for t in present)
    return units, seconds
