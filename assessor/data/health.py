"""Data health of factories: when each machine was last heard of, from its state samples
and its collector's alive records in the factory's raw database."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence

from assessor.data.influx_client import InfluxClient, Series
from assessor.data.influxql import ident, tag_in, time_range
from assessor.domain.models import Factory
from datacontract import (
    FIELD_ALIVE_S,
    LIVENESS_MAX_RECORD_S,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    TAG_FACTORY,
    TAG_MACHINE,
)


async def last_heard(
    raw_of: Callable[[Factory], InfluxClient], factories: Sequence[Factory], start: float, now: float
) -> dict[str, dict[str, float | None]]:
    """factory -> machine -> epoch seconds it was last heard of in [start, now]: its last
    state sample or the end of its last alive record, whichever is later; None for a
    machine not heard of. ``raw_of`` gives a factory's raw-database client."""
    group = f"GROUP BY {ident(TAG_FACTORY)}, {ident(TAG_MACHINE)}"
    # one query per raw database: each factory's own, or one for those that share one
    by_database: dict[str, list[Factory]] = defaultdict(list)
    for f in factories:
        by_database[raw_of(f).cfg.database].append(f)
    gate = asyncio.Semaphore(8)

    async def last_seen(group_of: list[Factory]) -> list[list[Series]]:
        where = tag_in(TAG_FACTORY, [f.id for f in group_of])
        q = (
            f"SELECT LAST({ident('state')}) FROM {ident(MEASUREMENT_MACHINE)} WHERE {where} AND "
            f"{time_range(start, now + 60)} {group}; "
            # the record that reaches into the window may have started up to an hour before it
            f"SELECT LAST({ident(FIELD_ALIVE_S)}) FROM {ident(MEASUREMENT_LIVENESS)} WHERE {where} AND "
            f"{time_range(start - LIVENESS_MAX_RECORD_S, now + 60)} {group}"
        )
        async with gate:
            got = await raw_of(group_of[0]).query(q)
        return got + [[]] * (2 - len(got))

    answers = await asyncio.gather(*(last_seen(g) for g in by_database.values()))
    result = [[s for a in answers for s in a[0]], [s for a in answers for s in a[1]]]
    last: dict[str, dict[str, float | None]] = {f.id: {m.id: None for m in f.machines} for f in factories}
    for statement, alive in ((result[0], False), (result[1], True)):
        for s in statement:
            fid, mid = s.tags.get(TAG_FACTORY, ""), s.tags.get(TAG_MACHINE, "")
            if fid not in last or not s.values or s.values[0][1] is None:
                continue
            seen = s.values[0][0] / 1000.0
            if alive:
                seen = min(seen + float(s.values[0][1]), now)
                if seen < start:
                    continue  # a record that ended before the window
            prev = last[fid].get(mid)
            last[fid][mid] = seen if prev is None else max(prev, seen)
    return last
