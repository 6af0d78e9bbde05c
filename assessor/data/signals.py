"""From collector data in InfluxDB to per-machine, per-day ISO 22400 totals.

One multi-statement query per factory and window (GROUP BY line, machine) pulls the
canonical signals of all its machines, the state then in force before the window, the
machines' alive records (``machine_liveness``) and the counters' last values before the
window, so the first minute of a day is neither lost nor double counted. The pure KPI
functions do the rest (docs/kpi-method.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not, itemgetter
from typing import Any

from assessor.data.evidence_query import field_keys
from assessor.data.influx_client import Columns, InfluxClient, Series
from assessor.data.influxql import ident, tag_equals, time_range
from assessor.domain.kpi.calendar import Interval, intersect, local_days, planned_intervals
from assessor.domain.kpi.counters import increase_spread, spread_units
from assessor.domain.kpi.formulas import derive_counts, machine_totals
from assessor.domain.kpi.model import Totals
from assessor.domain.kpi.products import (
    NO_PRODUCT,
    Changeover,
    IdealTime,
    apportion,
    product_ideal_s,
    product_tiles,
)
from assessor.domain.kpi.timeline import (
    SMALL_STOP_S,
    UNKNOWN_STATES,
    Episode,
    StateSample,
    episodes_of,
    intervals_of,
    merge_alive,
    state_time,
)
from assessor.domain.models import Factory, Machine
from datacontract import (
    FIELD_ALIVE_S,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
    MachineState,
)

COUNTS = ("count_total", "count_good", "count_reject")
COUNTERS = (*COUNTS, "energy_kwh")
#: how far back to look for a counter's last value before a window
COUNTER_LOOKBACK_S = 31 * 86400.0
#: how many of a counter's readings before a window are read: the oldest is the starting
#: value, the others are judged with the window's (two would decide a drop at the last)
PREVIOUS_READINGS = 3
#: how far back to look for the state in force at a window's start. A state stored only
#: on change may be days old (a machine stopped over a weekend or a holiday week) and
#: still hold, as long as the machine's alive records chain from it to the window: the
#: alive records are read from as far back. Older samples are not found, and the window
#: starts in unknown time until the next state sample.
STATE_LOOKBACK_S = 7 * 86400.0
#: how far past a window to read: the readings that close the last counter steps of the
#: window (a gateway may publish every 15 minutes) and the end of stops that run past it
#: (a stop's whole length decides whether it is a small stop)
AFTER_END_S = 900.0

MachineKey = tuple[str, str]  # (line, machine)
_RUNNING = frozenset({MachineState.RUNNING.value})


@dataclass
class MachineSignals:
    #: state samples as two columns, times and states: a month polled every few seconds
    #: is millions of samples (``timeline.episodes_of``)
    state_t: list[float] = field(default_factory=list)
    state_v: list[str] = field(default_factory=list)
    before_state: StateSample | None = None
    counters: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    previous: dict[str, float] = field(default_factory=dict)
    previous_t: dict[str, float] = field(default_factory=dict)
    #: alive records (start, alive_s) of the machine's data path
    alive: list[tuple[float, float]] = field(default_factory=list)
    #: product samples (role ``product``, stored on change) as two columns, and the
    #: newest one before the window
    product_t: list[float] = field(default_factory=list)
    product_v: list[str] = field(default_factory=list)
    before_product: StateSample | None = None

    @property
    def states(self) -> list[StateSample]:
        return [StateSample(t, v) for t, v in zip(self.state_t, self.state_v, strict=True)]

    def add_state(self, t: float, state: str) -> None:
        self.state_t.append(t)
        self.state_v.append(state)

    def set_states(self, samples: Sequence[StateSample]) -> None:
        self.state_t = [x.t for x in samples]
        self.state_v = [x.state for x in samples]


def _key(tags: dict[str, str]) -> MachineKey:
    return tags.get(TAG_LINE, ""), tags.get(TAG_MACHINE, "")


def after_end_s(hold_s: float, small_stop_s: float = SMALL_STOP_S) -> float:
    """How far past a window ``stream_signals`` reads."""
    return max(AFTER_END_S, hold_s, small_stop_s)


#: the signals a machine's totals are computed from, and so also what the late-data
#: fingerprint counts (``raw_point_counts``)
SIGNALS = ("state", *COUNTERS, "product")


async def stream_signals(
    client: InfluxClient,
    factory_id: str,
    start: float,
    end: float,
    hold_s: float,
    done: Callable[[MachineKey, MachineSignals], None],
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> None:
    """Read the signals of a factory's machines over a window and hand each machine's to
    ``done`` as soon as its samples are in, while the next machine's still arrive (the
    answer comes machine by machine). Machines with no sample in the window but a state
    or counter reading before it, or alive records, follow at the end; each machine once."""
    m = ident(MEASUREMENT_MACHINE)
    where = tag_equals(TAG_FACTORY, factory_id)
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    after = end + after_end_s(hold_s, small_stop_s)
    lookback = max(STATE_LOOKBACK_S, hold_s)
    context = [
        # the newest state sample before the window: a descending raw read stops at the
        # first point of each series, however far back the range reaches
        f"SELECT {ident('state')} FROM {m} WHERE {where} AND {time_range(start - lookback, start)} "
        f"{group} ORDER BY time DESC LIMIT 1",
        f"SELECT {ident(FIELD_ALIVE_S)} FROM {ident(MEASUREMENT_LIVENESS)} WHERE {where} "
        f"AND {time_range(start - lookback, after)} {group}",
    ] + [
        # one statement per counter: its newest readings before the window, several so
        # that the last of them is judged like any other (a stray 0 just before midnight
        # must not become the next day's starting value, kpi/counters.py)
        f"SELECT {ident(c)} FROM {m} WHERE {where} "
        f"AND {time_range(start - COUNTER_LOOKBACK_S, start)} {group} "
        f"ORDER BY time DESC LIMIT {PREVIOUS_READINGS}"
        for c in COUNTERS
    ]
    # the product in force at the window's start, held like the state (last: the statements
    # before it keep their places)
    context.append(
        f"SELECT {ident('product')} FROM {m} WHERE {where} AND {time_range(start - lookback, start)} "
        f"{group} ORDER BY time DESC LIMIT 1"
    )
    context_result, keys = await asyncio.gather(client.query("; ".join(context)), field_keys(client))
    signals = _context_signals(context_result + [[]] * (len(context) - len(context_result)))
    # The signals in one statement: the server walks the fields side by side and sends the
    # time once per row. The state last, so that rows polled with their counters end in a
    # string and join before parsing (influx_wire.py); fields no source ever wrote are left
    # out (a column of nulls costs the parse as much as a real one).
    stored = set(keys)
    fields = [ident(f) for f in (*COUNTERS, "product", "state") if f in stored]

    def complete(_: int, series: Columns) -> None:
        key = _key(series.tags)
        sig = signals.pop(key, None) or MachineSignals()
        _add_samples(sig, series)
        done(key, sig)

    if fields:
        await client.stream_columns(
            f"SELECT {', '.join(fields)} FROM {m} WHERE {where} AND {time_range(start, after)} {group}",
            complete,
        )
    for key, sig in signals.items():
        done(key, sig)


def _context_signals(result: list[list[Series]]) -> dict[MachineKey, MachineSignals]:
    """Each machine's state before the window, alive records and counters' previous readings."""
    before, alive = result[0], result[1]
    product = result[2 + len(COUNTERS)] if len(result) > 2 + len(COUNTERS) else []
    out: dict[MachineKey, MachineSignals] = defaultdict(MachineSignals)
    for series in before:
        for row in series.rows():
            sig = out[_key(series.tags)]
            t = row["time"] / 1000.0
            if row.get("state") is not None and (sig.before_state is None or t > sig.before_state.t):
                sig.before_state = StateSample(t, row["state"])
    for series in product:
        for row in series.rows():
            if isinstance(row.get("product"), str):
                out[_key(series.tags)].before_product = StateSample(row["time"] / 1000.0, row["product"])
    for series in alive:
        records = out[_key(series.tags)].alive
        for row in series.rows():
            v = row.get(FIELD_ALIVE_S)
            if isinstance(v, int | float):
                records.append((row["time"] / 1000.0, float(v)))
    for c, stmt in zip(COUNTERS, result[2:], strict=False):
        for series in stmt:
            # newest first: the oldest is the starting value, the newer ones go before the
            # window's samples (they fall in no day, so they credit nothing)
            readings = [(row["time"] / 1000.0, row[c]) for row in series.rows() if row.get(c) is not None]
            if not readings:
                continue
            sig = out[_key(series.tags)]
            sig.previous_t[c], sig.previous[c] = readings[-1]
            sig.counters[c][:0] = reversed(readings[:-1])
    return dict(out)


def _add_samples(sig: MachineSignals, series: Columns) -> None:
    """Append one slice's samples (time ascending, after the slices before)."""
    if not series.data or not series.data[0]:
        return
    times = [t / 1000.0 for t in series.data[0]]
    for name, values in zip(series.columns, series.data, strict=True):
        if name not in ("state", "product") and name not in COUNTERS:
            continue
        present = len(values) - values.count(None)
        if not present:
            continue
        at, values = (times, values) if present == len(values) else _present(times, values)
        if name == "state":
            sig.state_t += at
            sig.state_v += values
        elif name == "product":
            sig.product_t += at
            sig.product_v += [v if isinstance(v, str) else str(v) for v in values]
        else:
            sig.counters[name] += zip(at, values, strict=True)


