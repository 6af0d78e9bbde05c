"""Domain objects of the assessor, shared by its modules (registry, KPIs, level, gains, API).

Plain frozen dataclasses: the registry builds them from SQLite, the rest only reads them.
Times are timezone-aware datetimes or epoch seconds (UTC); calendar rules are local
times of the factory's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


@dataclass(frozen=True)
class ShiftRule:
    """Planned production on the given weekdays from ``start`` to ``end`` local time;
    ``end <= start`` means the shift runs past midnight into the next day."""

    days: frozenset[Weekday]
    start: dt.time
    end: dt.time
    name: str = ""


@dataclass(frozen=True)
class BreakRule:
    """Unplanned time inside shifts every day (or on ``days``), e.g. lunch."""

    start: dt.time
    end: dt.time
    days: frozenset[Weekday] = frozenset(Weekday)
    name: str = ""


@dataclass(frozen=True)
class ShiftCalendar:
    """When production is planned. No shifts at all means: always planned (the default)."""

    timezone: str = "Asia/Seoul"
    shifts: tuple[ShiftRule, ...] = ()
    breaks: tuple[BreakRule, ...] = ()
    holidays: frozenset[dt.date] = frozenset()


@dataclass(frozen=True)
class Machine:
    id: str
    line_id: str
    #: planned run time per unit (ISO 22400 PRU), seconds
    ideal_cycle_time_s: float
    name: str = ""
    #: counts the line's finished units (the last station of a serial line)
    line_output: bool = False


@dataclass(frozen=True)
class Product:
    """A product or part a factory makes, with its ideal cycle time (ISO 22400 PRU)."""

    id: str
    ideal_cycle_time_s: float
    name: str = ""
    #: machine id -> ideal cycle time on that machine (a faster or slower machine)
    machine_times: Mapping[str, float] = field(default_factory=dict)

    def ideal_cycle_time_on(self, machine_id: str) -> float:
        return self.machine_times.get(machine_id, self.ideal_cycle_time_s)


@dataclass(frozen=True)
class Line:
    id: str
    machines: tuple[Machine, ...] = ()
    name: str = ""


class Program(StrEnum):
    BASIC = "basic"
    ADVANCED = "advanced"


@dataclass(frozen=True)
class DateWindow:
    """Whole local days, ``start`` and ``end`` both included (as people write them)."""

    start: dt.date
    end: dt.date


# -- a support project's chosen KPIs (docs/targets.md; the maths in assessor.domain.targets)


class ResultSource(StrEnum):
    DATA = "data"  # computed from the collector's data (or the manual daily logs before it)
    MANUAL = "manual"  # entered by hand with evidence (a file and a note)


@dataclass(frozen=True)
class Target:
    """An absolute value, or a change from the baseline (``relative``: +0.20 for "+20%")."""

    value: float
    relative: bool = False

    def resolve(self, baseline: float | None) -> float | None:
        """The target value; None for a relative target without a baseline."""
        if not self.relative:
            return self.value
        return None if baseline is None else baseline * (1.0 + self.value)

    @property
    def text(self) -> str:
        if self.relative:
            return f"{self.value * 100:+g}%"
        return f"{self.value:g}"


@dataclass(frozen=True)
class ProjectKpi:
    """One KPI a support project chose (registry ``support_projects[].kpis``)."""

    kpi: str
    target: Target
    #: None: measured over the project's baseline window (manual logs or data)
    baseline: float | None = None
    result_source: ResultSource = ResultSource.DATA


@dataclass(frozen=True)
class SupportProject:
    id: str
    program: Program
    start: dt.date
    end: dt.date
    baseline: DateWindow
    #: the "after" window; default: from the day after ``end`` to today
    after: DateWindow | None = None
    #: the KPIs the project chose, with baseline and target (docs/targets.md)
    kpis: tuple[ProjectKpi, ...] = ()


@dataclass(frozen=True)
class DowntimeReason:
    """One leaf of a factory's reason tree (registry ``downtime_reasons``)."""

    code: str
    name_ko: str
    name_en: str
    category: str
    planned: bool = False

    def name(self, lang: str) -> str:
        return self.name_ko if lang == "ko" else (self.name_en or self.name_ko)



@dataclass(frozen=True)
class Factory:
    id: str
    name: str
    region: str = ""
    employees: int | None = None
    calendar: ShiftCalendar = field(default_factory=ShiftCalendar)
    lines: tuple[Line, ...] = ()
    support_projects: tuple[SupportProject, ...] = ()
    #: stops shorter than this (seconds) are small stops; None: the assessor's
    #: ``kpi.small_stop`` setting
    small_stop_s: float | None = None
    #: what the factory makes (registry ``products``); a machine's units are timed by the
    #: product current when they were counted (docs/kpi-method.md, "Products")
    products: tuple[Product, ...] = ()
    #: the InfluxDB database (1.x) or bucket (2.x/3.x) of the factory's raw data as
    #: provisioned (``assessor edge provision``); None: the assessor's
    #: ``influx.raw_database`` pattern
    raw_database: str | None = None
    #: the factory's downtime reason tree (registry ``downtime_reasons``)
    downtime_reasons: tuple[DowntimeReason, ...] = ()

    @property
    def machines(self) -> tuple[Machine, ...]:
        return tuple(m for line in self.lines for m in line.machines)

    def ideal_cycle_time(self, machine: Machine, product: str | None) -> tuple[float, bool]:
        """(ideal cycle time of ``product`` on ``machine``, whether the registry knows the
        product). An unknown or missing product falls back to the machine's own ideal
        cycle time; the caller reports the code so the registry can be fixed."""
        for p in self.products:
            if p.id == product:
                return p.ideal_cycle_time_on(machine.id), True
        return machine.ideal_cycle_time_s, False


@dataclass(frozen=True)
class EdgeStorage:
    """Where a factory's raw data lives and the edge credential that writes there."""

    factory_id: str
    #: InfluxDB 1.x database, or 2.x/3.x bucket (queried through its DBRP mapping)
    database: str
    #: the write-only login (1.x user name) or token description (2.x)
    writer: str = ""
    #: 2.x: the id of the write token's authorization, to revoke it
    writer_id: str = ""
    provisioned_at: str = ""
    revoked_at: str | None = None


class Source(StrEnum):
    MANUAL = "manual"  # daily logs kept by hand, imported from CSV/XLSX
    MEASURED = "measured"  # computed from collector data


@dataclass(frozen=True)
class BaselineProduct:
    """One product's part of a manual log row: what a line made of it that day."""

    product: str
    produced: int
    defects: int


@dataclass(frozen=True)
class BaselineDay:
    """One row of a factory's manual daily production log."""

    factory_id: str
    day: dt.date
    line_id: str
    hours_worked: float
    workers: float
    produced: int
    defects: int
    energy_kwh: float | None = None
    orders_on_time: int | None = None
    orders_total: int | None = None
    #: the day's production per product, when the log has a product column (품목, 제품);
    #: empty: the mix was not recorded (assessor/domain/gains.py, standard hours)
    products: tuple[BaselineProduct, ...] = ()
