"""The operator's portfolio: one row per visible factory, sortable, exportable as CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response

from assessor.domain import labels
from assessor.domain.csv_cells import safe_row
from assessor.domain.gains import GAIN_KPIS, KPI_REFERENCE, REFERENCE
from assessor.domain.labels import Lang, fmt_num, fmt_pct, fmt_signed_pct, fmt_time, kpi_name, tier_name
from assessor.services.errors import InfluxError
from assessor.web.base import Web, attachment
from assessor.web.i18n import t

#: an edge box samples every few seconds; two hours without a sample during a week the
#: collector should run around the clock is worth a look (docs/web.md)
SILENT_AFTER_S = 2 * 3600.0


@dataclass(frozen=True)
class Cell:
    text: str
    #: what the column sorts by: a number, or text; None sorts last
    sort: float | str | None
    css: str = ""
    title: str = ""
    #: extra lines under the text (silent machines)
    notes: tuple[str, ...] = ()
    href: str = ""


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool
    subtitle: str = ""


def columns(lang: Lang) -> list[Column]:
    cols = [
        Column("factory", t("col_factory", lang), False),
        Column("region", labels.word("region", lang), False),
        Column("tier", labels.word("tier", lang), False),
        Column("level", t("col_level", lang), True),
        Column("score", t("col_score", lang), True),
        Column("oee", t("col_oee_7d", lang), True),
    ]
    for kpi in GAIN_KPIS:
        ref = REFERENCE[KPI_REFERENCE[kpi]]
        cols.append(
            Column(
                f"gain_{kpi}",
                f"{kpi_name(kpi, lang)} {labels.word('gain', lang)}",
                True,
                t("reference_short", lang, ref=fmt_signed_pct(ref.improvement)),
            )
        )
    cols.append(Column("health", t("col_health", lang), True))
    return cols


def ago(seconds: float, lang: Lang) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return t("minutes_ago", lang, n=minutes)
    if minutes < 48 * 60:
        return t("hours_ago", lang, n=minutes // 60)
    return t("days_ago", lang, n=minutes // (24 * 60))


def health_cell(h: dict[str, Any], now: float, coverage_days: int, lang: Lang) -> Cell:
    last = h.get("last_seen")
    per_machine: dict[str, float | None] = h.get("last_sample") or {}
    notes = []
    for machine, seen in sorted(per_machine.items()):
        if seen is None:
            notes.append(t("silent_machines", lang, machines=machine))
        elif now - seen > SILENT_AFTER_S:
            notes.append(t("silent_since", lang, machine=machine, when=fmt_time(seen)))
    summary = t("machines_reporting", lang, reporting=h.get("reporting", 0), machines=h.get("machines", 0))
    if last is None:
        text = t("no_data_window", lang, days=coverage_days)
    else:
        text = t("last_data", lang, when=fmt_time(last), ago=ago(now - last, lang))
    silent = last is None or bool(notes)
    return Cell(
        text=("⚠ " if silent else "") + text,
        sort=last,
        css="warn" if silent else "ok",
        title=t("silent_warning", lang) if silent else summary,
        notes=(summary, *notes),
    )


def excluded_text(g: dict[str, Any], lang: Lang) -> str:
    """Why a gain is left out: '도입 후: 데이터 부족(수집률 62.0%)'."""
    return "; ".join(
        f"{labels.word(x['side'], lang)}: {labels.flag_text(x['reason'], lang, x.get('coverage'))}"
        for x in g.get("excluded") or ()
    ) or str(g.get("excluded_reason"))


def oee_cell(row: dict[str, Any], lang: Lang) -> Cell:
    """The last week's OEE, or '— <reason>' when it is flagged (never its measured value)."""
    reason = labels.kpi_flag("oee", row.get("flags_7d") or ())
    if reason is None:
        return Cell(fmt_pct(row.get("oee_7d")), row.get("oee_7d"))
    text = labels.flag_text(reason, lang, row.get("coverage_7d"))
    return Cell(f"— {text}", None, "flagged", text)


def gain_cell(g: dict[str, Any] | None, lang: Lang) -> Cell:
    """▲/▼: better or worse than before (direction-aware); ✔: meets the programme reference;
    '— <reason>' for a gain left out because a side's KPI is flagged."""
    if g is not None and g.get("excluded_reason"):
        text = excluded_text(g, lang)
        return Cell(f"— {text}", None, "flagged", text)
    if g is None or g.get("improvement") is None:
        return Cell("–", None)
    imp = g["improvement"]
    meets = bool(g.get("meets_reference"))
    mark = labels.gain_mark(imp, meets)
    before = labels.fmt_kpi(g["kpi"], g.get("before"))
    after = labels.fmt_kpi(g["kpi"], g.get("after"))
    source = labels.source_name(g.get("source_before") or "none", lang)
    title = (
        f"{labels.word('before', lang)} {before} ({source}) → "
        f"{labels.word('after', lang)} {after}; "
        + t("meets_reference" if meets else "below_reference", lang)
        + f" ({fmt_signed_pct(g.get('reference'))})"
    )
    css = ("better" if imp > 0 else "worse") + (" meets" if meets else "")
    return Cell(f"{fmt_signed_pct(imp)} {mark}".strip(), imp, css, title)


