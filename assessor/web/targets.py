"""The factory page's targets section (목표 대비 달성) and the completion pack's download
for signed-in users (docs/targets.md)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from assessor.domain.labels import Lang
from assessor.domain.models import Factory
from assessor.domain.report.completion import achievement_text, value_text
from assessor.domain.report.pdf_completion import source_text, t, verdict_text
from assessor.services import targets as service_targets
from assessor.services.errors import InfluxError
from assessor.services.reports import completion_report
from assessor.web.base import Web, attachment

_HEAD = ("kpi", "unit", "baseline", "target", "result", "interval", "achievement", "status", "source")
_WORDS: dict[str, tuple[str, str]] = {
    "section": ("지원사업 목표 대비 달성", "Support project targets"),
    "pdf": ("완료 성과 증빙 PDF", "Completion pack PDF"),
    "csv": ("완료 성과 증빙 CSV", "Completion pack CSV"),
    "not_entered": ("증빙과 함께 입력된 달성값이 없습니다", "no result entered with evidence yet"),
    "no_result": ("달성 기간의 자료가 없습니다", "no data in the result period"),
    "no_baseline": ("기준 기간의 자료가 없어 목표값을 정할 수 없습니다", "no baseline data: no target value"),
}


def _w(key: str, lang: Lang) -> str:
    ko, en = _WORDS[key]
    return ko if lang == "ko" else en


async def target_sections(web: Web, f: Factory, lang: Lang) -> list[dict[str, Any]]:
    """Per support project that chose KPIs: its verdict line and its KPI rows."""
    out = []
    for project in f.support_projects:
        if not project.kpis:
            continue
        answer = await service_targets.project_targets(web.service, f, project)
        v = answer.verdict
        rows = []
        for k in answer.kpis:
            interval = (
                f"{value_text(k, k.result.low)} ~ {value_text(k, k.result.high)}"
                if k.result.low is not None and k.result.high is not None
                else "–"
            )
            note = _w(k.reason, lang) if k.reason in _WORDS else ""
            rows.append(
                {
                    "kpi": k.kpi,
                    "name": k.name_ko if lang == "ko" else k.name_en,
                    "unit": k.unit_ko if lang == "ko" else k.unit_en,
                    "baseline": value_text(k, k.baseline.value),
                    "target": value_text(k, k.target),
                    "target_text": k.target_text if k.target_text.endswith("%") else "",
                    "result": value_text(k, k.result.value),
                    "interval": interval,
                    "achievement": achievement_text(k),
                    "status": k.status,
                    "status_text": t(k.status, lang),
                    "note": note,
                    "source": source_text(k, lang),
                    "entered": k.entered,
                }
            )
        out.append(
            {
                "project": project,
                "title": _w("section", lang),
                "verdict": verdict_text(v.met, v.total, lang),
                "status": v.status,
                "status_text": t(f"project_{v.status}", lang),
                "head": [t(h, lang) for h in _HEAD],
                "rows": rows,
                "pdf": _w("pdf", lang),
                "csv": _w("csv", lang),
            }
        )
    return out


def install(app: FastAPI, web: Web) -> None:
    @app.get("/factories/{factory_id}/projects/{project_id}/completion", include_in_schema=False)
    async def completion(request: Request, factory_id: str, project_id: str) -> Response:
        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        p, f = got
        project = service_targets.find_project(f, project_id)
        if project is None:
            return web.error(request, 404, "unknown_project", p, id=project_id)
        fmt = "csv" if request.query_params.get("format") == "csv" else "pdf"
        try:
            content, name, media = await completion_report(web.service, f, project, web.lang(request), fmt)
        except InfluxError:
            return web.error(request, 503, "influx_down", p)
        return attachment(content, name, media, f)


def targets_column_title(lang: Lang) -> str:
    return "목표 달성" if lang == "ko" else "Targets met"


def targets_cell_parts(row: dict[str, Any], lang: Lang) -> tuple[str, float | None, str, str]:
    """(text, sort value, css, title) of the portfolio's targets cell: "목표 달성 3/4"."""
    got = row.get("targets")
    if not got:
        return "–", None, "muted", ""
    status = got["status"]
    css = {"pass": "better", "fail": "worse"}.get(status, "")
    return (
        verdict_text(got["met"], got["total"], lang),
        got["met"] / got["total"],
        css,
        f"{got['project']}: {t('project_' + status, lang)}",
    )
