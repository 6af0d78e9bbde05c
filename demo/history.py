"""History for the local demo: what a factory's months before and after a support project
look like, produced by the simulator's machine model in virtual time.

- **Before** (the baseline window): the machines run with their "before" parameters and
  the factory keeps a daily production log by hand, one row per line and day, totals
  rounded as people write them (``manual_days``, ``baseline_csv``). The assessor gets it
  the way a factory hands it over: a CSV file with Korean column names.
- **After** (from the project end to yesterday): the same machines with their "after"
  parameters, measured as the collector would have stored them (``measured_samples``,
  ``line_protocol``): a full sample every ``step_s`` seconds and one at each state
  change, only inside the factory's planned shift time.

Everything is deterministic: the same plan gives the same rows and points, so a reload
after an interruption rewrites identical points (InfluxDB overwrites a point with the
same series and time) and tests can pin figures.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from assessor.data.daily_rows import window_bounds
from assessor.domain.gains import line_ideal_time
from assessor.domain.kpi.calendar import local_days, planned_intervals
from assessor.domain.models import BaselineDay, BaselineProduct, DateWindow, Factory, SupportProject
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE, MachineState
from datacontract.lineprotocol import encode_point, series_prefix
from simulator.machine import (
    UINT32,
    Episode,
    MachineModel,
    MachineParams,
    Regime,
    Totals,
    summarize,
)

Interval = tuple[float, float]
Fields = dict[str, object]
#: one measured sample: epoch seconds, fields
Sample = tuple[int, Fields]

#: the collector's state codes on the Modbus map (holding 0)
_STATE_CODE = {
    MachineState.STOPPED: 0,
    MachineState.RUNNING: 1,
    MachineState.IDLE: 2,
    MachineState.FAULT: 3,
    MachineState.SETUP: 4,
    MachineState.PLANNED_STOP: 5,
}
_REASONS = {
    0: "none",
    101: "jam",
    102: "motor_overload",
    103: "sensor_fault",
    104: "tool_breakage",
    105: "hydraulic_pressure",
    106: "safety_circuit",
    201: "changeover",
    301: "material_wait",
    401: "operator_stop",
    501: "break",
    502: "no_shift",
}


@dataclass(frozen=True)
class Signals:
    """Which fields a machine's data carries: what its edge box was wired to read."""

    reasons: bool = True
    rejects: bool = True
    energy: bool = True
    temperature: bool = True
    #: state_code, cycle_time_s and door_open, as the Modbus register map gives them
    modbus: bool = False
    #: lot_id: traceability (evidence for Level 3)
    lot: bool = False
    #: sp_speed_pct: a setpoint that changes from lot to lot (evidence for Level 3)
    setpoint: bool = False


@dataclass(frozen=True)
class MachinePlan:
    line: str
    machine: str
    seed: int
    before: MachineParams
    after: MachineParams
    #: people working at this line, as the daily log records them
    workers: float
    signals: Signals = field(default_factory=Signals)
    initial_total: int = 0
    initial_rejects: int = 0
    initial_energy_wh: int = 0
    #: (epoch second, product id) of each product change, oldest first; the first holds
    #: from any earlier time on. Empty: the machine reports no product.
    products: tuple[tuple[float, str], ...] = ()
    #: product id -> ideal cycle time on this machine, as the registry has it
    product_times: tuple[tuple[str, float], ...] = ()

    def product_at(self, t: float) -> str | None:
        if not self.products:
            return None
        i = bisect_right([c for c, _ in self.products], t) - 1
        return self.products[max(i, 0)][1]


@dataclass(frozen=True)
class FactoryPlan:
    """One factory's history: the registry entry (with its support project), its machines
    and what its records look like."""

    factory: Factory
    machines: tuple[MachinePlan, ...]
    #: the "after" window's last day (yesterday when the demo first ran)
    after_end: dt.date
    #: epoch seconds from which the edge box sent nothing more (None: it never stopped)
    silent_from: float | None = None
    #: whether the daily log has an energy column (전력량)
    log_energy: bool = True
    #: share of orders delivered on time before the project (the log's 납기준수 columns)
    on_time_before: float = 0.8

    @property
    def project(self) -> SupportProject:
        return self.factory.support_projects[-1]

    @property
    def after_window(self) -> DateWindow:
        return DateWindow(self.project.end + dt.timedelta(days=1), self.after_end)


