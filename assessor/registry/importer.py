"""Read the registry YAML file (factories, products, lines, machines, calendars, support
projects), report every problem by key path and line, and turn it into assessor.domain.models
objects.

Checks run in two passes: first the shape of the file (unknown keys, types, formats),
then, when the shape is right, consistency (unique ids, project windows in order).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import sqlite3
import sys
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TextIO

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from assessor.domain.models import (
    BreakRule,
    DateWindow,
    DowntimeReason,
    Factory,
    Line,
    Machine,
    Product,
    Program,
    ShiftCalendar,
    ShiftRule,
    SupportProject,
    Weekday,
)
from assessor.domain.operator_input import CATEGORIES
from assessor.domain.upload_limits import DEFAULT_LIMITS, LimitBreach, UploadLimits, check_yaml_events
from assessor.registry.store import RegistryStore, RegistryStoreError
from assessor.registry.targets_spec import ProjectKpiSpec, check_kpis, to_project_kpi
from configkit import ConfigFileError, LineIndex, key_path, parse_duration, read_text
from configkit.yamlfile import yaml_error_line
from datacontract import factory_id_problem, tag_value_problem

DEFAULT_TIMEZONE = "Asia/Seoul"

Path_ = tuple[str | int, ...]


class RegistryError(ConfigFileError):
    """A registry file that cannot be imported; ``errors`` holds one line per problem."""

    #: HTTP status of the refusal
    status = 400


class RegistryLimitError(RegistryError):
    """The text is over one of the upload limits (assessor.domain.upload_limits); ``breach``
    names the limit, ``status`` is 413 (too large) or 400 (structure refused)."""

    def __init__(self, source: str, breach: LimitBreach):
        super().__init__(source, [breach.en])
        self.breach = breach
        self.status = breach.status


# -- YAML loading ---------------------------------------------------------------

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that leaves dates and clock times as text, so that their checks
    report a key path instead of failing the whole parse (YAML would turn 2023-02-30 into
    an exception and an unquoted 17:00 into the base-60 number 1020)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # the YAML spec forbids repeated keys, yet PyYAML keeps the last one silently
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key_node.value!r} twice",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _as_text(loader: yaml.BaseLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _int_unless_clock(loader: yaml.BaseLoader, node: yaml.ScalarNode) -> Any:
    if ":" in str(node.value):
        return _as_text(loader, node)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


def _float_unless_clock(loader: yaml.BaseLoader, node: yaml.ScalarNode) -> Any:
    if ":" in str(node.value):
        return _as_text(loader, node)
    return yaml.constructor.SafeConstructor.construct_yaml_float(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)
_Loader.add_constructor("tag:yaml.org,2002:int", _int_unless_clock)
_Loader.add_constructor("tag:yaml.org,2002:float", _float_unless_clock)


# -- value checks -----------------------------------------------------------------

def _id(value: object) -> str:
    """Ids become InfluxDB tag values and URL parts. The rule is the data contract's
    (datacontract.names), the one the collector stores by: an id the collector can write,
    the registry takes, and no other."""
    if not isinstance(value, str):
        raise ValueError(f"expected an id as text, got {value!r}; put it in quotes")
    if problem := tag_value_problem(value, "id"):
        raise ValueError(problem)
    return value


def _factory_id(value: object) -> str:
    """A factory id is also part of page and API addresses (datacontract.names)."""
    fid = _id(value)
    if problem := factory_id_problem(fid, "factory id"):
        raise ValueError(problem)
    return fid


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}; put it in quotes")
    return value


def _name(value: object) -> str:
    text = _text(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a valid date: {value!r} ({exc})") from None
    raise ValueError(f"expected a date such as 2023-03-01, got {value!r}")


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _clock(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and (m := _CLOCK.match(value.strip())):
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        # "24:00" is how people write the end of the day; the calendar reads an end at or
        # before the start as "past midnight", so it is 00:00
        if (hour, minute, second) == (24, 0, 0):
            return dt.time(0, 0)
        if hour < 24 and minute < 60 and second < 60:
            return dt.time(hour, minute, second)
    raise ValueError(f'expected a time of day such as "08:00", got {value!r}')


_DAY_GROUPS = {
    "weekdays": frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI}),
    "daily": frozenset(Weekday),
}


def _days(value: object) -> frozenset[Weekday]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"expected a list of days (mon..sun) or 'weekdays' or 'daily', got {value!r}")
    days: set[Weekday] = set()
    for item in items:
        key = item.strip().lower() if isinstance(item, str) else item
        if key in _DAY_GROUPS:
            days |= _DAY_GROUPS[key]
        elif key in {d.value for d in Weekday}:
            days.add(Weekday(key))
        else:
            raise ValueError(
                f"unknown day {item!r}; expected mon, tue, wed, thu, fri, sat, sun, weekdays, daily"
            )
    return frozenset(days)


def _program(value: object) -> Program:
    if isinstance(value, Program):
        return value
    allowed = [p.value for p in Program]
    if value not in allowed:
        raise ValueError(f"unknown program {value!r}; expected {', '.join(allowed)}")
    return Program(value)


def _timezone(value: object) -> str:
    text = _text(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {text!r}; expected an IANA name such as Asia/Seoul") from None
    return text


def _cycle_time(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be greater than zero, got {value!r}")
    return seconds


def _count(value: object) -> object:
    # YAML reads `yes`/`no` as booleans, which pydantic would take for 1 and 0
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


Id = Annotated[str, BeforeValidator(_id)]
FactoryId = Annotated[str, BeforeValidator(_factory_id)]
Text = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, BeforeValidator(_name)]
Date = Annotated[dt.date, BeforeValidator(_date)]
Clock = Annotated[dt.time, BeforeValidator(_clock)]
Days = Annotated[frozenset[Weekday], BeforeValidator(_days)]
ProgramName = Annotated[Program, BeforeValidator(_program)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]
CycleTime = Annotated[float, BeforeValidator(_cycle_time)]
#: 0 is allowed (for small_stop it turns small stops off)
Duration = Annotated[float, BeforeValidator(parse_duration)]
Count = Annotated[int, BeforeValidator(_count)]


# -- the file's shape -------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MachineSpec(_Strict):
    id: Id
    #: seconds per unit at the ideal rate; "1s", "500ms" or a number of seconds
    ideal_cycle_time: CycleTime
    name: Text = ""
    #: this machine counts the line's finished units (the last station of a serial line)
    line_output: bool = False
    #: product id -> ideal cycle time of that product on this machine (the same as the
    #: product's own ``machines:``, written from the machine's side)
    products: dict[Id, CycleTime] = {}


class LineSpec(_Strict):
    id: Id
    name: Text = ""
    machines: list[MachineSpec] = []


class ProductSpec(_Strict):
    id: Id
    #: seconds per unit of this product on any machine not named in ``machines``
    ideal_cycle_time: CycleTime
    name: Text = ""
    #: machine id -> ideal cycle time of this product on that machine
    machines: dict[Id, CycleTime] = {}


class DowntimeReasonSpec(_Strict):
    """A reason people at the line can give for a stop (docs/registry.md)."""

    code: Id
    #: 사람, 설비, 자재, 방법, 측정 or man, machine, material, method, measurement
    category: str
    name_ko: Name
    name_en: Text = ""
    planned: bool = False

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, v: object) -> str:
        by_name = {ko: key for key, (ko, _) in CATEGORIES.items()} | {k: k for k in CATEGORIES}
        text = str(v).strip().lower() if isinstance(v, str) else v
        if text not in by_name:
            raise ValueError(f"expected one of {', '.join(by_name)}, got {v!r}")
        return by_name[text]


class WindowSpec(_Strict):
    start: Date
    end: Date


class SupportProjectSpec(_Strict):
    id: Id
    program: ProgramName
    start: Date
    end: Date
    baseline: WindowSpec
    after: WindowSpec | None = None
    #: the KPIs the project chose, with baseline and target (docs/targets.md)
    kpis: list[ProjectKpiSpec] = []


class ShiftSpec(_Strict):
    days: Days
    start: Clock
    end: Clock
    name: Text = ""


class BreakSpec(_Strict):
    start: Clock
    end: Clock
    days: Days = frozenset(Weekday)
    name: Text = ""


class CalendarSpec(_Strict):
    shifts: list[ShiftSpec] = []
    breaks: list[BreakSpec] = []
    holidays: list[Date] = []


class FactorySpec(_Strict):
    id: FactoryId
    name: Name
    region: Text = ""
    employees: Count | None = None
    timezone: TimeZone = DEFAULT_TIMEZONE
    #: stops shorter than this are small stops (docs/kpi-method.md); absent: the
    #: assessor's ``kpi.small_stop`` setting
    small_stop: Duration | None = None
    calendar: CalendarSpec | None = None
    products: list[ProductSpec] = []
    lines: list[LineSpec] = []
    support_projects: list[SupportProjectSpec] = []
    #: the reasons line staff choose from for a stop (docs/registry.md)
    downtime_reasons: list[DowntimeReasonSpec] = []

    @field_validator("employees")
    @classmethod
    def _not_negative(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError(f"must not be negative, got {v}")
        return v


class RegistrySpec(_Strict):
    factories: list[FactorySpec]

    @field_validator("factories")
    @classmethod
    def _some(cls, v: list[FactorySpec]) -> list[FactorySpec]:
        if not v:
            raise ValueError("the file lists no factories")
        return v


_SPECS: tuple[type[BaseModel], ...] = (
    MachineSpec,
    LineSpec,
    ProductSpec,
    DowntimeReasonSpec,
    WindowSpec,
    SupportProjectSpec,
    ProjectKpiSpec,
    ShiftSpec,
    BreakSpec,
    CalendarSpec,
    FactorySpec,
    RegistrySpec,
)
_KNOWN_KEYS = sorted({name for spec in _SPECS for name in spec.model_fields})


# -- error reports ----------------------------------------------------------------


def _join(path: Path_) -> str:
    return key_path(path) or "(top level)"


class _Report:
    """Errors with key path and line of the file they came from."""

    def __init__(self, text: str):
        self._lines = LineIndex(text, _Loader)
        self.errors: list[str] = []

    def add(self, path: Path_, message: str) -> None:
        self.errors.append(self._lines.at(path, message))

    def add_pydantic(self, err: Mapping[str, Any]) -> None:
        loc = list(err["loc"])
        if "[key]" in loc:
            # a mapping's key was refused (products[].machines): name the key as written,
            # a number key included, not as a list index
            at = loc.index("[key]")
            loc = [*loc[: at - 1], str(loc[at - 1])]
        path = tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "json-")))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = str(path[-1]) if path else ""
            close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1)
            msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected a mapping (key: value), got {err.get('input')!r}"
        elif err["type"] == "list_type":
            msg = f"expected a list, got {err.get('input')!r}"
        self.add(path, msg)


# -- consistency ------------------------------------------------------------------


def _repeats(items: list[tuple[str, Path_]], what: str, report: _Report) -> None:
    first: dict[str, Path_] = {}
    for ident, path in items:
        if ident in first:
            report.add(path, f"duplicate {what} {ident!r} (already at {_join(first[ident])})")
        else:
            first[ident] = path


def _check_project(p: SupportProjectSpec, at: Path_, report: _Report) -> None:
    check_kpis(p.kpis, at, report.add)
    if p.end < p.start:
        report.add((*at, "end"), f"project ends ({p.end}) before it starts ({p.start})")
    if p.baseline.end < p.baseline.start:
        report.add((*at, "baseline", "end"), f"baseline window ends ({p.baseline.end}) before it starts")
    elif p.baseline.end >= p.start:
        report.add(
            (*at, "baseline", "end"),
            f"baseline window must end before the project starts ({p.start}), got {p.baseline.end}",
        )
    if p.after is not None:
        if p.after.end < p.after.start:
            report.add((*at, "after", "end"), f"after window ends ({p.after.end}) before it starts")
        if p.after.start <= p.end:
            report.add(
                (*at, "after", "start"),
                f"after window must start after the project ends ({p.end}), got {p.after.start}",
            )


def _check_products(f: FactorySpec, at: Path_, report: _Report) -> None:
    """Product ids are unique in the factory, and a machine's product-specific ideal times
    name products of the factory: a typo there would otherwise go unnoticed, the units
    timed by the machine's own ideal time. (A product's ``machines:`` may name a machine
    the registry does not list yet: kept, and noted at import, see ``unlisted_machines``.)"""
    _repeats([(p.id, (*at, "products", j, "id")) for j, p in enumerate(f.products)], "product id", report)
    product_ids = sorted(p.id for p in f.products)
    for j, line in enumerate(f.lines):
        for k, m in enumerate(line.machines):
            for product_id in m.products:
                if product_id in product_ids:
                    continue
                close = difflib.get_close_matches(product_id, product_ids, n=1)
                if close:
                    hint = f"; did you mean {close[0]!r}?"
                elif product_ids:
                    hint = f"; the factory's products are {', '.join(product_ids)}"
                else:
                    hint = "; the factory lists no products"
                report.add(
                    (*at, "lines", j, "machines", k, "products", product_id),
                    f"unknown product {product_id!r} for machine {m.id!r}{hint}",
                )


def unlisted_machines(f: Factory) -> list[tuple[str, str]]:
    """(product, machine) of machine-specific ideal times naming a machine the factory does
    not list: harmless (they apply once such a machine is registered) but worth a note."""
    machine_ids = {m.id for m in f.machines}
    return [(p.id, mid) for p in f.products for mid in p.machine_times if mid not in machine_ids]


def _check(spec: RegistrySpec, report: _Report) -> None:
    _repeats([(f.id, ("factories", i, "id")) for i, f in enumerate(spec.factories)], "factory id", report)
    for i, f in enumerate(spec.factories):
        at: Path_ = ("factories", i)
        _repeats([(ln.id, (*at, "lines", j, "id")) for j, ln in enumerate(f.lines)], "line id", report)
        for j, line in enumerate(f.lines):
            _repeats(
                [(m.id, (*at, "lines", j, "machines", k, "id")) for k, m in enumerate(line.machines)],
                "machine id",
                report,
            )
        _check_products(f, at, report)
        _repeats(
            [(r.code, (*at, "downtime_reasons", j, "code")) for j, r in enumerate(f.downtime_reasons)],
            "downtime reason code",
            report,
        )
        _repeats(
            [(p.id, (*at, "support_projects", j, "id")) for j, p in enumerate(f.support_projects)],
            "support project id",
            report,
        )
        for j, p in enumerate(f.support_projects):
            _check_project(p, (*at, "support_projects", j), report)
        if f.calendar is not None:
            for j, b in enumerate(f.calendar.breaks):
                if b.start == b.end:
                    report.add((*at, "calendar", "breaks", j, "end"), "break has no length (end = start)")


# -- to domain objects ------------------------------------------------------------


def _window(w: WindowSpec) -> DateWindow:
    return DateWindow(start=w.start, end=w.end)


def to_factory(f: FactorySpec) -> Factory:
    cal = f.calendar or CalendarSpec()
    return Factory(
        id=f.id,
        name=f.name,
        region=f.region,
        employees=f.employees,
        calendar=ShiftCalendar(
            timezone=f.timezone,
            shifts=tuple(ShiftRule(days=s.days, start=s.start, end=s.end, name=s.name) for s in cal.shifts),
            breaks=tuple(BreakRule(start=b.start, end=b.end, days=b.days, name=b.name) for b in cal.breaks),
            holidays=frozenset(cal.holidays),
        ),
        lines=tuple(
            Line(
                id=ln.id,
                name=ln.name,
                machines=tuple(
                    Machine(
                        id=m.id,
                        line_id=ln.id,
                        ideal_cycle_time_s=m.ideal_cycle_time,
                        name=m.name,
                        line_output=m.line_output,
                    )
                    for m in ln.machines
                ),
            )
            for ln in f.lines
        ),
        support_projects=tuple(
            SupportProject(
                id=p.id,
                program=p.program,
                start=p.start,
                end=p.end,
                baseline=_window(p.baseline),
                after=_window(p.after) if p.after else None,
                kpis=tuple(to_project_kpi(k) for k in p.kpis),
            )
            for p in f.support_projects
        ),
        small_stop_s=f.small_stop,
        products=tuple(
            Product(
                id=p.id,
                ideal_cycle_time_s=p.ideal_cycle_time,
                name=p.name,
                machine_times={
                    **p.machines,
                    **{m.id: m.products[p.id] for ln in f.lines for m in ln.machines if p.id in m.products},
                },
            )
            for p in f.products
        ),
        downtime_reasons=tuple(
            DowntimeReason(r.code, r.name_ko, r.name_en, r.category, r.planned) for r in f.downtime_reasons
        ),
    )


# -- entry points -----------------------------------------------------------------


def parse_registry(
    text: str, source: str = "<registry>", limits: UploadLimits = DEFAULT_LIMITS
) -> list[Factory]:
    """Validate registry YAML text; raise RegistryError listing every problem by key path,
    RegistryLimitError for text over ``limits``."""
    try:
        # the events first: aliases are expanded by loading, and by the line index
        check_yaml_events(yaml.parse(text, Loader=_Loader), limits)
        raw = yaml.load(text, Loader=_Loader)
    except LimitBreach as breach:
        raise RegistryLimitError(source, breach) from None
    except yaml.YAMLError as exc:
        raise RegistryError(source, [yaml_error_line(exc)]) from None
    if not isinstance(raw, dict):
        raise RegistryError(source, ["(top level): expected a mapping with a 'factories' list"])
    report = _Report(text)
    try:
        spec = RegistrySpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            report.add_pydantic(err)
        raise RegistryError(source, report.errors) from None
    _check(spec, report)
    if report.errors:
        raise RegistryError(source, report.errors)
    return [to_factory(f) for f in spec.factories]


def load_registry(path: str | Path, limits: UploadLimits = DEFAULT_LIMITS) -> list[Factory]:
    # utf-8-sig: Windows editors like to put a byte order mark in front
    text = read_text(path, RegistryError, bom=True)
    return parse_registry(text, str(path), limits)


def import_registry(store: RegistryStore, path: str | Path) -> list[Factory]:
    """Validate the whole file, then upsert its factories in one transaction: a file with
    any error changes nothing, and factories not in the file stay as they are."""
    factories = load_registry(path)
    store.upsert_factories(factories)
    return factories


def import_command(
    path: str | Path, db_path: str | Path, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``assessor registry import FILE``: exit status 0 on success, 1 when the file is
    refused, 2 when the database cannot be used."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with RegistryStore(Path(db_path)) as store:
            factories = import_registry(store, path)
    except RegistryError as exc:
        print(f"{exc.source}: refused, nothing was changed", file=err)
        for line in exc.errors:
            print(f"  {line}", file=err)
        return 1
    except (RegistryStoreError, sqlite3.Error) as exc:
        print(f"{db_path}: cannot use the registry database: {exc}", file=err)
        return 2
    for f in factories:
        machines = sum(len(ln.machines) for ln in f.lines)
        print(
            f"{f.id} ({f.name}): {len(f.lines)} line(s), {machines} machine(s), "
            f"{len(f.support_projects)} support project(s), {len(f.products)} product(s)",
            file=out,
        )
        for product, machine in unlisted_machines(f):
            print(
                f"  note: product {product!r} has an ideal time for machine {machine!r}, which "
                f"{f.id} does not list; it applies once that machine is registered",
                file=out,
            )
    return 0
