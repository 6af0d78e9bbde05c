"""The factories of the local demo and the history each one gets.

The first is the live one: ``demo-factory`` of configs/registry-demo.yaml, whose machines
are the simulated ones the demo runs (configs/simulated-line.yaml over Modbus,
configs/simulated-packaging.yaml over MQTT). Five more exist only as history: small
manufacturers in Chungnam with their own calendars, machines, records and level of
digitalisation, so the portfolio has something to compare. One of them has an edge box
that went silent two days before the demo first ran.

Support projects are placed relative to the day the demo first ran (the anchor):
baseline window, build period, then the "after" window up to the day before the anchor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from assessor.data.daily_rows import day_start
from assessor.domain.models import Factory, ShiftCalendar, Weekday
from assessor.registry.importer import parse_registry
from configkit.units import parse_duration
from demo.history import FactoryPlan, MachinePlan, Signals, with_products
from demo.registry import with_demo_products
from simulator.config import load_simulator_config
from simulator.machine import Calendar, DailyWindow, MachineParams
from simulator.mqtt_publisher import load_mqtt_simulator_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
LIVE_FACTORY = "demo-factory"

_WEEKDAY_INDEX = {d: i for i, d in enumerate(Weekday)}


@dataclass(frozen=True)
class Timeline:
    baseline_start: dt.date
    baseline_end: dt.date
    project_start: dt.date
    project_end: dt.date
    #: the last day with history (the day before the anchor)
    after_end: dt.date


def timeline(anchor: dt.date, history_days: int) -> Timeline:
    """``history_days`` measured days after the project, a build period of two thirds of
    that and a baseline of four thirds (90 days: a 60-day build and a 120-day baseline)."""
    days = max(1, history_days)
    after_end = anchor - dt.timedelta(days=1)
    project_end = anchor - dt.timedelta(days=days + 1)
    project_start = project_end - dt.timedelta(days=max(3, days * 2 // 3) - 1)
    baseline_end = project_start - dt.timedelta(days=1)
    baseline_start = baseline_end - dt.timedelta(days=max(5, days * 4 // 3) - 1)
    return Timeline(baseline_start, baseline_end, project_start, project_end, after_end)


# -- the history-only factories --------------------------------------------------------


@dataclass(frozen=True)
class MachineSpec:
    line: str
    line_name: str
    machine: str
    name: str
    seed: int
    #: MachineParams keys in the simulator file's units ("45s", "2h"), before the project
    before: dict[str, Any]
    #: what the project changed
    after: dict[str, Any]
    workers: float
    signals: Signals = field(default_factory=Signals)


@dataclass(frozen=True)
class PlantSpec:
    id: str
    name: str
    region: str
    program: str
    calendar: dict[str, Any]
    machines: tuple[MachineSpec, ...]
    #: questionnaire answers (assessor.domain.level.questionnaire item -> 0..5)
    answers: dict[str, int]
    log_energy: bool = True
    on_time_before: float = 0.8
    #: the edge box stopped sending this many days before the anchor, mid-morning
    silent_days_ago: int | None = None


_WEEKDAY_SHIFT = {
    "shifts": [{"days": ["weekdays"], "start": "08:00", "end": "17:00", "name": "주간"}],
    "breaks": [{"start": "12:00", "end": "13:00", "name": "점심"}],
}

_FULL = Signals(lot=True, setpoint=True)
_MONITORING = Signals(lot=False, setpoint=False)
_COUNTS_ONLY = Signals(reasons=False, energy=False, temperature=False)


def _answers(level: int) -> dict[str, int]:
    """Questionnaire answers of a factory that sees itself around ``level`` (0..5)."""
    items = (
        "strategy_targets",
        "strategy_people",
        "production_planning",
        "work_orders",
        "quality_control",
        "maintenance",
        "materials",
        "information_systems",
        "equipment_control",
        "network",
        "kpi_management",
    )
    # a little spread, as real answers have
    return {item: max(0, min(5, level + (i % 3) - 1)) for i, item in enumerate(items)}


PLANTS: tuple[PlantSpec, ...] = (
    PlantSpec(
        id="hanul-auto",
        name="한울오토텍",
        region="충남 아산",
        program="advanced",
        calendar={
            "shifts": [{"days": ["weekdays"], "start": "08:00", "end": "19:00", "name": "주간(잔업 포함)"}],
            "breaks": [
                {"start": "12:00", "end": "13:00", "name": "점심"},
                {"start": "17:00", "end": "17:30", "name": "저녁 전 휴식"},
            ],
        },
        machines=(
            MachineSpec(
                "press-1",
                "프레스 1라인",
                "press-a1",
                "300톤 프레스",
                1101,
                {
                    "ideal_cycle_time": "5s",
                    "speed_factor": 0.8,
                    "reject_rate": 0.03,
                    "mtbf": "80m",
                    "mttr": "15m",
                    "setup_every_units": 2500,
                    "setup_duration": "35m",
                    "running_kw": 18,
                    "idle_kw": 5,
                    "running_c": 52,
                },
                {
                    "speed_factor": 0.92,
                    "reject_rate": 0.012,
                    "mtbf": "4h",
                    "mttr": "9m",
                    "setup_duration": "15m",
                },
                3,
                _FULL,
            ),
            MachineSpec(
                "press-2",
                "프레스 2라인",
                "press-a2",
                "200톤 프레스",
                1102,
                {
                    "ideal_cycle_time": "4s",
                    "speed_factor": 0.82,
                    "reject_rate": 0.028,
                    "mtbf": "90m",
                    "mttr": "12m",
                    "setup_every_units": 3000,
                    "setup_duration": "30m",
                    "running_kw": 12,
                    "idle_kw": 3.5,
                    "running_c": 48,
                },
                {
                    "speed_factor": 0.93,
                    "reject_rate": 0.011,
                    "mtbf": "4h",
                    "mttr": "8m",
                    "setup_duration": "15m",
                },
                3,
                _FULL,
            ),
            MachineSpec(
                "weld-1",
                "용접라인",
                "robot-w1",
                "용접 로봇",
                1103,
                {
                    "ideal_cycle_time": "40s",
                    "speed_factor": 0.8,
                    "reject_rate": 0.035,
                    "mtbf": "2h",
                    "mttr": "18m",
                    "stop_every": "3h",
                    "stop_mean": "12m",
                    "running_kw": 20,
                    "idle_kw": 2.5,
                    "running_c": 55,
                },
                {"speed_factor": 0.9, "reject_rate": 0.015, "mtbf": "6h", "mttr": "10m", "stop_every": "8h"},
                2,
                _FULL,
            ),
        ),
        answers=_answers(4),
    ),
    PlantSpec(
        id="daeyang-food",
        name="대양식품",
        region="충남 논산",
        program="basic",
        calendar={
            "shifts": [{"days": ["weekdays"], "start": "07:00", "end": "16:00", "name": "주간"}],
            "breaks": [{"start": "11:30", "end": "12:30", "name": "점심"}],
        },
        machines=(
            MachineSpec(
                "fill",
                "충진라인",
                "filler-d1",
                "액상 충진기",
                2101,
                {
                    "ideal_cycle_time": "2s",
                    "speed_factor": 0.78,
                    "reject_rate": 0.025,
                    "mtbf": "60m",
                    "mttr": "12m",
                    "idle_probability": 0.001,
                    "idle_mean": "8m",
                    "setup_every": "4h",
                    "setup_duration": "30m",
                    "running_kw": 3.5,
                    "idle_kw": 1,
                },
                {
                    "speed_factor": 0.88,
                    "reject_rate": 0.012,
                    "mtbf": "150m",
                    "mttr": "9m",
                    "setup_duration": "18m",
                },
                4,
                _COUNTS_ONLY,
            ),
            MachineSpec(
                "pack",
                "포장라인",
                "sealer-d1",
                "실링 포장기",
                2102,
                {
                    "ideal_cycle_time": "3s",
                    "speed_factor": 0.8,
                    "reject_rate": 0.02,
                    "mtbf": "100m",
                    "mttr": "10m",
                    "stop_every": "2h",
                    "stop_mean": "10m",
                    "running_kw": 2.5,
                    "idle_kw": 0.7,
                },
                {"speed_factor": 0.9, "reject_rate": 0.009, "mtbf": "4h", "stop_every": "6h"},
                3,
                _COUNTS_ONLY,
            ),
        ),
        answers=_answers(2),
        log_energy=False,
        on_time_before=0.72,
    ),
    PlantSpec(
        id="seohae-plastic",
        name="서해플라스틱",
        region="충남 당진",
        program="advanced",
        calendar={
            "shifts": [
                {
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                    "start": "06:00",
                    "end": "14:00",
                    "name": "1교대",
                },
                {
                    "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                    "start": "14:00",
                    "end": "22:00",
                    "name": "2교대",
                },
            ],
            "breaks": [
                {"start": "10:00", "end": "10:30", "name": "1교대 식사"},
                {"start": "18:00", "end": "18:30", "name": "2교대 식사"},
            ],
        },
        machines=(
            MachineSpec(
                "inj-1",
                "사출 1호기",
                "inj-s1",
                "450톤 사출기",
                3101,
                {
                    "ideal_cycle_time": "28s",
                    "speed_factor": 0.86,
                    "reject_rate": 0.03,
                    "mtbf": "4h",
                    "mttr": "40m",
                    "setup_every_units": 1500,
                    "setup_duration": "70m",
                    "running_kw": 22,
                    "idle_kw": 9,
                    "standby_kw": 4,
                    "running_c": 215,
                },
                {
                    "speed_factor": 0.95,
                    "reject_rate": 0.011,
                    "mtbf": "10h",
                    "mttr": "20m",
                    "setup_duration": "35m",
                },
                2,
                _FULL,
            ),
            MachineSpec(
                "inj-2",
                "사출 2호기",
                "inj-s2",
                "280톤 사출기",
                3102,
                {
                    "ideal_cycle_time": "18s",
                    "speed_factor": 0.85,
                    "reject_rate": 0.028,
                    "mtbf": "3h",
                    "mttr": "35m",
                    "setup_every_units": 2000,
                    "setup_duration": "60m",
                    "running_kw": 15,
                    "idle_kw": 6,
                    "standby_kw": 3,
                    "running_c": 205,
                },
                {
                    "speed_factor": 0.95,
                    "reject_rate": 0.01,
                    "mtbf": "9h",
                    "mttr": "18m",
                    "setup_duration": "30m",
                },
                2,
                _FULL,
            ),
        ),
        answers=_answers(3),
    ),
    PlantSpec(
        id="gongju-precision",
        name="공주정밀",
        region="충남 공주",
        program="basic",
        calendar=_WEEKDAY_SHIFT,
        machines=(
            MachineSpec(
                "cnc-1",
                "CNC 1라인",
                "cnc-g1",
                "CNC 선반",
                4101,
                {
                    "ideal_cycle_time": "60s",
                    "speed_factor": 0.85,
                    "reject_rate": 0.02,
                    "mtbf": "3h",
                    "mttr": "30m",
                    "idle_probability": 0.02,
                    "idle_mean": "12m",
                    "setup_every": "4h",
                    "setup_duration": "45m",
                    "running_kw": 11,
                    "idle_kw": 3,
                    "running_c": 38,
                },
                {
                    "speed_factor": 0.94,
                    "reject_rate": 0.008,
                    "mtbf": "7h",
                    "mttr": "15m",
                    "setup_duration": "25m",
                },
                2,
                _MONITORING,
            ),
            MachineSpec(
                "mct-1",
                "MCT 1라인",
                "mct-g1",
                "머시닝센터",
                4102,
                {
                    "ideal_cycle_time": "90s",
                    "speed_factor": 0.84,
                    "reject_rate": 0.018,
                    "mtbf": "4h",
                    "mttr": "35m",
                    "idle_probability": 0.03,
                    "idle_mean": "10m",
                    "setup_every": "5h",
                    "setup_duration": "50m",
                    "running_kw": 14,
                    "idle_kw": 3.5,
                    "running_c": 36,
                },
                {
                    "speed_factor": 0.93,
                    "reject_rate": 0.007,
                    "mtbf": "8h",
                    "mttr": "18m",
                    "setup_duration": "30m",
                },
                2,
                _MONITORING,
            ),
        ),
        answers=_answers(2),
        silent_days_ago=2,
    ),
    PlantSpec(
        id="hongseong-elec",
        name="홍성전자",
        region="충남 홍성",
        program="basic",
        calendar={
            "shifts": [{"days": ["weekdays"], "start": "08:30", "end": "17:30", "name": "주간"}],
            "breaks": [
                {"start": "12:00", "end": "13:00", "name": "점심"},
                {"start": "15:00", "end": "15:15", "name": "휴식"},
            ],
        },
        machines=(
            MachineSpec(
                "smt-1",
                "SMT라인",
                "mounter-h1",
                "칩 마운터",
                5101,
                {
                    "ideal_cycle_time": "12s",
                    "speed_factor": 0.82,
                    "reject_rate": 0.022,
                    "mtbf": "2h",
                    "mttr": "15m",
                    "setup_every": "3h",
                    "setup_duration": "30m",
                    "running_kw": 6,
                    "idle_kw": 2,
                    "running_c": 30,
                },
                {
                    "speed_factor": 0.92,
                    "reject_rate": 0.01,
                    "mtbf": "5h",
                    "mttr": "9m",
                    "setup_duration": "15m",
                },
                3,
                _MONITORING,
            ),
            MachineSpec(
                "reflow-1",
                "리플로우라인",
                "reflow-h1",
                "리플로우 오븐",
                5102,
                {
                    "ideal_cycle_time": "12s",
                    "speed_factor": 0.85,
                    "reject_rate": 0.015,
                    "mtbf": "5h",
                    "mttr": "25m",
                    "idle_probability": 0.004,
                    "idle_mean": "6m",
                    "running_kw": 25,
                    "idle_kw": 18,
                    "standby_kw": 4,
                    "running_c": 245,
                    "thermal_time_constant": "40m",
                },
                {"speed_factor": 0.93, "reject_rate": 0.007, "mtbf": "10h", "mttr": "15m"},
                2,
                _MONITORING,
            ),
        ),
        answers=_answers(2),
        on_time_before=0.76,
    ),
)

_DURATION_KEYS = {
    "ideal_cycle_time": "ideal_cycle_time_s",
    "mtbf": "mtbf_s",
    "mttr": "mttr_s",
    "idle_mean": "idle_mean_s",
    "setup_every": "setup_every_s",
    "setup_duration": "setup_duration_s",
    "stop_every": "stop_every_s",
    "stop_mean": "stop_mean_s",
    "thermal_time_constant": "thermal_tau_s",
}


def _params(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in values.items():
        if key in _DURATION_KEYS:
            out[_DURATION_KEYS[key]] = parse_duration(v)
        else:
            out[key] = v
    return out


def simulator_calendar(cal: ShiftCalendar, at: float) -> Calendar:
    """The registry calendar as the machine model's calendar, so the machines stop
    exactly when the factory plans them to."""
    offset = dt.datetime.fromtimestamp(at, ZoneInfo(cal.timezone)).utcoffset()

    def clock(t: dt.time) -> int:
        return t.hour * 3600 + t.minute * 60 + t.second

    def days(ds: frozenset[Weekday]) -> frozenset[int]:
        return frozenset(_WEEKDAY_INDEX[d] for d in ds)

    return Calendar(
        shifts=tuple(DailyWindow(clock(s.start), clock(s.end), days(s.days), s.name) for s in cal.shifts),
        breaks=tuple(DailyWindow(clock(b.start), clock(b.end), days(b.days), b.name) for b in cal.breaks),
        utc_offset_s=int(offset.total_seconds()) if offset else 0,
    )


def _registry_entry(p: PlantSpec) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "region": p.region,
        "employees": round(sum(m.workers for m in p.machines)),
        "timezone": "Asia/Seoul",
        "calendar": p.calendar,
        "lines": [
            {
                "id": m.line,
                "name": m.line_name,
                "machines": [
                    {
                        "id": m.machine,
                        "name": m.name,
                        "ideal_cycle_time": parse_duration(m.before["ideal_cycle_time"]),
                    }
                ],
            }
            for m in p.machines
        ],
    }


def _project(program: str, t: Timeline, project_id: str) -> dict[str, Any]:
    return {
        "id": project_id,
        "program": program,
        "start": t.project_start,
        "end": t.project_end,
        "baseline": {"start": t.baseline_start, "end": t.baseline_end},
    }


def registry_factories(anchor: dt.date, history_days: int, count: int) -> list[Factory]:
    """The demo's registry: configs/registry-demo.yaml with its project moved next to the
    anchor, and the first ``count - 1`` history-only factories."""
    t = timeline(anchor, history_days)
    project_id = f"sp-{t.project_start.year}"
    live = yaml.safe_load((CONFIGS / "registry-demo.yaml").read_text(encoding="utf-8"))["factories"]
    entries = []
    for entry in live:
        projects = entry.get("support_projects") or [{"program": "basic"}]
        entry["support_projects"] = [_project(projects[-1]["program"], t, project_id)]
        entries.append(entry)
    for p in PLANTS[: max(0, count - len(entries))]:
        entries.append({**_registry_entry(p), "support_projects": [_project(p.program, t, project_id)]})
    parsed = parse_registry(yaml.safe_dump({"factories": entries}, allow_unicode=True), "demo registry")
    # several products per factory, with changeovers, so the pages show the product mix
    return [with_demo_products(f) for f in parsed]


def answers_of(factory_id: str) -> dict[str, int]:
    for p in PLANTS:
        if p.id == factory_id:
            return p.answers
    return _answers(2)


# -- plans ----------------------------------------------------------------------------


def _live_machines(factory: Factory) -> tuple[MachinePlan, ...]:
    """The simulated machines the demo runs, with their line from the registry."""
    line_of = {m.id: m.line_id for m in factory.machines}
    workers = _spread(factory.employees or len(line_of), len(line_of))
    plans: list[MachinePlan] = []
    modbus = load_simulator_config(CONFIGS / "simulated-line.yaml")
    for m in modbus.machines:
        after = modbus.after_of(m) or modbus.params_of(m)
        plans.append(
            MachinePlan(
                line_of[m.name],
                m.name,
                m.seed,
                modbus.params_of(m),
                after,
                workers[len(plans)],
                Signals(modbus=True),
                m.initial.total,
                m.initial.rejects,
                m.initial.energy_wh,
            )
        )
    mqtt = load_mqtt_simulator_config(CONFIGS / "simulated-packaging.yaml")
    for q in mqtt.machines:
        after = mqtt.after_of(q) or mqtt.params_of(q)
        plans.append(
            MachinePlan(
                line_of[q.name],
                q.name,
                q.seed,
                mqtt.params_of(q),
                after,
                workers[len(plans)],
                Signals(),
                q.initial.total,
                q.initial.rejects,
                q.initial.energy_wh,
            )
        )
    return tuple(plans)


def _spread(people: int, lines: int) -> list[float]:
    """Workers per line adding up to the headcount, so labour productivity from the
    logs (hours x workers) and from the registry (headcount x planned hours) agree."""
    base, extra = divmod(people, lines)
    return [float(base + (1 if i < extra else 0)) for i in range(lines)]


def _plant_machines(p: PlantSpec, factory: Factory, at: float) -> tuple[MachinePlan, ...]:
    calendar = simulator_calendar(factory.calendar, at)
    out = []
    for m in p.machines:
        before = MachineParams(calendar=calendar, **_params(m.before))
        after = before.with_changes(**_params(m.after))
        out.append(MachinePlan(m.line, m.machine, m.seed, before, after, m.workers, m.signals))
    return tuple(out)


def build_plans(anchor: dt.date, history_days: int, count: int) -> list[FactoryPlan]:
    """Every factory of the demo with the history it gets (first ``count`` factories)."""
    t = timeline(anchor, history_days)
    plants = {p.id: p for p in PLANTS}
    plans = []
    for f in registry_factories(anchor, history_days, count):
        at = day_start(f, t.baseline_start)
        p = plants.get(f.id)
        if p is None:
            plans.append(with_products(FactoryPlan(f, _live_machines(f), t.after_end)))
            continue
        silent = None
        if p.silent_days_ago is not None:
            silent = day_start(f, anchor - dt.timedelta(days=p.silent_days_ago)) + 10.5 * 3600
        plans.append(
            with_products(
                FactoryPlan(f, _plant_machines(p, f, at), t.after_end, silent, p.log_energy, p.on_time_before)
            )
        )
    return plans
