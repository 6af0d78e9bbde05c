"""Baseline logs: CSV (UTF-8 with BOM, CP949, comma or semicolon) and XLSX read as factories
write them; a file with any bad row is refused whole, every problem by row and column."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessor.domain.baseline import BaselineError, RowError, parse_baseline
from assessor.domain.models import BaselineDay, Factory
from assessor.registry import RegistryStore, UnknownFactoryError, parse_registry
from assessor.services.inputs import import_baseline
from tests.support.registry_samples import TWO_FACTORIES_YAML

CASES = Path(__file__).parents[2] / "testcases" / "baseline"
FACTORY: Factory = parse_registry(TWO_FACTORIES_YAML)[0]  # demo-factory: line-1 (1라인), line-2 (2라인)


def row(day: str, line: str, hours: float, workers: float, produced: int, defects: int, *rest) -> BaselineDay:
    return BaselineDay(
        "demo-factory", dt.date.fromisoformat(day), line, hours, workers, produced, defects, *rest
    )


def parse(data: bytes, name: str = "log.csv") -> list[BaselineDay]:
    return parse_baseline(data, name, factory=FACTORY)


def refused(data: bytes, name: str = "log.csv") -> list[RowError]:
    with pytest.raises(BaselineError) as info:
        parse(data, name)
    return info.value.errors


def test_good_csv_utf8_with_bom():
    assert parse((CASES / "good_utf8_bom.csv").read_bytes()) == [
        row("2022-09-01", "line-1", 8.0, 3.0, 1234, 12, 55.5, 4, 5),
        row("2022-09-02", "line-1", 7.5, 3.0, 1180, 9, 52.0, 5, 5),
        row("2022-09-02", "line-2", 8.0, 2.0, 640, 0, 31.25),
        # 1라인 is line-1's name; 8:30 is hours and minutes; "-" is Excel's zero
        row("2022-09-05", "line-1", 8.5, 2.5, 1302, 15, 0.0, 3, 3),
    ]


def test_good_csv_cp949_semicolons_title_above_header():
    assert parse((CASES / "good_cp949.csv").read_bytes()) == [
        row("2022-09-01", "line-1", 8.0, 3.0, 1234, 12),
        row("2022-09-02", "line-2", 6.0, 2.0, 1050, 7),
        row("2022-09-05", "line-1", 8.0, 3.0, 1190, 0),
    ]


def xlsx(rows: list[list[object]], title: str | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    if title:
        sheet.append([title])
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


HEADER = [
    "날짜",
    "라인",
    "가동시간",
    "인원",
    "생산량",
    "불량",
    "전력량 [kWh]",
    "Orders_On_Time",
    "ORDERS TOTAL",
]


def test_good_xlsx():
    data = xlsx(
        [
            HEADER,
            [dt.date(2022, 9, 1), "line-1", 8, 3, 1234, 12, 55.5, 4, 5],
            [dt.datetime(2022, 9, 2), "2라인", dt.time(7, 30), 2.5, 980.0, 3, None, None, None],
            [44809, "line-1", "8", "3", "1,100", "0", "12.5", "2", "2"],  # a date cell that lost its format
            ["2022.09.06", "line-1", 8.25, 3, 1000, 1, 40, 0, 1],
            [None, None, None],
            ["20220907", "line-2", 8, 2, 500, 5, None, None, None],
        ],
        title="2022년 9월 생산일지",
    )
    assert parse(data, "일지.xlsx") == [
        row("2022-09-01", "line-1", 8.0, 3.0, 1234, 12, 55.5, 4, 5),
        row("2022-09-02", "line-2", 7.5, 2.5, 980, 3),
        row("2022-09-05", "line-1", 8.0, 3.0, 1100, 0, 12.5, 2, 2),
        row("2022-09-06", "line-1", 8.25, 3.0, 1000, 1, 40.0, 0, 1),
        row("2022-09-07", "line-2", 8.0, 2.0, 500, 5),
    ]


def test_bad_csv_rows_all_reported_by_row_and_column():
    assert [(e.row, e.column) for e in refused((CASES / "bad_rows.csv").read_bytes())] == [
        (3, "Date"),  # 2022-13-01
        (4, "Workers"),  # negative
        (5, "Defects"),  # more defects than produced
        (6, "Line"),  # unknown line
        (7, "Date"),  # same day and line as row 2
        (8, "Produced"),  # not a number
        (9, "Hours_Worked"),  # missing
    ]
    errors = {e.row: e.message for e in refused((CASES / "bad_rows.csv").read_bytes())}
    assert errors[3].startswith("not a valid date: '2022-13-01'")
    assert errors[4] == "must not be negative, got '-1'"
    assert errors[5] == "defects (101) exceed produced (100)"
    assert errors[6] == "unknown line 'line-9'; lines of factory 'demo-factory': line-1, line-2"
    assert errors[7] == "2022-09-01 of line 'line-1' is already in row 2"
    assert errors[8] == "not a number: 'lots'"
    assert errors[9] == "value is missing"


def test_bad_xlsx_rows_all_reported():
    data = xlsx(
        [
            HEADER,
            ["2022-02-30", "line-1", 8, 3, 10, 1, None, None, None],
            [dt.date(2022, 9, 2), "line-1", 25, 3, 10.5, 1, -4, 3, None],
            [dt.datetime(2022, 9, 3, 14, 0), "line-1", 8, True, 10, 1, None, 5, 4],
        ]
    )
    assert [(e.row, e.column, e.message) for e in refused(data, "log.xlsx")] == [
        (2, "날짜", "not a valid date: '2022-02-30' (day is out of range for month)"),
        (3, "가동시간", "must be between 0 and 24, got 25"),
        (3, "생산량", "expected a whole number, got 10.5"),
        (3, "전력량 [kWh]", "must not be negative, got -4"),
        (3, "ORDERS TOTAL", "value is missing: orders_on_time and orders_total go together"),
        (4, "날짜", "expected a date without a time of day, got 2022-09-03 14:00:00"),
        (4, "인원", "expected a number, got True"),
        (4, "Orders_On_Time", "orders on time (5) exceed orders in total (4)"),
    ]


def test_refused_file_stores_nothing(tmp_path: Path):
    with RegistryStore(tmp_path / "registry.db") as store:
        store.upsert_factories([FACTORY])
        good = import_baseline(store, "demo-factory", (CASES / "good_utf8_bom.csv").read_bytes(), "a.csv")
        with pytest.raises(BaselineError):
            import_baseline(store, "demo-factory", (CASES / "bad_rows.csv").read_bytes(), "bad.csv")
        assert store.baseline("demo-factory") == good
        with pytest.raises(UnknownFactoryError):
            import_baseline(store, "ghost", b"", "x.csv")


def test_missing_columns_is_one_error_naming_them():
    assert refused((CASES / "missing_columns.csv").read_bytes()) == [
        RowError(
            1,
            "",
            "missing required column(s): hours_worked (가동시간), workers (작업자수), defects (불량수)",
            "필수 열이 없습니다: 작업시간, 작업인원, 불량수량",
        )
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "date,line,hours_worked,workers,produced,defects,불량\n",
            "columns 'defects' and '불량' both mean defects",
        ),
        (
            "date,line,hours_worked,workers,produced,defects,orders_total\n",
            "orders_total needs a column orders_on_time as well",
        ),
        ("date,line,hours_worked,workers,produced,defects\n", "the file has a header but no data rows"),
        ("", "the file is empty"),
        ("\n , \n", "the file is empty"),
    ],
)
def test_file_level_problems(text: str, message: str):
    (error,) = refused(text.encode())
    assert error.message == message


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "old.xls",
            "old Excel 97-2003 (.xls) files are not read",
        ),
        (b"PK\x03\x04 not really a zip", "broken.xlsx", "not a readable .xlsx file"),
        (b"date,line\n", "renamed.xlsx", "not a readable .xlsx file (it is not a zip archive)"),
        (b"\xff\xff\xff\x00\x81", "garbage.csv", "cannot read the text"),
    ],
)
def test_unreadable_files(data: bytes, name: str, message: str):
    (error,) = refused(data, name)
    assert error.message.startswith(message)


def test_utf16_tab_separated_text():
    text = "date\tline\thours_worked\tworkers\tproduced\tdefects\n2022-09-01\t1라인\t8\t3\t1000\t10\n"
    assert parse(text.encode("utf-16")) == [row("2022-09-01", "line-1", 8.0, 3.0, 1000, 10)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2022-09-01", dt.date(2022, 9, 1)),
        ("2022.9.1", dt.date(2022, 9, 1)),
        ("2022/09/01", dt.date(2022, 9, 1)),
        ("2022. 9. 1.", dt.date(2022, 9, 1)),
        ("2022년 9월 1일", dt.date(2022, 9, 1)),
        ("2022-09-01 00:00:00", dt.date(2022, 9, 1)),
    ],
)
def test_date_spellings(cell: str, expected: dt.date):
    data = f"date,line,hours_worked,workers,produced,defects\n{cell},line-1,8,1,1,0\n".encode()
    assert parse(data)[0].day == expected


@pytest.mark.parametrize("cell", ["2022-09", "09/01/2022", "2022.09-01", "yesterday", "2022-09-01 08:00"])
def test_bad_date_spellings(cell: str):
    data = f"date,line,hours_worked,workers,produced,defects\n{cell},line-1,8,1,1,0\n".encode()
    (error,) = refused(data)
    assert (error.row, error.column) == (2, "date")


@pytest.mark.parametrize("cell", ["1,2345", "1.234,5", "12,34", "1 000", "1e", "--1", "0x10"])
def test_ambiguous_numbers_are_refused(cell: str):
    # a decimal comma would silently become a thousands separator: refuse what is not clear
    data = f'date;line;hours_worked;workers;produced;defects\n2022-09-01;line-1;8;"{cell}";1;0\n'.encode()
    (error,) = refused(data)
    assert (error.column, error.message) == ("workers", f"not a number: {cell!r}")


# -- property: valid rows written as a factory would write them read back unchanged ----

LINES = ["line-1", "line-2", "1라인", "2라인"]
LINE_ID = {"1라인": "line-1", "2라인": "line-2"}

counts = st.integers(min_value=0, max_value=5_000_000)
amounts = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


@st.composite
def log_rows(
    draw: st.DrawFn,
) -> list[tuple[dt.date, str, float, float, int, int, float | None, int | None, int | None]]:
    keys = draw(
        st.lists(
            st.tuples(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)), st.sampled_from(LINES)),
            min_size=1,
            max_size=12,
            unique_by=lambda k: (k[0], LINE_ID.get(k[1], k[1])),
        )
    )
    out = []
    for day, line in keys:
        produced = draw(counts)
        total = draw(st.none() | st.integers(0, 1000))
        out.append(
            (
                day,
                line,
                draw(st.floats(0, 24, allow_nan=False)),
                draw(amounts),
                produced,
                draw(st.integers(0, produced)),
                draw(st.none() | amounts),
                None if total is None else draw(st.integers(0, total)),
                total,
            )
        )
    return out


def fmt_count(n: int, thousands: bool) -> str:
    return f'"{n:,}"' if thousands else str(n)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=log_rows(),
    encoding=st.sampled_from(["utf-8-sig", "utf-8", "cp949"]),
    delimiter=st.sampled_from([",", ";"]),
    date_sep=st.sampled_from(["-", ".", "/"]),
    thousands=st.booleans(),
)
def test_valid_rows_round_trip_through_csv(
    rows, encoding: str, delimiter: str, date_sep: str, thousands: bool
):
    header = ["날짜", "라인", "가동시간", "작업자수", "생산량", "불량수", "전력량", "납기준수", "주문수"]
    lines = [delimiter.join(header)]
    for day, line, hours, workers, produced, defects, energy, on_time, total in rows:
        cells = [
            day.strftime(f"%Y{date_sep}%m{date_sep}%d"),
            line,
            repr(hours),
            repr(workers),
            fmt_count(produced, thousands),
            fmt_count(defects, thousands),
            "" if energy is None else repr(energy),
            "" if on_time is None else str(on_time),
            "" if total is None else fmt_count(total, thousands),
        ]
        lines.append(delimiter.join(cells))
    data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    expected = [
        BaselineDay(
            "demo-factory", day, LINE_ID.get(line, line), hours, workers, produced, defects, energy, on, tot
        )
        for day, line, hours, workers, produced, defects, energy, on, tot in rows
    ]
    assert parse(data) == expected
