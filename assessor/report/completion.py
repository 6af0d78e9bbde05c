"""The completion pack of a support project (사업 완료 성과 증빙): one PDF and the CSV
beside it, for the project's closing documents (docs/reports.md, "Completion pack").

Both are built from the answers the API gives: the targets (assessor/services/targets.py),
the level (``/assessment``) and the data health (``/portfolio``'s ``data_health``), so
every number in them equals the API's.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from assessor.csv_cells import safe_row
from assessor.domain import Factory, SupportProject
from assessor.influxql import ident, tag_equals, time_range
from assessor.labels import DISPLAY_TZ, Lang, fmt_num, fmt_pct
from assessor.level import Assessment
from assessor.report.csv_export import number, timestamp
from assessor.report.filenames import safe_part
from assessor.services.targets import KpiTarget, ProjectTargets, project_targets
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE

if TYPE_CHECKING:
    from assessor.service import AssessorService

MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


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


async def machine_samples(
    service: AssessorService, factory: Factory, since: float
) -> dict[tuple[str, str], list[float]]:
    """(line, machine) -> [first, last] epoch seconds of its state samples since ``since``."""
    where = f"{tag_equals(TAG_FACTORY, factory.id)} AND {time_range(since, service.clock() + 60)}"
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    m = ident(MEASUREMENT_MACHINE)
    answer = await service.raw(factory).query(
        f"SELECT FIRST({ident('state')}) FROM {m} WHERE {where} {group}; "
        f"SELECT LAST({ident('state')}) FROM {m} WHERE {where} {group}"
    )
    out: dict[tuple[str, str], list[float]] = {}
    for statement in answer[:2]:
        for s in statement:
            if s.values:
                key = (s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))
                out.setdefault(key, []).append(s.values[0][0] / 1000.0)
    return out


async def collect_completion(
    service: AssessorService, factory: Factory, project: SupportProject
) -> CompletionData:
    tz = ZoneInfo(factory.calendar.timezone)
    since = dt.datetime.combine(project.start, dt.time(), tz).timestamp()
    targets, assessment, health, samples = await asyncio.gather(
        project_targets(service, factory, project),
        service.assessment(factory),
        service.data_health([factory]),
        machine_samples(service, factory, since),
    )
    last = health.get(factory.id, {})
    machines = tuple(
        MachineEvidence(
            m.line_id,
            m.id,
            *(samples[(m.line_id, m.id)] if len(samples.get((m.line_id, m.id), [])) == 2 else (None, None)),
            reporting=last.get(m.id) is not None,
        )
        for m in factory.machines
    )
    seen = sum(1 for t in last.values() if t is not None)
    return CompletionData(
        factory,
        project,
        targets,
        assessment,
        machines,
        seen / len(last) if last else None,
        service.cfg.kpi.coverage_days,
        service.clock(),
    )


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


async def completion_report(
    service: AssessorService, factory: Factory, project: SupportProject, lang: Lang, fmt: str
) -> tuple[bytes, str, str]:
    """(content, file name, media type) of the completion pack."""
    from assessor.report.pdf_completion import render_completion_pdf

    data = await collect_completion(service, factory, project)
    if fmt == "pdf":
        content = await asyncio.to_thread(render_completion_pdf, data, lang)
    else:
        content = completion_csv(data, lang)
    return content, completion_file_name(data, lang, fmt), MEDIA_TYPES[fmt]