def _present(times: list[float], values: list[Any]) -> tuple[list[float], list[Any]]:
    mask = list(map(is_not, values, repeat(None)))
    return list(compress(times, mask)), list(compress(values, mask))


def raw_counts(sig: MachineSignals | None, days: Sequence[tuple[dt.date, float, float]]) -> list[int]:
    """The late-data fingerprint of each day from the signals its totals were computed
    from: the values of ``SIGNALS`` stored in the day plus the alive milliseconds of the
    liveness records that start in it (``materialize.raw_point_counts`` counts the same
    in InfluxDB). Taken from the very data the totals used, a sample that arrived while
    they were computed is missing here and makes the day stale, never the reverse."""
    if sig is None:
        return [0] * len(days)
    series = [sorted(sig.state_t), sorted(sig.product_t)]
    series += [sorted(map(itemgetter(0), p)) for p in sig.counters.values()]
    out = []
    for _, a, b in days:
        n = sum(bisect_left(ts, b) - bisect_left(ts, a) for ts in series)
        out.append(n + alive_ms(sig.alive, a, b))
    return out


def alive_ms(records: Sequence[tuple[float, float]], start: float, end: float) -> int:
    """Alive milliseconds of the records (time order) that start in ``[start, end)``;
    summed here on both sides of the late-data comparison, so the float sum is the same."""
    return round(sum(v for t, v in records if start <= t < end) * 1000)


