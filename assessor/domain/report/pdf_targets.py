"""The project's own targets in the factory report and the portfolio PDF: the KPI table of
the completion pack, short (docs/reports.md). Numbers are formatted as the completion pack
formats them, from the same answer the API gives (assessor.services.targets)."""

from __future__ import annotations

from typing import Any

from reportlab.platypus import Flowable

from assessor.domain.labels import Lang
from assessor.domain.report.completion import achievement_text, value_text
from assessor.domain.report.pdf_common import TEXT_WIDTH, cell, para, table
from assessor.domain.targets import ProjectTargets

_T: dict[str, tuple[str, str]] = {
    "section": ("지원사업 성과지표 목표", "Support project targets"),
    "kpi": ("지표", "KPI"),
    "unit": ("단위", "Unit"),
    "baseline": ("기준값", "Baseline"),
    "target": ("목표값", "Target"),
    "result": ("달성값", "Result"),
    "achievement": ("달성률", "Achievement"),
    "status": ("판정", "Verdict"),
    "pass": ("달성", "met"),
    "fail": ("미달", "not met"),
    "no_data": ("자료 없음", "no data"),
    "project_pass": ("달성", "passed"),
    "project_fail": ("미달", "failed"),
    "project_open": ("판정 보류", "open"),
    "note": (
        "사업계획서의 성과지표를 기준값·목표값·달성값으로 봅니다. 측정 방법, 자료 출처, 95% 구간과 증빙은 "
        "완료 보고(성과 증빙) PDF에 있습니다.",
        "The project's own KPIs: baseline, target and result. The method, the sources, the 95% "
        "intervals and the evidence are in the completion pack PDF.",
    ),
}


def _t(key: str, lang: Lang) -> str:
    ko, en = _T[key]
    return ko if lang == "ko" else en


def verdict_text(met: int, total: int, lang: Lang) -> str:
    """ "목표 달성 3/4" / "targets met 3/4", as the portfolio shows it."""
    return f"목표 달성 {met}/{total}" if lang == "ko" else f"targets met {met}/{total}"


def project_verdict_text(met: int, total: int, status: str, lang: Lang) -> str:
    """ "목표 달성 3/4 · 미달": the count and the project's verdict."""
    return f"{verdict_text(met, total, lang)} · {_t('project_' + status, lang)}"


def targets_section(targets: ProjectTargets | None, lang: Lang) -> list[Flowable]:
    """The factory report's targets: one line for the verdict, one row per chosen KPI."""
    if targets is None or not targets.kpis:
        return []
    v = targets.verdict
    head = [_t(k, lang) for k in ("kpi", "unit", "baseline", "target", "result", "achievement", "status")]
    rows: list[list[Any]] = [head]
    for k in targets.kpis:
        target = value_text(k, k.target)
        if k.target_text.endswith("%"):
            target += f" ({k.target_text})"
        style = "good" if k.status == "pass" else "bad" if k.status == "fail" else "cell"
        rows.append(
            [
                cell(k.name_ko if lang == "ko" else k.name_en, "cell_bold"),
                k.unit_ko if lang == "ko" else k.unit_en,
                cell(value_text(k, k.baseline.value), "cell_right"),
                cell(target, "cell_right"),
                cell(value_text(k, k.result.value), "cell_right"),
                cell(achievement_text(k), "cell_right"),
                cell(_t(k.status, lang), style),
            ]
        )
    w = TEXT_WIDTH
    return [
        para(_t("section", lang), "h1"),
        para(f"{targets.project_id} · {project_verdict_text(v.met, v.total, v.status, lang)}", "body"),
        table(rows, [w * x for x in (0.2, 0.1, 0.13, 0.17, 0.13, 0.12, 0.15)]),
        para(_t("note", lang), "small"),
    ]
