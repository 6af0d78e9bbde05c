"""One factory: KPIs over time, OEE losses, machine states, downtime Pareto, level, gains."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import Response

from assessor.domain import labels
from assessor.domain.downtime import SMALL_STOP, pareto
from assessor.domain.gains import FACTORY_GAIN_KPIS
from assessor.domain.labels import Lang
from assessor.domain.level.evidence import METRICS, format_threshold, format_value
from assessor.domain.level.scoring import SCORE_GATE, Assessment
from assessor.domain.losses_view import waterfall
from assessor.domain.models import Factory
from assessor.services.errors import InfluxError
from assessor.services.operator_input import OperatorInputService
from assessor.web import charts, pages_operator
from assessor.web.base import Web, attachment
from assessor.web.i18n import t
from assessor.web.targets import target_sections

KPI_DAYS = 30
TIMELINE_DAYS = 7
MAX_KPI_DAYS = 800
#: a month of states is already thousands of bars per machine before bucketing
MAX_TIMELINE_DAYS = 31
#: the level is re-assessed at most this often per factory while people browse
ASSESSMENT_MAX_AGE_S = 300.0
#: the period totals on the factory page, in this order
TOTAL_KEYS = (
    "oee",
    "availability",
    "performance",
    "quality",
    "units_per_hour",
    "defect_rate",
    "total_count",
    "mtbf_s",
    "mttr_s",
    "small_stop_time_s",
    "coverage",
)


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    start_day: dt.date
    end_day: dt.date  # inclusive
    start: float
    end: float


def _midnight(day: dt.date, tz: ZoneInfo) -> float:
    return dt.datetime.combine(day, dt.time(), tz).timestamp()


def period(
    request: Request, prefix: str, factory: Factory, default_days: int, max_days: int, now: float
) -> tuple[Period, str | None]:
    """The period asked for in ``{prefix}_start`` / ``{prefix}_end`` (dates, end inclusive),
    or the last ``default_days`` days with the reason the request could not be used."""
    tz = ZoneInfo(factory.calendar.timezone)
    today = dt.datetime.fromtimestamp(now, tz).date()
    start_q = request.query_params.get(f"{prefix}_start")
    end_q = request.query_params.get(f"{prefix}_end")
    problem = None
    try:
        if start_q or end_q:
            end_day = dt.date.fromisoformat(end_q) if end_q else today
            start_day = (
                dt.date.fromisoformat(start_q) if start_q else end_day - dt.timedelta(days=default_days - 1)
            )
            if end_day < start_day:
                raise PeriodError(f"{end_day} < {start_day}")
            if (end_day - start_day).days >= max_days:
                raise PeriodError(f"> {max_days}")
            if not dt.date(1970, 1, 2) <= start_day <= end_day <= dt.date(2200, 1, 1):
                raise PeriodError(f"{start_day} .. {end_day}")
            end = min(_midnight(end_day + dt.timedelta(days=1), tz), now)
            start = _midnight(start_day, tz)
            if end > start:
                return Period(start_day, end_day, start, end), None
            raise PeriodError(f"{start_day} > {today}")
    except (ValueError, OverflowError) as exc:
        # OverflowError: date arithmetic past year 1 or 9999 (e.g. an end of 0001-01-01)
        problem = str(exc)
    start_day = today - dt.timedelta(days=default_days - 1)
    return Period(start_day, today, _midnight(start_day, tz), now), problem


def pareto_hours(
    by_reason: dict[tuple[str, str], float], small_stop_s: float, lang: Lang
) -> dict[str, float]:
    """Pareto label -> seconds: the reason, or "no reason given (state)", and small stops
    as one bar of their own whatever their reason."""
    out: dict[str, float] = {}
    for (state, reason), seconds in by_reason.items():
        if state == SMALL_STOP:
            label = t("small_stops_bar", lang, limit=labels.fmt_duration(small_stop_s, lang))
        else:
            label = reason or f"{labels.word('no_reason', lang)} ({labels.state_name(state, lang)})"
        out[label] = out.get(label, 0.0) + seconds
    return out


def waterfall_notes(row: dict[str, Any], lang: Lang) -> list[str]:
    """What the OEE waterfall leaves out and why: a flagged KPI (its reason, never its
    value) and the planned time without data."""
    notes = []
    flags = row.get("flags") or ()
    availability = labels.kpi_flag("availability", flags)
    w = waterfall(row)
    if availability is not None:
        notes.append(
            t(
                "wf_none",
                lang,
                kpi=labels.kpi_name("availability", lang),
                why=labels.flag_text(availability, lang, row.get("coverage")),
            )
        )
    elif w is not None and w.cut_by is not None:
        kpi, reason = w.cut_by
        notes.append(
            t(
                "wf_cut",
                lang,
                kpi=labels.kpi_name(kpi, lang),
                why=labels.flag_text(reason, lang, row.get("coverage")),
                total=labels.loss_name(w.total[0], lang),
            )
        )
    if w is not None and w.unknown_s > 0:
        notes.append(t("wf_unknown", lang, hours=labels.fmt_num(w.unknown_s / 3600.0, 1)))
    return notes


def gate_rows(a: Assessment, lang: Lang) -> list[dict[str, Any]]:
    rows = []
    for g in a.gates:
        if g.id == SCORE_GATE:
            name = t("score_gate", lang)
            evidence = labels.fmt_num(float(g.evidence or 0.0), 1)
            threshold = f">= {labels.fmt_num(float(g.threshold), 0)}"
        else:
            m = METRICS[g.id]
            name = m.label_ko if lang == "ko" else m.label_en
            evidence = format_value(m, g.evidence, lang)
            note = g.note_ko if lang == "ko" else g.note_en
            if note:
                # a flagged KPI behind the evidence: the reason, never its value
                evidence = f"{evidence} — {note}"
            threshold = format_threshold(m, g.threshold, lang)
        rows.append(
            {"level": g.level, "name": name, "evidence": evidence, "threshold": threshold, "passed": g.passed}
        )
    return rows


def _gain_css(g: Any) -> str:
    if g.excluded_reason:
        return "excluded"
    if not g.improvement:
        return ""
    return "better" if g.improvement > 0 else "worse"


def gain_tables(reports: list[tuple[Any, Any]], lang: Lang) -> list[dict[str, Any]]:
    """One table per support project: each KPI's sides, improvement, interval and warnings."""
    tables = []
    for project, rep in reports:
        rows = []
        for g in rep.gains:
            ref = g.reference.improvement if g.reference else None
            interval = labels.fmt_interval(g.ci95_low, g.ci95_high)
            rows.append(
                {
                    "kpi": labels.kpi_name(g.kpi, lang),
                    "before": labels.fmt_kpi(g.kpi, g.before),
                    "after": labels.fmt_kpi(g.kpi, g.after),
                    "days_before": g.days_before,
                    "days_after": g.days_after,
                    "source_before": labels.source_name(g.source_before or "none", lang),
                    "source_after": labels.source_name(g.source_after or "none", lang),
                    "improvement": labels.fmt_signed_pct(g.improvement),
                    "interval": interval,
                    "reference": labels.fmt_signed_pct(ref) if ref is not None else "–",
                    "meets": g.meets_reference,
                    "css": _gain_css(g),
                    "excluded": g.excluded_reason,
                    "mark": labels.gain_mark(g.improvement, g.meets_reference),
                    "warnings": [w.ko if lang == "ko" else w.en for w in g.warnings],
                }
            )
        tables.append(
            {
                "project": project,
                "period": t(
                    "gains_period",
                    lang,
                    b_start=rep.baseline.start,
                    b_end=rep.baseline.end,
                    a_start=rep.after.start,
                    a_end=rep.after.end,
                ),
                "rows": rows,
            }
        )
    return tables


