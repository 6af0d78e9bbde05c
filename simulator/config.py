"""The simulator's YAML file: a line of machines, their parameters and where they listen."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from configkit.units import parse_duration
from simulator.machine import (
    ALL_DAYS,
    FAULT_REASONS,
    MON_FRI,
    WEEKDAYS,
    Calendar,
    DailyWindow,
    MachineModel,
    MachineParams,
    ProductRun,
)
from simulator.register_map import U16_MAX

Duration = Annotated[float, BeforeValidator(parse_duration)]

_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2}):?(\d{2})$")
_DAY_GROUPS = {"daily": ALL_DAYS, "weekdays": MON_FRI, "weekends": frozenset({5, 6})}


class SimulatorConfigError(Exception):
    """A simulator file that cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clock_s(value: str) -> int:
    m = _CLOCK.match(value.strip())
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"expected a time of day such as '08:00', got {value!r}")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60


def parse_utc_offset(value: str) -> int:
    """Seconds east of UTC from '+09:00', 'UTC+9:00', 'Z' or 'UTC'."""
    text = value.strip()
    if text in ("Z", "UTC", "+00:00"):
        return 0
    m = _OFFSET.match(text)
    if not m:
        raise ValueError(f"expected a UTC offset such as '+09:00', got {value!r}")
    seconds = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    if seconds > 14 * 3600:
        raise ValueError(f"UTC offset out of range: {value!r}")
    return seconds if m.group(1) == "+" else -seconds


class WindowSpec(_Strict):
    start: str
    end: str
    #: weekday names (mon..sun) or one of daily, weekdays, weekends
    days: list[str] | str = "daily"
    name: str = ""

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        _clock_s(v)
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str] | str) -> list[str] | str:
        names = [v] if isinstance(v, str) else v
        for name in names:
            if name.lower() not in WEEKDAYS and name.lower() not in _DAY_GROUPS:
                raise ValueError(
                    f"unknown day {name!r}; expected {', '.join(WEEKDAYS)} or {', '.join(_DAY_GROUPS)}"
                )
        return v

    def window(self) -> DailyWindow:
        names = [self.days] if isinstance(self.days, str) else self.days
        days: set[int] = set()
        for name in (n.lower() for n in names):
            days |= _DAY_GROUPS.get(name, {WEEKDAYS.index(name)} if name in WEEKDAYS else set())
        end = _clock_s(self.end) % 86_400
        return DailyWindow(_clock_s(self.start), end, frozenset(days), self.name)


class CalendarSpec(_Strict):
    shifts: list[WindowSpec] = Field(min_length=1)
    breaks: list[WindowSpec] = Field(default_factory=list)

    def calendar(self, utc_offset_s: int) -> Calendar:
        return Calendar(
            shifts=tuple(w.window() for w in self.shifts),
            breaks=tuple(w.window() for w in self.breaks),
            utc_offset_s=utc_offset_s,
        )


class ProductSpec(_Strict):
    """One product of a machine's schedule (``products:``), made in turn with a changeover
    between runs."""

    #: the program number register's value while this product is set up and made
    code: int = Field(ge=1, le=65535)
    id: str = Field(min_length=1)
    ideal_cycle_time: Duration
    #: units per run; default: the machine's setup_every_units (setup_every applies too)
    units: int | None = Field(None, ge=1)

    @field_validator("ideal_cycle_time")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("ideal_cycle_time must be positive")
        return v

    def run(self) -> ProductRun:
        return ProductRun(self.code, self.id, self.ideal_cycle_time, self.units)


