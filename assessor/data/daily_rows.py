"""Daily KPI totals materialised back into InfluxDB (measurement ``kpi_daily``), so long
windows and the portfolio read a few rows per machine and day instead of raw samples.

One point per machine and local day: tags factory, line, machine; time = the day's local
midnight; fields = the additive Totals (times in seconds, counts) and ``rules_version``.
Ratios are never stored: they are computed from summed totals when read, so roll-ups stay
exact. A row computed by older rules (``rules_version`` missing or lower than
``KPI_RULES_VERSION``) counts as not materialised and is computed again on first read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from assessor.data.influx_client import DatabaseNotFound, InfluxClient
from assessor.data.influxql import check_id, ident, tag_equals, time_range
from assessor.data.signals import SIGNALS, alive_ms, measured_days
from assessor.domain.kpi.line_output import line_output
from assessor.domain.kpi.model import Totals
from assessor.domain.kpi.timeline import SMALL_STOP_S
from assessor.domain.models import DateWindow, Factory
from datacontract import (
    FIELD_ALIVE_S,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
)
from datacontract.lineprotocol import encode_point, series_prefix

KPI_DAILY = "kpi_daily"
#: the rules the stored totals were computed by: bump when a change to the method
#: (docs/kpi-method.md) changes stored totals. 2: liveness, small stops, units spread
#: over running time, unattributed units. 3: the late-data fingerprint counts the KPI's
#: signals only, taken from the data the totals were computed from. 4: counter drops
#: judged by the next reading (glitches left out). 5: units timed by their product's ideal
#: cycle time, standard time produced (``standard_s``), the product in the fingerprint.
KPI_RULES_VERSION = 5
RULES_VERSION = "rules_version"
#: the same rows summed per factory and day, so a portfolio reads one series per factory
KPI_DAILY_FACTORY = "kpi_daily_factory"
#: raw field values a machine-day was computed from (assessor/data/late_data.py)
RAW_POINTS = "raw_points"
#: a factory-day's finished units and line seconds (assessor/domain/kpi/line_output.py)
LINE_UNITS, LINE_KNOWN_S = "line_units", "line_known_s"
_FIELDS = [f for f in dataclasses.fields(Totals)]
_INT_FIELDS = {
    "total_count",
    "good_count",
    "reject_count",
    "failures",
    "graded_count",
    "metered_count",
    "staffed_count",
    "small_stops",
    "unattributed_count",
}
DayKey = tuple[str, str, dt.date]  # line, machine, local day
DaySpan = tuple[dt.date, float, float]  # local day, start, end (epoch seconds)


def _value(name: str, v: float | int) -> int | float:
    """Counts are stored as integers and everything else as floats, whatever Python type
    the totals carry: a field keeps one type in InfluxDB."""
    if name in _INT_FIELDS:
        return int(v)
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{name} is not finite")
    return f


def _fields(t: Totals) -> list[tuple[str, int | float]]:
    values = [(f.name, _value(f.name, getattr(t, f.name))) for f in _FIELDS if getattr(t, f.name) is not None]
    return [*values, (RULES_VERSION, KPI_RULES_VERSION)]


def _prefix(measurement: str, tags: dict[str, str]) -> bytes:
    for value in tags.values():
        check_id(value)
    return series_prefix(measurement, tags)


def current_rules(row: Mapping[str, object]) -> bool:
    """Whether a stored row was computed by the current rules."""
    v = row.get(RULES_VERSION)
    return isinstance(v, int | float) and v >= KPI_RULES_VERSION


def encode_day(
    factory_id: str, line: str, machine: str, day_start: float, t: Totals, raw_points: int | None = None
) -> bytes:
    prefix = _prefix(KPI_DAILY, {TAG_FACTORY: factory_id, TAG_LINE: line, TAG_MACHINE: machine})
    fields = _fields(t) + ([] if raw_points is None else [(RAW_POINTS, int(raw_points))])
    return encode_point(prefix, fields, round(day_start * 1e9))


def encode_factory_day(
    factory_id: str, day_start: float, t: Totals, line: tuple[int, float] | None = None
) -> bytes:
    fields = _fields(t)
    if line is not None:
        fields += [(LINE_UNITS, int(line[0])), (LINE_KNOWN_S, _value(LINE_KNOWN_S, line[1]))]
    return encode_point(_prefix(KPI_DAILY_FACTORY, {TAG_FACTORY: factory_id}), fields, round(day_start * 1e9))


def source(rp: str, measurement: str) -> str:
    """``"rp"."measurement"`` (or just the measurement for the default policy)."""
    return f"{ident(rp)}.{ident(measurement)}" if rp else ident(measurement)


async def ensure_retention_policy(client: InfluxClient, rp: str) -> None:
    """Create the assessor's own database and its KPI retention policy on InfluxDB 1.x if
    they are missing (2.x/3.x: the bucket and its mapping are made when it is set up)."""
    if client.cfg.api != "v1":
        return
    try:
        result = await client.query("SHOW RETENTION POLICIES")
    except DatabaseNotFound:
        await client.query(f"CREATE DATABASE {ident(client.cfg.database)}")
        result = []
    names = {row["name"] for s in (result[0] if result else []) for row in s.rows()}
    if rp and rp not in names:
        await client.query(
            f"CREATE RETENTION POLICY {ident(rp)} ON {ident(client.cfg.database)} "
            "DURATION INF REPLICATION 1 SHARD DURATION 520w"
        )


def day_start(factory: Factory, day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), ZoneInfo(factory.calendar.timezone)).timestamp()


def window_bounds(factory: Factory, w: DateWindow) -> tuple[float, float]:
    """Epoch seconds of a window of local days: its first midnight to the one after it."""
    return day_start(factory, w.start), day_start(factory, w.end + dt.timedelta(days=1))


async def write_days(
    client: InfluxClient,
    factory: Factory,
    totals: Mapping[DayKey, Totals],
    rp: str = "",
    raw_points: Mapping[DayKey, int] | None = None,
) -> None:
    """Whole days only: the factory row of a day is the sum of the machine rows given."""
    lines = []
    per_day: dict[dt.date, dict[tuple[str, str], Totals]] = {}
    for key, t in totals.items():
        line, machine, day = key
        points = None if raw_points is None else raw_points.get(key, 0)
        lines.append(encode_day(factory.id, line, machine, day_start(factory, day), t, points))
        per_day.setdefault(day, {})[(line, machine)] = t
    for day, parts in per_day.items():
        summed = sum(parts.values(), Totals.zero())
        output = line_output(parts, factory.lines)
        lines.append(encode_factory_day(factory.id, day_start(factory, day), summed, output))
    for i in range(0, len(lines), 5000):
        await client.write(lines[i : i + 5000], rp=rp)


def _totals_from_row(row: Mapping[str, object]) -> Totals:
    kwargs = {}
    for f in _FIELDS:
        v = row.get(f.name)
        if v is None:
            if f.default is dataclasses.MISSING:
                v = 0
            else:
                continue
        kwargs[f.name] = int(v) if f.name in _INT_FIELDS else float(v)  # type: ignore[arg-type]
    return Totals(**kwargs)  # type: ignore[arg-type]


async def read_days(
    client: InfluxClient, factory: Factory, start: float, end: float, rp: str = ""
) -> dict[DayKey, Totals]:
    tz = ZoneInfo(factory.calendar.timezone)
    q = (
        f"SELECT * FROM {source(rp, KPI_DAILY)} WHERE {tag_equals(TAG_FACTORY, factory.id)} "
        f"AND {time_range(start, end)} GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    )
    result = await client.query(q)
    out: dict[DayKey, Totals] = {}
    for series in result[0] if result else []:
        line, machine = series.tags.get(TAG_LINE, ""), series.tags.get(TAG_MACHINE, "")
        for row in series.rows():
            if not current_rules(row):
                continue  # computed by older rules: the caller computes the day again
            day = dt.datetime.fromtimestamp(row["time"] / 1000.0, tz).date()
            out[(line, machine, day)] = _totals_from_row(row)
    return out


async def raw_point_counts(
    client: InfluxClient, factory: Factory, days: Sequence[DaySpan]
) -> dict[DayKey, int]:
    """A fingerprint of the raw data per (line, machine, local day): the values of the
    signals the totals are computed from (``measured.SIGNALS``) stored that day, plus the
    alive milliseconds of the liveness records that start that day. A record grows by
    being rewritten in place, which adds no value to count, so a spool that delivers the
    rest of a record late changes only its length. ``measured.raw_counts`` takes the same
    fingerprint from the data a day's totals were computed from."""
    if not days:
        return {}
    where = tag_equals(TAG_FACTORY, factory.id)
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    counted = ", ".join(f"COUNT({ident(f)}) AS {ident(f)}" for f in SIGNALS)
    statements = [
        f"SELECT {counted} FROM {ident(MEASUREMENT_MACHINE)} WHERE {where} AND {time_range(s, e)} {group}"
        for _, s, e in days
    ] + [
        f"SELECT {ident(FIELD_ALIVE_S)} FROM {ident(MEASUREMENT_LIVENESS)} WHERE {where} "
        f"AND {time_range(days[0][1], days[-1][2])} {group}"
    ]
    results = await client.query("; ".join(statements))
    results += [[]] * (len(statements) - len(results))
    out: dict[DayKey, int] = {}
    for i, (day, _, _) in enumerate(days):
        for series in results[i]:
            row = next(series.rows(), {})
            n = sum(int(v or 0) for k, v in row.items() if k != "time")
            out[(series.tags.get(TAG_LINE, ""), series.tags.get(TAG_MACHINE, ""), day)] = n
    for series in results[len(days)]:
        line, machine = series.tags.get(TAG_LINE, ""), series.tags.get(TAG_MACHINE, "")
        records = [
            (row["time"] / 1000.0, float(row[FIELD_ALIVE_S]))
            for row in series.rows()
            if isinstance(row.get(FIELD_ALIVE_S), int | float)
        ]
        for day, s, e in days:
            ms = alive_ms(records, s, e)
            if ms:
                out[(line, machine, day)] = out.get((line, machine, day), 0) + ms
    return out


async def materialise_days(
    client: InfluxClient,
    raw: InfluxClient,
    factory: Factory,
    days: Sequence[DaySpan],
    hold_s: float,
    rp: str = "",
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> dict[DayKey, Totals]:
    """Compute and store whole days, each with the fingerprint of the very samples it was
    computed from (assessor/data/late_data.py): a sample arriving while they are read makes
    the day look stale once more and it is recomputed, never the other way round.
    ``raw``: the client of the factory's raw database; ``client`` the assessor's own,
    where the days are stored. ``small_stop_s``: the factory's small-stop limit
    (``KpiSettings.small_stop_for``)."""
    if not days:
        return {}
    wanted = {d for d, _, _ in days}
    computed, counts = await measured_days(
        raw, factory, days[0][1], days[-1][2], hold_s, small_stop_s=small_stop_s
    )
    fresh = {k: v for k, v in computed.items() if k[2] in wanted}
    await write_days(client, factory, fresh, rp, counts)
    return fresh
