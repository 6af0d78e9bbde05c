"""A factory back in the registry file format, for editing in the browser.

``parse_registry(factory_yaml(f))`` gives ``f`` again: the editor starts from what is
stored and saves through the same importer as ``assessor registry import``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from assessor.domain.models import (
    BreakRule,
    DateWindow,
    Factory,
    Machine,
    Product,
    ShiftRule,
    SupportProject,
    Weekday,
)
from assessor.domain.targets import project_kpi_yaml
from configkit.units import parse_duration

_ORDER = [d.value for d in Weekday]


class _Clock(str):
    """A clock time, always written in quotes as docs/registry.md advises."""


class _Inline(list):  # type: ignore[type-arg]
    """A short list written on one line: ``[mon, tue, wed]``."""


def _days(days: frozenset[Weekday]) -> _Inline:
    return _Inline(sorted((d.value for d in days), key=_ORDER.index))


def _clock(t: dt.time) -> _Clock:
    return _Clock(t.strftime("%H:%M:%S") if t.second else t.strftime("%H:%M"))


def _shift(s: ShiftRule) -> dict[str, Any]:
    out: dict[str, Any] = {"days": _days(s.days), "start": _clock(s.start), "end": _clock(s.end)}
    if s.name:
        out["name"] = s.name
    return out


def _break(b: BreakRule) -> dict[str, Any]:
    out: dict[str, Any] = {"start": _clock(b.start), "end": _clock(b.end)}
    if b.days != frozenset(Weekday):
        out["days"] = _days(b.days)
    if b.name:
        out["name"] = b.name
    return out


def _window(w: DateWindow) -> dict[str, dt.date]:
    return {"start": w.start, "end": w.end}


def _project(p: SupportProject) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id,
        "program": p.program.value,
        "start": p.start,
        "end": p.end,
        "baseline": _window(p.baseline),
    }
    if p.after is not None:
        out["after"] = _window(p.after)
    if p.kpis:
        out["kpis"] = [project_kpi_yaml(k) for k in p.kpis]
    return out


def _cycle(seconds: float) -> str:
    # "1.5s" reads nicely; the repr is the fallback for a time such as 37.333333333333336
    # that six digits would round (the editor must save what is stored, unchanged)
    nice = f"{seconds:g}s" if seconds >= 1 or seconds == 0 else f"{seconds * 1000:g}ms"
    return nice if parse_duration(nice) == seconds else f"{seconds!r}s"


def _machine(m: Machine) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id}
    if m.name:
        out["name"] = m.name
    out["ideal_cycle_time"] = _cycle(m.ideal_cycle_time_s)
    if m.line_output:
        out["line_output"] = True
    return out


def _product(p: Product) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p.id}
    if p.name:
        out["name"] = p.name
    out["ideal_cycle_time"] = _cycle(p.ideal_cycle_time_s)
    if p.machine_times:
        out["machines"] = {mid: _cycle(seconds) for mid, seconds in p.machine_times.items()}
    return out


def factory_dict(f: Factory) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.id, "name": f.name}
    if f.region:
        out["region"] = f.region
    if f.employees is not None:
        out["employees"] = f.employees
    if f.small_stop_s is not None:
        out["small_stop"] = _cycle(f.small_stop_s)
    out["timezone"] = f.calendar.timezone
    cal: dict[str, Any] = {}
    if f.calendar.shifts:
        cal["shifts"] = [_shift(s) for s in f.calendar.shifts]
    if f.calendar.breaks:
        cal["breaks"] = [_break(b) for b in f.calendar.breaks]
    if f.calendar.holidays:
        cal["holidays"] = _Inline(sorted(f.calendar.holidays))
    if cal:
        out["calendar"] = cal
    if f.products:
        out["products"] = [_product(p) for p in f.products]
    out["lines"] = [
        {
            "id": ln.id,
            **({"name": ln.name} if ln.name else {}),
            "machines": [_machine(m) for m in ln.machines],
        }
        for ln in f.lines
    ]
    if f.support_projects:
        out["support_projects"] = [_project(p) for p in f.support_projects]
    if f.downtime_reasons:
        # written back, or editing the factory on the page would drop its reason tree
        out["downtime_reasons"] = [
            {"code": r.code, "category": r.category, "name_ko": r.name_ko}
            | ({"name_en": r.name_en} if r.name_en else {})
            | ({"planned": True} if r.planned else {})
            for r in f.downtime_reasons
        ]
    return out


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as the registry examples are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(_Clock, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))
_Dumper.add_representer(
    _Inline, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def factory_yaml(f: Factory) -> str:
    # dates go out as YAML dates (unquoted 2024-03-01), as people write them in the file
    return yaml.dump(
        {"factories": [factory_dict(f)]},
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
    )


NEW_FACTORY_YAML = """\
factories:
  - id: new-factory
    name: 새공장
    region: ""
    employees: 10
    timezone: Asia/Seoul
    calendar:
      shifts: [{days: [mon, tue, wed, thu, fri], start: "08:00", end: "17:00", name: day}]
      breaks: [{start: "12:00", end: "13:00", name: lunch}]
    lines:
      - id: line-1
        machines:
          - {id: machine-01, ideal_cycle_time: 1s}
"""
