"""CSV reports: UTF-8 with a byte-order mark, which Excel needs to read Hangul as UTF-8
(without it, Korean Windows opens the file as CP949 and shows mojibake).

Numbers are written at full precision without thousands separators and rates as
fractions, exactly as the JSON API gives them, so a spreadsheet can recompute and a
script can compare; only the labels follow the language. English heads are the API's
field names, Korean heads the programme's terms.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from assessor.domain.csv_cells import safe_row
from assessor.domain.gains import FACTORY_GAIN_KPIS, GAIN_KPIS, KPI_DIRECTIONS, KpiGain
from assessor.domain.labels import DISPLAY_TZ, Lang, kpi_flag, kpi_name, pick, source_name, tier_name
from assessor.domain.report.model import FactoryReportData, PortfolioReportData
from assessor.domain.report.text import tr

#: column key -> Korean head; the English head is the key itself
FACTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("factory", "공장 ID"),
    ("company", "기업명"),
    ("project", "지원사업 ID"),
    ("kpi", "지표 ID"),
    ("kpi_name", "지표"),
    ("direction", "개선 방향"),
    ("baseline_start", "도입 전 시작일"),
    ("baseline_end", "도입 전 종료일"),
    ("after_start", "도입 후 시작일"),
    ("after_end", "도입 후 종료일"),
    ("before", "도입 전"),
    ("after", "도입 후"),
    ("improvement", "개선율"),
    ("ci95_low", "95% 신뢰구간 하한"),
    ("ci95_high", "95% 신뢰구간 상한"),
    ("days_before", "도입 전 일수"),
    ("days_after", "도입 후 일수"),
    ("source_before", "도입 전 데이터 출처"),
    ("source_after", "도입 후 데이터 출처"),
    ("reference_area", "참고치 분야"),
    ("reference_improvement", "사업 참고치"),
    ("reference_figure", "사업 참고치 설명"),
    ("meets_reference", "참고치 달성"),
    ("excluded_reason", "제외 사유"),
    ("recent_30d", "최근 30일"),
    ("recent_30d_flag", "최근 30일 미표시 사유"),
    ("level", "수준"),
    ("build_level", "구축 수준"),
    ("tier", "지원 유형"),
    ("score", "점수"),
    ("warnings", "주의 사항"),
    # the project's own targets (docs/targets.md), as GET .../targets gives them; a chosen
    # KPI the gains do not compare (lead time, inventory days, ...) gets a row of its own
    ("targets_met", "목표 달성 지표 수"),
    ("targets_total", "목표 지표 수"),
    ("targets_status", "목표 판정"),
    ("target_baseline", "목표 기준값"),
    ("target_baseline_source", "목표 기준값 출처"),
    ("target_text", "목표 (계획서)"),
    ("target", "목표값"),
    ("target_result", "달성값"),
    ("target_result_low", "달성값 95% 하한"),
    ("target_result_high", "달성값 95% 상한"),
    ("target_result_source", "달성값 출처"),
    ("target_achievement", "달성률"),
    ("target_status", "목표 달성 판정"),
    ("target_reason", "판정 보류 사유"),
    ("generated_at", "생성 일시"),
)

_PORTFOLIO_HEAD: tuple[tuple[str, str], ...] = (
    ("factory", "공장 ID"),
    ("company", "기업명"),
    ("region", "지역"),
    ("employees", "종업원 수"),
    ("tier", "지원 유형"),
    ("level", "수준"),
    ("build_level", "구축 수준"),
    ("score", "점수"),
    ("oee_7d", "최근 7일 설비종합효율"),
    ("coverage_7d", "최근 7일 데이터 수집률"),
    ("flags_7d", "최근 7일 미표시 지표"),
    ("project", "지원사업 ID"),
)
_PORTFOLIO_GAIN_PARTS: tuple[tuple[str, str], ...] = (
    ("before", "도입 전"),
    ("after", "도입 후"),
    ("improvement", "개선율"),
    ("reference", "사업 참고치"),
    ("meets_reference", "참고치 달성"),
    ("excluded_reason", "제외 사유"),
)
_PORTFOLIO_TAIL: tuple[tuple[str, str], ...] = (
    # the latest project's own targets (docs/targets.md): met of total, and the verdict
    ("targets_met", "목표 달성 지표 수"),
    ("targets_total", "목표 지표 수"),
    ("targets_status", "목표 판정"),
    ("machines", "설비 수"),
    ("machines_reporting", "수집 설비 수"),
    ("silent_machines", "미수집 설비"),
    ("last_seen", "최종 수집"),
    ("generated_at", "생성 일시"),
)


def portfolio_columns() -> tuple[tuple[str, str], ...]:
    gains = tuple(
        (f"{kpi}_{part}", f"{kpi_name(kpi, 'ko')} {ko}")
        for kpi in GAIN_KPIS
        for part, ko in _PORTFOLIO_GAIN_PARTS
    )
    return _PORTFOLIO_HEAD + gains + _PORTFOLIO_TAIL


def number(value: Any) -> str:
    """Shortest exact text of a number (repr round-trips a float); '' for no value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def timestamp(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, ZoneInfo(DISPLAY_TZ)).isoformat(timespec="seconds")


def _write(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, str]], lang: Lang) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(safe_row([ko if lang == "ko" else key for key, ko in columns]))
    for row in rows:
        w.writerow(safe_row([row.get(key, "") for key, _ in columns]))
    return buf.getvalue().encode("utf-8-sig")