def product_tables(report: dict[str, Any] | None, lang: Lang) -> dict[str, Any] | None:
    """The factory page's products table, unknown codes and changeovers from
    ``AssessorService.product_kpis`` (None: the factory registers no products)."""
    if report is None:
        return None
    rows = [
        {
            "product": r["product"] or t("no_product", lang),
            "known": r["product_known"],
            "units": labels.fmt_kpi_row("total_count", r, lang),
            "good": labels.fmt_kpi_row("good_count", r, lang),
            "reject": labels.fmt_kpi_row("reject_count", r, lang),
            "run_h": labels.fmt_num(r["run_time_s"] / 3600.0, 1),
            "ideal_h": labels.fmt_num(r["ideal_time_s"] / 3600.0, 1),
            "performance": labels.fmt_kpi_row("performance", r, lang),
            "oee": labels.fmt_kpi_row("oee", r, lang),
        }
        for r in report["rows"]
        if r["total_count"] or r["run_time_s"]
    ]
    codes = sorted({u["product"] for u in report["unknown_products"] if u["product"]})
    changeovers = [
        {
            "machine": c["machine"],
            "pair": f"{c['from_product']} → {c['to_product']}",
            "count": c["count"],
            "setup_h": labels.fmt_num(c["setup_s"] / 3600.0, 2),
        }
        for c in report["changeovers"]
    ]
    return {"rows": rows, "unknown": ", ".join(codes), "changeovers": changeovers}


