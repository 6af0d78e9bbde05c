"""The registry file's ``support_projects[].kpis``: the KPIs a project chose, with
baseline, target and where the result comes from (docs/registry.md, docs/targets.md)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from assessor.domain.targets import (
    CATALOGUE,
    ProjectKpi,
    ResultSource,
    Target,
    catalogue_kpi,
    default_result_source,
    parse_target,
    project_kpi_problems,
)

Path_ = tuple[str | int, ...]


def _kpi_id(value: object) -> str:
    if not isinstance(value, str) or value not in CATALOGUE:
        close = difflib.get_close_matches(str(value), list(CATALOGUE), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(CATALOGUE)}"
        raise ValueError(f"unknown KPI {value!r}{hint}")
    return value


def _baseline(value: object) -> float | None:
    # "measured" says in words what leaving the key out says
    if value is None or value == "measured":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a number, or 'measured' for the baseline window's value, got {value!r}")
    return float(value)


def _source(value: object) -> ResultSource:
    allowed = [s.value for s in ResultSource]
    if value not in allowed:
        raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
    return ResultSource(value)


class ProjectKpiSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    kpi: Annotated[str, BeforeValidator(_kpi_id)]
    #: "+20%" / "-15%" (change from the baseline) or a number in the KPI's unit
    target: Annotated[Target, BeforeValidator(parse_target)]
    #: a number; absent or "measured": measured over the project's baseline window
    baseline: Annotated[float | None, BeforeValidator(_baseline)] = None
    #: data or manual; absent: data where the collector measures the KPI
    result_source: Annotated[ResultSource | None, BeforeValidator(_source)] = None


def to_project_kpi(s: ProjectKpiSpec) -> ProjectKpi:
    source = s.result_source or default_result_source(catalogue_kpi(s.kpi))
    return ProjectKpi(s.kpi, s.target, s.baseline, source)


def check_kpis(kpis: Sequence[ProjectKpiSpec], at: Path_, add: Callable[[Path_, str], None]) -> None:
    """Each KPI once per project, and each usable (``project_kpi_problems``)."""
    first: dict[str, int] = {}
    for j, s in enumerate(kpis):
        if s.kpi in first:
            add((*at, "kpis", j, "kpi"), f"duplicate KPI {s.kpi!r} (already at kpis[{first[s.kpi]}])")
            continue
        first[s.kpi] = j
        for key, message in project_kpi_problems(to_project_kpi(s)):
            add((*at, "kpis", j, key), message)
