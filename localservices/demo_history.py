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
import datetime as dt
import functools
import io
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from assessor.domain import BaselineDay, DateWindow, Factory, SupportProject
from assessor.kpi.calendar import local_days, planned_intervals
from assessor.materialize import window_bounds
from collector.simulator.machine import UINT32, Episode, MachineModel, MachineParams, Totals, summarize
from datacontract import MachineState

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


def _model(m: MachinePlan, params: MachineParams, start_s: float) -> MachineModel:
    return MachineModel(
        params,
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
        while True:
            model.advance(t)
            if t > prev:
                for at, ep in _changes(model, prev, t):
                    yield at, _state_fields(m.signals, ep.state, ep.reason_code)
            yield t, _full_fields(m, model, utc_offset_s)
            if t >= e:
                break
            prev, t = t, min(t + step_s, e)


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _string(v: object) -> str:
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


_FORMAT: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "true" if v else "false",
    int: lambda v: f"{v}i",
    float: repr,
    str: _string,
}


def series_key(factory_id: str, line: str, machine: str) -> str:
    """Measurement and tags of a machine's points, escaped for line protocol."""
    return (
        f"machine_data,factory={_escape_tag(factory_id)},line={_escape_tag(line)},"
        f"machine={_escape_tag(machine)}"
    )


def _line(key: str, sample: Sample) -> str:
    t, fields = sample
    body = ",".join(f"{k}={_FORMAT.get(type(v), _string)(v)}" for k, v in fields.items())
    return f"{key} {body} {t}"


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
            t = summarize(episodes, lo, hi)
            d.busy_s += t.planned_busy_s
            d.units += t.units
            d.rejects += t.rejects
        out[day] = d
    return out


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
    thousands separators in the counts."""
    names = {line.id: line.name or line.id for line in factory.lines}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([f"{factory.name} 생산일지"])
    w.writerow(CSV_HEADER)
    for r in rows:
        w.writerow(
            [
                r.day.isoformat(),
                names.get(r.line_id, r.line_id),
                _number(r.hours_worked),
                _number(r.workers),
                f"{r.produced:,}",
                f"{r.defects:,}",
                "" if r.energy_kwh is None else _number(r.energy_kwh),
                "" if r.orders_on_time is None else r.orders_on_time,
                "" if r.orders_total is None else r.orders_total,
                "",
            ]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


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