def _width(counter: str) -> int | None:
    return None if counter == "energy_kwh" else 32


def machine_episodes(sig: MachineSignals, start: float, end: float, hold_s: float) -> list[Episode]:
    """The machine's episodes over ``[start, end)`` widened to every reading it was given:
    back to the state sample before the window and the counters' previous readings (the
    first steps of a window are spread over the time since them), and on to the last
    reading past the window. Liveness decides how long each state holds; a machine
    without alive records falls back to ``hold_s``."""
    alive = merge_alive(sig.alive) or None
    lo = min(
        [start]
        + ([sig.before_state.t] if sig.before_state is not None else [])
        + [sig.previous_t[c] for c in COUNTS if c in sig.previous_t]
    )
    last = [max(sig.state_t)] if sig.state_t else []
    hi = max([end, *last] + [max(map(itemgetter(0), p)) for p in sig.counters.values() if p])
    return episodes_of(sig.state_t, sig.state_v, lo, hi, hold_s=hold_s, before=sig.before_state, alive=alive)


@dataclass
class MachineDays:
    """One machine's figures per day of a window."""

    #: the machine's Totals per day
    totals: list[Totals]
    #: per day: product -> the Totals of the product's time and units on the machine
    #: (``products.NO_PRODUCT`` for time no product sample covers); they add up to
    #: ``totals`` (counts exactly, times up to float rounding)
    products: list[dict[str, Totals]]
    #: product changes on the machine inside the window
    changeovers: list[Changeover]


