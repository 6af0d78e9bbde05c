"""Before/after gains of a support project: improvement rate, bootstrap interval, reference figures.

Every KPI is a ratio (units / hours, defects / produced, kWh / units, ...), so each day
carries its numerator and denominator and a period's value is the ratio of the sums.
The mean of daily ratios would weight a 10-unit day like a 10,000-unit day and tell a
different story than the plant's own totals.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from assessor.domain.kpi.formulas import kpis, rollup
from assessor.domain.kpi.line_output import output_machines
from assessor.domain.kpi.model import KpiPolicy, Totals
from assessor.domain.labels import flag_text, kpi_name, word
from assessor.domain.models import BaselineDay, DateWindow, Factory, Source

MIXED = "mixed"
#: fewer days than this on a side: no interval (a bootstrap over 3 days says nothing)
MIN_DAYS = 5
#: share of resamples allowed an undefined improvement (before = 0); beyond it one end
#: of the interval is unbounded, so none is given
_MAX_UNDEFINED_SHARE = 0.025


class Direction(StrEnum):
    HIGHER = "higher"  # higher is better
    LOWER = "lower"  # lower is better


KPI_DIRECTIONS: Mapping[str, Direction] = MappingProxyType(
    {
        "units_per_hour": Direction.HIGHER,
        "units_per_labour_hour": Direction.HIGHER,
        "standard_hours_per_hour": Direction.HIGHER,
        "defect_rate": Direction.LOWER,
        "scrap_ratio": Direction.LOWER,
        "energy_per_unit_kwh": Direction.LOWER,
        "on_time_delivery": Direction.HIGHER,
        "oee": Direction.HIGHER,
        "availability": Direction.HIGHER,
        "performance": Direction.HIGHER,
        "quality_ratio": Direction.HIGHER,
        "mtbf_h": Direction.HIGHER,
        "mttr_h": Direction.LOWER,
        "lead_time_h": Direction.LOWER,
    }
)

REFERENCE_SOURCE = (
    "Ministry of SMEs, study of 5,003 smart-factory adopters (2014-2017) against matched "
    "non-adopters, published 2019-05-23"
)
REFERENCE_SOURCE_KO = (
    "중소벤처기업부, 스마트공장 도입기업 5,003개 성과 분석 (2014-2017 도입), 2019-05-23 발표"
)


@dataclass(frozen=True)
class Reference:
    """A programme outcome figure, as an improvement rate in the same convention as KpiGain."""

    area: str
    improvement: float
    figure_en: str
    figure_ko: str
    note_en: str = ""
    note_ko: str = ""
    source: str = REFERENCE_SOURCE


REFERENCE: Mapping[str, Reference] = MappingProxyType(
    {
        "productivity": Reference("productivity", 0.30, "productivity +30%", "생산성 30% 향상"),
        "quality": Reference("quality", 0.435, "defects -43.5%", "불량률 43.5% 감소"),
        "cost": Reference(
            "cost",
            0.159,
            "cost -15.9%",
            "원가 15.9% 절감",
            note_en="The study measured total manufacturing cost; energy per unit is the part of cost "
            "the collector can measure, so it stands in for cost here.",
            note_ko="연구는 제조원가 전체를 측정했습니다. 여기서는 수집기가 측정할 수 있는 단위당 에너지 "
            "사용량을 원가의 대리 지표로 씁니다.",
        ),
        "delivery": Reference("delivery", 0.155, "on-time delivery +15.5%", "납기준수율 15.5% 향상"),
    }
)

#: the KPIs compared before and after a support project (OEE is shown beside them, but
#: manual logs carry no OEE)
GAIN_KPIS = (
    "units_per_hour",
    "units_per_labour_hour",
    "defect_rate",
    "energy_per_unit_kwh",
    "on_time_delivery",
)

#: standard hours produced per hour worked: sum over products of ideal time x good units,
#: over the hours worked (docs/assessment-method.md, "Standard hours"). A shift of the mix
#: toward slower products lowers units per hour but not this.
STANDARD_KPI = "standard_hours_per_hour"

#: the KPIs of a factory's own gains (page, PDF and CSV reports): the portfolio's GAIN_KPIS
#: and standard hours, which need each line's products and so are not in the portfolio's
#: factory-wide window sums
FACTORY_GAIN_KPIS = (*GAIN_KPIS[:2], STANDARD_KPI, *GAIN_KPIS[2:])

#: which reference figure each KPI is compared with
KPI_REFERENCE: Mapping[str, str] = MappingProxyType(
    {
        "units_per_hour": "productivity",
        "units_per_labour_hour": "productivity",
        STANDARD_KPI: "productivity",
        "defect_rate": "quality",
        "energy_per_unit_kwh": "cost",
        "on_time_delivery": "delivery",
    }
)


@dataclass(frozen=True)
class DailyValue:
    """One day of a KPI as numerator and denominator, e.g. defects and produced units."""

    day: dt.date
    num: float
    den: float
    source: Source

    def __post_init__(self) -> None:
        Source(self.source)  # raises on anything but "manual" / "measured"
        if not (math.isfinite(self.num) and math.isfinite(self.den)):
            raise ValueError(f"{self.day}: numerator and denominator must be finite")
        if self.den < 0:
            raise ValueError(f"{self.day}: negative denominator {self.den}")

    @property
    def value(self) -> float | None:
        """The day's ratio; None when the denominator is 0 (undefined, not zero)."""
        return self.num / self.den if self.den else None


