"""A support project's own targets: the KPI catalogue, target parsing, achievement and
pass or fail (docs/targets.md).

Pure code: numbers in, verdicts out. Rates (defect rate, utilisation, on-time delivery)
are fractions (0.029 for 2.9 %), as everywhere else in the assessor; lead time is hours.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from assessor.domain.gains import MIN_DAYS, Direction, pair_ratio
from assessor.domain.lead_time import DayLeadTime
from assessor.domain.models import DateWindow, ProjectKpi, ResultSource, Target

#: how many resamples the interval of a result takes, and its seed (as the gains: the
#: same data gives the same interval on the page, in the API and in the PDF)
RESAMPLES = 2000
SEED = 0
#: a result this close to its target (relative) meets it: 100 x 1.2 is 120.00000000000001
_EPS = 1e-9


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    #: neither: the baseline, the target or the result is not known (``reason`` says which)
    NO_DATA = "no_data"


@dataclass(frozen=True)
class CatalogueKpi:
    id: str
    name_ko: str
    name_en: str
    unit_ko: str
    unit_en: str
    direction: Direction
    #: the collector's data can measure it
    measured: bool
    #: the manual daily logs (baseline import) can give it
    manual_log: bool
    #: shown as a percentage (the value is a fraction)
    percent: bool
    method_ko: str
    method_en: str


H, L = Direction.HIGHER, Direction.LOWER

#: (id, 지표, name, 단위, unit, direction, measured, manual_log, percent, 측정 방법, method)
_ROWS = (
    ("units_per_hour", "시간당 생산량", "units per hour", "개/시간", "units/h", H, True, True, False,
     "라인 완성품 수 ÷ 라인 가동시간 (자동 수집)", "line output ÷ line run hours (collected)"),
    ("defect_rate", "공정불량률", "in-process defect rate", "%", "%", L, True, True, True,
     "불량 수 ÷ 생산 수 (자동 수집)", "rejects ÷ units produced (collected)"),
    ("equipment_utilisation", "설비가동률", "equipment utilisation", "%", "%", H, True, False, True,
     "가동시간 ÷ 데이터가 있는 계획시간 (자동 수집)", "run time ÷ planned time with data (collected)"),
    ("manufacturing_lead_time", "제조리드타임", "manufacturing lead time", "시간", "h", L, True, False, False,
     "작업지시별 첫 생산부터 마지막 생산까지, 중앙값 (자동 수집)",
     "first to last unit of each production order, median (collected)"),
    ("finished_defect_rate", "완제품불량률", "finished-goods defect rate", "%", "%", L, False, False, True,
     "출하검사 불량 수 ÷ 검사 수 (증빙 입력)",
     "rejects at final inspection ÷ inspected (entered with evidence)"),
    ("on_time_delivery", "납기준수율", "on-time delivery", "%", "%", H, False, True, True,
     "납기 내 출하 건수 ÷ 출하 건수 (수기 기록)", "orders shipped on time ÷ orders shipped (manual log)"),
    ("inventory_days", "재고일수", "inventory days", "일", "days", L, False, False, False,
     "평균 재고 ÷ 일평균 출고 (증빙 입력)", "average stock ÷ daily shipments (entered with evidence)"),
    ("unit_cost", "원가", "unit cost", "원/개", "KRW/unit", L, False, False, False,
     "제조원가 ÷ 생산 수 (증빙 입력)", "manufacturing cost ÷ units (entered with evidence)"),
)  # fmt: skip

CATALOGUE: Mapping[str, CatalogueKpi] = MappingProxyType({r[0]: CatalogueKpi(*r) for r in _ROWS})


def catalogue_kpi(kpi_id: str) -> CatalogueKpi:
    try:
        return CATALOGUE[kpi_id]
    except KeyError:
        raise ValueError(f"unknown KPI {kpi_id!r}; expected one of {', '.join(CATALOGUE)}") from None


def from_data(kpi: CatalogueKpi) -> bool:
    """Whether a value of ``kpi`` can come from data at all (collector or daily logs)."""
    return kpi.measured or kpi.manual_log


# -- targets -----------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*([+-])\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_target(value: object) -> Target:
    """``"+20%"`` / ``"-15%"`` (a change from the baseline, the sign required) or a number."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a change such as '+20%', got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return Target(float(value))
    if isinstance(value, str):
        if m := _RELATIVE.match(value):
            change = float(m.group(2)) / 100.0
            if change == 0:
                raise ValueError(f"a change of {value!r} is no target")
            return Target(change if m.group(1) == "+" else -change, relative=True)
        if value.strip().endswith("%"):
            raise ValueError(
                f"expected a change with its sign ('+20%', '-15%') or a number (a rate as a fraction: "
                f"0.018 for 1.8 %), got {value!r}"
            )
        try:
            return parse_target(float(value))
        except ValueError:
            pass
    raise ValueError(f"expected a number or a change such as '+20%' or '-15%', got {value!r}")