def row_cells(row: dict[str, Any], now: float, coverage_days: int, lang: Lang) -> dict[str, Cell]:
    gains = {g["kpi"]: g for g in row.get("gains") or []}
    level_text = f"Level {row['level']} · {tier_name(row['build_level'], lang)}"
    cells = {
        "factory": Cell(
            row["name"],
            row["name"],
            title=row["factory"],
            href=f"/factories/{quote(row['factory'], safe='')}",
        ),
        "region": Cell(row.get("region") or "–", row.get("region") or ""),
        "tier": Cell(tier_name(row["tier"], lang), row["tier"]),
        "level": Cell(level_text, row["level"] * 10000 + row["score"]),
        "score": Cell(fmt_num(row["score"], 1), row["score"]),
        "oee": oee_cell(row, lang),
        "health": health_cell(row["data_health"], now, coverage_days, lang),
    }
    for kpi in GAIN_KPIS:
        cells[f"gain_{kpi}"] = gain_cell(gains.get(kpi), lang)
    if row.get("project") is None:
        cells["gain_units_per_hour"] = Cell(t("no_project", lang), None, "muted")
    return cells


def sort_rows(rows: list[dict[str, Cell]], key: str, descending: bool) -> list[dict[str, Cell]]:
    """Server-side sort (the fallback without JavaScript): empty cells last either way."""
    if not rows or key not in rows[0]:
        return rows
    present = [r for r in rows if r[key].sort is not None]
    missing = [r for r in rows if r[key].sort is None]

    def value(r: dict[str, Cell]) -> tuple[int, float | str]:
        v = r[key].sort
        return (0, v) if isinstance(v, int | float) else (1, str(v))

    return sorted(present, key=value, reverse=descending) + missing


def to_csv(cols: Sequence[Column], rows: Sequence[dict[str, Cell]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(safe_row([c.title + (f" ({c.subtitle})" if c.subtitle else "") for c in cols]))
    for r in rows:
        w.writerow(safe_row([" ".join([r[c.key].text, *r[c.key].notes[1:]]).strip() for c in cols]))
    # a byte order mark: Excel on Korean Windows reads UTF-8 CSV as CP949 without one
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def install(app: FastAPI, web: Web) -> None:
    async def table(request: Request, lang: Lang) -> tuple[list[Column], list[dict[str, Cell]]]:
        p = web.principal(request)
        assert p is not None
        visible = [f for f in web.service.store.factories() if p.can_see(f.id)]
        data = await web.service.portfolio(visible)
        now = time.time()
        days = web.service.cfg.kpi.coverage_days
        rows = [row_cells(r, now, days, lang) for r in data]
        key = request.query_params.get("sort", "factory")
        rows = sort_rows(rows, key, request.query_params.get("dir") == "desc")
        return columns(lang), rows

    @app.get("/portfolio", include_in_schema=False)
    async def portfolio_page(request: Request) -> Response:
        p = web.principal(request)
        if p is None:
            return web.to_login(request)
        lang = web.lang(request)
        try:
            cols, rows = await table(request, lang)
        except InfluxError:
            return web.error(request, 503, "influx_down", p)
        ctx = {
            "columns": cols,
            "rows": rows,
            "sort": request.query_params.get("sort", "factory"),
            "dir": request.query_params.get("dir", "asc"),
            "silent_hours": SILENT_AFTER_S / 3600.0,
        }
        return web.render(request, "portfolio.html", ctx, principal=p)

    @app.get("/portfolio.csv", include_in_schema=False)
    async def portfolio_csv(request: Request) -> Response:
        p = web.principal(request)
        if p is None:
            return web.to_login(request)
        try:
            cols, rows = await table(request, web.lang(request))
        except InfluxError:
            return web.error(request, 503, "influx_down", p)
        stamp = time.strftime("%Y-%m-%d")
        return attachment(to_csv(cols, rows), f"portfolio-{stamp}.csv", "text/csv; charset=utf-8")

    @app.get("/portfolio/report", include_in_schema=False)
    async def portfolio_report(request: Request) -> Response:
        from assessor.services import reports as report

        p = web.principal(request)
        if p is None:
            return web.to_login(request)
        fmt = "csv" if request.query_params.get("format") == "csv" else "pdf"
        visible = [f for f in web.service.store.factories() if p.can_see(f.id)]
        try:
            content, name, media = await report.portfolio_report(web.service, visible, web.lang(request), fmt)
        except InfluxError:
            return web.error(request, 503, "influx_down", p)
        return attachment(content, name, media)