def machine_day_totals(
    sig: MachineSignals | None,
    machine: Machine,
    days: Sequence[tuple[dt.date, float, float]],
    planned_by_day: Sequence[list[tuple[float, float]]],
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
    ideal: IdealTime | None = None,
) -> list[Totals]:
    """Totals of one machine for each of ``days`` (consecutive local days)."""
    return machine_days(
        sig, machine, days, planned_by_day, hold_s, small_stop_s=small_stop_s, ideal=ideal
    ).totals


def machine_days(
    sig: MachineSignals | None,
    machine: Machine,
    days: Sequence[tuple[dt.date, float, float]],
    planned_by_day: Sequence[list[tuple[float, float]]],
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
    ideal: IdealTime | None = None,
) -> MachineDays:
    """Totals of one machine for each of ``days``, and per product.

    ``ideal``: the ideal cycle time of a product on this machine (``Factory.ideal_cycle_time``);
    without it, or without product samples, every unit is timed by the machine's own."""
    if not days:
        return MachineDays([], [], [])
    start, end = days[0][1], days[-1][2]
    sig = sig or MachineSignals()
    episodes = machine_episodes(sig, start, end, hold_s)
    running = intervals_of(episodes, _RUNNING)
    unknown = intervals_of(episodes, UNKNOWN_STATES)
    counts = {c: _units(sig, c, planned_by_day, running, unknown) for c in COUNTS}
    energy_points = sig.counters.get("energy_kwh") or []
    energy = (
        increase_spread(
            energy_points,
            planned_by_day,
            previous=sig.previous.get("energy_kwh"),
            previous_t=sig.previous_t.get("energy_kwh"),
            width_bits=None,
        )
        if energy_points
        else None
    )
    out = []
    credited_by_day = []
    for i, planned in enumerate(planned_by_day):
        credited = {c: None if v is None else round(v[i][0]) for c, v in counts.items()}
        lost = {c: None if v is None else round(v[i][1]) for c, v in counts.items()}
        credited_by_day.append(credited)
        out.append(
            machine_totals(
                state_time(episodes, planned, small_stop_s=small_stop_s),
                total=credited["count_total"],
                good=credited["count_good"],
                reject=credited["count_reject"],
                ideal_cycle_time_s=machine.ideal_cycle_time_s,
                energy_kwh=None if energy is None else float(energy[i]),
                unattributed=derive_counts(lost["count_total"], lost["count_good"], lost["count_reject"])[0],
            )
        )
    if ideal is None or (not sig.product_t and sig.before_product is None):
        return MachineDays(out, [{NO_PRODUCT: t} for t in out], [])
    products, changeovers = _by_product(
        sig, episodes, planned_by_day, credited_by_day, running, unknown, hold_s, small_stop_s, ideal
    )
    for i, day in enumerate(products):
        out[i] = dataclasses.replace(
            out[i],
            ideal_run_s=product_ideal_s(((p, t.total_count) for p, t in day.items()), ideal),
            standard_s=product_ideal_s(((p, t.good_count) for p, t in day.items()), ideal),
        )
    return MachineDays(out, products, [c for c in changeovers if start <= c.at < end])