def target_problem(kpi: CatalogueKpi, baseline: float | None, target: Target) -> str | None:
    """Why ``target`` is no improvement on ``baseline`` for ``kpi``, or None."""
    if target.relative:
        if (target.value > 0) != (kpi.direction is Direction.HIGHER):
            way = "a rise" if target.value > 0 else "a fall"
            better = "higher" if kpi.direction is Direction.HIGHER else "lower"
            return f"{kpi.id}: {better} is better, a target of {target.text} is {way}"
        return None
    if target.value < 0:
        return f"{kpi.id}: a target must not be negative, got {target.value:g}"
    if kpi.percent and target.value > 1:
        return f"{kpi.id}: a rate is a fraction (0.018 for 1.8 %), got {target.value:g}"
    if baseline is not None and not _better(kpi.direction, target.value, baseline, strict=True):
        return f"{kpi.id}: target {target.value:g} is no improvement on the baseline {baseline:g}"
    return None


def _better(direction: Direction, a: float, b: float, *, strict: bool = False) -> bool:
    """``a`` at least as good as ``b`` (better with ``strict``), within rounding."""
    tol = _EPS * max(abs(a), abs(b), 1.0)
    if direction is Direction.HIGHER:
        return a > b + tol if strict else a >= b - tol
    return a < b - tol if strict else a <= b + tol


# -- verdicts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: float | None
    #: share of the way from the baseline to the target the result went: 1.0 reaches the
    #: target, above 1 goes beyond it, below 0 went the wrong way; None without a baseline
    achievement: float | None
    status: Status
    #: for NO_DATA: no_baseline, no_result (or a more precise reason given by the caller)
    reason: str = ""


def verdict(kpi: CatalogueKpi, baseline: float | None, target: Target, result: float | None) -> Verdict:
    """Target value, achievement and pass or fail of one KPI. A KPI with a result but no
    target value (a relative target without baseline), or with no result, is NO_DATA:
    neither passed nor failed."""
    value = target.resolve(baseline)
    if value is None:
        return Verdict(None, None, Status.NO_DATA, "no_baseline")
    achievement = None
    if baseline is not None and result is not None and value != baseline:
        achievement = (result - baseline) / (value - baseline)
    if result is None:
        return Verdict(value, None, Status.NO_DATA, "no_result")
    passed = _better(kpi.direction, result, value)
    return Verdict(value, achievement, Status.PASS if passed else Status.FAIL)


@dataclass(frozen=True)
class ProjectVerdict:
    met: int
    total: int
    #: KPIs neither passed nor failed (no data yet)
    open: int
    #: share of KPIs that must pass (setting ``targets.pass_share``)
    pass_share: float
    #: "pass", "fail", "open" (undecided: KPIs without data could still decide it), or
    #: "none" (the project chose no KPIs)
    status: str


def project_verdict(statuses: Sequence[Status], pass_share: float = 1.0) -> ProjectVerdict:
    """A project passes when at least ``pass_share`` of its KPIs pass (every one by
    default); it fails when that can no longer happen even if every open KPI passed."""
    if not 0 < pass_share <= 1:
        raise ValueError(f"pass_share must be in (0, 1], got {pass_share}")
    total = len(statuses)
    met = sum(s is Status.PASS for s in statuses)
    open_ = sum(s is Status.NO_DATA for s in statuses)
    if total == 0:
        return ProjectVerdict(0, 0, 0, pass_share, "none")
    required = math.ceil(pass_share * total - _EPS)
    if met >= required:
        status = "pass"
    elif met + open_ < required:
        status = "fail"
    else:
        status = "open"
    return ProjectVerdict(met, total, open_, pass_share, status)


# -- intervals ---------------------------------------------------------------------

T = TypeVar("T")


