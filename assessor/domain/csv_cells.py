"""CSV cells that a spreadsheet will not run as formulas.

Company names, regions and notes come from registry files and edge boxes; Excel and
LibreOffice read a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) as a formula, which can fetch URLs or run commands when the file is opened.
Such a cell gets a leading apostrophe, the spreadsheet convention for "this is text".
Numbers the reports format themselves (``-3.5``, ``+12.0%``, ``+38.5% ▲``) are left as
they are, so columns of figures stay figures.
"""

from __future__ import annotations

import re

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FIGURE = re.compile(r"[+-]?[0-9][0-9,]*(\.[0-9]+)?(e[+-]?[0-9]+)?%?( ?[▲▼✔])*", re.IGNORECASE)


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_TRIGGERS) and not _FIGURE.fullmatch(text):
        return "'" + text
    return text


def safe_row(values: list[object]) -> list[str]:
    return [safe_cell(v) for v in values]