@dataclass(frozen=True)
class GainWarning:
    code: str
    en: str
    ko: str


@dataclass(frozen=True)
class KpiGain:
    kpi: str
    direction: Direction
    before: float | None
    after: float | None
    #: direction-aware rate: positive is better; None when before is 0 or missing
    improvement: float | None
    ci95_low: float | None
    ci95_high: float | None
    days_before: int
    days_after: int
    #: "manual", "measured", "mixed", or "" for no days
    source_before: str
    source_after: str
    reference: Reference | None
    meets_reference: bool | None
    warnings: tuple[GainWarning, ...] = ()
    #: why the gain is left out ("after:coverage", "before:implausible_ideal_time; ..."):
    #: a side's KPI was flagged, so no improvement is computed from it; None: not left out
    excluded_reason: str | None = None


@dataclass(frozen=True)
class MonthPoint:
    month: dt.date  # first day of the calendar month
    value: float | None
    days: int
    num: float
    den: float
    source: str

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


@dataclass(frozen=True)
class Exclusion:
    """A side's KPI that was flagged (``assessor.domain.kpi`` Flag): the gain must not use it."""

    side: str  # "before" or "after"
    #: the flag's reason: coverage, implausible_ideal_time, inconsistent_counts, no_data
    reason: str
    #: the side's data coverage, for the wording of a coverage flag
    coverage: float | None = None

    @property
    def code(self) -> str:
        return f"{self.side}:{self.reason}"


def flag_exclusions(
    kpi: str, side: str, kpis_row: Mapping[str, Any] | None, days: Sequence[DailyValue] = ()
) -> list[Exclusion]:
    """The exclusion of ``kpi`` on one side when that side's measured KPIs (a row of
    ``AssessorService.kpi_rows`` over the side's window, or a Kpis as a dict) flag it.

    Only measured data is flagged: when ``days`` are given and none of them is measured
    (the side came from a manual log), the measured flags do not apply."""
    if not kpis_row:
        return []
    if days and not any(str(d.source) == Source.MEASURED for d in days):
        return []
    out = []
    for f in kpis_row.get("flags") or ():
        name = f.get("kpi") if isinstance(f, Mapping) else getattr(f, "kpi", None)
        reason = f.get("reason") if isinstance(f, Mapping) else getattr(f, "reason", None)
        if name == kpi and reason:
            out.append(Exclusion(side, str(reason), kpis_row.get("coverage")))
    return out


def measured_side_row(days: Iterable[Totals], policy: KpiPolicy) -> dict[str, Any] | None:
    """``flags`` and ``coverage`` of a side's measured days (factory Totals per day),
    for ``flag_exclusions``. Only days with data count, as in the gains themselves: a
    baseline kept in a manual log, before the collector existed, is not "too little data"."""
    used = [t for t in days if t.known_s > 0 or t.total_count > 0]
    if not used:
        return None
    k = kpis(rollup(used), policy)
    return {"flags": k.flags, "coverage": k.coverage}


def _exclusion_warning(kpi: str, excluded: Sequence[Exclusion]) -> GainWarning:
    en = "; ".join(f"{word(x.side, 'en')}: {flag_text(x.reason, 'en', x.coverage)}" for x in excluded)
    ko = "; ".join(f"{word(x.side, 'ko')}: {flag_text(x.reason, 'ko', x.coverage)}" for x in excluded)
    return GainWarning(
        "flagged",
        f"{kpi_name(kpi, 'en')} is left out of the gains ({en}): a flagged value is not a result.",
        f"{kpi_name(kpi, 'ko')}은(는) 개선율 계산에서 제외했습니다 ({ko}): 이상치나 데이터 부족으로 표시된 "
        "값은 결과로 쓰지 않습니다.",
    )


