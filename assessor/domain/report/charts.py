"""Charts of the factory report, drawn with reportlab.graphics so they are vector
graphics inside the PDF and use the same embedded Korean font as the text.

- ``gain_index_chart``: before and after of every KPI on one scale (before = 100), the
  after bar with the 95% interval of the improvement as a whisker and the programme
  reference as a dashed mark. KPIs have different units (units/h, %, kWh/unit), so an
  index is the only common axis; the interval of after/before is exactly the bootstrap
  interval of the improvement rate mapped onto that axis.
- ``trend_chart``: monthly values of one KPI over the after period, against the before value.
- ``oee_chart``: availability, performance, quality and OEE of the measured periods.
- ``waterfall_chart``: the OEE waterfall of the six big losses (the factory page's bars).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors

from assessor.domain.gains import Direction, KpiGain, MonthPoint
from assessor.domain.labels import Lang, fmt_kpi, kpi_name, loss_name, word
from assessor.domain.losses_view import waterfall
from assessor.domain.report.model import Period
from assessor.domain.report.pdf_common import AFTER_COLOR, BEFORE_COLOR, FONT, INK, MUTED, RECENT_COLOR, RULE
from assessor.domain.report.text import tr

_LEFT, _BOTTOM, _TOP = 34.0, 34.0, 22.0


def _nice_top(value: float, step: float) -> float:
    return max(step, math.ceil(value / step) * step)


def _text(x: float, y: float, s: str, size: float = 7, anchor: str = "middle", color: object = INK) -> String:
    return String(x, y, s, fontName=FONT, fontSize=size, textAnchor=anchor, fillColor=color)


def _y_axis(d: Drawing, top: float, step: float, height: float, width: float, fmt: str = "{:,.0f}") -> None:
    plot_h = height - _BOTTOM - _TOP
    v = 0.0
    while v <= top + 1e-9:
        y = _BOTTOM + plot_h * v / top
        d.add(Line(_LEFT, y, width - 6, y, strokeColor=RULE, strokeWidth=0.25))
        d.add(_text(_LEFT - 3, y - 2.5, fmt.format(v), 6.5, "end", MUTED))
        v += step


def _index_bounds(g: KpiGain) -> tuple[float, float] | None:
    """The 95% interval of the improvement as after/before x 100."""
    if g.ci95_low is None or g.ci95_high is None:
        return None
    if g.direction is Direction.HIGHER:
        return 100 * (1 + g.ci95_low), 100 * (1 + g.ci95_high)
    return 100 * (1 - g.ci95_high), 100 * (1 - g.ci95_low)


def _reference_index(g: KpiGain) -> float | None:
    if g.reference is None:
        return None
    r = g.reference.improvement
    return 100 * (1 + r) if g.direction is Direction.HIGHER else 100 * (1 - r)


def gain_index_chart(
    gains: Sequence[KpiGain], lang: Lang, width: float, height: float = 190
) -> Drawing | None:
    shown = [g for g in gains if g.before and g.after is not None]
    if not shown:
        return None
    d = Drawing(width, height)
    index = [100 * g.after / g.before for g in shown if g.before and g.after is not None]
    highs = [b[1] for g in shown if (b := _index_bounds(g))] + [
        r for g in shown if (r := _reference_index(g))
    ]
    top = _nice_top(max([100.0, *index, *highs]) * 1.08, 50)
    plot_h = height - _BOTTOM - _TOP

    def y(v: float) -> float:
        return _BOTTOM + plot_h * max(0.0, min(v, top)) / top

    _y_axis(d, top, 50, height, width)
    group = (width - _LEFT - 6) / len(shown)
    bar = min(22.0, group / 3.2)
    for i, (g, after_index) in enumerate(zip(shown, index, strict=True)):
        cx = _LEFT + group * (i + 0.5)
        d.add(Rect(cx - bar, _BOTTOM, bar, y(100) - _BOTTOM, fillColor=BEFORE_COLOR, strokeColor=None))
        d.add(Rect(cx, _BOTTOM, bar, y(after_index) - _BOTTOM, fillColor=AFTER_COLOR, strokeColor=None))
        bounds = _index_bounds(g)
        label_at = max(after_index, bounds[1] if bounds else after_index)
        d.add(_text(cx + bar / 2, y(label_at) + 3, f"{after_index:,.0f}", 6.5))
        if bounds is not None:
            wx = cx + bar / 2
            d.add(Line(wx, y(bounds[0]), wx, y(bounds[1]), strokeColor=INK, strokeWidth=0.8))
            for v in bounds:
                d.add(Line(wx - 3, y(v), wx + 3, y(v), strokeColor=INK, strokeWidth=0.8))
        if (ref := _reference_index(g)) is not None:
            d.add(
                Line(
                    cx - 2,
                    y(ref),
                    cx + bar + 2,
                    y(ref),
                    strokeColor=colors.HexColor("#b42318"),
                    strokeWidth=1,
                    strokeDashArray=[2, 1.5],
                )
            )
        d.add(_text(cx, _BOTTOM - 10, kpi_name(g.kpi, lang), 6.3))
    _legend(d, width, height, [(BEFORE_COLOR, word("before", lang)), (AFTER_COLOR, word("after", lang))])
    d.add(_text(_LEFT, height - 9, tr("chart_index", lang), 7, "start", MUTED))
    return d


def _legend(d: Drawing, width: float, height: float, items: Sequence[tuple[object, str]]) -> None:
    x = width - 6
    for color, label in reversed(items):
        x -= 6 + len(label) * 5.5
        d.add(Rect(x - 9, height - 20, 7, 7, fillColor=color, strokeColor=None))
        d.add(_text(x, height - 19.5, label, 7, "start"))
        x -= 12


def trend_chart(
    kpi: str,
    points: Sequence[MonthPoint],
    before: float | None,
    lang: Lang,
    width: float,
    height: float = 130,
) -> Drawing | None:
    values = [(p.label, p.value) for p in points if p.value is not None]
    # one month is the after value of the KPI table again, not a trend
    if len(values) < 2:
        return None
    d = Drawing(width, height)
    scale = 100.0 if fmt_kpi(kpi, 1.0).endswith("%") else 1.0
    all_v = [v * scale for _, v in values] + ([before * scale] if before is not None else [])
    step = _step(max(all_v))
    top = _nice_top(max(all_v) * 1.1, step)
    plot_h = height - _BOTTOM - _TOP
    plot_w = width - _LEFT - 12

    def y(v: float) -> float:
        return _BOTTOM + plot_h * v * scale / top

    unit = "%" if scale == 100.0 else ""
    _y_axis(d, top, step, height, width, ("{:,.1f}" if step < 1 else "{:,.0f}") + unit)
    xs = [_LEFT + plot_w * (i + 0.5) / len(values) for i in range(len(values))]
    if before is not None:
        d.add(
            Line(
                _LEFT,
                y(before),
                width - 6,
                y(before),
                strokeColor=BEFORE_COLOR,
                strokeWidth=1.2,
                strokeDashArray=[4, 2],
            )
        )
    if values:
        coords = [c for x, (_, v) in zip(xs, values, strict=True) for c in (x, y(v))]
        d.add(PolyLine(coords, strokeColor=AFTER_COLOR, strokeWidth=1.5))
    for x, (label, v) in zip(xs, values, strict=True):
        d.add(Rect(x - 2, y(v) - 2, 4, 4, fillColor=AFTER_COLOR, strokeColor=None))
        d.add(_text(x, y(v) + 4, fmt_kpi(kpi, v), 6.3))
        d.add(_text(x, _BOTTOM - 10, label, 6.3, color=MUTED))
    title = f"{tr('chart_trend', lang)}: {kpi_name(kpi, lang)}"
    if before is not None:
        title += f" ({tr('chart_before_line', lang)} {fmt_kpi(kpi, before)})"
    d.add(_text(_LEFT, height - 9, title, 7, "start", MUTED))
    return d


def _step(high: float) -> float:
    """A round tick step giving four to eight ticks up to ``high``."""
    if high <= 0:
        return 1.0
    raw = high / 5
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


_OEE_PARTS = ("availability", "performance", "quality", "oee")
_PERIOD_COLORS = {"before": BEFORE_COLOR, "after": AFTER_COLOR, "recent_30d": RECENT_COLOR}


def period_label(p: Period, lang: Lang) -> str:
    name = tr("recent_30d", lang) if p.key == "recent_30d" else word(p.key, lang)
    return f"{name} ({p.window.start.isoformat()} ~ {p.window.end.isoformat()})"


def oee_chart(periods: Sequence[Period], lang: Lang, width: float, height: float = 170) -> Drawing | None:
    if not periods:
        return None
    d = Drawing(width, height)
    data = [[100 * (p.kpis.get(k) or 0.0) for k in _OEE_PARTS] for p in periods]
    chart = VerticalBarChart()
    chart.x, chart.y = _LEFT, _BOTTOM
    chart.width, chart.height = width * 0.62 - _LEFT, height - _BOTTOM - _TOP
    chart.data = data
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = _nice_top(max(100.0, *(v for row in data for v in row)), 20)
    chart.valueAxis.valueStep = 20
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 6.5
    chart.valueAxis.labelTextFormat = "%d%%"
    chart.categoryAxis.categoryNames = [kpi_name(k, lang) for k in _OEE_PARTS]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6.5
    chart.barLabelFormat = "%.1f"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 5.5
    chart.barLabels.nudge = 5
    chart.groupSpacing = 8
    for i, p in enumerate(periods):
        chart.bars[i].fillColor = _PERIOD_COLORS.get(p.key, MUTED)
        chart.bars[i].strokeColor = None
    d.add(chart)
    legend = Legend()
    legend.x, legend.y = width * 0.64, height - _TOP - 4
    legend.fontName, legend.fontSize = FONT, 7
    legend.alignment = "right"
    legend.columnMaximum = 4
    legend.colorNamePairs = [(_PERIOD_COLORS.get(p.key, MUTED), period_label(p, lang)) for p in periods]
    d.add(legend)
    d.add(_text(_LEFT, height - 9, tr("chart_oee", lang), 7, "start", MUTED))
    return d


def _label_lines(text: str, per_line: int) -> list[str]:
    """A bar label in at most two lines, broken at a space near the middle."""
    if len(text) <= per_line or " " not in text:
        return [text]
    cut = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - len(text) / 2))
    return [text[:cut], text[cut + 1 :]]


def waterfall_chart(row: dict[str, Any], lang: Lang, width: float, height: float = 170) -> Drawing | None:
    """The OEE waterfall of a KPI row in hours: known planned time, each of the six big
    losses as a step down, the time that remains (assessor.domain.losses_view, the same bars as
    the factory page)."""
    w = waterfall(row)
    if w is None:
        return None
    h = 3600.0
    bars: list[tuple[str, float, float]] = []  # (label, bottom, top) in hours
    level = 0.0
    for i, (key, seconds) in enumerate(w.steps):
        value = seconds / h
        low, high = (0.0, value) if i == 0 else sorted((level, level + value))
        level = value if i == 0 else level + value
        bars.append((loss_name(key, lang), low, high))
    bars.append((loss_name(w.total[0], lang), 0.0, w.total[1] / h))
    top = max(high for _, _, high in bars)
    step = _step(top)
    top = _nice_top(top * 1.12, step)
    d = Drawing(width, height)
    _y_axis(d, top, step, height, width, "{:,.0f}" if step >= 1 else "{:,.1f}")
    plot_h = height - _BOTTOM - _TOP
    group = (width - _LEFT - 6) / len(bars)
    bar_w = min(34.0, group * 0.6)

    def y(v: float) -> float:
        return _BOTTOM + plot_h * max(0.0, min(v, top)) / top

    for i, (label, low, high) in enumerate(bars):
        cx = _LEFT + group * (i + 0.5)
        # the known time and what remains in blue, the losses in red
        color = AFTER_COLOR if i in (0, len(bars) - 1) else colors.HexColor("#c62828")
        bar_h = max(0.5, y(high) - y(low))
        d.add(Rect(cx - bar_w / 2, y(low), bar_w, bar_h, fillColor=color, strokeColor=None))
        d.add(_text(cx, y(high) + 3, f"{high - low:,.1f}", 6.3))
        for j, part in enumerate(_label_lines(label, 9 if lang == "ko" else 14)):
            d.add(_text(cx, _BOTTOM - 9 - 7.5 * j, part, 6.0))
    d.add(_text(_LEFT, height - 9, tr("chart_waterfall", lang), 7, "start", MUTED))
    return d
