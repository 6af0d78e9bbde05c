"""The before/after PDF of one factory and support project."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from reportlab.platypus import Flowable, KeepTogether, Spacer

from assessor.domain.gains import KpiGain
from assessor.domain.kpi.timeline import SMALL_STOP_S
from assessor.domain.labels import (
    DISPLAY_TZ,
    Lang,
    flag_text,
    fmt_date,
    fmt_duration,
    fmt_interval,
    fmt_kpi,
    fmt_kpi_row,
    fmt_num,
    fmt_pct,
    fmt_signed_pct,
    fmt_time,
    kpi_flag,
    kpi_name,
    loss_name,
    pick,
    source_name,
    tier_name,
    word,
)
from assessor.domain.level import Assessment, GateResult
from assessor.domain.level.evidence import METRICS, format_threshold, format_value
from assessor.domain.level.scoring import SCORE_GATE
from assessor.domain.losses_view import LOSS_KPI, hidden_losses, losses_of
from assessor.domain.models import DateWindow
from assessor.domain.report import charts
from assessor.domain.report.model import FactoryReportData
from assessor.domain.report.pdf_common import TEXT_WIDTH, build_pdf, cell, facts, para, table
from assessor.domain.report.pdf_reasons import reasons_section
from assessor.domain.report.pdf_targets import targets_section
from assessor.domain.report.text import reference_source, tr

RECENT_KPIS = (
    "oee",
    "availability",
    "performance",
    "quality",
    "units_per_hour",
    "units_per_labour_hour",
    "defect_rate",
    "energy_per_unit_kwh",
    "coverage",
    "total_count",
    "mtbf_s",
    "mttr_s",
)
TREND_KPIS = ("units_per_hour", "defect_rate", "oee")
#: rows of the six big losses table, in the waterfall's order
LOSS_ROWS = (
    "planned_s",
    "unknown_s",
    "known_s",
    "breakdowns_s",
    "setup_s",
    "small_stops_s",
    "speed_s",
    "startup_rejects_s",
    "production_rejects_s",
    "fully_productive_s",
)


def render_factory_pdf(data: FactoryReportData, lang: Lang) -> bytes:
    f = data.factory
    story: list[Flowable] = [*_header(data, lang), *_project(data, lang)]
    if data.gains is not None:
        story += _gains(data.gains.gains, lang)
        story += _warnings(data.gains.gains, lang)
    story += targets_section(data.targets, lang)
    story += _charts(data, lang)
    story += level_section(data.assessment, lang)
    story += _recent(data, lang)
    story += reasons_section(data, lang)
    story += _method(data, lang)
    generated = f"{fmt_time(data.generated_at)} ({DISPLAY_TZ})"
    return build_pdf(
        story,
        title=f"{tr('title_factory', lang)} - {f.name}",
        subject=data.project.id if data.project else f.id,
        footer=f"factorylens · {f.name} · {tr('generated', lang)} {generated}",
        lang=lang,
    )


def window_text(w: DateWindow) -> str:
    return f"{fmt_date(w.start)} ~ {fmt_date(w.end)}"


def _header(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    f = data.factory
    employees = "–" if f.employees is None else f"{fmt_num(f.employees)}{tr('employees_unit', lang)}"
    line = " · ".join(
        [
            f"{tr('region', lang)}: {f.region or '–'}",
            f"{tr('employees', lang)}: {employees}",
            f"{tr('factory_id', lang)}: {f.id}",
        ]
    )
    return [
        para(tr("title_factory", lang), "subtitle"),
        para(f.name, "title"),
        para(line, "body"),
        para(f"{tr('generated', lang)}: {fmt_time(data.generated_at)} ({DISPLAY_TZ})", "small"),
        Spacer(1, 6),
    ]


def _project(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    out: list[Flowable] = [para(tr("section_project", lang), "h1")]
    p, g = data.project, data.gains
    if p is None or g is None:
        return [*out, para(tr("no_project", lang))]

    def side(key: str, w: DateWindow) -> str:
        days = data.side_days(key)
        return (
            f"{window_text(w)} · {tr('window_source', lang)}: {_sources_text(data.side_sources(key), lang)}"
            f" · {word('days', lang)}: {fmt_num(days)}"
        )

    pairs = [
        (tr("project_id", lang), p.id),
        (word("tier", lang), tier_name(p.program.value, lang)),
        (tr("project_period", lang), window_text(DateWindow(p.start, p.end))),
        (tr("baseline_window", lang), side("before", g.baseline)),
        (tr("after_window", lang), side("after", g.after)),
    ]
    return [*out, facts(pairs)]


def _sources_text(sources: dict[str, list[str]], lang: Lang) -> str:
    if not sources:
        return source_name("none", lang)
    if len(sources) == 1:
        return source_name(next(iter(sources)), lang)
    return "; ".join(
        f"{source_name(src, lang)} ({', '.join(kpi_name(k, lang) for k in kpis)})"
        for src, kpis in sources.items()
    )


def _gains(gains: Sequence[KpiGain], lang: Lang) -> list[Flowable]:
    head = [
        tr("kpi", lang),
        word("before", lang),
        word("after", lang),
        word("gain", lang),
        word("interval", lang),
        tr("days_ba", lang),
        tr("source_ba", lang),
        word("reference", lang),
        tr("meets", lang),
    ]
    rows: list[list[Any]] = [head]
    for g in gains:
        ref = pick((g.reference.figure_ko, g.reference.figure_en), lang) if g.reference else "–"
        meets = "–" if g.meets_reference is None else tr("yes" if g.meets_reference else "no", lang)
        rows.append(
            [
                cell(kpi_name(g.kpi, lang), "cell_bold"),
                cell(fmt_kpi(g.kpi, g.before), "cell_right"),
                cell(fmt_kpi(g.kpi, g.after), "cell_right"),
                cell(_improvement(g, lang), "cell_right"),
                cell(fmt_interval(g.ci95_low, g.ci95_high), "cell_right"),
                cell(f"{fmt_num(g.days_before)} / {fmt_num(g.days_after)}", "cell_right"),
                f"{_src(g.source_before, lang)} / {_src(g.source_after, lang)}",
                ref,
                cell(meets, "good" if g.meets_reference else "bad" if g.meets_reference is False else "cell"),
            ]
        )
    w = TEXT_WIDTH
    widths = [w * x for x in (0.135, 0.08, 0.08, 0.1, 0.15, 0.1, 0.125, 0.135, 0.095)]
    notes = [para(f"{tr('ba_note', lang)} {word('reference', lang)}: {reference_source(lang)}", "small")]
    for g in gains:
        if g.reference is not None and (note := pick((g.reference.note_ko, g.reference.note_en), lang)):
            notes.append(para(f"{kpi_name(g.kpi, lang)}: {note}", "small"))
    return [para(tr("section_gains", lang), "h1"), table(rows, widths), Spacer(1, 3), *notes]


def _improvement(g: KpiGain, lang: Lang) -> str:
    # a gain left out because a side's KPI is flagged: the warnings say why
    return tr("excluded", lang) if g.excluded_reason else fmt_signed_pct(g.improvement)


def _src(source: str, lang: Lang) -> str:
    return source_name(source or "none", lang)


def _warnings(gains: Sequence[KpiGain], lang: Lang) -> list[Flowable]:
    # the same message for several KPIs (mixed sources, usually) is said once
    by_message: dict[str, list[str]] = defaultdict(list)
    for g in gains:
        for w in g.warnings:
            by_message[pick((w.ko, w.en), lang)].append(kpi_name(g.kpi, lang))
    if not by_message:
        return []
    items = [para(f"• {', '.join(kpis)}: {msg}") for msg, kpis in by_message.items()]
    return [para(tr("section_warnings", lang), "h1"), *items]


def _charts(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    drawings: list[Flowable] = []
    if data.gains is not None:
        if (d := charts.gain_index_chart(data.gains.gains, lang, TEXT_WIDTH)) is not None:
            drawings.append(d)
        for kpi in TREND_KPIS:
            g = data.gain(kpi)
            trend = charts.trend_chart(
                kpi, data.gains.trend.get(kpi, []), g.before if g else None, lang, TEXT_WIDTH
            )
            if trend is not None:
                drawings.append(trend)
    if (d := charts.oee_chart(data.oee_periods, lang, TEXT_WIDTH)) is not None:
        drawings.append(d)
    drawings += _left_out_of_oee_chart(data, lang)
    if (d := charts.waterfall_chart(data.recent.kpis, lang, TEXT_WIDTH)) is not None:
        drawings.append(d)
    if not drawings:
        return []
    out: list[Flowable] = [KeepTogether([para(tr("section_charts", lang), "h1"), drawings[0]])]
    for d in drawings[1:]:
        out += [Spacer(1, 6), d]
    return out


def _left_out_of_oee_chart(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    """A line per measured period whose OEE is flagged: why it is not in the chart."""
    out: list[Flowable] = []
    for p in data.periods:
        if p.kpis.get("oee") is not None or kpi_flag("oee", p.kpis.get("flags") or ()) is None:
            continue
        why = _flag_list(p.kpis, lang)
        out.append(para(f"{charts.period_label(p, lang)}: {tr('oee_left_out', lang)} — {why}", "small"))
    return out


def _flag_list(row: dict[str, Any], lang: Lang) -> str:
    """'성능가동률: 이상치(표준 사이클타임 확인)' for each flagged OEE factor (or OEE itself)."""
    flags = row.get("flags") or ()
    parts = [
        f"{kpi_name(k, lang)}: {flag_text(reason, lang, row.get('coverage'))}"
        for k in ("availability", "performance", "quality")
        if (reason := kpi_flag(k, flags)) is not None
    ]
    if not parts and (reason := kpi_flag("oee", flags)) is not None:
        parts.append(f"{kpi_name('oee', lang)}: {flag_text(reason, lang, row.get('coverage'))}")
    return "; ".join(parts)


def _gate_row(g: GateResult, lang: Lang) -> list[Any]:
    if g.id == SCORE_GATE:
        name = tr("min_score", lang)
        evidence, threshold = fmt_num(float(g.evidence or 0), 1), f">= {fmt_num(float(g.threshold))}"
    else:
        m = METRICS[g.id]
        name = m.label_ko if lang == "ko" else m.label_en
        evidence, threshold = format_value(m, g.evidence, lang), format_threshold(m, g.threshold, lang)
        if note := (g.note_ko if lang == "ko" else g.note_en):
            # a flagged KPI behind the evidence: its reason, never its value
            evidence = f"{evidence} — {note}"
    return [
        f"Level {g.level}",
        name,
        evidence,
        threshold,
        cell(tr("passed" if g.passed else "failed", lang), "good" if g.passed else "bad"),
    ]


def level_section(a: Assessment, lang: Lang) -> list[Flowable]:
    level_name = a.level_name_ko if lang == "ko" else a.level_name
    pairs = [
        (tr("score", lang), f"{fmt_num(a.score, 1)} / 1,000"),
        (word("level", lang), f"Level {a.level} ({level_name})"),
        (tr("build_level", lang), tier_name(a.build_level.value, lang)),
        (word("tier", lang), tier_name(a.tier.value, lang)),
    ]
    out: list[Flowable] = [para(tr("section_level", lang), "h1"), facts(pairs)]
    if a.questionnaire_missing:
        out.append(para(tr("questionnaire_missing", lang), "small"))
    head = [
        word("level", lang),
        tr("gate", lang),
        tr("evidence", lang),
        tr("threshold", lang),
        tr("result", lang),
    ]
    w = TEXT_WIDTH
    out += [
        para(tr("section_gates", lang), "h2"),
        table([head, *(_gate_row(g, lang) for g in a.gates)], [w * x for x in (0.1, 0.4, 0.18, 0.2, 0.12)]),
        para(tr("note_level", lang), "small"),
        para(tr("section_next", lang), "h2"),
    ]
    if not a.next_steps:
        return [*out, para(tr("top_level", lang))]
    return out + [para(f"• {s.ko if lang == 'ko' else s.en}") for s in a.next_steps]


def _recent(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    p = data.recent
    out: list[Flowable] = [
        para(tr("section_recent", lang), "h1"),
        para(f"{window_text(p.window)} · {source_name('measured', lang)}", "small"),
    ]
    if not p.kpis:
        return [*out, para(tr("no_days", lang))]
    rows = [[tr("kpi", lang), tr("value", lang)]]
    for k in RECENT_KPIS:
        flagged = kpi_flag(k, p.kpis.get("flags") or ()) is not None
        # a flagged KPI shows "— <reason>", never its measured value
        shown = cell(fmt_kpi_row(k, p.kpis, lang), "bad" if flagged else "cell_right")
        rows.append([kpi_name(k, lang), shown])
    return [*out, table(rows, [TEXT_WIDTH * 0.4, TEXT_WIDTH * 0.45]), *_losses(data, lang)]


def _losses(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    """The six big losses of the last 30 days: hours and share of the known time, from
    the same ``losses`` as the waterfall; losses resting on a flagged KPI show its reason."""
    row = data.recent.kpis
    losses = losses_of(row)
    if losses is None or losses.known_s <= 0:
        return []  # nothing known to split: the KPI table above says so
    hidden = hidden_losses(row)
    head = [tr("loss", lang), tr("loss_kpi", lang), tr("hours", lang), tr("share_known", lang)]
    rows: list[list[Any]] = [head]
    for key in LOSS_ROWS:
        seconds = getattr(losses, key)
        group = kpi_name(LOSS_KPI[key], lang) if key in LOSS_KPI else ""
        if key in hidden:
            kpi, reason = hidden[key]
            shown = f"— {kpi_name(kpi, lang)}: {flag_text(reason, lang, row.get('coverage'))}"
            rows.append([loss_name(key, lang), group, cell(shown, "bad"), ""])
            continue
        if seconds is None:
            unknown = cell(f"— {tr('startup_unknown', lang)}", "cell_right")
            rows.append([loss_name(key, lang), group, unknown, ""])
            continue
        # planned and unknown time are outside the known time the shares divide
        inside = losses.known_s > 0 and key not in ("planned_s", "unknown_s")
        share = fmt_pct(seconds / losses.known_s) if inside else ""
        rows.append([loss_name(key, lang), group, cell(fmt_num(seconds / 3600.0, 1), "cell_right"), share])
    limit = fmt_duration(data.small_stop_s if data.small_stop_s is not None else SMALL_STOP_S, lang)
    return [
        para(tr("section_losses", lang), "h2"),
        table(rows, [TEXT_WIDTH * x for x in (0.3, 0.2, 0.3, 0.2)]),
        para(tr("note_losses", lang).format(limit=limit), "small"),
    ]


def _method(data: FactoryReportData, lang: Lang) -> list[Flowable]:
    out: list[Flowable] = [para(tr("section_method", lang), "h1"), para(tr("note_method", lang), "small")]
    if data.gains is not None:
        out.append(para(tr("note_causality", lang), "small"))
    out.append(para(f"{tr('generated', lang)}: {fmt_time(data.generated_at)} ({DISPLAY_TZ})", "small"))
    return out
