"""Every baseline problem also has a Korean message (RowError.message_ko), for Korean pages.

One bad file per message of assessor/domain/baseline.py; the English message stays as it was."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest

from assessor.domain import baseline
from assessor.domain.baseline import BaselineError, RowError, parse_log
from assessor.domain.models import Product
from assessor.registry import parse_registry
from tests.support.registry_samples import TWO_FACTORIES_YAML

# demo-factory: line-1 (1라인), line-2 (2라인); products A-100 (브래킷) and B-200
FACTORY = dataclasses.replace(
    parse_registry(TWO_FACTORIES_YAML)[0],
    products=(Product("A-100", 20.0, "브래킷"), Product("B-200", 45.0)),
)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
HEADER = "date,line,hours_worked,workers,produced,defects"
ORDERS = f"{HEADER},orders_on_time,orders_total"
PRODUCTS = f"{HEADER},품목"


def csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def xlsx(*rows: list[object]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def patched(data: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    """An XLSX with one part of its zip rewritten, for damage openpyxl would not write."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            part = zin.read(item.filename)
            zout.writestr(item, change(part) if item.filename == member else part)
    return out.getvalue()


XLSX_HEADER: list[object] = ["날짜", "라인", "가동시간", "인원", "생산량", "불량"]

#: (case, file name, file, start of the English message it must produce)
CASES: list[tuple[str, str, bytes, str]] = [
    ("not-text", "log.csv", b"\xff\xff\xff\x00\x81", "cannot read the text"),
    ("bad-csv", "log.csv", csv(HEADER, "x" * 200_000), "not a readable CSV file"),
    ("bad-xlsx-zip", "log.xlsx", b"PK\x03\x04 not really a zip", "not a readable .xlsx file:"),
    (
        "bad-xlsx-sheet",
        "log.xlsx",
        patched(xlsx(XLSX_HEADER), "xl/worksheets/sheet1.xml", lambda _: b"<worksheet><sheetData><row><c"),
        "not a readable .xlsx file:",
    ),
    (
        "no-worksheet",
        "log.xlsx",
        patched(
            xlsx(XLSX_HEADER), "xl/workbook.xml", lambda x: re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", x)
        ),
        "the workbook has no worksheet",
    ),
    ("xls", "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old Excel 97-2003"),
    ("not-zip", "renamed.xlsx", b"date,line\n", "not a readable .xlsx file (it is not a zip archive)"),
    ("empty", "log.csv", b"", "the file is empty"),
    ("no-rows", "log.csv", csv(HEADER), "the file has a header but no data rows"),
    ("same-field", "log.csv", csv(f"{HEADER},불량"), "columns 'defects' and '불량' both mean defects"),
    ("pair-column", "log.csv", csv(f"{HEADER},orders_total"), "orders_total needs a column orders_on_time"),
    ("missing-columns", "log.csv", csv("date,line,produced"), "missing required column(s)"),
    ("missing-value", "log.csv", csv(HEADER, "2022-09-01,line-1,,3,100,1"), "value is missing"),
    (
        "pair-value",
        "log.csv",
        csv(ORDERS, "2022-09-01,line-1,8,3,100,1,4,"),
        "value is missing: orders_on_time",
    ),
    ("negative", "log.csv", csv(HEADER, "2022-09-01,line-1,8,-1,100,1"), "must not be negative"),
    ("range", "log.csv", csv(HEADER, "2022-09-01,line-1,25,3,100,1"), "must be between 0 and 24"),
    ("bool", "log.xlsx", xlsx(XLSX_HEADER, ["2022-09-01", "line-1", 8, True, 100, 1]), "expected a number"),
    (
        "unusable-number",
        "log.xlsx",
        patched(
            xlsx(XLSX_HEADER, ["2022-09-01", "line-1", 8, 12345678901, 100, 1]),
            "xl/worksheets/sheet1.xml",
            lambda x: x.replace(b"<v>12345678901</v>", b"<v>99999999999999999999999</v>"),
        ),
        "not a usable number",
    ),
    ("not-number", "log.csv", csv(HEADER, "2022-09-01,line-1,8,3,lots,1"), "not a number: 'lots'"),
    ("not-whole", "log.csv", csv(HEADER, "2022-09-01,line-1,8,3,10.5,1"), "expected a whole number"),
    (
        "time-of-day",
        "log.xlsx",
        xlsx(XLSX_HEADER, [dt.datetime(2022, 9, 3, 14), "line-1", 8, 3, 100, 1]),
        "expected a date without a time of day",
    ),
    (
        "fraction-date",
        "log.xlsx",
        xlsx(XLSX_HEADER, [44809.5, "line-1", 8, 3, 100, 1]),
        "not a date: 44809.5",
    ),
    ("invalid-date", "log.csv", csv(HEADER, "2022-13-01,line-1,8,3,100,1"), "not a valid date"),
    ("not-date", "log.csv", csv(HEADER, "yesterday,line-1,8,3,100,1"), "not a date: 'yesterday'; expected"),
    (
        "hours-date",
        "log.xlsx",
        xlsx(XLSX_HEADER, ["2022-09-01", "line-1", dt.date(2022, 9, 1), 3, 100, 1]),
        "expected hours, got a date",
    ),
    ("unknown-line", "log.csv", csv(HEADER, "2022-09-01,line-9,8,3,100,1"), "unknown line 'line-9'"),
    ("defects-exceed", "log.csv", csv(HEADER, "2022-09-01,line-1,8,3,100,101"), "defects (101) exceed"),
    ("on-time-exceed", "log.csv", csv(ORDERS, "2022-09-01,line-1,8,3,100,1,5,4"), "orders on time (5)"),
    (
        "duplicate",
        "log.csv",
        csv(HEADER, "2022-09-01,line-1,8,3,100,1", "2022-09-01,1라인,8,3,100,1"),
        "2022-09-01 of line 'line-1' is already in row 2",
    ),
    (
        "unknown-product",
        "log.csv",
        csv(PRODUCTS, "2022-09-01,line-1,8,3,100,1,Z-999"),
        "unknown product 'Z-999'",
    ),
    (
        "duplicate-product",
        "log.csv",
        csv(PRODUCTS, "2022-09-01,line-1,4,3,100,1,A-100", "2022-09-01,line-1,4,3,100,1,브래킷"),
        "2022-09-01 of line 'line-1', product 'A-100' is already in row 2",
    ),
    (
        "day-hours",
        "log.csv",
        csv(PRODUCTS, "2022-09-01,line-1,20,3,100,1,A-100", "2022-09-01,line-1,8,3,100,1,B-200"),
        "the product rows of 2022-09-01, line 'line-1' add up to 28 hours worked",
    ),
    # order logs (docs/targets.md, "Lead time")
    (
        "not-instant",
        "orders.csv",
        csv("주문번호,시작일시,완료일시", "A,어제,2026-02-20 09:00"),
        "not a date and time",
    ),
    (
        "no-time",
        "orders.csv",
        csv("order_id,start,finish", "A,2026-02-20,2026-02-20 09:00"),
        "needs the time",
    ),
    (
        "finish-before-start",
        "orders.csv",
        csv("order_id,start,finish", "A,2026-02-20 10:00,2026-02-20 09:00"),
        "the order finishes (2026-02-20 09:00) before it starts (2026-02-20 10:00)",
    ),
]


