"""The completion pack's PDF (사업 완료 성과 증빙): company and project, the KPI table,
the evidence that data is collected automatically, the level with its gates, the method.
Numbers are formatted from the same answer the API gives (assessor.domain.report.completion)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from reportlab.platypus import Flowable, Spacer

from assessor.domain.labels import DISPLAY_TZ, Lang, fmt_num, fmt_pct, fmt_time, tier_name
from assessor.domain.models import DateWindow
from assessor.domain.report.completion import CompletionData, achievement_text, value_text
from assessor.domain.report.pdf_common import TEXT_WIDTH, build_pdf, cell, facts, para, table
from assessor.domain.report.pdf_factory import level_section, window_text
from assessor.domain.report.pdf_targets import verdict_text
from assessor.domain.targets import KpiTarget

__all__ = ["render_completion_pdf", "source_text", "t", "verdict_text"]

_T: dict[str, tuple[str, str]] = {
    "title": ("스마트공장 지원사업 완료 성과 증빙", "Smart-factory support project: completion evidence"),
    "company": ("회사명", "Company"),
    "region": ("지역", "Region"),
    "factory_id": ("공장 ID", "Factory id"),
    "project": ("사업 ID", "Project id"),
    "program": ("사업 구분", "Programme"),
    "period": ("사업 기간", "Project period"),
    "baseline_window": ("기준 기간 (도입 전)", "Baseline period (before)"),
    "result_window": ("달성 기간 (도입 후)", "Result period (after)"),
    "verdict": ("목표 달성", "Targets met"),
    "section_kpis": ("성과지표 달성 현황", "Performance indicators"),
    "kpi": ("지표", "KPI"),
    "unit": ("단위", "Unit"),
    "baseline": ("기준값", "Baseline"),
    "target": ("목표값", "Target"),
    "result": ("달성값", "Result"),
    "achievement": ("달성률", "Achievement"),
    "method": ("측정 방법", "Method"),
    "source": ("자료 출처", "Source"),
    "status": ("판정", "Verdict"),
    "interval": ("달성값 95% 구간", "Result, 95% interval"),
    "section_evidence": ("데이터 자동 수집 증빙", "Evidence of automatic data collection"),
    "machines": ("등록 설비", "Registered machines"),
    "reporting": ("최근 {days}일 데이터 수신 설비", "Machines reporting in the last {days} days"),
    "coverage": ("수신 비율", "Coverage"),
    "machine": ("설비", "Machine"),
    "line": ("라인", "Line"),
    "first": ("첫 수집", "First sample"),
    "last": ("마지막 수집", "Last sample"),
    "receiving": ("수신 중", "Reporting"),
    "yes": ("예", "yes"),
    "no": ("아니오", "no"),
    "note_evidence": (
        "첫 수집과 마지막 수집은 사업 시작일 이후 각 설비가 보낸 상태(state) 데이터의 시각입니다. 기초 "
        "수준은 생산 실적의 자동 집계를, 중간1 수준은 설비 데이터의 실시간 수집을 요구합니다.",
        "First and last sample are the times of each machine's state data since the project started. "
        "The basic build level asks for production results aggregated automatically, intermediate 1 "
        "for machine data collected in real time.",
    ),
    "section_evidence_files": ("입력 달성값의 증빙", "Evidence of entered results"),
    "file": ("증빙 파일", "File"),
    "note": ("메모", "Note"),
    "entered": ("입력자 · 입력 시각", "Entered by · at"),
    "section_method": ("산출 방법", "Method"),
    "note_method": (
        "달성률 = (달성값 − 기준값) ÷ (목표값 − 기준값). 100%는 목표 도달, 100% 초과는 목표 초과 달성, "
        "음수는 기준값보다 나빠진 것입니다. 판정은 개선 방향을 따릅니다: 높을수록 좋은 지표는 달성값 ≥ "
        "목표값, 낮을수록 좋은 지표는 달성값 ≤ 목표값이면 달성입니다. 상대 목표(+20%, −15%)는 기준값에 "
        "대한 변화율입니다. 비율 지표는 일별 분자·분모의 합으로, 제조리드타임은 완료된 작업지시의 "
        "중앙값으로 계산하며, 95% 구간은 일(작업지시)을 복원추출한 부트스트랩 2,000회의 백분위수입니다. "
        "자료가 없는 지표는 달성도 미달도 아닌 '자료 없음'으로 표시합니다.",
        "Achievement = (result − baseline) ÷ (target − baseline): 100% reaches the target, above 100% "
        "goes beyond it, below 0 went the wrong way. The verdict follows the KPI's direction: higher-is-"
        "better KPIs pass at result ≥ target, lower-is-better ones at result ≤ target. A relative target "
        "(+20%, −15%) is a change from the baseline. Rates are ratios of daily sums, lead time the median "
        "of finished production orders; the 95% interval is the percentile bootstrap over 2,000 resamples "
        "of days (orders). A KPI without data is shown as 'no data', neither passed nor failed.",
    ),
    "pass": ("달성", "met"),
    "fail": ("미달", "not met"),
    "no_data": ("자료 없음", "no data"),
    "project_pass": ("달성", "passed"),
    "project_fail": ("미달", "failed"),
    "project_open": ("판정 보류", "open"),
    "project_none": ("지표 없음", "no KPIs"),
    "src_registry": ("사업계획서", "project plan"),
    "src_manual": ("수기 기록", "manual log"),
    "src_measured": ("자동 수집", "collected"),
    "src_mixed": ("수기·자동 혼합", "manual and collected"),
    "src_entered": ("증빙 입력", "entered with evidence"),
    "src_": ("없음", "none"),
    "days": ("일", "days"),
    "orders": ("건", "orders"),
    "generated": ("작성", "Generated"),
    "share_rule": ("필요 달성 비율", "Share that must pass"),
}


def t(key: str, lang: Lang) -> str:
    ko, en = _T[key]
    return ko if lang == "ko" else en


def source_text(k: KpiTarget, lang: Lang) -> str:
    def side(label: str, src: str, count: int) -> str:
        unit = t("orders", lang) if k.kpi == "manufacturing_lead_time" else t("days", lang)
        extra = (
            f" ({fmt_num(count)}{unit if lang == 'ko' else ' ' + unit})"
            if src in ("manual", "measured", "mixed")
            else ""
        )
        return f"{label}: {t('src_' + src, lang)}{extra}"

    return "\n".join(
        [
            side(t("baseline", lang), k.baseline.source, k.baseline.count),
            side(t("result", lang), k.result.source, k.result.count),
        ]
    )


def render_completion_pdf(data: CompletionData, lang: Lang) -> bytes:
    story: list[Flowable] = [*_header(data, lang), *_kpis(data, lang), *_evidence(data, lang)]
    story += level_section(data.assessment, lang)
    story += [para(t("section_method", lang), "h1"), para(t("note_method", lang), "small")]
    generated = f"{fmt_time(data.generated_at)} ({DISPLAY_TZ})"
    story.append(para(f"{t('generated', lang)}: {generated}", "small"))
    return build_pdf(
        story,
        title=f"{t('title', lang)} - {data.factory.name}",
        subject=data.project.id,
        footer=f"factorylens · {data.factory.name} · {data.project.id} · {t('generated', lang)} {generated}",
        lang=lang,
    )


def _header(data: CompletionData, lang: Lang) -> list[Flowable]:
    f, p, v = data.factory, data.project, data.targets.verdict
    pairs = [
        (t("company", lang), f.name),
        (t("region", lang), f.region or "–"),
        (t("factory_id", lang), f.id),
        (t("project", lang), p.id),
        (t("program", lang), tier_name(p.program.value, lang)),
        (t("period", lang), window_text(DateWindow(p.start, p.end))),
        (t("baseline_window", lang), window_text(data.targets.baseline_window)),
        (t("result_window", lang), window_text(data.targets.result_window)),
        (t("verdict", lang), f"{verdict_text(v.met, v.total, lang)} · {t('project_' + v.status, lang)}"),
        (t("share_rule", lang), fmt_pct(v.pass_share)),
    ]
    return [para(t("title", lang), "title"), facts(pairs), Spacer(1, 6)]


def _kpis(data: CompletionData, lang: Lang) -> list[Flowable]:
    head = [
        t(k, lang) for k in ("kpi", "unit", "baseline", "target", "result", "achievement", "method", "source")
    ]
    rows: list[list[Any]] = [head]
    for k in data.targets.kpis:
        status = t(k.status, lang)
        name = f"{k.name_ko if lang == 'ko' else k.name_en}\n[{status}]"
        target = value_text(k, k.target)
        if k.target_text.endswith("%"):
            target += f"\n({k.target_text})"
        rows.append(
            [
                cell(name, "good" if k.status == "pass" else "bad" if k.status == "fail" else "cell"),
                k.unit_ko if lang == "ko" else k.unit_en,
                value_text(k, k.baseline.value),
                target,
                value_text(k, k.result.value),
                achievement_text(k),
                k.method_ko if lang == "ko" else k.method_en,
                source_text(k, lang),
            ]
        )
    w = TEXT_WIDTH
    out: list[Flowable] = [
        para(t("section_kpis", lang), "h1"),
        table(rows, [w * x for x in (0.15, 0.07, 0.1, 0.1, 0.1, 0.09, 0.21, 0.18)]),
    ]
    intervals = [
        [
            k.name_ko if lang == "ko" else k.name_en,
            f"{value_text(k, k.result.low)} ~ {value_text(k, k.result.high)}",
        ]
        for k in data.targets.kpis
        if k.result.low is not None and k.result.high is not None
    ]
    if intervals:
        out.append(table([[t("kpi", lang), t("interval", lang)], *intervals], [w * 0.3, w * 0.4]))
    entered = [k for k in data.targets.kpis if k.entered is not None]
    if entered:
        rows = [[t("kpi", lang), t("file", lang), t("note", lang), t("entered", lang)]]
        for k in entered:
            e = k.entered
            assert e is not None
            when = fmt_time(_instant(e.entered_at))
            rows.append(
                [
                    k.name_ko if lang == "ko" else k.name_en,
                    f"{e.file_name}\nSHA-256 {e.file_sha256[:16]}…",
                    e.note,
                    f"{e.entered_by}\n{when}",
                ]
            )
        out += [
            para(t("section_evidence_files", lang), "h2"),
            table(rows, [w * x for x in (0.18, 0.3, 0.3, 0.22)]),
        ]
    return out


def _instant(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def _evidence(data: CompletionData, lang: Lang) -> list[Flowable]:
    reporting = sum(1 for m in data.machines if m.reporting)
    pairs = [
        (t("machines", lang), fmt_num(len(data.machines))),
        (t("reporting", lang).format(days=data.coverage_days), fmt_num(reporting)),
        (t("coverage", lang), fmt_pct(data.coverage)),
    ]
    head = [t("line", lang), t("machine", lang), t("first", lang), t("last", lang), t("receiving", lang)]
    tz = data.factory.calendar.timezone
    rows: list[list[Any]] = [head]
    for m in data.machines:
        rows.append(
            [
                m.line,
                m.machine,
                fmt_time(m.first, tz) if m.first is not None else "–",
                fmt_time(m.last, tz) if m.last is not None else "–",
                cell(t("yes" if m.reporting else "no", lang), "good" if m.reporting else "bad"),
            ]
        )
    w = TEXT_WIDTH
    return [
        para(t("section_evidence", lang), "h1"),
        facts(pairs),
        Spacer(1, 4),
        table(rows, [w * x for x in (0.15, 0.2, 0.25, 0.25, 0.15)]),
        para(t("note_evidence", lang), "small"),
    ]
