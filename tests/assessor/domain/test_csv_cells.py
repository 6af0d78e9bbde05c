"""CSV cells a spreadsheet would run as formulas are made text; figures stay figures."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assessor.domain.csv_cells import safe_cell


def test_formula_triggers_become_text() -> None:
    evil_cells = (
        '=HYPERLINK("http://e.example/","x")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
    )
    for evil in evil_cells:
        assert safe_cell(evil) == "'" + evil


def test_figures_and_plain_text_are_left_alone() -> None:
    for fine in ("-3.5", "+12.0%", "+38.5% ▲", "-30.8% ▼", "1,234", "1.5e-3", "데모정밀", "", "a=b"):
        assert safe_cell(fine) == fine


@given(st.text())
def test_no_cell_starts_a_formula_unless_it_is_a_figure(text: str) -> None:
    out = safe_cell(text)
    if out.startswith(("=", "@", "\t", "\r")):
        raise AssertionError(out)
    assert out == text or out == "'" + text