class ParamsSpec(_Strict):
    """Machine parameters; every key is optional and overrides the level above."""

    ideal_cycle_time: Duration | None = None
    speed_factor: float | None = Field(None, gt=0, le=2)
    reject_rate: float | None = Field(None, ge=0, lt=1)
    #: mean running time between faults; 0 turns faults off
    mtbf: Duration | None = None
    mttr: Duration | None = None
    #: fault code (101-106) -> relative weight
    fault_reasons: dict[int, float] | None = None
    idle_probability: float | None = Field(None, ge=0, le=1)
    idle_mean: Duration | None = None
    #: reason code of a wait (default 301, material wait); 0: the PLC gives no reason
    idle_reason: int | None = Field(None, ge=0)
    #: changeover after this many units (0: never)
    setup_every_units: int | None = Field(None, ge=0)
    #: changeover after this much running time (0: never)
    setup_every: Duration | None = None
    setup_duration: Duration | None = None
    #: mean running time between unplanned operator stops (0: never)
    stop_every: Duration | None = None
    stop_mean: Duration | None = None
    running_kw: float | None = Field(None, ge=0)
    idle_kw: float | None = Field(None, ge=0)
    standby_kw: float | None = Field(None, ge=0)
    ambient_c: float | None = None
    running_c: float | None = None
    thermal_time_constant: Duration | None = None
    calendar: CalendarSpec | None = None
    #: product schedule: the machine makes these in turn, with a changeover between runs
    products: list[ProductSpec] | None = None

    @field_validator("fault_reasons")
    @classmethod
    def _reasons(cls, v: dict[int, float] | None) -> dict[int, float] | None:
        if v is None:
            return v
        unknown = sorted(set(v) - set(FAULT_REASONS))
        if unknown:
            known = ", ".join(f"{c} {n}" for c, n in FAULT_REASONS.items())
            raise ValueError(f"unknown fault codes {unknown}; known: {known}")
        if not v or any(w <= 0 for w in v.values()):
            raise ValueError("fault_reasons needs positive weights")
        return v

    def apply(self, base: MachineParams, utc_offset_s: int) -> MachineParams:
        changes: dict[str, Any] = {}

        def put(key: str, value: Any) -> None:
            if value is not None:
                changes[key] = value

        def never_if_zero(value: float | None) -> float | None:
            return value if value else None

        put("ideal_cycle_time_s", self.ideal_cycle_time)
        put("speed_factor", self.speed_factor)
        put("reject_rate", self.reject_rate)
        if self.mtbf is not None:
            changes["mtbf_s"] = never_if_zero(self.mtbf)
        put("mttr_s", self.mttr)
        if self.fault_reasons is not None:
            changes["fault_reasons"] = tuple(sorted(self.fault_reasons.items()))
        put("idle_probability", self.idle_probability)
        put("idle_mean_s", self.idle_mean)
        if self.idle_reason is not None:
            changes["idle_reason"] = self.idle_reason
        if self.setup_every_units is not None:
            changes["setup_every_units"] = self.setup_every_units or None
        if self.setup_every is not None:
            changes["setup_every_s"] = never_if_zero(self.setup_every)
        put("setup_duration_s", self.setup_duration)
        if self.stop_every is not None:
            changes["stop_every_s"] = never_if_zero(self.stop_every)
        put("stop_mean_s", self.stop_mean)
        put("running_kw", self.running_kw)
        put("idle_kw", self.idle_kw)
        put("standby_kw", self.standby_kw)
        put("ambient_c", self.ambient_c)
        put("running_c", self.running_c)
        put("thermal_tau_s", self.thermal_time_constant)
        if self.calendar is not None:
            changes["calendar"] = self.calendar.calendar(utc_offset_s)
        if self.products is not None:
            changes["products"] = tuple(p.run() for p in self.products)
        return base.with_changes(**changes)