# -- time ---------------------------------------------------------------------------


def planned_by_day(factory: Factory, w: DateWindow) -> list[tuple[dt.date, list[Interval]]]:
    """The factory's planned intervals (shifts minus breaks) of each local day of ``w``."""
    start, end = window_bounds(factory, w)
    return [
        (day, planned_intervals(factory.calendar, s, e))
        for day, s, e in local_days(factory.calendar.timezone, start, end)
    ]


# -- after: measured samples ----------------------------------------------------------


# -- products and changeovers ----------------------------------------------------------

#: the product schedule reaches this far past the after window: the feed's horizon
PRODUCT_HORIZON_DAYS = 367
#: a changeover takes the machine's setup time, at most this long
CHANGEOVER_MAX_S = 900.0


def _planned_midpoint(planned: Sequence[Interval]) -> float:
    """The instant that halves the day's planned time."""
    half = sum(hi - lo for lo, hi in planned) / 2
    for lo, hi in planned:
        if hi - lo >= half:
            return float(math.floor(lo + half))
        half -= hi - lo
    return float(math.floor(planned[-1][1]))


def product_schedule(factory: Factory, line: str, window: DateWindow) -> tuple[tuple[float, str], ...]:
    """When ``line`` changes product, over ``window``: a line makes one product at a time,
    changes at the middle of every worked day's planned time, and half the days starts
    the day on another product than it ended the last one with. Changes fall a second
    after a planned interval starts or inside one, so the machines are running and the
    changeover (a setup) is what stops them."""
    ids = line_products(factory, line)
    if not ids:
        return ()
    out: list[tuple[float, str]] = []
    last: str | None = None
    for day, planned in planned_by_day(factory, window):
        if not planned:
            continue
        rng = random.Random(f"{factory.id}/{line}/{day}")
        first = last if last is not None and (rng.random() < 0.5 or len(ids) == 1) else rng.choice(ids)
        if first != last:
            out.append((float(math.ceil(planned[0][0])) + 1.0, first))
        if len(ids) > 1:
            second = rng.choice([p for p in ids if p != first])
            out.append((_planned_midpoint(planned), second))
            first = second
        last = first
    return tuple(out)


def line_products(factory: Factory, line: str) -> list[str]:
    """The products ``line`` makes: those whose ideal time on every machine of the line is
    within half to twice the machine's own (a press does not make the CNC's parts), or
    all the factory's products when fewer than two fit."""
    machines = [m for m in factory.machines if m.line_id == line]
    every = sorted(p.id for p in factory.products)
    fits = [
        pid
        for pid in every
        if machines
        and all(0.5 <= factory.ideal_cycle_time(m, pid)[0] / m.ideal_cycle_time_s <= 2.0 for m in machines)
    ]
    return fits if len(fits) >= 2 else every


def with_products(plan: FactoryPlan) -> FactoryPlan:
    """``plan`` with each machine's product schedule (from the baseline to the feed's
    horizon) and the products' ideal times on it from the registry entry."""
    f = plan.factory
    if not f.products:
        return plan
    window = DateWindow(plan.project.baseline.start, plan.after_end + dt.timedelta(days=PRODUCT_HORIZON_DAYS))
    machines = {m.id: m for m in f.machines}
    schedules = {line: product_schedule(f, line, window) for line in {m.line for m in plan.machines}}
    out = []
    for m in plan.machines:
        registered = machines.get(m.machine)
        if registered is None:
            out.append(m)
            continue
        times = tuple((p.id, f.ideal_cycle_time(registered, p.id)[0]) for p in f.products)
        out.append(dataclasses.replace(m, products=schedules[m.line], product_times=times))
    return dataclasses.replace(plan, machines=tuple(out))


