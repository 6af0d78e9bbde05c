"""The completion pack of a support project (사업 완료 성과 증빙): one PDF and the CSV
beside it, for the project's closing documents (docs/reports.md, "Completion pack").

Both are built from the answers the API gives: the targets (assessor.services.targets),
the level (``/assessment``) and the data health (``/portfolio``'s ``data_health``), so
every number in them equals the API's. assessor.services.reports collects the facts; this
module and pdf_completion render them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from assessor.domain.csv_cells import safe_row
from assessor.domain.labels import DISPLAY_TZ, Lang, fmt_num, fmt_pct
from assessor.domain.level import Assessment
from assessor.domain.models import Factory, SupportProject
from assessor.domain.report.csv_export import number, timestamp
from assessor.domain.report.filenames import safe_part
from assessor.domain.targets import KpiTarget, ProjectTargets


@dataclass(frozen=True)
class MachineEvidence:
    line: str
    machine: str
    #: epoch seconds of the machine's first and last sample since the project started
    first: float | None
    last: float | None
    #: last heard of in the coverage window (data health)
    reporting: bool


@dataclass(frozen=True)
class CompletionData:
    factory: Factory
    project: SupportProject
    targets: ProjectTargets
    assessment: Assessment
    machines: tuple[MachineEvidence, ...]
    #: share of the registered machines heard of in the coverage window
    coverage: float | None
    coverage_days: int
    generated_at: float


def value_text(k: KpiTarget, value: float | None) -> str:
    """A KPI value as the completion pack prints it: rates as percentages with one decimal,
    unit cost in whole won, the rest with one decimal."""
    if k.percent:
        return fmt_pct(value)
    return fmt_num(value, 0 if k.kpi == "unit_cost" else 1)


def achievement_text(k: KpiTarget) -> str:
    return fmt_pct(k.achievement)


# -- CSV ---------------------------------------------------------------------------

CSV_COLUMNS = (
    ("factory", "공장 ID"),
    ("company", "회사명"),
    ("project", "사업 ID"),
    ("kpi", "지표 ID"),
    ("kpi_name", "지표"),
    ("unit", "단위"),
    ("direction", "개선 방향"),
    ("baseline", "기준값"),
    ("baseline_source", "기준값 출처"),
    ("target_text", "목표 (계획서)"),
    ("target", "목표값"),
    ("result", "달성값"),
    ("result_low", "달성값 95% 하한"),
    ("result_high", "달성값 95% 상한"),
    ("result_source", "달성값 출처"),
    ("result_count", "달성값 근거 수 (일, 작업지시, 입력)"),
    ("achievement", "달성률"),
    ("status", "판정"),
    ("reason", "판정 보류 사유"),
    ("method", "측정 방법"),
    ("evidence_file", "증빙 파일"),
    ("evidence_sha256", "증빙 SHA-256"),
    ("entered_by", "입력자"),
    ("entered_at", "입력 시각"),
)


def completion_csv(data: CompletionData, lang: Lang) -> bytes:
    """One row per KPI, numbers exact (as the API gives them), for the officer's own sheet."""
    rows = []
    for k in data.targets.kpis:
        e = k.entered
        rows.append(
            {
                "factory": data.factory.id,
                "company": data.factory.name,
                "project": data.project.id,
                "kpi": k.kpi,
                "kpi_name": k.name_ko if lang == "ko" else k.name_en,
                "unit": k.unit_ko if lang == "ko" else k.unit_en,
                "direction": k.direction,
                "baseline": number(k.baseline.value),
                "baseline_source": k.baseline.source,
                "target_text": k.target_text,
                "target": number(k.target),
                "result": number(k.result.value),
                "result_low": number(k.result.low),
                "result_high": number(k.result.high),
                "result_source": k.result.source,
                "result_count": number(k.result.count),
                "achievement": number(k.achievement),
                "status": k.status,
                "reason": k.reason,
                "method": k.method_ko if lang == "ko" else k.method_en,
                "evidence_file": e.file_name if e else "",
                "evidence_sha256": e.file_sha256 if e else "",
                "entered_by": e.entered_by if e else "",
                "entered_at": timestamp(dt.datetime.fromisoformat(e.entered_at).timestamp()) if e else "",
            }
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(safe_row([ko if lang == "ko" else key for key, ko in CSV_COLUMNS]))
    for row in rows:
        w.writerow(safe_row([row[key] for key, _ in CSV_COLUMNS]))
    return buf.getvalue().encode("utf-8-sig")


def completion_file_name(data: CompletionData, lang: Lang, fmt: str) -> str:
    day = dt.datetime.fromtimestamp(data.generated_at, ZoneInfo(DISPLAY_TZ)).date()
    word = "완료보고" if lang == "ko" else "completion"
    parts = [data.factory.name or data.factory.id, data.project.id, word, day.isoformat()]
    return "_".join(p for p in map(safe_part, parts) if p) + f".{fmt}"