def refused(name: str, data: bytes) -> list[RowError]:
    with pytest.raises(BaselineError) as info:
        parse_log(data, name, factory=FACTORY)
    return info.value.errors


@pytest.mark.parametrize(("name", "data", "english"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_error_has_a_korean_message(name: str, data: bytes, english: str):
    errors = refused(name, data)
    assert any(e.message.startswith(english) for e in errors), errors
    for e in errors:
        assert e.message_ko.strip() and HANGUL.search(e.message_ko), e


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Names of the message functions of assessor.domain.baseline called while the test runs."""
    called: set[str] = set()

    def spy(name: str, fn: Callable[..., baseline._Msg]) -> Callable[..., baseline._Msg]:
        def wrapper(*args: object) -> baseline._Msg:
            called.add(name)
            return fn(*args)

        return wrapper

    for name in dir(baseline):
        if name.startswith("_msg_"):
            monkeypatch.setattr(baseline, name, spy(name, getattr(baseline, name)))
    yield called


def test_the_cases_reach_every_message(calls: set[str]):
    for _, name, data, _ in CASES:
        refused(name, data)
    assert calls == {name for name in dir(baseline) if name.startswith("_msg_")}


def test_every_error_site_goes_through_a_message_function():
    """So the test above, which counts message functions, counts every site."""
    source = Path(baseline.__file__).read_text(encoding="utf-8")
    sites = re.findall(r"^.*\b(?:RowError|_Bad|_refused|_error|fail)\(.*$", source, re.MULTILINE)
    for line in sites:
        if re.match(r"\s*(def|class) ", line) or "RowError(row, column, msg.en, msg.ko)" in line:
            continue
        assert "_msg_" in line or "exc.msg" in line or "msg)" in line, line


def test_korean_messages_read_naturally():
    by_case = {case: refused(name, data) for case, name, data, _ in CASES}
    assert by_case["missing-columns"][0].message_ko == "필수 열이 없습니다: 작업시간, 작업인원, 불량수량"
    assert by_case["defects-exceed"][0].message_ko == "불량수량(101)이 생산수량(100)보다 많습니다."
    assert by_case["duplicate"][0].message_ko == "2022-09-01 'line-1' 라인의 기록이 이미 2행에 있습니다."
    assert by_case["unknown-line"][0].message_ko == (
        "등록되지 않은 라인입니다: 'line-9'. 공장 'demo-factory'의 라인: line-1, line-2"
    )
    assert by_case["negative"][0].message_ko == "음수일 수 없습니다 (입력값 '-1')."
    # the column stays as written in the file, whatever the language
    assert [(e.column, e.message_ko) for e in by_case["same-field"]] == [
        ("불량", "같은 항목(불량수량)을 뜻하는 열이 두 개입니다: 'defects', '불량'. 하나만 남기세요.")
    ]


def test_korean_field_names_are_headers_the_reader_accepts():
    for field, name in baseline._FIELD_KO.items():
        assert baseline._HEADER_FIELD[baseline._normalise(name)] == field