def _regimes(m: MachinePlan, params: MachineParams) -> MachineParams | list[Regime]:
    """``params`` with the current product's ideal cycle time; at each product change
    a changeover: a short regime that makes a setup due at once (the model enters setup
    after the unit in progress), then the product's own regime."""
    if not m.products:
        return params
    times = dict(m.product_times)
    out: list[Regime] = []
    for i, (at, pid) in enumerate(m.products):
        p = params.with_changes(ideal_cycle_time_s=times[pid])
        if i > 0:
            setup = p.with_changes(
                setup_every_s=0.001,
                setup_every_units=None,
                setup_duration_s=min(p.setup_duration_s, CHANGEOVER_MAX_S),
            )
            out.append(Regime(at, setup))
            at += 1.0
        out.append(Regime(at, p))
    return out


def _model(m: MachinePlan, params: MachineParams, start_s: float) -> MachineModel:
    return MachineModel(
        _regimes(m, params),
        seed=m.seed,
        start_time_s=start_s,
        initial_total=m.initial_total,
        initial_rejects=m.initial_rejects,
        initial_energy_wh=m.initial_energy_wh,
        keep_events=True,
    )


def _state_fields(sig: Signals, state: MachineState, reason: int) -> Fields:
    out: Fields = {"state": state.value}
    if sig.modbus:
        out["state_code"] = _STATE_CODE[state]
    if sig.reasons:
        out["downtime_reason"] = _REASONS.get(reason, str(reason))
    return out


@functools.lru_cache(maxsize=4096)
def _lot_fields(machine: str, lot: bool, setpoint: bool, local_day: int) -> tuple[tuple[str, object], ...]:
    day = dt.date(1970, 1, 1) + dt.timedelta(days=local_day)
    out: list[tuple[str, object]] = []
    if lot:
        out.append(("lot_id", f"{machine.upper()}-{day:%y%m%d}"))
    if setpoint:
        # the speed setpoint the operator picks for the day's lot
        out.append(("sp_speed_pct", float(random.Random(f"{machine}/{day}").choice((95, 100, 105)))))
    return tuple(out)


def _full_fields(m: MachinePlan, model: MachineModel, utc_offset_s: int) -> Fields:
    snap = model.snapshot()
    sig = m.signals
    out = _state_fields(sig, snap.state, snap.reason_code)
    out["count_total"] = snap.total
    if sig.rejects:
        out["count_reject"] = snap.rejects
    if sig.energy:
        out["energy_kwh"] = snap.energy_wh / 1000
        out["power_kw"] = snap.power_w / 1000
    if sig.modbus:
        out["cycle_time_s"] = snap.cycle_ms / 1000
        out["door_open"] = snap.door_open
    if sig.temperature:
        out["temperature"] = snap.temperature_c
    if sig.lot or sig.setpoint:
        local_day = (round(snap.time_s) + utc_offset_s) // 86400
        out.update(_lot_fields(m.machine, sig.lot, sig.setpoint, local_day))
    return out


def _changes(model: MachineModel, after: int, before: int) -> Iterator[tuple[int, Episode]]:
    """Episodes that started in (after, before), at the whole second they are recorded at;
    of two starting within one second the later wins, as a PLC read would show it."""
    seen: dict[int, Episode] = {}
    for ep in [*model.drain_events(), model.current_episode()]:
        t = math.ceil(ep.start_s)
        if after < t < before:
            seen[t] = ep
    yield from sorted(seen.items())


def measured_samples(
    m: MachinePlan,
    planned: Sequence[Interval],
    start_s: float,
    *,
    step_s: int = 60,
    until_s: float | None = None,
    utc_offset_s: int = 0,
) -> Iterator[Sample]:
    """Samples of one machine in its "after" regime: a full one at the start of every
    planned interval, every ``step_s`` seconds and at its end, and a state-only one at
    each state change. Nothing outside ``planned`` (nobody looks at an idle line at
    night) and nothing from ``until_s`` on (the edge box fell silent).

    ``step_s`` must not exceed the assessor's ``kpi.hold_s``: a state holds at most that
    long, and time beyond it counts as unknown.
    """
    model = _model(m, m.after, start_s)
    for lo, hi in planned:
        if until_s is not None:
            hi = min(hi, until_s)
        s, e = math.ceil(lo), math.floor(hi)
        if e < s:
            continue
        model.advance(s)
        model.drain_events()
        t, prev = s, s
        # the product is stored on change, and again on the first sample of each planned
        # interval, as a collector stores a slowly changing value after a pause
        shown: list[str | None] = [None]
        while True:
            model.advance(t)
            if t > prev:
                for at, ep in _changes(model, prev, t):
                    yield at, _with_product(m, at, _state_fields(m.signals, ep.state, ep.reason_code), shown)
            yield t, _with_product(m, t, _full_fields(m, model, utc_offset_s), shown)
            if t >= e:
                break
            prev, t = t, min(t + step_s, e)


