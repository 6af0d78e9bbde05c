"""Fonts, styles, tables and page frame shared by the PDF reports.

Every piece of text is set in Nanum Gothic, embedded as a TrueType subset: a PDF that
only names a font shows Hangul as empty boxes on a machine without it, and a
Technopark files these reports for years.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

FONT = "NanumGothic"
FONT_BOLD = "NanumGothicBold"
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/nanum"),
    Path("/usr/share/fonts/nanum"),
    Path("/usr/local/share/fonts/nanum"),
    Path("/usr/local/share/fonts"),
)
PAGE = A4
MARGIN = 16 * mm
TEXT_WIDTH = PAGE[0] - 2 * MARGIN

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#52606d")
RULE = colors.HexColor("#9aa5b1")
HEAD_BG = colors.HexColor("#e4e7eb")
GOOD = colors.HexColor("#1b7f3b")
BAD = colors.HexColor("#b42318")
BEFORE_COLOR = colors.HexColor("#9aa5b1")
AFTER_COLOR = colors.HexColor("#2f6fbd")
RECENT_COLOR = colors.HexColor("#e0a030")

# reportlab keeps document state in module globals; one render at a time keeps the
# API's worker threads from interleaving two documents
RENDER_LOCK = threading.Lock()


class ReportFontError(RuntimeError):
    pass


def _font_file(name: str) -> Path:
    for d in FONT_DIRS:
        if (d / name).is_file():
            return d / name
    raise ReportFontError(
        f"font {name} not found in {', '.join(str(d) for d in FONT_DIRS)}: install Debian's fonts-nanum"
    )


@functools.cache
def register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(_font_file("NanumGothic.ttf"))))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_font_file("NanumGothicBold.ttf"))))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


@functools.cache
def styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13, textColor=INK)
    cell = ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10, textColor=MUTED),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=17, leading=23),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=11, leading=15, textColor=MUTED),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=12,
            leading=16,
            spaceBefore=10,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=10,
            leading=13,
            spaceBefore=6,
            spaceAfter=2,
            keepWithNext=1,
        ),
        "cell": cell,
        "cell_bold": ParagraphStyle("cell_bold", parent=cell, fontName=FONT_BOLD),
        "cell_right": ParagraphStyle("cell_right", parent=cell, alignment=2),
        "good": ParagraphStyle("good", parent=cell, textColor=GOOD),
        "bad": ParagraphStyle("bad", parent=cell, textColor=BAD),
    }


def _has_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def para(text: str, style: str = "body") -> Paragraph:
    """A paragraph of plain text (names from the registry may hold '<' or '&'); a
    newline starts a new line, which a paragraph would otherwise fold into a space."""
    st = styles()[style]
    if _has_hangul(text) and st.fontSize < 9:
        # Korean may break between any two syllables, and in narrow table cells must,
        # or a long company name runs over the border; English keeps whole words
        st = ParagraphStyle(f"{st.name}_cjk", parent=st, wordWrap="CJK")
    return Paragraph("<br/>".join(escape(part) for part in text.split("\n")), st)


def cell(text: str, style: str = "cell") -> Paragraph:
    return para(text, style)


def table(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    head_rows: int = 1,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    """A ruled table; plain strings become cell paragraphs so long text wraps."""
    data = [
        [cell(v, "cell_bold" if r < head_rows else "cell") if isinstance(v, str) else v for v in row]
        for r, row in enumerate(rows)
    ]
    t = Table(data, colWidths=list(widths), repeatRows=head_rows, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if head_rows:
        style.append(("BACKGROUND", (0, 0), (-1, head_rows - 1), HEAD_BG))
    t.setStyle(TableStyle([*style, *extra]))
    return t


def facts(pairs: Sequence[tuple[str, str]], width: float = TEXT_WIDTH) -> Table:
    """A two-column 'label: value' block without a head row."""
    return table(
        [[cell(k, "cell_bold"), cell(v)] for k, v in pairs],
        [width * 0.28, width * 0.72],
        head_rows=0,
    )


def _footer(text: str) -> Callable[[Canvas, Any], None]:
    def draw(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 9 * mm, text)
        canvas.drawRightString(PAGE[0] - MARGIN, 9 * mm, str(doc.page))
        canvas.restoreState()

    return draw


def build_pdf(story: list[Flowable], *, title: str, subject: str, footer: str, lang: str) -> bytes:
    register_fonts()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=title,
        subject=subject,
        author="factorylens assessor",
        creator="factorylens assessor",
        lang=lang,
    )
    on_page = _footer(footer)
    with RENDER_LOCK:
        doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()