def _gain_cells(g: KpiGain, lang: Lang) -> dict[str, str]:
    ref = g.reference
    return {
        "before": number(g.before),
        "after": number(g.after),
        "improvement": number(g.improvement),
        "ci95_low": number(g.ci95_low),
        "ci95_high": number(g.ci95_high),
        "days_before": number(g.days_before),
        "days_after": number(g.days_after),
        "source_before": source_name(g.source_before or "none", lang) if lang == "ko" else g.source_before,
        "source_after": source_name(g.source_after or "none", lang) if lang == "ko" else g.source_after,
        "reference_area": "" if ref is None else tr(f"area_{ref.area}", lang),
        "reference_improvement": "" if ref is None else number(ref.improvement),
        "reference_figure": "" if ref is None else pick((ref.figure_ko, ref.figure_en), lang),
        "meets_reference": number(g.meets_reference),
        "excluded_reason": g.excluded_reason or "",
        "warnings": ";".join(w.code for w in g.warnings),
    }


def factory_csv(data: FactoryReportData, lang: Lang) -> bytes:
    """One row per compared KPI; without a project the before/after cells stay empty."""
    f, a, p, g = data.factory, data.assessment, data.project, data.gains
    common = {
        "factory": f.id,
        "company": f.name,
        "project": p.id if p else "",
        "level": number(a.level),
        "build_level": tier_name(a.build_level.value, lang) if lang == "ko" else a.build_level.value,
        "tier": tier_name(a.tier.value, lang) if lang == "ko" else a.tier.value,
        "score": number(a.score),
        "generated_at": timestamp(data.generated_at),
    }
    if g is not None:
        common |= {
            "baseline_start": g.baseline.start.isoformat(),
            "baseline_end": g.baseline.end.isoformat(),
            "after_start": g.after.start.isoformat(),
            "after_end": g.after.end.isoformat(),
        }
    kpis = [x.kpi for x in g.gains] if g is not None else [*FACTORY_GAIN_KPIS, "oee"]
    rows = []
    for kpi in kpis:
        direction = KPI_DIRECTIONS[kpi].value
        row = {
            **common,
            "kpi": kpi,
            "kpi_name": kpi_name(kpi, lang),
            "direction": tr(direction, lang) if lang == "ko" else direction,
            # a flagged KPI is None in the row: empty value, the reason next to it
            "recent_30d": number(data.recent.kpis.get(kpi)),
            "recent_30d_flag": kpi_flag(kpi, data.recent.kpis.get("flags") or ()) or "",
        }
        if (gain := data.gain(kpi)) is not None:
            row |= _gain_cells(gain, lang)
        rows.append(row)
    _add_targets(rows, data, common, lang)
    return _write(FACTORY_COLUMNS, rows, lang)


def _add_targets(
    rows: list[dict[str, str]], data: FactoryReportData, common: dict[str, str], lang: Lang
) -> None:
    """The project's targets into the KPI rows, with a row for each chosen KPI the gains
    do not compare; exact numbers, as the completion pack's CSV writes them."""
    t = data.targets
    if t is None:
        return
    v = t.verdict
    verdict = {"targets_met": number(v.met), "targets_total": number(v.total), "targets_status": v.status}
    by_kpi = {r["kpi"]: r for r in rows}
    for r in rows:
        r |= verdict
    for k in t.kpis:
        row = by_kpi.get(k.kpi)
        if row is None:
            row = {
                **common,
                **verdict,
                "kpi": k.kpi,
                "kpi_name": k.name_ko if lang == "ko" else k.name_en,
                "direction": tr(k.direction, lang) if lang == "ko" else k.direction,
            }
            rows.append(row)
        row |= {
            "target_baseline": number(k.baseline.value),
            "target_baseline_source": k.baseline.source,
            "target_text": k.target_text,
            "target": number(k.target),
            "target_result": number(k.result.value),
            "target_result_low": number(k.result.low),
            "target_result_high": number(k.result.high),
            "target_result_source": k.result.source,
            "target_achievement": number(k.achievement),
            "target_status": k.status,
            "target_reason": k.reason,
        }


def _portfolio_row(r: dict[str, Any], employees: int | None, lang: Lang, generated: float) -> dict[str, str]:
    h = r["data_health"]
    row = {
        "factory": r["factory"],
        "company": r["name"],
        "region": r.get("region") or "",
        "employees": number(employees),
        "tier": tier_name(r["tier"], lang) if lang == "ko" else r["tier"],
        "level": number(r["level"]),
        "build_level": tier_name(r["build_level"], lang) if lang == "ko" else r["build_level"],
        "score": number(r["score"]),
        "oee_7d": number(r.get("oee_7d")),
        "coverage_7d": number(r.get("coverage_7d")),
        "flags_7d": ";".join(sorted({f"{f['kpi']}:{f['reason']}" for f in r.get("flags_7d") or ()})),
        "project": r.get("project") or "",
        "targets_met": number((r.get("targets") or {}).get("met")),
        "targets_total": number((r.get("targets") or {}).get("total")),
        "targets_status": (r.get("targets") or {}).get("status", ""),
        "machines": number(h["machines"]),
        "machines_reporting": number(h["reporting"]),
        "silent_machines": ";".join(h.get("silent_machines", [])),
        "last_seen": timestamp(h.get("last_seen")),
        "generated_at": timestamp(generated),
    }
    for g in r.get("gains", []):
        for part, _ in _PORTFOLIO_GAIN_PARTS:
            value = g.get(part)
            row[f"{g['kpi']}_{part}"] = (value or "") if part == "excluded_reason" else number(value)
    return row


def portfolio_csv(data: PortfolioReportData, lang: Lang) -> bytes:
    """One row per factory; gains are the portfolio's point estimates of the latest project."""
    employees = {f.id: f.employees for f in data.factories}
    rows = [_portfolio_row(r, employees.get(r["factory"]), lang, data.generated_at) for r in data.rows]
    return _write(portfolio_columns(), rows, lang)