def _by_product(
    sig: MachineSignals,
    episodes: list[Episode],
    planned_by_day: Sequence[list[Interval]],
    credited_by_day: list[dict[str, int | None]],
    running: list[Interval],
    unknown: list[Interval],
    hold_s: float,
    small_stop_s: float,
    ideal: IdealTime,
) -> tuple[list[dict[str, Totals]], list[Changeover]]:
    """Each day's Totals per product, and the changeovers: the machine's units are spread
    over each day's planned time cut by product and rounded to add up to its counts."""
    product_eps = episodes_of(
        sig.product_t,
        sig.product_v,
        episodes[0].start,
        episodes[-1].end,
        hold_s=hold_s,
        before=sig.before_product,
        alive=merge_alive(sig.alive) or None,
        canonical=False,
        fill=NO_PRODUCT,
    )
    tiles, changeovers = product_tiles(product_eps, episodes, [iv for day in planned_by_day for iv in day])
    names = sorted(tiles)
    buckets = [intersect(planned, tiles[p]) for planned in planned_by_day for p in names]
    spread = {c: _units(sig, c, buckets, running, unknown) for c in COUNTS}
    products: list[dict[str, Totals]] = []
    for i, credited in enumerate(credited_by_day):
        row = slice(i * len(names), (i + 1) * len(names))
        total, good, reject, _ = derive_counts(*(credited[c] for c in COUNTS))
        graded = sum(credited[c] is not None for c in COUNTS) >= 2
        # each product's units as the machine's are derived (good = total - reject, ...),
        # then whole units by largest remainder, so that they add up to the machine's
        floats = [
            derive_counts(*(None if spread[c] is None else spread[c][row][k][0] for c in COUNTS))
            for k in range(len(names))
        ]
        totals, goods, rejects = (
            apportion(n, [f[j] for f in floats]) for j, n in enumerate((total, good, reject))
        )
        day: dict[str, Totals] = {}
        for k, p in enumerate(names):
            day[p] = machine_totals(
                state_time(episodes, buckets[row][k], small_stop_s=small_stop_s),
                total=totals[k],
                # quality is graded on the product as on the machine, or not at all
                good=goods[k] if graded else None,
                reject=rejects[k] if graded else None,
                ideal_cycle_time_s=ideal(p)[0],
            )
        products.append(day)
    return products, changeovers


def _units(
    sig: MachineSignals,
    counter: str,
    planned_by_day: Sequence[list[Interval]],
    running: list[Interval],
    unknown: list[Interval],
) -> list[tuple[float, float]] | None:
    points = sig.counters.get(counter) or []
    if not points:
        return None
    return spread_units(
        points,
        planned_by_day,
        running=running,
        unknown=unknown,
        previous=sig.previous.get(counter),
        previous_t=sig.previous_t.get(counter),
        width_bits=_width(counter),
    )


def factory_days(factory: Factory, start: float, end: float) -> list[tuple[dt.date, float, float]]:
    return local_days(factory.calendar.timezone, start, end)


def planned_for_days(
    factory: Factory, days: Sequence[tuple[dt.date, float, float]]
) -> list[list[tuple[float, float]]]:
    if not days:
        return []
    whole = planned_intervals(factory.calendar, days[0][1], days[-1][2])
    return [intersect(whole, [(s, e)]) for _, s, e in days]