def ratio(days: Iterable[DailyValue]) -> float | None:
    """Ratio of sums; None when nothing was in the denominator."""
    num = den = 0.0
    for d in days:
        num += d.num
        den += d.den
    return num / den if den else None


def improvement_rate(direction: Direction, before: float | None, after: float | None) -> float | None:
    """(after - before) / before, sign flipped for lower-is-better KPIs; positive is better."""
    if before is None or after is None or before == 0:
        return None
    change = (after - before) / before
    return change if direction is Direction.HIGHER else -change


def _source(days: Sequence[DailyValue]) -> str:
    kinds = {str(d.source) for d in days}
    if not kinds:
        return ""
    return kinds.pop() if len(kinds) == 1 else MIXED


def _check_days(days: Sequence[DailyValue], side: str) -> None:
    seen: set[dt.date] = set()
    for d in days:
        if d.day in seen:
            # the same day twice would count its production twice
            raise ValueError(f"{side}: {d.day} appears more than once; sum lines per day first")
        seen.add(d.day)


def _bootstrap(
    direction: Direction,
    before: Sequence[DailyValue],
    after: Sequence[DailyValue],
    rng: random.Random,
    resamples: int,
) -> tuple[list[float], int]:
    """Improvement of each resample (days drawn with replacement, each side on its own)."""
    b = [(d.num, d.den) for d in before]
    a = [(d.num, d.den) for d in after]
    out: list[float] = []
    undefined = 0
    for _ in range(resamples):
        rate = improvement_rate(
            direction, _pair_ratio(rng.choices(b, k=len(b))), _pair_ratio(rng.choices(a, k=len(a)))
        )
        if rate is None:
            undefined += 1
        else:
            out.append(rate)
    return out, undefined


def _pair_ratio(pairs: Sequence[tuple[float, float]]) -> float | None:
    den = sum(p[1] for p in pairs)
    return sum(p[0] for p in pairs) / den if den else None


def kpi_gain(
    kpi: str,
    before: Sequence[DailyValue],
    after: Sequence[DailyValue],
    *,
    seed: int = 0,
    resamples: int = 2000,
    min_days: int = MIN_DAYS,
    excluded: Sequence[Exclusion] = (),
    notes: Sequence[GainWarning] = (),
) -> KpiGain:
    """Before/after values, improvement rate and its 95% percentile-bootstrap interval.

    ``excluded``: the sides on which the KPI is flagged (``flag_exclusions``). Such a
    gain has no value on the flagged side, no improvement and no interval, and says why
    (``excluded_reason`` and a ``flagged`` warning). ``notes``: warnings about how the
    days were found (``mix_unknown_warning``), shown first."""
    if excluded:
        gain = _excluded_gain(kpi, before, after, excluded)
        return dataclasses.replace(gain, warnings=(*notes, *gain.warnings))
    if kpi not in KPI_DIRECTIONS:
        raise ValueError(f"unknown KPI {kpi!r} (known: {', '.join(KPI_DIRECTIONS)})")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    _check_days(before, "before")
    _check_days(after, "after")
    direction = KPI_DIRECTIONS[kpi]
    b_value, a_value = ratio(before), ratio(after)
    rate = improvement_rate(direction, b_value, a_value)
    src_b, src_a = _source(before), _source(after)
    warnings: list[GainWarning] = list(notes)

    if src_b and src_a and (src_b != src_a or MIXED in (src_b, src_a)):
        warnings.append(
            GainWarning(
                "mixed_sources",
                f"Before comes from {src_b} data and after from {src_a} data. Manual logs under-report "
                "downtime, so part of the change may come from how it was measured, not from the project.",
                f"도입 전은 {_source_ko(src_b)}, 도입 후는 {_source_ko(src_a)} 데이터입니다. 수기 기록은 "
                "비가동을 적게 기록하므로 변화의 일부는 사업 효과가 아니라 측정 방식의 차이일 수 있습니다.",
            )
        )
    if b_value is None or a_value is None:
        side_en, side_ko = ("before", "도입 전") if b_value is None else ("after", "도입 후")
        warnings.append(
            GainWarning(
                "no_data",
                f"No {side_en} value: no days or nothing in the denominator.",
                f"{side_ko} 값이 없습니다: 데이터가 없거나 분모가 0입니다.",
            )
        )
    elif b_value == 0:
        warnings.append(
            GainWarning(
                "before_zero",
                "The before value is 0, so no improvement rate can be computed.",
                "도입 전 값이 0이어서 개선율을 계산할 수 없습니다.",
            )
        )

    low = high = None
    if rate is not None and min(len(before), len(after)) < min_days:
        warnings.append(
            GainWarning(
                "too_few_days",
                f"Fewer than {min_days} days on a side ({len(before)} before, {len(after)} after): "
                "no confidence interval.",
                f"한쪽 기간의 일수가 {min_days}일 미만입니다 (도입 전 {len(before)}일, 도입 후 "
                f"{len(after)}일): 신뢰구간을 계산하지 않습니다.",
            )
        )
    elif rate is not None:
        rates, undefined = _bootstrap(direction, before, after, random.Random(seed), resamples)
        if undefined > _MAX_UNDEFINED_SHARE * resamples or len(rates) < 2:
            warnings.append(
                GainWarning(
                    "unstable_interval",
                    f"In {undefined} of {resamples} resamples the before value was 0: "
                    "no confidence interval.",
                    f"재표본 {resamples}개 중 {undefined}개에서 도입 전 값이 0이어서 신뢰구간을 계산하지 "
                    "않습니다.",
                )
            )
        else:
            cuts = statistics.quantiles(rates, n=40, method="inclusive")
            low, high = cuts[0], cuts[-1]

    ref = REFERENCE.get(KPI_REFERENCE.get(kpi, ""))
    return KpiGain(
        kpi=kpi,
        direction=direction,
        before=b_value,
        after=a_value,
        improvement=rate,
        ci95_low=low,
        ci95_high=high,
        days_before=len(before),
        days_after=len(after),
        source_before=src_b,
        source_after=src_a,
        reference=ref,
        meets_reference=None if ref is None or rate is None else rate >= ref.improvement,
        warnings=tuple(warnings),
    )