def _with_product(m: MachinePlan, t: float, fields: Fields, shown: list[str | None]) -> Fields:
    product = m.product_at(t)
    if product is not None and product != shown[0]:
        fields["product"] = product
        shown[0] = product
    return fields


def series_key(factory_id: str, line: str, machine: str) -> bytes:
    """Measurement and tags of a machine's points, escaped for line protocol."""
    return series_prefix(MEASUREMENT_MACHINE, {TAG_FACTORY: factory_id, TAG_LINE: line, TAG_MACHINE: machine})


def _line(key: bytes, sample: Sample) -> str:
    t, fields = sample
    return encode_point(key, list(fields.items()), t).decode()


def line_protocol(factory_id: str, line: str, machine: str, sample: Sample) -> str:
    """One point of ``machine_data`` with a time stamp in seconds (write with precision=s)."""
    return _line(series_key(factory_id, line, machine), sample)


# -- before: the manual daily log -----------------------------------------------------


@dataclass
class _Day:
    busy_s: float = 0.0
    units: float = 0.0
    rejects: float = 0.0
    energy_wh: int = 0
    #: product -> [busy seconds, units, rejects] while it was current
    products: dict[str, list[float]] = field(default_factory=dict)


def _pieces(m: MachinePlan, lo: float, hi: float) -> Iterator[tuple[float, float, str | None]]:
    """[lo, hi) cut at the machine's product changes, with the product of each piece."""
    cuts = [c for c, _ in m.products if lo < c < hi]
    for a, b in zip([lo, *cuts], [*cuts, hi], strict=True):
        yield a, b, m.product_at(a)


def _machine_days(
    m: MachinePlan, days: Sequence[tuple[dt.date, list[Interval]]], params: MachineParams, start_s: float
) -> dict[dt.date, _Day]:
    """What the machine did inside planned time on each day (ground truth)."""
    model = _model(m, params, start_s)
    out: dict[dt.date, _Day] = {}
    for day, planned in days:
        if not planned:
            continue
        d = _Day()
        for lo, hi in planned:
            model.advance(lo)
            before = model.snapshot().energy_wh
            model.advance(hi)
            d.energy_wh += (model.snapshot().energy_wh - before) % UINT32
        episodes = [*model.drain_events(), model.current_episode()]
        for lo, hi in planned:
            for a, b, product in _pieces(m, lo, hi):
                t = summarize(episodes, a, b)
                d.busy_s += t.planned_busy_s
                d.units += t.units
                d.rejects += t.rejects
                if product is not None:
                    acc = d.products.setdefault(product, [0.0, 0.0, 0.0])
                    acc[0] += t.planned_busy_s
                    acc[1] += t.units
                    acc[2] += t.rejects
        out[day] = d
    return out


def _day_products(worked: Sequence[tuple[MachinePlan, _Day]]) -> tuple[BaselineProduct, ...]:
    """A line's day per product, counts written as people write them."""
    sums: dict[str, list[float]] = {}
    for _, d in worked:
        for product, (_, units, rejects) in d.products.items():
            acc = sums.setdefault(product, [0.0, 0.0])
            acc[0] += units
            acc[1] += rejects
    out = []
    for product, (units, rejects) in sorted(sums.items()):
        produced = _written(units)
        out.append(BaselineProduct(product, produced, min(produced, round(rejects))))
    return tuple(out)


def _written(units: float) -> int:
    """A produced count as written in the log: big counts to the nearest ten."""
    n = round(units)
    return round(n, -1) if n >= 1000 else n