async def measured_day_totals(
    client: InfluxClient,
    factory: Factory,
    start: float,
    end: float,
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> dict[tuple[str, str, dt.date], Totals]:
    """(line, machine, day) -> Totals for every registered machine and local day in the window."""
    totals, _ = await measured_days(client, factory, start, end, hold_s, small_stop_s=small_stop_s)
    return totals


async def measured_days(
    client: InfluxClient,
    factory: Factory,
    start: float,
    end: float,
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> tuple[dict[tuple[str, str, dt.date], Totals], dict[tuple[str, str, dt.date], int]]:
    """Totals and late-data fingerprints (``raw_counts``) of every registered machine and
    local day in the window, from one read."""
    days, per_machine = await _measure(client, factory, start, end, hold_s, small_stop_s)
    out: dict[tuple[str, str, dt.date], Totals] = {}
    counts: dict[tuple[str, str, dt.date], int] = {}
    for (line, machine), (md, per_day_counts) in per_machine.items():
        for (day, _, _), totals, n in zip(days, md.totals, per_day_counts, strict=True):
            out[(line, machine, day)] = totals
            counts[(line, machine, day)] = n
    return out, counts


ProductKey = tuple[str, str, dt.date, str]  # line, machine, local day, product


@dataclass(frozen=True)
class ProductDays:
    """Per-product figures of a factory's machines over a window (docs/kpi-method.md,
    "Products")."""

    #: (line, machine, day, product) -> Totals of that product's time and units
    totals: dict[ProductKey, Totals]
    #: (line, machine, changeover) of every product change inside the window
    changeovers: list[tuple[str, str, Changeover]]


async def measured_products(
    client: InfluxClient,
    factory: Factory,
    start: float,
    end: float,
    hold_s: float,
    *,
    small_stop_s: float = SMALL_STOP_S,
) -> ProductDays:
    """Every registered machine's Totals per local day and product, and its changeovers."""
    days, per_machine = await _measure(client, factory, start, end, hold_s, small_stop_s)
    totals: dict[ProductKey, Totals] = {}
    changeovers: list[tuple[str, str, Changeover]] = []
    for (line, machine), (md, _) in per_machine.items():
        for (day, _, _), by_product in zip(days, md.products, strict=True):
            for product, t in by_product.items():
                totals[(line, machine, day, product)] = t
        changeovers += [(line, machine, c) for c in md.changeovers]
    return ProductDays(totals, changeovers)


async def _measure(
    client: InfluxClient, factory: Factory, start: float, end: float, hold_s: float, small_stop_s: float
) -> tuple[list[tuple[dt.date, float, float]], dict[MachineKey, tuple[MachineDays, list[int]]]]:
    """Each registered machine's ``MachineDays`` and late-data fingerprints, from one read.

    Each machine is computed as soon as its samples are in, in a worker thread, while the
    next machine's samples arrive; the event loop stays free to answer other requests."""
    days = factory_days(factory, start, end)
    if not days:
        return [], {}
    planned = planned_for_days(factory, days)
    machines = {(m.line_id, m.id): m for m in factory.machines}
    loop = asyncio.get_running_loop()
    pending: dict[MachineKey, asyncio.Future[tuple[MachineDays, list[int]]]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi-days") as worker:

        def compute(key: MachineKey, sig: MachineSignals | None) -> None:
            if key in machines and key not in pending:
                pending[key] = loop.run_in_executor(
                    worker, _machine_days, sig, factory, machines[key], days, planned, hold_s, small_stop_s
                )

        try:
            await stream_signals(
                client, factory.id, days[0][1], days[-1][2], hold_s, compute, small_stop_s=small_stop_s
            )
            for key in machines:
                compute(key, None)
            results = await asyncio.gather(*pending.values())
        finally:
            for future in pending.values():
                future.cancel()
    return days, dict(zip(pending, results, strict=True))


def _machine_days(
    sig: MachineSignals | None,
    factory: Factory,
    machine: Machine,
    days: Sequence[tuple[dt.date, float, float]],
    planned: Sequence[list[tuple[float, float]]],
    hold_s: float,
    small_stop_s: float,
) -> tuple[MachineDays, list[int]]:
    def ideal(product: str) -> tuple[float, bool]:
        return factory.ideal_cycle_time(machine, product or None)

    return (
        machine_days(sig, machine, days, planned, hold_s, small_stop_s=small_stop_s, ideal=ideal),
        raw_counts(sig, days),
    )
