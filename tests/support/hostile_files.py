"""Small files that ask a reader for a great deal: XLSX whose sheet declares the whole
Excel grid, whose cells span it, or whose sheet inflates a thousandfold, and registry
YAML whose aliases multiply (the "billion laughs"). Each is made here, in memory."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Sequence

import openpyxl

SHEET = "xl/worksheets/sheet1.xml"
GOOD_LOG_ROWS: list[list[object]] = [
    ["date", "line", "hours_worked", "workers", "produced", "defects"],
    ["2022-09-01", "line-1", 7.5, 3, 900, 12],
    ["2022-09-02", "line-1", 7, 3, 840, 7],
    ["2022-09-05", "line-1", 8, 4, 1000, 10],
]


def xlsx(rows: Sequence[Sequence[object]] = GOOD_LOG_ROWS) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(list(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rewrite_sheet(data: bytes, write: Callable[[zipfile.ZipFile, bytes], None]) -> bytes:
    """The archive again, with sheet1.xml written by ``write`` from its old text."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == SHEET:
                write(z, body)
            else:
                z.writestr(info.filename, body)
    return out.getvalue()


def declaring(ref: str, data: bytes | None = None) -> bytes:
    """A workbook whose sheet1.xml declares ``<dimension ref=REF/>`` over its real cells,
    with an empty row element at the declared last row (as a row formatted far down
    leaves one): a reader that trusts the dimension pads every row in between to the
    declared width."""
    last_row = re.fullmatch(r"[A-Z]+[0-9]+:[A-Z]+([0-9]+)", ref)
    assert last_row, ref

    def write(z: zipfile.ZipFile, body: bytes) -> None:
        new, n = re.subn(rb'<dimension ref="[^"]*" ?/>', f'<dimension ref="{ref}"/>'.encode(), body)
        assert n == 1, body[:300]
        new, n = re.subn(rb"</sheetData>", f'<row r="{last_row[1]}"/></sheetData>'.encode(), new)
        assert n == 1, body[:300]
        z.writestr(SHEET, new)

    return _rewrite_sheet(xlsx() if data is None else data, write)


def spanning(rows: int) -> bytes:
    """A workbook of ``rows`` real rows that each hold a cell in A and one in XFD."""
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>x</t></is></c><c r="XFD{r}"><v>1</v></c></row>'
        for r in range(1, rows + 1)
    )
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:XFD{rows}"/><sheetData>{cells}</sheetData></worksheet>'
    )
    return _rewrite_sheet(xlsx(), lambda z, _: z.writestr(SHEET, sheet))


def deflate_bomb(inflated_mib: int) -> bytes:
    """A good workbook whose sheet1.xml ends in ``inflated_mib`` MiB of blanks: about a
    thousandth of that once deflated."""

    def write(z: zipfile.ZipFile, body: bytes) -> None:
        blanks = b" " * 2**20
        with z.open(SHEET, "w") as member:
            member.write(body.replace(b"</worksheet>", b""))
            for _ in range(inflated_mib):
                member.write(blanks)
            member.write(b"</worksheet>")

    return _rewrite_sheet(xlsx(), write)


def billion_laughs(levels: int = 9) -> str:
    """YAML of ``levels`` lists of nine aliases to the list before: 9**levels values."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = [f"{names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [" + ", ".join([f"*{names[i - 1]}"] * 9) + "]")
    return "\n".join(lines) + "\n"