def manual_days(plan: FactoryPlan, window: DateWindow) -> list[BaselineDay]:
    """The factory's daily log over ``window``: per line and worked day the hours worked
    (planned busy time to the half hour), workers, produced and defective units, energy
    read off the meter (whole kWh) and the day's orders, on time or not."""
    f = plan.factory
    days = planned_by_day(f, window)
    start = window_bounds(f, window)[0]
    per_line: dict[str, list[tuple[MachinePlan, dict[dt.date, _Day]]]] = {}
    for m in plan.machines:
        per_line.setdefault(m.line, []).append((m, _machine_days(m, days, m.before, start)))
    rows: list[BaselineDay] = []
    for day, _ in days:
        for line, machines in per_line.items():
            worked = [(m, d[day]) for m, d in machines if day in d and d[day].busy_s > 0]
            if not worked:
                continue
            # a line's hours are the longest its machines were busy; its units are the sum
            hours = max(d.busy_s for _, d in worked) / 3600
            products = _day_products(worked)
            if products:
                # the log's totals are the sums of its product rows
                produced = sum(p.produced for p in products)
                defects = sum(p.defects for p in products)
            else:
                produced = _written(sum(d.units for _, d in worked))
                defects = min(produced, round(sum(d.rejects for _, d in worked)))
            energy = round(sum(d.energy_wh for _, d in worked) / 1000) if plan.log_energy else None
            orders = random.Random(f"{f.id}/{line}/{day}")
            total = orders.randint(1, 4)
            on_time = sum(orders.random() < plan.on_time_before for _ in range(total))
            rows.append(
                BaselineDay(
                    factory_id=f.id,
                    day=day,
                    line_id=line,
                    hours_worked=round(hours * 2) / 2,
                    workers=sum(m.workers for m, _ in worked),
                    produced=produced,
                    defects=defects,
                    energy_kwh=energy,
                    orders_on_time=on_time,
                    orders_total=total,
                    products=products,
                )
            )
    return rows


#: the log's header as the factory's own spreadsheet has it (docs/registry.md)
CSV_HEADER = (
    "날짜",
    "라인",
    "가동시간(h)",
    "작업자수",
    "생산량",
    "불량수",
    "전력량(kWh)",
    "납기준수",
    "주문수",
    "비고",
)


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def baseline_csv(rows: Iterable[BaselineDay], factory: Factory) -> bytes:
    """The log as "CSV UTF-8" from Excel: byte order mark, Korean headers, line names,
    thousands separators in the counts. Rows with a product mix are written one row per
    product (a 품목 column), each with its share of the day's hours, energy and orders;
    not when ``factory`` (as the registry holds it) has no products, which could not read
    that column."""
    rows = list(rows)
    per_product = bool(factory.products) and any(r.products for r in rows)
    names = {line.id: line.name or line.id for line in factory.lines}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([f"{factory.name} 생산일지"])
    w.writerow((*CSV_HEADER[:2], "품목", *CSV_HEADER[2:]) if per_product else CSV_HEADER)
    for r in rows:
        for product, part in _product_rows(r, factory) if per_product else [(None, r)]:
            cells = [
                r.day.isoformat(),
                names.get(r.line_id, r.line_id),
                _number(part.hours_worked),
                _number(part.workers),
                f"{part.produced:,}",
                f"{part.defects:,}",
                "" if part.energy_kwh is None else _number(part.energy_kwh),
                "" if part.orders_on_time is None else part.orders_on_time,
                "" if part.orders_total is None else part.orders_total,
                "",
            ]
            w.writerow([*cells[:2], product, *cells[2:]] if per_product else cells)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _split(total: float, weights: Sequence[float], unit: float) -> list[float]:
    """``total`` in whole ``unit``s over ``weights`` (largest remainder): the parts add up
    to ``total`` exactly, as the log's product rows add up to the day."""
    steps = round(total / unit)
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [1.0] * len(weights), float(len(weights))
    shares = [steps * x / whole for x in weights]
    parts = [math.floor(x) for x in shares]
    order = sorted(range(len(shares)), key=lambda i: parts[i] - shares[i])
    for i in order[: steps - sum(parts)]:
        parts[i] += 1
    return [p * unit for p in parts]