def _excluded_gain(
    kpi: str, before: Sequence[DailyValue], after: Sequence[DailyValue], excluded: Sequence[Exclusion]
) -> KpiGain:
    if kpi not in KPI_DIRECTIONS:
        raise ValueError(f"unknown KPI {kpi!r} (known: {', '.join(KPI_DIRECTIONS)})")
    sides = {x.side for x in excluded}
    if not sides <= {"before", "after"}:
        raise ValueError(f"unknown side in {sorted(sides)} (expected before or after)")
    _check_days(before, "before")
    _check_days(after, "after")
    return KpiGain(
        kpi=kpi,
        direction=KPI_DIRECTIONS[kpi],
        before=None if "before" in sides else ratio(before),
        after=None if "after" in sides else ratio(after),
        improvement=None,
        ci95_low=None,
        ci95_high=None,
        days_before=len(before),
        days_after=len(after),
        source_before=_source(before),
        source_after=_source(after),
        reference=REFERENCE.get(KPI_REFERENCE.get(kpi, "")),
        meets_reference=None,
        warnings=(_exclusion_warning(kpi, excluded),),
        excluded_reason="; ".join(x.code for x in excluded),
    )


def _source_ko(source: str) -> str:
    return {"manual": "수기 기록", "measured": "자동 수집", MIXED: "수기·자동 혼합"}.get(source, source)


def monthly_trend(after: Sequence[DailyValue]) -> list[MonthPoint]:
    """Ratio of sums per calendar month, oldest first: does the gain hold after support ends?"""
    months: dict[dt.date, list[DailyValue]] = defaultdict(list)
    for d in after:
        months[d.day.replace(day=1)].append(d)
    return [
        MonthPoint(
            month=month,
            value=ratio(days),
            days=len(days),
            num=sum(d.num for d in days),
            den=sum(d.den for d in days),
            source=_source(days),
        )
        for month, days in sorted(months.items())
    ]


_BASELINE_PARTS: Mapping[str, Callable[[BaselineDay], tuple[float, float] | None]] = MappingProxyType(
    {
        "units_per_hour": lambda r: (r.produced, r.hours_worked),
        "units_per_labour_hour": lambda r: (r.produced, r.hours_worked * r.workers),
        "defect_rate": lambda r: (r.defects, r.produced),
        "energy_per_unit_kwh": lambda r: None if r.energy_kwh is None else (r.energy_kwh, r.produced),
        "on_time_delivery": lambda r: (
            None if r.orders_on_time is None or r.orders_total is None else (r.orders_on_time, r.orders_total)
        ),
    }
)


