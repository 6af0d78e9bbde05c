"""Names and number formats that pages and reports show, in Korean and English.

Korean is the default language. Terms follow the programme's own vocabulary
(docs/web.md lists them); dates are YYYY-MM-DD, times 24-hour in Asia/Seoul unless
the factory's calendar says otherwise, percentages with one decimal, thousands
separators everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT_LANG: Lang = "ko"
DISPLAY_TZ = "Asia/Seoul"

#: KPI key -> (Korean, English); keys are those of assessor.domain.kpi.model.Kpis and
#: assessor.domain.gains.KPI_DIRECTIONS
KPI_NAMES: dict[str, tuple[str, str]] = {
    "oee": ("설비종합효율 (OEE)", "OEE"),
    "availability": ("가동률", "Availability"),
    "performance": ("성능가동률", "Performance"),
    "quality": ("양품률", "Quality"),
    "quality_ratio": ("양품률", "Quality ratio"),
    "units_per_hour": ("시간당 생산량", "Units per hour"),
    "units_per_labour_hour": ("인시당 생산량", "Units per labour hour"),
    # sum of ideal time x good units over hours worked: a change of product mix cannot move it
    "standard_hours_per_hour": ("시간당 표준생산시간", "Standard hours per hour worked"),
    "defect_rate": ("공정불량률", "Process defect rate"),
    "scrap_ratio": ("폐기율", "Scrap ratio"),
    "energy_per_unit_kwh": ("단위당 에너지 (kWh)", "Energy per unit (kWh)"),
    "on_time_delivery": ("납기 준수율", "On-time delivery"),
    "mtbf_h": ("평균고장간격 (시간)", "MTBF (h)"),
    "mttr_h": ("평균수리시간 (시간)", "MTTR (h)"),
    "mtbf_s": ("평균고장간격", "MTBF"),
    "mttr_s": ("평균수리시간", "MTTR"),
    "lead_time_h": ("리드타임 (시간)", "Lead time (h)"),
    "coverage": ("데이터 수집률", "Data coverage"),
    "planned_time_s": ("계획 시간", "Planned time"),
    "run_time_s": ("가동 시간", "Run time"),
    "unknown_time_s": ("미확인 시간", "Unknown time"),
    "total_count": ("생산 수량", "Units produced"),
    "good_count": ("양품 수량", "Good units"),
    "reject_count": ("불량 수량", "Rejected units"),
    "small_stop_time_s": ("소정지 시간", "Small-stop time"),
    "unattributed_count": ("미확인 시간 생산 수량", "Units made in unknown time"),
}

#: why a KPI is not shown (assessor.domain.kpi Flag.reason) -> (Korean, English); "{coverage}"
#: is the period's data coverage. The measured value of a flagged KPI is never shown.
FLAG_REASONS: dict[str, tuple[str, str]] = {
    "coverage": ("데이터 부족(수집률 {coverage})", "coverage {coverage}"),
    "implausible_ideal_time": (
        "이상치(표준 사이클타임 확인)",
        "implausible ideal cycle time: check the registry",
    ),
    "inconsistent_counts": ("이상치(생산·불량 수량 확인)", "inconsistent counts: check the counters"),
    "counts_exceed_ideal_rate": (
        "이상치(생산 수량이 표준 사이클타임 한도 초과: 카운터 확인)",
        "counts above what the ideal cycle time allows: check the counter",
    ),
    "inconsistent_times": ("이상치(가동·계획 시간 불일치)", "inconsistent times: run time above known time"),
    "no_data": ("데이터 없음", "no data"),
}

#: six big losses (assessor.domain.kpi.losses) and the waterfall's levels -> (Korean, English)
LOSS_NAMES: dict[str, tuple[str, str]] = {
    "planned_s": ("계획 가동 시간", "Planned busy time"),
    "unknown_s": ("미확인 시간", "Unknown time"),
    "known_s": ("계획 가동 시간 (데이터 있음)", "Planned time with data"),
    "breakdowns_s": ("고장·비가동 정지", "Breakdowns and stops"),
    "setup_s": ("준비·교체", "Setup and changeover"),
    "small_stops_s": ("소정지", "Small stops"),
    "speed_s": ("속도 저하", "Reduced speed"),
    "startup_rejects_s": ("초기 불량", "Start-up rejects"),
    "production_rejects_s": ("불량", "Production rejects"),
    "fully_productive_s": ("완전 생산 시간", "Fully productive time"),
    "running_s": ("가동 시간 (정지·소정지 제외)", "Running time"),
    "net_run_s": ("정미 가동 시간", "Net run time"),
}

#: KPIs that are fractions and shown as percentages
PERCENT_KPIS = frozenset(
    {"oee", "availability", "performance", "quality", "quality_ratio", "defect_rate", "scrap_ratio",
     "on_time_delivery", "coverage"}
)

STATE_NAMES: dict[str, tuple[str, str]] = {
    "running": ("가동", "Running"),
    "idle": ("대기", "Idle"),
    "setup": ("준비 (셋업)", "Setup"),
    "fault": ("고장", "Fault"),
    "stopped": ("정지", "Stopped"),
    "planned_stop": ("계획 정지", "Planned stop"),
    "unknown": ("미확인", "Unknown"),
    "offline": ("오프라인", "Offline"),
}

TIER_NAMES: dict[str, tuple[str, str]] = {
    "basic": ("기초", "Basic"),
    "intermediate1": ("중간1", "Intermediate 1"),
    "intermediate2": ("중간2", "Intermediate 2"),
    "advanced": ("고도화", "Advanced"),
}

SOURCE_NAMES: dict[str, tuple[str, str]] = {
    "measured": ("자동 수집", "measured"),
    "manual": ("수기 기록", "manual log"),
    "mixed": ("혼합", "mixed"),
    "none": ("없음", "none"),
}

WORDS: dict[str, tuple[str, str]] = {
    "before": ("도입 전", "Before"),
    "after": ("도입 후", "After"),
    "gain": ("개선율", "Improvement"),
    "level": ("수준", "Level"),
    "tier": ("지원 유형", "Tier"),
    "project": ("지원사업", "Support project"),
    "portfolio": ("포트폴리오", "Portfolio"),
    "factory": ("공장", "Factory"),
    "company": ("기업", "Company"),
    "downtime": ("비가동", "Downtime"),
    "productivity": ("생산성", "Productivity"),
    "level_confirmation": ("수준확인", "Level confirmation"),
    "reference": ("사업 참고치", "Programme reference"),
    "interval": ("95% 신뢰구간", "95% interval"),
    "source": ("데이터 출처", "Source"),
    "days": ("일수", "Days"),
    "score": ("점수", "Score"),
    "build_level": ("구축 수준", "Build level"),
    "data_health": ("데이터 상태", "Data health"),
    "next_step": ("다음 단계", "Next step"),
    "gate": ("기준 항목", "Gate"),
    "region": ("지역", "Region"),
    "machine": ("설비", "Machine"),
    "line": ("라인", "Line"),
    "reason": ("비가동 사유", "Downtime reason"),
    "no_reason": ("사유 미입력", "no reason given"),
}


def pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "ko" else pair[1]


def _name(table: dict[str, tuple[str, str]], key: str, lang: Lang) -> str:
    pair = table.get(key)
    return key if pair is None else pick(pair, lang)


def kpi_name(key: str, lang: Lang = DEFAULT_LANG) -> str:
    return _name(KPI_NAMES, key, lang)


def state_name(key: str, lang: Lang = DEFAULT_LANG) -> str:
    return _name(STATE_NAMES, key, lang)


def tier_name(key: str, lang: Lang = DEFAULT_LANG) -> str:
    return _name(TIER_NAMES, key, lang)


def source_name(key: str, lang: Lang = DEFAULT_LANG) -> str:
    return _name(SOURCE_NAMES, key, lang)


def word(key: str, lang: Lang = DEFAULT_LANG) -> str:
    return _name(WORDS, key, lang)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage with one decimal: 0.7479 -> '74.8%'; None -> '–'."""
    if _missing(value):
        return "–"
    assert value is not None
    return f"{value * 100:,.{digits}f}%"


