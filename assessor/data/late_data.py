"""Late data: raw samples that reach InfluxDB after their day was materialised.

The collector loses nothing: after an outage of the network or of InfluxDB its spool
delivers hours or days of samples late, all with their original time stamps. A day
materialised before they arrived would keep its old totals. So each materialised
machine-day also stores how many raw field values it was computed from
(``raw_points``), and the background refresher compares that with a fresh count over
the recent days; a day whose count changed is computed again, and so is a day computed by
older rules (``rules_version``, assessor/data/daily_rows.py). The stored count is taken from
the samples the totals were computed from (``measured.raw_counts``): a sample arriving
while they were read makes the day look stale once more and it is recomputed, never the
other way round. Only the signals the totals use are counted, so a late temperature
reading does not cost a recomputation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from assessor.data.daily_rows import KPI_DAILY, RAW_POINTS, RULES_VERSION, DayKey, current_rules, source
from assessor.data.influx_client import InfluxClient
from assessor.data.influxql import ident, tag_equals, time_range
from assessor.domain.models import Factory
from datacontract import TAG_FACTORY, TAG_LINE, TAG_MACHINE


async def stored_counts(
    client: InfluxClient, factory: Factory, start: float, end: float, tz: dt.tzinfo, rp: str = ""
) -> dict[DayKey, int | None]:
    """``raw_points`` of each materialised machine-day (None: materialised before it was
    kept, or by older rules: either way the day is to be computed again)."""
    q = (
        f"SELECT {ident(RAW_POINTS)}, {ident(RULES_VERSION)}, {ident('planned_s')} "
        f"FROM {source(rp, KPI_DAILY)} "
        f"WHERE {tag_equals(TAG_FACTORY, factory.id)} AND {time_range(start, end)} "
        f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    )
    result = await client.query(q)
    out: dict[DayKey, int | None] = {}
    for series in result[0] if result else []:
        line, machine = series.tags.get(TAG_LINE, ""), series.tags.get(TAG_MACHINE, "")
        for row in series.rows():
            day = dt.datetime.fromtimestamp(row["time"] / 1000.0, tz).date()
            v = row.get(RAW_POINTS)
            out[(line, machine, day)] = None if v is None or not current_rules(row) else int(v)
    return out


def stale_days(
    now: Mapping[DayKey, int],
    stored: Mapping[DayKey, int | None],
    machines: set[tuple[str, str]],
    days: Sequence[dt.date],
) -> list[dt.date]:
    """Materialised days of which a registered machine's raw count differs from the count
    stored with its totals. A day never materialised is not stale (the normal
    materialisation takes it); a machine that is not registered does not count."""
    materialised = {key[2] for key in stored}
    out = []
    for day in days:
        if day not in materialised:
            continue
        if any(now.get((ln, mc, day), 0) != stored.get((ln, mc, day), 0) for ln, mc in machines):
            out.append(day)
    return out
