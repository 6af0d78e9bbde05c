"""The portfolio PDF: one table of every factory the caller may see, and summary counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from reportlab.platypus import Flowable, Spacer

from assessor.domain.labels import (
    DISPLAY_TZ,
    Lang,
    flag_text,
    fmt_num,
    fmt_pct,
    fmt_signed_pct,
    fmt_time,
    kpi_flag,
    kpi_name,
    tier_name,
    word,
)
from assessor.domain.report.model import PortfolioReportData
from assessor.domain.report.pdf_common import TEXT_WIDTH, build_pdf, cell, facts, para, table
from assessor.domain.report.pdf_targets import project_verdict_text
from assessor.domain.report.text import reference_source, tr

#: the gains a portfolio line has room for: the programme's headline KPIs
KEY_GAINS = ("units_per_hour", "defect_rate", "energy_per_unit_kwh")


def render_portfolio_pdf(data: PortfolioReportData, lang: Lang) -> bytes:
    story: list[Flowable] = [
        para(tr("title_portfolio", lang), "title"),
        para(f"{tr('generated', lang)}: {fmt_time(data.generated_at)} ({DISPLAY_TZ})", "small"),
        Spacer(1, 6),
        para(tr("section_summary", lang), "h1"),
        facts(summary(data.rows, lang)),
        para(tr("section_factories", lang), "h1"),
        _factory_table(data.rows, lang),
        Spacer(1, 4),
        para(tr("note_portfolio_gains", lang), "small"),
        para(f"{word('reference', lang)}: {reference_source(lang)}", "small"),
        para(tr("note_causality", lang), "small"),
        para(tr("note_level", lang), "small"),
    ]
    return build_pdf(
        story,
        title=tr("title_portfolio", lang),
        subject=word("portfolio", lang),
        footer=f"factorylens · {tr('title_portfolio', lang)} · {tr('generated', lang)} "
        f"{fmt_time(data.generated_at)} ({DISPLAY_TZ})",
        lang=lang,
    )


def _gain(row: dict[str, Any], kpi: str) -> dict[str, Any] | None:
    return next((g for g in row.get("gains", []) if g["kpi"] == kpi), None)


def summary(rows: Sequence[dict[str, Any]], lang: Lang) -> list[tuple[str, str]]:
    levels = Counter(r["level"] for r in rows)
    meets = sum(1 for r in rows if (g := _gain(r, "units_per_hour")) and g["meets_reference"])
    return [
        (tr("count_factories", lang), fmt_num(len(rows))),
        (tr("count_with_project", lang), fmt_num(sum(1 for r in rows if r.get("project")))),
        (tr("count_meets_productivity", lang), fmt_num(meets)),
        (tr("count_advanced", lang), fmt_num(sum(1 for r in rows if r["tier"] == "advanced"))),
        (tr("levels", lang), " · ".join(f"Level {lv}: {levels[lv]}" for lv in sorted(levels)) or "–"),
        (tr("count_silent", lang), fmt_num(sum(1 for r in rows if not r["data_health"]["reporting"]))),
    ]


def _gains_cell(row: dict[str, Any], lang: Lang) -> str:
    if not row.get("project"):
        return "–"
    lines = []
    for kpi in KEY_GAINS:
        g = _gain(row, kpi)
        if g is not None and g.get("excluded_reason"):
            # a side's KPI is flagged: the reason, never a gain from the flagged value
            lines.append(f"{kpi_name(kpi, lang)} {tr('excluded', lang)} ({_excluded(g, lang)})")
            continue
        if g is None or g["improvement"] is None:
            continue
        verdict = tr("yes" if g["meets_reference"] else "no", lang)
        lines.append(
            f"{kpi_name(kpi, lang)} {fmt_signed_pct(g['improvement'])} "
            f"({fmt_signed_pct(g['reference'])}, {verdict})"
        )
    return "\n".join(lines) or tr("no_days", lang)


def _excluded(g: dict[str, Any], lang: Lang) -> str:
    return "; ".join(
        f"{word(x['side'], lang)}: {flag_text(x['reason'], lang, x.get('coverage'))}"
        for x in g.get("excluded") or ()
    ) or str(g["excluded_reason"])


def _oee_cell(row: dict[str, Any], lang: Lang) -> str:
    """The last week's OEE, or '— <reason>' when it is flagged (never its measured value)."""
    reason = kpi_flag("oee", row.get("flags_7d") or ())
    if reason is None:
        return fmt_pct(row.get("oee_7d"))
    return f"— {flag_text(reason, lang, row.get('coverage_7d'))}"


def _health_cell(row: dict[str, Any], lang: Lang) -> str:
    h = row["data_health"]
    last = fmt_time(h["last_seen"]) if h.get("last_seen") else tr("never", lang)
    return f"{fmt_num(h['reporting'])}/{fmt_num(h['machines'])} · {tr('last_data', lang)}: {last}"


def _targets_cell(row: dict[str, Any], lang: Lang) -> str:
    """The latest project's own targets, as the portfolio's ``targets``: met of total and
    the verdict; "–" when the project chose no KPIs."""
    v = row.get("targets")
    if not v:
        return "–"
    return project_verdict_text(v["met"], v["total"], v["status"], lang).replace(" · ", "\n")


def _factory_table(rows: Sequence[dict[str, Any]], lang: Lang) -> Flowable:
    head = [
        word("company", lang),
        tr("region", lang),
        word("tier", lang),
        word("level", lang),
        tr("oee_7d", lang),
        word("project", lang),
        tr("key_gains", lang),
        tr("targets", lang),
        tr("data_health", lang),
    ]
    body = [
        [
            f"{r['name']}\n{r['factory']}",
            r.get("region") or "–",
            tier_name(r["tier"], lang),
            f"Level {r['level']} · {tier_name(r['build_level'], lang)}\n{fmt_num(r['score'], 1)} / 1,000",
            cell(_oee_cell(r, lang), "cell_right"),
            r.get("project") or "–",
            _gains_cell(r, lang),
            _targets_cell(r, lang),
            _health_cell(r, lang),
        ]
        for r in rows
    ]
    widths = [TEXT_WIDTH * x for x in (0.13, 0.06, 0.07, 0.12, 0.07, 0.09, 0.23, 0.1, 0.13)]
    return table([head, *body], widths)
