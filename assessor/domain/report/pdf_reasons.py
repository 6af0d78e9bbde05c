"""The factory report's downtime reasons of the last days: per reason its source (the
machine's PLC or the people at the line), stops, down time, MTBF and MTTR."""

from __future__ import annotations

from reportlab.platypus import Flowable

from assessor.domain.labels import Lang, fmt_duration, kpi_name, pick, word
from assessor.domain.operator_input import SOURCE_OPERATOR, SOURCE_PLC
from assessor.domain.report.model import FactoryReportData
from assessor.domain.report.pdf_common import TEXT_WIDTH, cell, para, table

TEXT: dict[str, tuple[str, str]] = {
    "section": ("비가동 사유 (최근 {days}일)", "Downtime reasons (last {days} days)"),
    "reason": ("사유", "Reason"),
    "source": ("출처", "Source"),
    "stops": ("횟수", "Stops"),
    "down": ("비가동 시간", "Down time"),
    SOURCE_PLC: ("설비(PLC)", "PLC"),
    SOURCE_OPERATOR: ("작업자 입력", "operator"),
    "none": ("—", "—"),
    "note": (
        "설비(PLC)가 사유를 보내지 않은 비가동에는 현장 태블릿에서 입력한 사유를 씁니다.",
        "Where the machine's PLC sent no reason, the reason entered at the line is used.",
    ),
}


def reasons_section(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    if not data.reasons:
        return []
    f = data.factory
    names = {r.code: r.name(lang) for r in f.downtime_reasons}
    head = [pick(TEXT[k], lang) for k in ("reason", "source", "stops", "down")]
    head += [kpi_name("mtbf_s", lang), kpi_name("mttr_s", lang)]
    rows: list[list[object]] = [head]
    for s in data.reasons:
        name = names.get(s.reason, s.reason) if s.source == SOURCE_OPERATOR else s.reason
        rows.append(
            [
                name or word("no_reason", lang),
                pick(TEXT.get(s.source or "none", TEXT["none"]), lang),
                cell(str(s.stops), "cell_right"),
                cell(fmt_duration(s.down_s, lang), "cell_right"),
                cell(fmt_duration(s.mtbf_s, lang) if s.mtbf_s is not None else "—", "cell_right"),
                cell(fmt_duration(s.mttr_s, lang) if s.mttr_s is not None else "—", "cell_right"),
            ]
        )
    return [
        para(pick(TEXT["section"], lang).format(days=data.reason_days), "h2"),
        table(rows, [TEXT_WIDTH * x for x in (0.26, 0.16, 0.1, 0.16, 0.16, 0.16)]),
        para(pick(TEXT["note"], lang), "small"),
    ]