def fmt_num(value: float | None, digits: int = 0) -> str:
    """Thousands separators: 12345.6 -> '12,346' (digits=0) or '12,345.6' (digits=1)."""
    if _missing(value):
        return "–"
    assert value is not None
    return f"{value:,.{digits}f}"


def fmt_signed_pct(value: float | None, digits: int = 1) -> str:
    """An improvement rate with its sign: 0.352 -> '+35.2%', -0.05 -> '-5.0%'; None -> '–'."""
    if _missing(value):
        return "–"
    assert value is not None
    return f"{value * 100:+,.{digits}f}%"


def fmt_interval(low: float | None, high: float | None) -> str:
    """A 95 % interval of an improvement rate: '+12.0% ~ +31.5%'; '–' when there is none."""
    if _missing(low) or _missing(high):
        return "–"
    return f"{fmt_signed_pct(low)} ~ {fmt_signed_pct(high)}"


def gain_mark(improvement: float | None, meets_reference: bool | None) -> str:
    """▲/▼ better or worse than before (direction-aware), ✔ when the programme reference
    is met; nothing for no change or no value."""
    if not improvement:
        return ""
    return ("▲" if improvement > 0 else "▼") + (" ✔" if meets_reference else "")


def loss_name(key: str, lang: Lang = DEFAULT_LANG) -> str:
    return _name(LOSS_NAMES, key, lang)


