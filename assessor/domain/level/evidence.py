"""Measured evidence of how far a factory is digitised, and what each item means for the gates.

The integrator fills :class:`Evidence` from InfluxDB and the registry (or builds it from
per-machine facts with :meth:`Evidence.from_machines`); the level gates and the
measured part of the score only read it. Every metric has a direction, so "better
evidence" is well defined: a flag going true, a number going up, or (for the state
sampling interval) going down.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from assessor.domain.labels import flag_text, kpi_name

Value = float | bool | None


@dataclass(frozen=True)
class MachineEvidence:
    """What one registered machine showed in the evidence window."""

    machine_id: str
    #: any collector data in the window
    has_data: bool = False
    has_state_signal: bool = False
    #: median interval between state samples, seconds
    state_interval_s: float | None = None
    has_counters: bool = False
    has_reject_counts: bool = False
    has_downtime_reasons: bool = False
    has_order_or_lot: bool = False
    has_energy: bool = False
    #: any field that is neither a role nor a setpoint (temperature, pressure, ...)
    has_process_values: bool = False
    #: number of recorded changes of ``sp_*`` fields
    setpoint_changes: int = 0


@dataclass(frozen=True)
class Evidence:
    """Factory-wide evidence. The defaults describe a factory with no collector data."""

    #: share of registered machines with collector data in the last ``window_days`` (0..1)
    auto_capture_coverage: float = 0.0
    #: median sampling interval of machine state, seconds; None: no state signal
    state_granularity_s: float | None = None
    has_state_signal: bool = False
    #: count_total
    has_counters: bool = False
    #: count_reject (or count_good next to count_total)
    has_reject_counts: bool = False
    has_downtime_reasons: bool = False
    #: order_id or lot_id: traceability
    has_order_or_lot: bool = False
    has_energy: bool = False
    #: reject counts and at least one process value on the same machine
    quality_linked_to_process: bool = False
    #: at least one change of an sp_* field
    setpoint_changes_recorded: bool = False
    #: availability, performance and quality all defined for the last period
    kpis_computable: bool = False
    #: days with collector data
    data_days: int = 0
    #: setpoints changed by software (MES, APS, a model) rather than at the machine; the
    #: collector cannot see who wrote a setpoint, so the registry has to declare it
    closed_loop_control: bool = False
    #: N of "the last N days" behind auto_capture_coverage; only used in messages
    window_days: int = 30
    #: per-machine detail, optional: lets next steps name the machines to work on
    machines: tuple[MachineEvidence, ...] = ()
    #: (kpi, reason) of availability, performance or quality flagged in the last period
    #: (assessor.domain.kpi Flag): such a KPI is left out, so ``kpis_computable`` is false, and
    #: the gate names the reason; the measured value is not kept
    kpi_flags: tuple[tuple[str, str], ...] = ()
    #: data coverage of the last period, for the wording of a coverage flag
    kpi_coverage: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.auto_capture_coverage <= 1.0:
            raise ValueError(f"auto_capture_coverage: {self.auto_capture_coverage} is outside 0..1")
        g = self.state_granularity_s
        if g is not None and not (g > 0 and math.isfinite(g)):
            raise ValueError(f"state_granularity_s: {g} is not a positive number of seconds")
        if self.data_days < 0:
            raise ValueError(f"data_days: {self.data_days} is negative")
        if self.window_days <= 0:
            raise ValueError(f"window_days: {self.window_days} must be positive")

    @classmethod
    def from_machines(
        cls,
        machines: Sequence[MachineEvidence],
        *,
        kpis_computable: bool,
        data_days: int,
        window_days: int = 30,
        closed_loop_control: bool = False,
        kpis_row: Mapping[str, Any] | None = None,
    ) -> Evidence:
        """Aggregate per-machine facts; ``machines`` is every registered machine.

        Monitoring signals (state, counters, rejects, downtime reasons) must be on every
        connected machine, because availability and OEE are per machine and a plant
        figure with holes is not a plant figure. Traceability, energy, the quality link
        and setpoints count when present anywhere: lots are usually booked where a line
        starts, energy is often metered at one panel, and setpoints only exist on process
        machines.
        """
        connected = [m for m in machines if m.has_data]

        def everywhere(attr: str) -> bool:
            return bool(connected) and all(getattr(m, attr) for m in connected)

        def anywhere(test: Callable[[MachineEvidence], bool]) -> bool:
            return any(test(m) for m in connected)

        intervals = [m.state_interval_s for m in connected if m.state_interval_s is not None]
        flags = kpi_flags_of(kpis_row)
        return cls(
            auto_capture_coverage=len(connected) / len(machines) if machines else 0.0,
            state_granularity_s=statistics.median(intervals) if intervals else None,
            has_state_signal=everywhere("has_state_signal"),
            has_counters=everywhere("has_counters"),
            has_reject_counts=everywhere("has_reject_counts"),
            has_downtime_reasons=everywhere("has_downtime_reasons"),
            has_order_or_lot=anywhere(lambda m: m.has_order_or_lot),
            has_energy=anywhere(lambda m: m.has_energy),
            quality_linked_to_process=anywhere(lambda m: m.has_reject_counts and m.has_process_values),
            setpoint_changes_recorded=anywhere(lambda m: m.setpoint_changes > 0),
            # a flagged KPI is not a result, whatever the caller computed
            kpis_computable=kpis_computable and not flags,
            data_days=data_days,
            closed_loop_control=closed_loop_control,
            window_days=window_days,
            machines=tuple(machines),
            kpi_flags=flags,
            kpi_coverage=(kpis_row or {}).get("coverage") if flags else None,
        )

    def note(self, metric: str, lang: str) -> str:
        """What the value of ``metric`` leaves out: the flagged KPIs behind
        ``kpis_computable`` ('performance: implausible ideal cycle time: ...'); '' otherwise."""
        if metric != "kpis_computable" or not self.kpi_flags:
            return ""
        return "; ".join(
            f"{_KPI_NAMES[kpi][0 if lang == 'ko' else 1]}: {_flag_text(reason, lang, self.kpi_coverage)}"
            for kpi, reason in self.kpi_flags
        )

    def value(self, metric: str) -> Value:
        if metric not in METRICS:
            raise KeyError(metric)
        return getattr(self, metric)


#: the KPIs behind ``kpis_computable``
COMPUTABLE_KPIS = ("availability", "performance", "quality")
_KPI_NAMES = {k: (kpi_name(k, "ko"), kpi_name(k, "en")) for k in COMPUTABLE_KPIS}


def kpi_flags_of(kpis_row: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """(kpi, reason) of the flagged availability, performance and quality of a KPI row
    (``flags`` as dicts or Flag objects), in that order."""
    found: dict[str, str] = {}
    for f in (kpis_row or {}).get("flags") or ():
        kpi = f.get("kpi") if isinstance(f, Mapping) else getattr(f, "kpi", None)
        reason = f.get("reason") if isinstance(f, Mapping) else getattr(f, "reason", None)
        if kpi in COMPUTABLE_KPIS and reason and kpi not in found:
            found[kpi] = str(reason)
    return tuple((k, found[k]) for k in COMPUTABLE_KPIS if k in found)


def _flag_text(reason: str, lang: str, coverage: float | None) -> str:
    return flag_text(reason, "ko" if lang == "ko" else "en", coverage)


class Kind(StrEnum):
    FLAG = "flag"  # passes when true
    AT_LEAST = "at_least"  # passes when value >= threshold
    AT_MOST = "at_most"  # passes when value <= threshold; None (no signal) fails


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    label_en: str
    label_ko: str
    #: allowed thresholds, for validating the rules file
    low: float | None = None
    high: float | None = None
    integer: bool = False
    unit: str = ""
    percent: bool = False


_METRICS = (
    Metric(
        "auto_capture_coverage",
        Kind.AT_LEAST,
        "auto-capture coverage",
        "자동 수집 설비 비율",
        low=0.0,
        high=1.0,
        percent=True,
    ),
    Metric(
        "state_granularity_s",
        Kind.AT_MOST,
        "machine state sampling interval",
        "설비 상태 수집 주기",
        low=0.0,
        unit="s",
    ),
    Metric("has_state_signal", Kind.FLAG, "machine state signal", "설비 상태 신호"),
    Metric("has_counters", Kind.FLAG, "produced units counted automatically", "생산수량 자동 집계"),
    Metric("has_reject_counts", Kind.FLAG, "rejects counted automatically", "불량수량 자동 집계"),
    Metric("has_downtime_reasons", Kind.FLAG, "downtime reasons recorded", "비가동 사유 기록"),
    Metric("has_order_or_lot", Kind.FLAG, "order or lot traceability", "작업지시·로트 추적"),
    Metric("has_energy", Kind.FLAG, "energy metered", "에너지 사용량 계측"),
    Metric(
        "quality_linked_to_process",
        Kind.FLAG,
        "quality linked to process data",
        "품질-공정 데이터 연계",
    ),
    Metric("setpoint_changes_recorded", Kind.FLAG, "setpoint changes recorded", "설정값 변경 기록"),
    Metric(
        "kpis_computable",
        Kind.FLAG,
        "availability, performance and quality computable",
        "가동률·성능가동률·양품률 산출 가능",
    ),
    Metric("data_days", Kind.AT_LEAST, "days with data", "데이터 수집 일수", low=0, integer=True, unit="d"),
    Metric("closed_loop_control", Kind.FLAG, "closed-loop control", "자동 제어(폐루프)"),
)

#: every metric a gate may test, by Evidence attribute name
METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in _METRICS})


def passes(metric: Metric, value: Value, threshold: float | bool) -> bool:
    if metric.kind is Kind.FLAG:
        return bool(value)
    if value is None or isinstance(value, bool):
        return False
    if metric.kind is Kind.AT_LEAST:
        return value >= threshold
    return value <= threshold


def format_value(metric: Metric, value: Value, lang: str) -> str:
    ko = lang == "ko"
    if metric.kind is Kind.FLAG:
        if ko:
            return "예" if value else "아니오"
        return "yes" if value else "no"
    if value is None or isinstance(value, bool):
        return "없음" if ko else "none"
    if metric.percent:
        return f"{value * 100:.1f}%"
    if metric.unit == "d":
        return f"{value:,.0f}일" if ko else f"{value:,.0f} days"
    if metric.unit == "s":
        return f"{value:,.3g}초" if ko else f"{value:,.3g} s"
    return f"{value:,.3g}"


def format_threshold(metric: Metric, threshold: float | bool, lang: str) -> str:
    ko = lang == "ko"
    if metric.kind is Kind.FLAG:
        return "예" if ko else "yes"
    shown = format_value(metric, threshold, lang)
    if metric.kind is Kind.AT_LEAST:
        return f"{shown} 이상" if ko else f">= {shown}"
    return f"{shown} 이하" if ko else f"<= {shown}"


def machine_list(ids: Sequence[str], lang: str, limit: int = 8) -> str:
    """Name the machines, shortened so a 200-machine factory still gets a readable step."""
    shown = ", ".join(ids[:limit])
    rest = len(ids) - limit
    if rest <= 0:
        return shown
    return f"{shown} 외 {rest}대" if lang == "ko" else f"{shown} and {rest} more"


def _lacking(evidence: Evidence, attr: str) -> list[str]:
    return [m.machine_id for m in evidence.machines if m.has_data and not getattr(m, attr)]


def _where(ids: Sequence[str]) -> tuple[str, str]:
    """(en, ko) phrase for the machines an action applies to."""
    if ids:
        return machine_list(ids, "en"), machine_list(ids, "ko")
    # without per-machine detail the step cannot name machines, only the rule
    return "every machine", "모든 설비"


def action(metric_name: str, threshold: float | bool, evidence: Evidence) -> tuple[str, str]:
    """A concrete (English, Korean) action that would make the gate on ``metric_name`` pass."""
    m = METRICS[metric_name]
    th_en, th_ko = format_threshold(m, threshold, "en"), format_threshold(m, threshold, "ko")

    if metric_name == "auto_capture_coverage":
        now = format_value(m, evidence.auto_capture_coverage, "en")
        missing = [x.machine_id for x in evidence.machines if not x.has_data]
        en_who, ko_who = (
            (machine_list(missing, "en"), machine_list(missing, "ko") + " 설비를")
            if missing
            else ("more registered machines", "등록된 설비를 더 많이")
        )
        return (
            f"Connect {en_who} to the collector: {now} of registered machines sent data "
            f"in the last {evidence.window_days} days (needs {th_en})",
            f"{ko_who} 수집기에 연결하세요: 최근 {evidence.window_days}일 동안 데이터를 보낸 "
            f"설비 비율 {now} (기준 {th_ko})",
        )

    if metric_name == "state_granularity_s":
        if evidence.state_granularity_s is None:
            en_w, ko_w = _where(_lacking(evidence, "has_state_signal"))
            return (
                f"Record machine state (role state) on {en_w}, sampled every {threshold:g} s or faster",
                f"{ko_w}의 상태 신호(role state)를 {threshold:g}초 이하 주기로 수집하세요",
            )
        slow = [
            x.machine_id
            for x in evidence.machines
            if x.has_data and x.state_interval_s is not None and x.state_interval_s > threshold
        ]
        en_w, ko_w = _where(slow)
        now = format_value(m, evidence.state_granularity_s, "en")
        return (
            f"Sample machine state every {threshold:g} s or faster on {en_w} (median now {now})",
            f"{ko_w}의 상태 수집 주기를 {threshold:g}초 이하로 줄이세요 "
            f"(현재 중앙값 {format_value(m, evidence.state_granularity_s, 'ko')})",
        )

    role_steps = {
        "has_state_signal": (
            "Record machine state (role state) on {}",
            "{}의 상태 신호(role state)를 수집하세요",
        ),
        "has_counters": (
            "Record the produced-units counter (role count_total) on {}",
            "{}의 생산수량 카운터(role count_total)를 수집하세요",
        ),
        "has_reject_counts": (
            "Record reject counts (role count_reject) on {}",
            "{}의 불량수량(role count_reject)을 수집하세요",
        ),
        "has_downtime_reasons": (
            "Register downtime reasons on {} (role downtime_reason)",
            "{}에 비가동 사유를 등록하세요 (role downtime_reason)",
        ),
    }
    if metric_name in role_steps:
        en_t, ko_t = role_steps[metric_name]
        en_w, ko_w = _where(_lacking(evidence, metric_name))
        return en_t.format(en_w), ko_t.format(ko_w)

    if metric_name == "quality_linked_to_process":
        counting = [x.machine_id for x in evidence.machines if x.has_data and x.has_reject_counts]
        with_values = [x.machine_id for x in evidence.machines if x.has_data and x.has_process_values]
        if counting:
            return (
                f"Record at least one process value (e.g. temperature, pressure) on "
                f"{machine_list(counting, 'en')}, which already count rejects",
                f"불량을 집계하는 {machine_list(counting, 'ko')} 설비에 공정 값(온도, 압력 등)을 "
                f"하나 이상 수집하세요",
            )
        if with_values:
            return (
                f"Count rejects (role count_reject) on {machine_list(with_values, 'en')}, "
                f"which already record process values",
                f"공정 값을 수집하는 {machine_list(with_values, 'ko')} 설비의 불량수량(role count_reject)을 "
                f"수집하세요",
            )
        return (
            "Record reject counts (role count_reject) and at least one process value on the same machine",
            "같은 설비에서 불량수량(role count_reject)과 공정 값을 하나 이상 함께 수집하세요",
        )

    if metric_name == "kpis_computable" and evidence.kpi_flags:
        return _flag_actions(evidence)

    fixed = {
        "has_order_or_lot": (
            "Record the order or lot being worked (role order_id or lot_id), at least where each line starts",
            "작업지시 또는 로트 번호(role order_id, lot_id)를 최소한 각 라인의 첫 공정에서 수집하세요",
        ),
        "has_energy": (
            "Meter energy consumption (role energy_kwh) on the main machines or the main panel",
            "주요 설비 또는 주 분전반의 에너지 사용량(role energy_kwh)을 계측하세요",
        ),
        "setpoint_changes_recorded": (
            "Record setpoints as sp_* fields (e.g. sp_temperature) so that every change is logged",
            "설정값을 sp_* 필드(예: sp_temperature)로 수집해 변경 이력이 남도록 하세요",
        ),
        "kpis_computable": (
            "Make availability, performance and quality computable: machine state and count_total "
            "with count_reject or count_good on every machine, and an ideal cycle time in the registry",
            "가동률·성능가동률·양품률을 산출할 수 있게 하세요: 모든 설비의 상태, count_total과 "
            "count_reject(또는 count_good), 등록부의 표준 사이클 타임",
        ),
        "closed_loop_control": (
            "Let a system (MES, APS or a model) adjust setpoints automatically from the data, "
            "and declare it in the registry",
            "시스템(MES, APS 또는 모델)이 데이터에 따라 설정값을 자동 조정하도록 하고 등록부에 표시하세요",
        ),
    }
    if metric_name in fixed:
        return fixed[metric_name]

    if metric_name == "data_days":
        return (
            f"Keep the collector running: {evidence.data_days} days with data so far (needs {th_en})",
            f"수집을 계속하세요: 현재 데이터 수집 {evidence.data_days}일 (기준 {th_ko})",
        )
    raise KeyError(metric_name)


_FLAG_ACTIONS: dict[str, tuple[str, str]] = {
    "implausible_ideal_time": (
        "Check the ideal cycle time of each machine in the registry: with it the machines would "
        "run faster than their ideal, so {kpis} cannot be shown",
        "등록부의 설비별 표준 사이클타임을 확인하세요: 등록된 값으로는 설비가 이론보다 빨리 생산한 것이 "
        "되어 {kpis}을(를) 산출할 수 없습니다",
    ),
    "coverage": (
        "Keep the collector running on every machine through the planned time: data covered only "
        "{coverage} of it, too little to show {kpis}",
        "계획 시간 동안 모든 설비의 수집이 끊기지 않게 하세요: 데이터 수집률이 {coverage}로 낮아 "
        "{kpis}을(를) 산출하지 않았습니다",
    ),
    "inconsistent_counts": (
        "Check the produced, good and reject counters: their counts contradict each other, so {kpis} "
        "cannot be shown",
        "생산·양품·불량 카운터를 확인하세요: 수량이 서로 맞지 않아 {kpis}을(를) 산출할 수 없습니다",
    ),
}


def _flag_actions(evidence: Evidence) -> tuple[str, str]:
    """One sentence per flag reason of the KPIs behind ``kpis_computable``."""
    by_reason: dict[str, list[str]] = {}
    for kpi, reason in evidence.kpi_flags:
        by_reason.setdefault(reason, []).append(kpi)
    en, ko = [], []
    for reason, kpis in by_reason.items():
        en_t, ko_t = _FLAG_ACTIONS.get(
            reason,
            (
                "Make {kpis} computable: it is left out ({why})",
                "{kpis}을(를) 산출할 수 있게 하세요: 제외됨 ({why})",
            ),
        )
        coverage = format_value(METRICS["auto_capture_coverage"], evidence.kpi_coverage, "en")
        en.append(
            en_t.format(
                kpis=", ".join(_KPI_NAMES[k][1].lower() for k in kpis),
                coverage=coverage,
                why=_flag_text(reason, "en", evidence.kpi_coverage),
            )
        )
        ko.append(
            ko_t.format(
                kpis=", ".join(_KPI_NAMES[k][0] for k in kpis),
                coverage=coverage,
                why=_flag_text(reason, "ko", evidence.kpi_coverage),
            )
        )
    return "; ".join(en), "; ".join(ko)
