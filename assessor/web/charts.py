"""Plotly figures as plain dicts, built on the server and drawn by the plotly.js the app serves.

Only JSON crosses to the browser: no Python plotly objects, no template fetched from
anywhere, fonts named so Hangul renders in the SVG text.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from assessor.domain.downtime import ParetoBar, Timeline
from assessor.domain.labels import Lang, fmt_pct, kpi_name, loss_name, state_name
from assessor.domain.losses_view import waterfall
from assessor.web.i18n import t

Figure = dict[str, Any]

FONT = "'NanumGothic', 'Nanum Gothic', 'Noto Sans CJK KR', sans-serif"
#: one colour per canonical state; down states warm, unknown grey, so a glance finds trouble
STATE_COLOURS: dict[str, str] = {
    "running": "#2e7d32",
    "idle": "#f9a825",
    "setup": "#1565c0",
    "fault": "#c62828",
    "stopped": "#6d4c41",
    "planned_stop": "#90a4ae",
    "unknown": "#d0d0d0",
    "offline": "#424242",
}
TREND_KPIS = ("oee", "availability", "performance", "quality")
TREND_COLOURS = ("#1a237e", "#2e7d32", "#ef6c00", "#6a1b9a")


def _plain(text: str) -> str:
    """Text from the data (reasons, machine ids) as plotly shows it: plotly reads a subset
    of HTML in labels (links, styles), so the markup characters are sent as entities."""
    return html.escape(text, quote=False)


def _layout(**extra: Any) -> dict[str, Any]:
    base = {
        "font": {"family": FONT, "size": 13},
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#fafafa",
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
    }
    base.update(extra)
    return base


def kpi_trend(rows: Sequence[dict[str, Any]], lang: Lang) -> Figure:
    """OEE, availability, performance and quality per day, as percentages."""
    days = [r["day"] for r in rows]
    traces = []
    for key, colour in zip(TREND_KPIS, TREND_COLOURS, strict=True):
        values = [None if r.get(key) is None else round(r[key] * 100, 1) for r in rows]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": kpi_name(key, lang),
                "x": days,
                "y": values,
                "line": {"color": colour, "width": 3 if key == "oee" else 1.5},
                "hovertemplate": "%{x}<br>%{y:.1f}%<extra>" + kpi_name(key, lang) + "</extra>",
            }
        )
    return {
        "data": traces,
        "layout": _layout(
            xaxis={"type": "date", "tickformat": "%Y-%m-%d"},
            yaxis={"ticksuffix": "%", "rangemode": "tozero"},
        ),
    }


def oee_waterfall(row: dict[str, Any], lang: Lang) -> Figure | None:
    """Hours from planned time with data down to fully productive time, one bar per loss
    of ``Losses.as_steps()`` (assessor.domain.losses_view: cut short where a KPI is flagged)."""
    w = waterfall(row)
    if w is None:
        return None
    h = 3600.0
    names = [loss_name(key, lang) for key, _ in w.steps] + [loss_name(w.total[0], lang)]
    values = [round(v / h, 2) for _, v in w.steps] + [round(w.total[1] / h, 2)]
    measures = ["absolute"] + ["relative"] * (len(w.steps) - 1) + ["total"]
    return {
        "data": [
            {
                "type": "waterfall",
                "orientation": "v",
                "x": names,
                "y": values,
                "measure": measures,
                "text": [f"{abs(v):,.1f} h" for v in values],
                "textposition": "outside",
                "connector": {"line": {"color": "#9e9e9e"}},
                "decreasing": {"marker": {"color": "#c62828"}},
                "increasing": {"marker": {"color": "#2e7d32"}},
                "totals": {"marker": {"color": "#1a237e"}},
                "hovertemplate": "%{x}: %{y:,.1f} h<extra></extra>",
            }
        ],
        "layout": _layout(
            yaxis={"title": {"text": t("hours", lang)}, "rangemode": "tozero"},
            xaxis={"type": "category"},
            showlegend=False,
        ),
    }


def _local(ts: float, tz: ZoneInfo) -> str:
    # plotly draws naive date strings as they are: the factory's wall clock
    return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def state_timeline(
    timeline: Timeline, tz_name: str, lang: Lang, reasons: Mapping[tuple[str, str, float], str] | None = None
) -> Figure:
    """One horizontal bar per episode (base = start, length = duration), a trace per state;
    ``reasons``: (line, machine, episode start) -> the stop's reasons, shown on hover."""
    tz = ZoneInfo(tz_name)
    by_state: dict[str, dict[str, list[Any]]] = {}
    rows = []
    for m in timeline.machines:
        label = _plain(f"{m.line} / {m.machine}")
        rows.append(label)
        for ep in m.episodes:
            d = by_state.setdefault(ep.state, {"base": [], "x": [], "y": [], "text": []})
            d["base"].append(_local(ep.start, tz))
            d["x"].append(round((ep.end - ep.start) * 1000))
            d["y"].append(label)
            why = (reasons or {}).get((m.line, m.machine, ep.start))
            span = f"{_local(ep.start, tz)[:16]} – {_local(ep.end, tz)[11:16]}"
            d["text"].append(f"{span}<br>{_plain(why)}" if why else span)
    traces = []
    for state, colour in STATE_COLOURS.items():
        d = by_state.get(state)
        if not d:
            continue
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": _plain(state_name(state, lang)),
                "base": d["base"],
                "x": d["x"],
                "y": d["y"],
                "customdata": d["text"],
                "marker": {"color": colour},
                "hovertemplate": "%{y}<br>%{customdata}<extra>" + state_name(state, lang) + "</extra>",
            }
        )
    return {
        "data": traces,
        "layout": _layout(
            barmode="overlay",
            height=max(220, 60 + 40 * len(rows)),
            xaxis={"type": "date", "tickformat": "%m-%d %H:%M"},
            yaxis={"type": "category", "categoryorder": "array", "categoryarray": rows[::-1]},
            margin={"l": 140, "r": 20, "t": 30, "b": 50},
        ),
    }


def downtime_pareto(bars: Sequence[ParetoBar], lang: Lang) -> Figure:
    names = [_plain(b.reason) for b in bars]
    return {
        "data": [
            {
                "type": "bar",
                "name": t("downtime_pareto", lang),
                "x": names,
                "y": [round(b.seconds / 3600.0, 2) for b in bars],
                "marker": {"color": "#c62828"},
                "hovertemplate": "%{x}: %{y:,.1f} h<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": t("cumulative", lang),
                "x": names,
                "y": [round(b.cumulative * 100, 1) for b in bars],
                "yaxis": "y2",
                "line": {"color": "#1a237e"},
                "text": [fmt_pct(b.cumulative) for b in bars],
                "hovertemplate": "%{x}: %{text}<extra></extra>",
            },
        ],
        "layout": _layout(
            yaxis={"title": {"text": t("hours", lang)}, "rangemode": "tozero"},
            yaxis2={"overlaying": "y", "side": "right", "range": [0, 105], "ticksuffix": "%"},
            xaxis={"type": "category"},
            margin={"l": 60, "r": 60, "t": 30, "b": 80},
        ),
    }