async def factory_context(web: Web, request: Request, f: Factory, lang: Lang) -> dict[str, Any]:
    service = web.service
    now = time.time()
    kpi_p, kpi_problem = period(request, "kpi", f, KPI_DAYS, MAX_KPI_DAYS, now)
    tl_p, tl_problem = period(request, "tl", f, TIMELINE_DAYS, MAX_TIMELINE_DAYS, now)
    daily, totals = await service.factory_kpis_by_day(f, kpi_p.start, kpi_p.end)
    # any planned time with data: flagged KPIs are shown with their reason, not hidden
    has_kpis = any(r.get("coverage") for r in daily)
    timeline = await service.state_timeline(f, tl_p.start, tl_p.end)
    small_stop_s = service.cfg.kpi.small_stop_for(f)
    # reasons entered at the line fill in where the PLC gave none (docs/kpi-method.md)
    operator_input = OperatorInputService(service)
    by_reason = pages_operator.by_reason_labelled(operator_input.downtime_by_source(f, timeline), f, lang)
    bars = pareto(pareto_hours(by_reason, small_stop_s, lang), t("other_reasons", lang))
    reason_rows = pages_operator.reason_rows(operator_input.reason_stats(f, timeline), f, lang)
    # per product over the timeline period (at most a month of raw data), only for a
    # factory that registers its products
    products = await service.product_kpis(f, tl_p.start, tl_p.end, "product", "total") if f.products else None
    assessment = await service.assessment(f, max_age_s=ASSESSMENT_MAX_AGE_S)
    reports = [
        (p, await service.gains(f, p.baseline, service.after_window(f, p), p.id)) for p in f.support_projects
    ]
    return {
        "factory": f,
        "kpi_period": kpi_p,
        "tl_period": tl_p,
        "period_problem": kpi_problem or tl_problem,
        "has_kpis": has_kpis,
        "totals": totals,
        "total_keys": TOTAL_KEYS,
        "trend_fig": charts.kpi_trend(daily, lang) if has_kpis else None,
        "waterfall_fig": charts.oee_waterfall(totals, lang) if has_kpis else None,
        "waterfall_notes": waterfall_notes(totals, lang) if has_kpis else [],
        "timeline_fig": charts.state_timeline(
            timeline,
            f.calendar.timezone,
            lang,
            pages_operator.timeline_reasons(operator_input.episode_reasons(f, timeline), f, lang),
        )
        if timeline.has_data
        else None,
        "timeline_bucket": timeline.bucket_s,
        "pareto_fig": charts.downtime_pareto(bars, lang) if bars else None,
        "small_stop_limit": labels.fmt_duration(small_stop_s, lang),
        "pareto_rows": bars,
        "reason_rows": reason_rows,
        "products": product_tables(products, lang),
        "assessment": assessment,
        "gates": gate_rows(assessment, lang),
        "gain_tables": gain_tables(reports, lang),
        "gain_kpis": FACTORY_GAIN_KPIS,
        "target_sections": await target_sections(web, f, lang),
    }


def install(app: FastAPI, web: Web) -> None:
    @app.get("/factories/{factory_id}", include_in_schema=False)
    async def factory_page(request: Request, factory_id: str) -> Response:
        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        p, f = got
        lang = web.lang(request)
        try:
            ctx = await factory_context(web, request, f, lang)
        except InfluxError:
            return web.error(request, 503, "influx_down", p)
        return web.render(request, "factory.html", ctx, principal=p)

    @app.get("/factories/{factory_id}/report", include_in_schema=False)
    async def factory_report(request: Request, factory_id: str) -> Response:
        from assessor.services import reports as report

        got = web.factory_access(request, factory_id)
        if isinstance(got, Response):
            return got
        p, f = got
        fmt = "csv" if request.query_params.get("format") == "csv" else "pdf"
        project = request.query_params.get("project") or None
        try:
            content, name, media = await report.factory_report(
                web.service, f, project, web.lang(request), fmt
            )
        except report.UnknownProjectError:
            return web.error(request, 404, "unknown_project", p, id=project or "")
        except InfluxError:
            return web.error(request, 503, "influx_down", p)
        return attachment(content, name, media, f)