def bootstrap_interval(
    items: Sequence[T],
    statistic: Callable[[Sequence[T]], float | None],
    *,
    seed: int = SEED,
    resamples: int = RESAMPLES,
    min_items: int = MIN_DAYS,
) -> tuple[float, float] | None:
    """95 % percentile-bootstrap interval of ``statistic`` over ``items`` drawn with
    replacement, as the gains do (assessor/gains.py); None for fewer than ``min_items``."""
    if len(items) < min_items:
        return None
    rng = random.Random(seed)
    values = [v for _ in range(resamples) if (v := statistic(rng.choices(items, k=len(items)))) is not None]
    if len(values) < 2:
        return None
    cuts = statistics.quantiles(values, n=40, method="inclusive")
    return cuts[0], cuts[-1]


def ratio_of_sums(pairs: Sequence[tuple[float, float]]) -> float | None:
    """A period's value of a ratio KPI from its days' (numerator, denominator)."""
    return pair_ratio(pairs)


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# -- a project's chosen KPIs and entered results ----------------------------------------


def default_result_source(kpi: CatalogueKpi) -> ResultSource:
    """Data where the collector measures the KPI, else a result entered with evidence."""
    return ResultSource.DATA if kpi.measured else ResultSource.MANUAL


def project_kpi_problems(p: ProjectKpi) -> list[tuple[str, str]]:
    """(key, message) of what makes ``p`` unusable: a result from data the data cannot
    give, a baseline to measure that nothing measures, a target that is no improvement."""
    kpi = catalogue_kpi(p.kpi)
    out = []
    if p.result_source is ResultSource.DATA and not kpi.measured:
        out.append(
            (
                "result_source",
                f"{kpi.id} cannot be measured from the collector's data; write result_source: manual "
                "and enter the result with its evidence",
            )
        )
    if p.baseline is None and not from_data(kpi):
        out.append(
            ("baseline", f"{kpi.id} cannot be measured over the baseline window; give the baseline value")
        )
    if p.baseline is not None and (not math.isfinite(p.baseline) or p.baseline < 0):
        out.append(("baseline", f"must be a number of at least 0, got {p.baseline!r}"))
    elif problem := target_problem(kpi, p.baseline, p.target):
        out.append(("target", problem))
    return out


def project_kpi_yaml(k: ProjectKpi) -> dict[str, object]:
    """``k`` as the registry file writes it (the browser's registry editor)."""
    target: object = f"{round(k.target.value * 100, 9):+.12g}%" if k.target.relative else k.target.value
    out: dict[str, object] = {"kpi": k.kpi}
    if k.baseline is not None:
        out["baseline"] = k.baseline
    out["target"] = target
    if k.result_source is not default_result_source(catalogue_kpi(k.kpi)):
        out["result_source"] = k.result_source.value
    return out


@dataclass(frozen=True)
class EnteredResult:
    """A result entered by hand for a KPI the data cannot measure, with its evidence."""

    id: int
    factory_id: str
    project_id: str
    kpi: str
    value: float
    note: str
    file_name: str
    file_sha256: str
    file_size: int
    #: the person who entered it, as they named themselves, and the token they used
    entered_by: str
    token_id: str
    #: ISO 8601 instant (UTC)
    entered_at: str


# -- the answer: a project's targets against its results ------------------------------


@dataclass(frozen=True)
class Side:
    """One side (baseline or result) of a KPI: its value and where it came from."""

    value: float | None
    #: registry (stated in the project), manual (daily logs), measured (collector),
    #: mixed, entered (a result entered with evidence), or "" for none
    source: str
    #: days (ratio KPIs) or finished orders (lead time) the value rests on
    count: int = 0
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class KpiTarget:
    kpi: str
    name_ko: str
    name_en: str
    unit_ko: str
    unit_en: str
    direction: str
    percent: bool
    method_ko: str
    method_en: str
    target_text: str
    result_source: str
    baseline: Side
    target: float | None
    result: Side
    achievement: float | None
    status: str
    reason: str
    #: the entered result the value is, with its evidence (manual KPIs)
    entered: EnteredResult | None = None
    #: lead time: the daily medians of the result window
    daily: tuple[DayLeadTime, ...] = ()


@dataclass(frozen=True)
class ProjectTargets:
    factory_id: str
    project_id: str
    program: str
    baseline_window: DateWindow
    result_window: DateWindow
    kpis: tuple[KpiTarget, ...]
    verdict: ProjectVerdict