def baseline_daily_values(rows: Sequence[BaselineDay], kpi: str) -> list[DailyValue]:
    """Daily values of ``kpi`` from manual log rows, lines of one day summed (ratio of sums).

    A row without the KPI's inputs (no energy reading, no order counts) is left out whole,
    so its production does not dilute the ratio.
    """
    parts = _BASELINE_PARTS.get(kpi)
    if parts is None:
        raise ValueError(f"{kpi!r} cannot be computed from manual logs (can: {', '.join(_BASELINE_PARTS)})")
    sums: dict[dt.date, list[float]] = {}
    for row in rows:
        got = parts(row)
        if got is None:
            continue
        acc = sums.setdefault(row.day, [0.0, 0.0])
        acc[0] += got[0]
        acc[1] += got[1]
    return [DailyValue(day, num, den, Source.MANUAL) for day, (num, den) in sorted(sums.items())]


# -- standard hours -------------------------------------------------------------------


def line_ideal_time(factory: Factory, line_id: str, product: str) -> float | None:
    """Ideal seconds per unit of ``product`` on a line, for a manual log that counts a
    line's units: the harmonic mean of the product's ideal cycle time over the line's
    output machines (assessor/domain/kpi/line_output.py), the machines whose units the measured
    gains count. One output machine (a serial line's last station, a line of one): its
    ideal time, as the measured standard time counts it. Parallel machines running alike
    make units in inverse proportion to their ideal times, and the harmonic mean is what
    those units weigh on average, so both sides time a unit alike. None: the line is not
    in the registry (any more)."""
    line = next((x for x in factory.lines if x.id == line_id), None)
    if line is None:
        return None
    outputs = set(output_machines(line))
    times = [factory.ideal_cycle_time(m, product)[0] for m in line.machines if m.id in outputs]
    times = [t for t in times if t > 0]
    if not times:
        return None
    return len(times) / sum(1.0 / t for t in times)


def baseline_standard_values(rows: Sequence[BaselineDay], factory: Factory) -> tuple[list[DailyValue], int]:
    """(daily standard hours over hours worked, days left out) from manual log rows.

    A row's standard seconds are the sum over its products of ``line_ideal_time`` x good
    units (produced - defects). A day counts only when every row of it carries its product
    mix and every line is timed: a day with part of its units untimed would read as a low
    value. Days left out are reported (``mix_unknown_warning``), never filled in."""
    sums: dict[dt.date, list[float]] = {}
    unknown: set[dt.date] = set()
    for row in rows:
        if row.day in unknown:
            continue
        seconds = _row_standard_s(row, factory)
        if seconds is None:
            unknown.add(row.day)
            sums.pop(row.day, None)
            continue
        acc = sums.setdefault(row.day, [0.0, 0.0])
        acc[0] += seconds / 3600.0
        acc[1] += row.hours_worked
    values = [DailyValue(day, num, den, Source.MANUAL) for day, (num, den) in sorted(sums.items())]
    return values, len(unknown)


def _row_standard_s(row: BaselineDay, factory: Factory) -> float | None:
    if not row.products:
        return None
    total = 0.0
    for p in row.products:
        ideal = line_ideal_time(factory, row.line_id, p.product)
        if ideal is None:
            return None
        total += ideal * (p.produced - p.defects)
    return total


def mix_unknown_warning(side: str, days: int) -> GainWarning:
    """The note of a standard-hours gain whose manual ``side`` had ``days`` without the mix."""
    side_ko = "도입 전" if side == "before" else "도입 후"
    return GainWarning(
        "mix_unknown",
        f"The product mix was not known {'before' if side == 'before' else 'after'} support on {days} "
        "day(s) of the manual log (no product column, 품목 or 제품), so those days are left out of "
        "standard hours per hour worked; units per hour on those days cannot tell a mix shift "
        "from a productivity change.",
        f"{side_ko} 수기 기록 {days}일은 품목(제품) 열이 없어 품목 구성을 알 수 없으므로, 시간당 "
        "표준생산시간 계산에서 제외했습니다. 그 기간의 시간당 생산량은 품목 구성 변화와 생산성 변화를 "
        "구분하지 못합니다.",
    )


@dataclass(frozen=True)
class GainsReport:
    """Gains of one factory between a baseline and an after window."""

    factory_id: str
    project_id: str | None
    baseline: DateWindow
    after: DateWindow
    gains: list[KpiGain]
    trend: dict[str, list[MonthPoint]]