def flag_text(reason: str, lang: Lang = DEFAULT_LANG, coverage: float | None = None) -> str:
    """Why a KPI is not shown: '이상치(표준 사이클타임 확인)', 'coverage 62.0%'."""
    pair = FLAG_REASONS.get(reason)
    if pair is None:
        return reason
    return pick(pair, lang).format(coverage=fmt_pct(coverage))


def kpi_flag(key: str, flags: Iterable[Any]) -> str | None:
    """The reason ``key`` is flagged in a KPI row's ``flags`` (dicts or Flag objects)."""
    for f in flags or ():
        kpi = f.get("kpi") if isinstance(f, dict) else getattr(f, "kpi", None)
        if kpi == key:
            return str(f.get("reason") if isinstance(f, dict) else f.reason)
    return None


def fmt_kpi_row(key: str, row: Mapping[str, Any], lang: Lang = DEFAULT_LANG) -> str:
    """A KPI of a row of ``kpi_rows`` as shown: the value, or '— <reason>' when the KPI is
    flagged (its measured value is not a result and is never printed)."""
    reason = kpi_flag(key, row.get("flags") or ())
    if reason is not None:
        return f"— {flag_text(reason, lang, row.get('coverage'))}"
    value = row.get(key)
    # counts are whole units; fmt_kpi would print "123,456.0"
    return fmt_num(value) if key.endswith("_count") else fmt_kpi(key, value)


def fmt_kpi(key: str, value: float | None) -> str:
    if key in PERCENT_KPIS:
        return fmt_pct(value)
    if key.endswith("_s") and not _missing(value):
        assert value is not None
        return fmt_num(value / 3600.0, 1) + " h"
    # standard hours per hour worked is near 1 (h/h): one decimal would hide a 5% gain
    return fmt_num(value, 2 if key.startswith(("energy", "standard_hours")) else 1)


def fmt_duration(seconds: float, lang: Lang = DEFAULT_LANG) -> str:
    """A short limit in whole minutes where it is one: 120 -> '2분' / '2 min', 90 -> '90초'."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:,.0f}분" if lang == "ko" else f"{seconds / 60:,.0f} min"
    return f"{seconds:,.0f}초" if lang == "ko" else f"{seconds:,.0f} s"


def fmt_date(day: dt.date) -> str:
    return day.isoformat()


def fmt_time(ts: float, tz: str = DISPLAY_TZ) -> str:
    """Unix seconds -> 'YYYY-MM-DD HH:MM' (24-hour) in the display zone."""
    return dt.datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def parse_lang(value: str | None) -> Lang:
    return "en" if value == "en" else "ko"