class AfterSpec(ParamsSpec):
    """A second regime: these changes apply from ``switch_at`` on."""

    switch_at: datetime

    @field_validator("switch_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("switch_at needs a UTC offset, such as 2025-03-03T00:00:00+09:00")
        return v


class InitialSpec(_Strict):
    """Counter readings at start; values near 2**32 make the wrap happen early."""

    total: int = Field(0, ge=0, lt=1 << 32)
    rejects: int = Field(0, ge=0, lt=1 << 32)
    energy_wh: int = Field(0, ge=0, lt=1 << 32)


class SimulatedMachine(_Strict):
    """What every simulated machine has, whatever protocol it speaks."""

    name: str
    seed: int
    params: ParamsSpec = Field(default_factory=ParamsSpec)
    after: AfterSpec | None = None
    initial: InitialSpec = Field(default_factory=InitialSpec)


class MachineSpec(SimulatedMachine):
    port: int = Field(ge=1, le=65535)
    unit: int = Field(1, ge=0, le=255)


class SimulationSettings(_Strict):
    """The plant's clock and the machines' shared parameters: the Modbus simulator's file
    and the MQTT publisher's file both start with these keys."""

    #: UTC offset of the plant's clock, for shift calendars
    timezone: str = "+00:00"
    #: simulated time at start: "now" or an ISO time with offset
    start: str = "now"
    #: simulated seconds per real second
    speed: float = Field(1.0, gt=0, le=1_000_000)
    calendar: CalendarSpec | None = None
    defaults: ParamsSpec = Field(default_factory=ParamsSpec)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        parse_utc_offset(v)
        return v

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        if v != "now":
            parse_start(v)
        return v

    @property
    def utc_offset_s(self) -> int:
        return parse_utc_offset(self.timezone)

    def start_time_s(self, now_s: float) -> float:
        return now_s if self.start == "now" else parse_start(self.start).timestamp()

    def params_of(self, m: SimulatedMachine) -> MachineParams:
        off = self.utc_offset_s
        calendar = self.calendar.calendar(off) if self.calendar else Calendar(utc_offset_s=off)
        base = MachineParams(calendar=calendar)
        return m.params.apply(self.defaults.apply(base, off), off)

    def after_of(self, m: SimulatedMachine) -> MachineParams | None:
        if m.after is None:
            return None
        return m.after.apply(self.params_of(m), self.utc_offset_s)

    def build_model(self, m: SimulatedMachine, start_time_s: float) -> MachineModel:
        """A model of ``m`` starting at ``start_time_s`` (simulated epoch seconds)."""
        return MachineModel(
            self.params_of(m),
            seed=m.seed,
            start_time_s=start_time_s,
            after=self.after_of(m),
            switch_at_s=m.after.switch_at.timestamp() if m.after else None,
            initial_total=m.initial.total,
            initial_rejects=m.initial.rejects,
            initial_energy_wh=m.initial.energy_wh,
        )


class SimulatorConfig(SimulationSettings):
    host: str = "127.0.0.1"
    machines: list[MachineSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _checks(self) -> SimulatorConfig:
        names: set[str] = set()
        endpoints: set[tuple[int, int]] = set()
        for i, m in enumerate(self.machines):
            if m.name in names:
                raise ValueError(f"machines[{i}]: name {m.name!r} repeats")
            names.add(m.name)
            if (m.port, m.unit) in endpoints:
                raise ValueError(f"machines[{i}]: port {m.port} unit {m.unit} is already taken")
            endpoints.add((m.port, m.unit))
            try:
                regimes = [self.params_of(m)] + ([self.after_of(m)] if m.after else [])
            except ValueError as exc:
                raise ValueError(f"machines[{i}]: {exc}") from None
            for p in (r.for_product(i) for r in regimes for i in range(max(1, len(r.products)))):
                # the cycle registers are uint16 milliseconds
                if p.cycle_ms > U16_MAX:
                    raise ValueError(
                        f"machines[{i}]: actual cycle {p.cycle_ms} ms exceeds the 65535 ms "
                        "the cycle register holds"
                    )
        return self

    def machine(self, name: str) -> MachineSpec:
        for m in self.machines:
            if m.name == name:
                return m
        raise KeyError(name)


def parse_start(value: str) -> datetime:
    """An ISO time with a UTC offset ('2025-03-03T08:00:00+09:00')."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"expected 'now' or an ISO time such as 2025-03-03T08:00:00+09:00, got {value!r}"
        ) from None
    if t.tzinfo is None:
        raise ValueError(f"start time needs a UTC offset: {value!r}")
    return t


def parse_simulator_config(text: str, source: str = "<simulator config>") -> SimulatorConfig:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SimulatorConfigError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise SimulatorConfigError(source, ["expected a mapping with 'machines'"])
    try:
        return SimulatorConfig.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(top level)"
            errors.append(f"{where}: {str(e['msg']).removeprefix('Value error, ')}")
        raise SimulatorConfigError(source, errors) from None


def load_simulator_config(path: str | Path) -> SimulatorConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimulatorConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_simulator_config(text, str(path))