def _product_rows(r: BaselineDay, factory: Factory) -> list[tuple[str, BaselineDay]]:
    """One log row per product of ``r``; hours, energy and orders are shared by each
    product's standard time (ideal time x units), the time it took at the ideal rate."""
    if not r.products:
        raise ValueError(f"{r.day} {r.line_id}: a log with a product column needs every row's products")
    weights = [(line_ideal_time(factory, r.line_id, p.product) or 1.0) * p.produced for p in r.products]
    hours = _split(r.hours_worked, weights, 0.5)
    energy = None if r.energy_kwh is None else _split(r.energy_kwh, weights, 1.0)
    total = None if r.orders_total is None else _split(r.orders_total, weights, 1.0)
    # shared by the rows' orders, so that no row has more on time than in total
    on_time = None if r.orders_on_time is None or total is None else _split(r.orders_on_time, total, 1.0)
    out = []
    for i, p in enumerate(r.products):
        out.append(
            (
                p.product,
                dataclasses.replace(
                    r,
                    hours_worked=hours[i],
                    produced=p.produced,
                    defects=p.defects,
                    energy_kwh=None if energy is None else energy[i],
                    orders_on_time=None if on_time is None else int(on_time[i]),
                    orders_total=None if total is None else int(total[i]),
                    products=(p,),
                ),
            )
        )
    return out


# -- ground truth ---------------------------------------------------------------------


def true_totals(plan: FactoryPlan, window: DateWindow, regime: str) -> Totals:
    """What the machines really did in ``window`` with their "before" or "after" parameters,
    summed over the factory's planned time: the figures the assessor should find."""
    f = plan.factory
    days = planned_by_day(f, window)
    start = window_bounds(f, window)[0]
    out = Totals()
    for m in plan.machines:
        model = _model(m, m.before if regime == "before" else m.after, start)
        for _, planned in days:
            if not planned:
                continue
            model.advance(planned[-1][1])
            episodes = [*model.drain_events(), model.current_episode()]
            for lo, hi in planned:
                t = summarize(episodes, lo, hi)
                out.planned_busy_s += t.planned_busy_s
                out.running_s += t.running_s
                out.units += t.units
                out.rejects += t.rejects
                out.ideal_run_s += t.ideal_run_s
    return out


# -- writing ----------------------------------------------------------------------------


class BatchWriter:
    """Posts line-protocol batches on one background thread, so generating the next batch
    (CPU) and InfluxDB storing the last (the other core) overlap. ``write`` raises what
    the poster raised for an earlier batch; ``close`` waits for the rest."""

    def __init__(self, post: Callable[[bytes], None], batch_lines: int = 5000, in_flight: int = 2):
        self._post = post
        self._batch_lines = batch_lines
        self._in_flight = in_flight
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer")
        self._pending: list[Future[None]] = []
        self._lines: list[str] = []
        self.points = 0

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._batch_lines:
            self._flush()

    def _flush(self) -> None:
        if not self._lines:
            return
        body = "\n".join(self._lines).encode("utf-8")
        self.points += len(self._lines)
        self._lines = []
        while len(self._pending) >= self._in_flight:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._post, body))

    def close(self) -> None:
        try:
            self._flush()
            for fut in self._pending:
                fut.result()
        finally:
            self._pending = []
            self._pool.shutdown(wait=True)


def write_measured(
    plan: FactoryPlan,
    writer: BatchWriter,
    *,
    step_s: int = 60,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Every machine's "after" window as points, reporting the share done as it goes."""
    f = plan.factory
    window = plan.after_window
    if window.end < window.start:
        return
    start, end = window_bounds(f, window)
    planned = [iv for _, day in planned_by_day(f, window) for iv in day]
    offset = utc_offset_s(f, start)
    span = (end - start) * len(plan.machines)
    for i, m in enumerate(plan.machines):
        samples = measured_samples(
            m, planned, start, step_s=step_s, until_s=plan.silent_from, utc_offset_s=offset
        )
        key = series_key(f.id, m.line, m.machine)
        for n, sample in enumerate(samples):
            writer.add(_line(key, sample))
            if progress is not None and n % 2000 == 0:
                progress(((end - start) * i + sample[0] - start) / span)
    if progress is not None:
        progress(1.0)


def utc_offset_s(f: Factory, at: float) -> int:
    """The factory's UTC offset at ``at``, in seconds (for local day names in lot ids)."""
    from zoneinfo import ZoneInfo

    offset = dt.datetime.fromtimestamp(at, ZoneInfo(f.calendar.timezone)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0
