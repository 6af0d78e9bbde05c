"""Manual daily production logs (the "before" period, which predates the edge box), read
from the CSV or XLSX files factories keep them in.

A file is all or nothing: every row is checked, and if any row is wrong the whole file is
refused with every problem listed by sheet row and column, so the factory can fix the
file in one go. Column names, formats and the Korean aliases are in docs/registry.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from assessor.domain.lead_time import OrderLogRow
from assessor.domain.models import BaselineDay, BaselineProduct, Factory
from assessor.domain.upload_limits import (
    DEFAULT_LIMITS,
    EXCEL_ROWS,
    CellCounter,
    LimitBreach,
    UploadLimits,
    beyond_excel_rows,
    check_zip,
    sheet_too_large,
)

# -- errors -----------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    #: 1-based row as the sheet shows it; the header is row 1 (or wherever it stands)
    row: int
    #: the column's header as written in the file; "" for problems of the whole row or file
    column: str
    #: English, as the CLI and the API's ``message`` show it
    message: str
    #: the same problem in Korean, for Korean pages
    message_ko: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class BaselineError(ValueError):
    """The file was refused; ``errors`` lists every problem found."""

    #: HTTP status of the refusal
    status = 400

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        shown = "\n".join(str(e) for e in errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} problem(s) in the baseline file\n{shown}{more}")


class _Msg(NamedTuple):
    en: str
    ko: str


def _error(row: int, column: str, msg: _Msg) -> RowError:
    return RowError(row, column, msg.en, msg.ko)


def _refused(msg: _Msg, row: int = 1) -> BaselineError:
    """A file refused for one problem of the whole file."""
    return BaselineError([_error(row, "", msg)])


class BaselineLimitError(BaselineError):
    """The file is over one of the upload limits (assessor.domain.upload_limits); ``breach``
    names the limit, ``status`` is 413 (too large) or 400 (structure refused)."""

    def __init__(self, breach: LimitBreach):
        # the limit's own message, in both languages (assessor.domain.upload_limits)
        msg = _Msg(breach.en, breach.ko)
        super().__init__([_error(1, "", msg)])
        self.breach = breach
        self.status = breach.status


# -- columns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    required: bool
    #: header spellings accepted besides the field name, compared after _normalise
    aliases: tuple[str, ...]


COLUMNS: tuple[Column, ...] = (
    Column("date", True, ("day", "날짜", "일자", "생산일", "생산일자", "작업일", "작업일자")),
    Column("line", True, ("line_id", "라인", "라인명", "생산라인", "라인id")),
    Column("hours_worked", True, ("hours", "operating_hours", "가동시간", "작업시간", "생산시간")),
    Column("workers", True, ("작업자수", "작업자", "인원", "인원수", "작업인원", "투입인원")),
    Column("produced", True, ("production", "생산량", "생산수량", "생산수", "총생산량")),
    Column("defects", True, ("defect", "rejects", "불량수", "불량", "불량수량", "불량량")),
    Column("energy_kwh", False, ("energy", "kwh", "전력량", "전력사용량", "사용전력량", "사용전력")),
    Column("orders_on_time", False, ("on_time_orders", "납기준수", "납기준수건수", "납기준수수주")),
    Column("orders_total", False, ("orders", "주문수", "주문건수", "수주건수", "총주문수")),
    # one row per product and day: the mix, for standard hours (assessor/domain/gains.py)
    Column(
        "product",
        False,
        ("product_id", "part", "품목", "제품", "품번", "품명", "제품명", "품목명", "품목코드"),
    ),
)

#: an order log: one row per production order (or per stretch of work on it), for the
#: lead time of the "before" period (docs/targets.md, "Lead time"); a file is either a
#: daily log or an order log, told apart by its header
ORDER_COLUMNS: tuple[Column, ...] = (
    Column(
        "order_id",
        True,
        ("order", "order_no", "주문번호", "작업지시번호", "지시번호", "오더번호", "수주번호", "작업지시"),
    ),
    Column(
        "start",
        True,
        ("order_start", "started", "시작", "시작일시", "시작시각", "작업시작", "착수", "착수일시"),
    ),
    Column(
        "finish",
        True,
        ("order_finish", "finished", "end", "완료", "완료일시", "완료시각", "작업완료", "종료", "종료일시"),
    ),
)
_BY_FIELD = {c.field: c for c in (*COLUMNS, *ORDER_COLUMNS)}

# unit or remark in brackets after a header: 가동시간(h), 전력량 [kWh]
_BRACKETED = re.compile(r"[(\[（［].*?[)\]）］]")


def _normalise(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).lower()
    text = _BRACKETED.sub("", text)
    return re.sub(r"[\s_\-.·]+", "", text)


_HEADER_FIELD: dict[str, str] = {
    _normalise(name): c.field for c in (*COLUMNS, *ORDER_COLUMNS) for name in (c.field, *c.aliases)
}
_ORDER_FIELDS = frozenset(c.field for c in ORDER_COLUMNS)

# a title or a note may stand above the header; look for the header this far down
_HEADER_SEARCH_ROWS = 20

Cell = object
Grid = list[tuple[int, list[Cell]]]


# -- messages ---------------------------------------------------------------------
# Every problem in English and Korean, one function each. The Korean names a field by
# _FIELD_KO; a column in the file by its header as written there.

#: field -> Korean name in messages; each is also a header the reader accepts
_FIELD_KO = {
    "date": "날짜",
    "line": "라인",
    "hours_worked": "작업시간",
    "workers": "작업인원",
    "produced": "생산수량",
    "defects": "불량수량",
    "energy_kwh": "전력량",
    "orders_on_time": "납기준수건수",
    "orders_total": "주문건수",
    "product": "품목",
    "order_id": "주문번호",
    "start": "시작일시",
    "finish": "완료일시",
}


def _shown(value: Cell) -> str:
    """A cell's value for a message, cut short: the message should point, not copy."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _msg_not_text() -> _Msg:
    return _Msg(
        "cannot read the text: not UTF-8, UTF-16 or CP949; save the file as CSV UTF-8",
        "글자를 읽을 수 없습니다. UTF-8, UTF-16, CP949 중 어느 인코딩도 아닙니다. "
        "파일을 'CSV UTF-8' 형식으로 다시 저장하세요.",
    )


def _msg_bad_csv(exc: Exception) -> _Msg:
    return _Msg(f"not a readable CSV file: {exc}", f"CSV 파일로 읽을 수 없습니다: {exc}")


def _msg_bad_xlsx(exc: Exception) -> _Msg:
    return _Msg(f"not a readable .xlsx file: {exc}", f".xlsx 파일로 읽을 수 없습니다: {exc}")


def _msg_no_sheet() -> _Msg:
    return _Msg("the workbook has no worksheet", "통합 문서에 워크시트가 없습니다.")


def _msg_xls() -> _Msg:
    return _Msg(
        "old Excel 97-2003 (.xls) files are not read; save the sheet as .xlsx or CSV",
        "예전 Excel 97-2003 형식(.xls) 파일은 읽을 수 없습니다. 시트를 .xlsx 또는 CSV로 저장하세요.",
    )


def _msg_not_zip() -> _Msg:
    return _Msg(
        "not a readable .xlsx file (it is not a zip archive)",
        ".xlsx 파일로 읽을 수 없습니다. 파일 내용이 .xlsx 형식(zip 압축)이 아닙니다.",
    )


def _msg_empty() -> _Msg:
    return _Msg("the file is empty", "파일이 비어 있습니다.")


def _msg_no_rows() -> _Msg:
    return _Msg("the file has a header but no data rows", "머리글 행만 있고 데이터 행이 없습니다.")


def _msg_same_field(field: str, first: str, second: str) -> _Msg:
    return _Msg(
        f"columns {first!r} and {second!r} both mean {field}",
        f"같은 항목({_FIELD_KO[field]})을 뜻하는 열이 두 개입니다: {first!r}, {second!r}. 하나만 남기세요.",
    )


def _msg_pair_column(given: str, lacking: str) -> _Msg:
    return _Msg(
        f"{given} needs a column {lacking} as well",
        f"{_FIELD_KO[lacking]} 열도 있어야 합니다. {_FIELD_KO['orders_on_time']} 열과 "
        f"{_FIELD_KO['orders_total']} 열은 함께 씁니다.",
    )


def _msg_missing_columns(missing: Sequence[Column]) -> _Msg:
    names = ", ".join(f"{c.field} ({c.aliases[_korean_alias(c)]})" for c in missing)
    names_ko = ", ".join(_FIELD_KO[c.field] for c in missing)
    return _Msg(f"missing required column(s): {names}", f"필수 열이 없습니다: {names_ko}")


def _msg_missing_value() -> _Msg:
    return _Msg("value is missing", "값이 비어 있습니다.")


def _msg_pair_value() -> _Msg:
    return _Msg(
        "value is missing: orders_on_time and orders_total go together",
        f"값이 비어 있습니다. {_FIELD_KO['orders_on_time']} 값과 {_FIELD_KO['orders_total']} 값은 "
        "함께 입력해야 합니다.",
    )


def _msg_negative(raw: Cell) -> _Msg:
    return _Msg(f"must not be negative, got {_shown(raw)}", f"음수일 수 없습니다 (입력값 {_shown(raw)}).")


def _msg_range(at_most: float, raw: Cell) -> _Msg:
    return _Msg(
        f"must be between 0 and {at_most:g}, got {_shown(raw)}",
        f"0에서 {at_most:g} 사이여야 합니다 (입력값 {_shown(raw)}).",
    )


def _msg_bool(value: bool) -> _Msg:
    return _Msg(f"expected a number, got {value}", f"숫자를 입력하세요 (입력값 {value}).")


def _msg_unusable_number(value: Cell) -> _Msg:
    return _Msg(f"not a usable number: {_shown(value)}", f"사용할 수 없는 숫자입니다: {_shown(value)}")


def _msg_not_number(value: Cell) -> _Msg:
    return _Msg(f"not a number: {_shown(value)}", f"숫자가 아닙니다: {_shown(value)}")


def _msg_not_whole(value: Cell) -> _Msg:
    return _Msg(
        f"expected a whole number, got {_shown(value)}",
        f"소수점 없는 정수여야 합니다 (입력값 {_shown(value)}).",
    )


def _msg_time_of_day(value: dt.datetime) -> _Msg:
    shown = value.isoformat(" ")
    return _Msg(
        f"expected a date without a time of day, got {shown}",
        f"시각 없이 날짜만 입력하세요 (입력값 {shown}).",
    )


def _msg_fraction_date(value: float) -> _Msg:
    return _Msg(f"not a date: {_shown(value)}", f"날짜가 아닙니다: {_shown(value)}")


def _msg_invalid_date(value: Cell, exc: ValueError) -> _Msg:
    return _Msg(
        f"not a valid date: {_shown(value)} ({exc})",
        f"달력에 없는 날짜입니다: {_shown(value)}",
    )


def _msg_not_date(value: Cell) -> _Msg:
    return _Msg(
        f"not a date: {_shown(value)}; expected YYYY-MM-DD, YYYY.MM.DD or YYYY/MM/DD",
        f"날짜가 아닙니다: {_shown(value)}. YYYY-MM-DD, YYYY.MM.DD 또는 YYYY/MM/DD 형식으로 입력하세요.",
    )


def _msg_hours_date(value: Cell) -> _Msg:
    return _Msg(
        f"expected hours, got a date {_shown(value)}",
        f"날짜가 아니라 시간 수를 입력하세요 (입력값 {_shown(value)}).",
    )


def _msg_unknown_line(text: str, factory: Factory) -> _Msg:
    ids = [line.id for line in factory.lines]
    return _Msg(
        f"unknown line {_shown(text)}; lines of factory {factory.id!r}: {', '.join(ids) or 'none'}",
        f"등록되지 않은 라인입니다: {_shown(text)}. 공장 {factory.id!r}의 라인: {', '.join(ids) or '없음'}",
    )


def _msg_unknown_product(text: str, factory: Factory) -> _Msg:
    ids = [p.id for p in factory.products]
    return _Msg(
        f"unknown product {_shown(text)}; products of factory {factory.id!r} in the registry: "
        f"{', '.join(ids) or 'none'}",
        f"등록되지 않은 품목입니다: {_shown(text)}. "
        f"공장 {factory.id!r}의 등록 품목: {', '.join(ids) or '없음'}",
    )


def _msg_duplicate_product(day: object, line: object, product: str, row: int) -> _Msg:
    return _Msg(
        f"{day} of line {line!r}, product {product!r} is already in row {row}",
        f"{day} {line!r} 라인 {product!r} 품목의 기록이 이미 {row}행에 있습니다.",
    )


def _msg_day_hours(day: object, line: object, hours: float) -> _Msg:
    return _Msg(
        f"the product rows of {day}, line {line!r} add up to {hours:g} hours worked, more than 24: "
        "with a product column each row gives the hours spent on that product",
        f"{day} {line!r} 라인의 품목별 작업시간 합계가 {hours:g}시간으로 24시간을 넘습니다. 품목 열이 있으면 "
        "각 행에는 그 품목에 쓴 작업시간을 적습니다.",
    )


def _msg_defects_exceed(defects: int, produced: int) -> _Msg:
    return _Msg(
        f"defects ({defects}) exceed produced ({produced})",
        f"불량수량({defects})이 생산수량({produced})보다 많습니다.",
    )


def _msg_on_time_exceed(on_time: int, total: int) -> _Msg:
    return _Msg(
        f"orders on time ({on_time}) exceed orders in total ({total})",
        f"납기준수건수({on_time})가 주문건수({total})보다 많습니다.",
    )


def _msg_duplicate(day: object, line: object, row: int) -> _Msg:
    return _Msg(
        f"{day} of line {line!r} is already in row {row}",
        f"{day} {line!r} 라인의 기록이 이미 {row}행에 있습니다.",
    )


def _msg_not_instant(value: Cell) -> _Msg:
    return _Msg(
        f"not a date and time: {_shown(value)}; expected YYYY-MM-DD HH:MM",
        f"날짜와 시각이 아닙니다: {_shown(value)}. YYYY-MM-DD HH:MM 형식으로 입력하세요.",
    )


def _msg_no_time(value: Cell) -> _Msg:
    return _Msg(
        f"needs the time of day as well as the date, got {_shown(value)}",
        f"날짜와 함께 시각도 입력하세요 (입력값 {_shown(value)}).",
    )


def _msg_finish_before_start(finish: dt.datetime, start: dt.datetime) -> _Msg:
    f, s = finish.strftime("%Y-%m-%d %H:%M"), start.strftime("%Y-%m-%d %H:%M")
    return _Msg(
        f"the order finishes ({f}) before it starts ({s})",
        f"완료일시({f})가 시작일시({s})보다 앞섭니다.",
    )


# -- reading the file into rows of cells ------------------------------------------


def _decode(data: bytes) -> str:
    """Text of a CSV file. Excel on Korean Windows saves "CSV" in CP949 (a superset of
    EUC-KR) and "CSV UTF-8" with a byte order mark; "Unicode text" is UTF-16."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # a UTF-8 decode of Korean CP949 text fails within a few bytes, so this order is safe
        return data.decode("cp949")


def _keep(grid: Grid, number: int, cells: list[Cell], counter: CellCounter | None) -> None:
    """Add a row to the grid unless it is blank (every reader skips blank rows, so they
    need not be held); trailing empty cells are dropped, as readers treat a missing cell
    as an empty one. Every cell counts, blank or not, as every cell costs reading."""
    width = len(cells)
    while cells and cells[-1] is None:
        cells.pop()
    blank = _blank(cells)
    if counter is not None:
        counter.add(number, width, blank=blank)
    if not blank:
        grid.append((number, cells))


def _csv_grid(
    text: str, delimiter: str, limit: int | None = None, counter: CellCounter | None = None
) -> Grid:
    grid: Grid = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # one record is one sheet row when the file is opened in a spreadsheet, quoted line
    # breaks included, so records count rows, not physical lines
    for number, record in enumerate(reader, start=1):
        _keep(grid, number, [cell if cell.strip() else None for cell in record], counter)
        if limit is not None and number >= limit:
            break
    return grid


def _read_csv(data: bytes, limits: UploadLimits) -> Grid:
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        raise _refused(_msg_not_text()) from None
    # the delimiter whose header row is recognised best wins: thousands separators and
    # decimal commas make counting characters unreliable
    best, best_score = ",", -1
    try:
        for delimiter in (",", ";", "\t"):
            head = _csv_grid(text, delimiter, limit=_HEADER_SEARCH_ROWS)
            score = max((len(_known_fields(cells)) for _, cells in head), default=0)
            if score > best_score:
                best, best_score = delimiter, score
        return _csv_grid(text, best, counter=CellCounter(limits))
    except csv.Error as exc:
        raise _refused(_msg_bad_csv(exc)) from None


def _read_xlsx(data: bytes, limits: UploadLimits) -> Grid:
    import openpyxl  # deferred: only XLSX uploads pay for importing it

    # before openpyxl inflates anything: what the archive says it holds
    check_zip(data, limits)
    # openpyxl raises whatever its zip and XML layers raise on a damaged upload; any of
    # them means the same to the user
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except MemoryError:
        raise
    except Exception as exc:
        raise _refused(_msg_bad_xlsx(exc)) from None
    try:
        if not workbook.worksheets:
            raise _refused(_msg_no_sheet())
        sheet = workbook.worksheets[0]
        if sheet_too_large(sheet.max_row or 0, sheet.max_column or 0, limits):
            # read-only mode pads every row to the declared size: a 5 KB file declaring
            # A1:XFD1048576 would ask for 128 GiB. Read the cells that are there instead.
            sheet.reset_dimensions()
        grid: Grid = []
        counter = CellCounter(limits)
        # data_only: a formula's value is the result Excel saved with the file
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            if number > EXCEL_ROWS:
                # openpyxl fills the gap up to any row number a file names, Excel's or not
                raise beyond_excel_rows()
            _keep(grid, number, list(values), counter)
        return grid
    except (BaselineError, LimitBreach, MemoryError):
        raise
    except Exception as exc:
        raise _refused(_msg_bad_xlsx(exc)) from None
    finally:
        workbook.close()


def _grid(data: bytes, filename: str, limits: UploadLimits) -> Grid:
    name = filename.lower()
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, limits)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _refused(_msg_xls())
    if name.endswith((".xlsx", ".xlsm")):
        raise _refused(_msg_not_zip())
    return _read_csv(data, limits)


# -- header -----------------------------------------------------------------------


def _known_fields(cells: Sequence[Cell]) -> set[str]:
    return {
        field
        for cell in cells
        if isinstance(cell, str) and (field := _HEADER_FIELD.get(_normalise(cell))) is not None
    }


def _blank(cells: Iterable[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _find_header(grid: Grid) -> int:
    """Index into grid of the header row: the first row with a date (or an order number)
    column among the first non-blank rows, else the first non-blank row (whose missing
    columns are then reported)."""
    candidates = [i for i, (_, cells) in enumerate(grid) if not _blank(cells)][:_HEADER_SEARCH_ROWS]
    if not candidates:
        raise _refused(_msg_empty())
    for i in candidates:
        if {"date", "order_id"} & _known_fields(grid[i][1]):
            return i
    return candidates[0]


def _map_columns(
    row: int, cells: Sequence[Cell], kind: Sequence[Column] = COLUMNS
) -> dict[str, tuple[int, str]]:
    """field -> (cell index, header as written), for the columns of one kind of log."""
    wanted = {c.field for c in kind}
    found: dict[str, tuple[int, str]] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, str):
            continue
        field = _HEADER_FIELD.get(_normalise(cell))
        if field is None or field not in wanted:
            continue  # remarks (비고) and other columns of the factory's own sheet
        if field in found:
            errors.append(_error(row, cell.strip(), _msg_same_field(field, found[field][1], cell.strip())))
            continue
        found[field] = (index, cell.strip())
    pair = ("orders_on_time", "orders_total")
    if (pair[0] in found) != (pair[1] in found):
        given, lacking = pair if pair[0] in found else pair[::-1]
        errors.append(_error(row, found[given][1], _msg_pair_column(given, lacking)))
    missing = [c for c in kind if c.required and c.field not in found]
    if missing:
        errors.insert(0, _error(row, "", _msg_missing_columns(missing)))
    if errors:
        raise BaselineError(errors)
    return found


def _korean_alias(column: Column) -> int:
    return next((i for i, a in enumerate(column.aliases) if not a.isascii()), 0)


# -- cell values ------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_DATE_TEXT = re.compile(
    r"^(\d{4})\s*([-./])\s*(\d{1,2})\s*\2\s*(\d{1,2})\s*\.?(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
)
_DATE_KOREAN = re.compile(r"^(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
# far beyond any day of a small factory; also keeps counts inside SQLite's 64-bit integers
_MAX_COUNT = 1e12
# Excel serial day numbers of 1920-01-01 .. 2199-12-31: a plain number there is a date
# cell that lost its date format
_SERIAL_RANGE = (7306, 109574)


class _Bad(ValueError):
    """A cell that cannot be read; the message is shown to the user."""

    def __init__(self, msg: _Msg):
        super().__init__(msg.en)
        self.msg = msg


def _number(value: Cell) -> float:
    if isinstance(value, bool):
        raise _Bad(_msg_bool(value))
    if isinstance(value, int | float):
        if (isinstance(value, int) and abs(value) > 2**63) or not math.isfinite(value):
            raise _Bad(_msg_unusable_number(value))
        return float(value)
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if text in {"-", "–", "—"}:
            # what Excel's accounting format shows for zero, and writes into a CSV export
            return 0.0
        if text and any(ch.isdigit() for ch in text) and _NUMBER.match(text):
            number = float(text.replace(",", ""))
            if math.isfinite(number):
                return number
    raise _Bad(_msg_not_number(value))


def _whole(value: Cell) -> int:
    number = _number(value)
    if not number.is_integer():
        raise _Bad(_msg_not_whole(value))
    return int(number)


def _date(value: Cell) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0, 0):
            raise _Bad(_msg_time_of_day(value))
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float):
            if not value.is_integer():
                raise _Bad(_msg_fraction_date(value))
            value = int(value)
        if _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
            # day 0 is 1899-12-30: Excel counts the 1900-02-29 that never was
            return dt.date(1899, 12, 30) + dt.timedelta(days=value)
        return _date(str(value))  # 20220901 typed as a number
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        m = _DATE_TEXT.match(text) or _DATE_KOREAN.match(text) or _DATE_COMPACT.match(text)
        if m:
            year, month, day = (int(g) for g in m.groups() if g and g.isdigit())
            try:
                return dt.date(year, month, day)
            except ValueError as exc:
                raise _Bad(_msg_invalid_date(value, exc)) from None
    raise _Bad(_msg_not_date(value))


def _hours(value: Cell) -> float:
    # a duration typed as 8:30 arrives as a time (or timedelta) from XLSX, as text from CSV
    if isinstance(value, dt.timedelta):
        return value.total_seconds() / 3600
    if isinstance(value, dt.time):
        return value.hour + value.minute / 60 + value.second / 3600
    if isinstance(value, str) and (m := _CLOCK.match(value.strip())):
        hours, minutes, seconds = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if minutes < 60 and seconds < 60:
            return hours + minutes / 60 + seconds / 3600
    if isinstance(value, dt.datetime | dt.date):
        raise _Bad(_msg_hours_date(value))
    return _number(value)


def _text(value: Cell) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a line called 1 in a numeric cell
    return unicodedata.normalize("NFC", str(value)).strip()


# -- rows ---------------------------------------------------------------------------


class _Lookup:
    """Ids, or names where a name is unambiguous (logs often say 1라인 or 브래킷 rather
    than line-1 or A-100); anything else is an error of its row, never a fallback: a
    mistyped product would silently time that row's units by a wrong ideal time."""

    def __init__(self, items: Iterable[tuple[str, str]], unknown: Callable[[str], str]):
        pairs = list(items)
        self._ids = {i for i, _ in pairs}
        names: dict[str, list[str]] = {}
        for i, name in pairs:
            if name:
                names.setdefault(name, []).append(i)
        self._names = {name: ids[0] for name, ids in names.items() if len(ids) == 1}
        self._msg_unknown = unknown

    def __call__(self, value: Cell) -> str:
        text = _text(value)
        if text in self._ids:
            return text
        if text in self._names:
            return self._names[text]
        raise _Bad(self._msg_unknown(text))


def _line_lookup(factory: Factory) -> _Lookup:
    return _Lookup(((ln.id, ln.name) for ln in factory.lines), lambda t: _msg_unknown_line(t, factory))


def _product_lookup(factory: Factory) -> _Lookup:
    return _Lookup(((p.id, p.name) for p in factory.products), lambda t: _msg_unknown_product(t, factory))


class _RowReader:
    """Reads the cells of one row, collecting a RowError per unreadable cell."""

    def __init__(self, row: int, cells: Sequence[Cell], columns: dict[str, tuple[int, str]]):
        self.row = row
        self.cells = cells
        self.columns = columns
        self.values: dict[str, object] = {}
        self.errors: list[RowError] = []
        self._failed: set[str] = set()

    def fail(self, field: str, msg: _Msg) -> None:
        self._failed.add(field)
        self.errors.append(_error(self.row, self.columns[field][1], msg))

    def ok(self, field: str) -> bool:
        return field not in self._failed

    def read(self, field: str, convert: Callable[[Cell], Any], *, at_most: float | None = None) -> Any:
        """The converted cell, None when blank or bad; numbers must not be negative."""
        if field not in self.columns:
            return None
        index = self.columns[field][0]
        raw = self.cells[index] if index < len(self.cells) else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if _BY_FIELD[field].required:
                self.fail(field, _msg_missing_value())
            return None
        try:
            value = convert(raw)
            if isinstance(value, int | float) and value < 0:
                raise _Bad(_msg_negative(raw))
            if at_most is not None and value > at_most:
                raise _Bad(_msg_range(at_most, raw))
        except _Bad as exc:
            self.fail(field, exc.msg)
            return None
        self.values[field] = value
        return value


def _read_row(reader: _RowReader, line_of: _Lookup, product_of: _Lookup) -> None:
    reader.read("date", _date)
    reader.read("line", line_of)
    if "product" in reader.columns and reader.read("product", product_of) is None and reader.ok("product"):
        # a log with a product column gives every row's product: a row without one has no mix
        reader.fail("product", _msg_missing_value())
    reader.read("hours_worked", _hours, at_most=24)
    reader.read("workers", _number)
    produced = reader.read("produced", _whole, at_most=_MAX_COUNT)
    defects = reader.read("defects", _whole, at_most=_MAX_COUNT)
    reader.read("energy_kwh", _number)
    on_time = reader.read("orders_on_time", _whole, at_most=_MAX_COUNT)
    total = reader.read("orders_total", _whole, at_most=_MAX_COUNT)
    if produced is not None and defects is not None and defects > produced:
        reader.fail("defects", _msg_defects_exceed(defects, produced))
    if reader.ok("orders_on_time") and reader.ok("orders_total"):
        if (on_time is None) != (total is None):
            lacking = "orders_total" if total is None else "orders_on_time"
            reader.fail(lacking, _msg_pair_value())
        elif on_time is not None and total is not None and on_time > total:
            reader.fail("orders_on_time", _msg_on_time_exceed(on_time, total))


def _parse_rows(
    grid: Grid, header_index: int, columns: dict[str, tuple[int, str]], factory: Factory
) -> tuple[list[BaselineDay], list[RowError]]:
    line_of, product_of = _line_lookup(factory), _product_lookup(factory)
    errors: list[RowError] = []
    days: list[BaselineDay] = []
    rows_of: list[int] = []
    seen: dict[tuple[object, ...], int] = {}
    for row, cells in grid[header_index + 1 :]:
        if _blank(cells):
            continue  # spreadsheets keep blank rows between months and at the end
        reader = _RowReader(row, cells, columns)
        _read_row(reader, line_of, product_of)
        v = reader.values
        if "date" in v and "line" in v and ("product" in v or "product" not in columns):
            key = (v["date"], v["line"], v.get("product"))
            if key in seen:
                msg = (
                    _msg_duplicate(key[0], key[1], seen[key])
                    if key[2] is None
                    else _msg_duplicate_product(key[0], key[1], str(key[2]), seen[key])
                )
                reader.fail("date", msg)
            else:
                seen[key] = row
        if reader.errors:
            errors.extend(reader.errors)
            continue
        days.append(
            BaselineDay(
                factory_id=factory.id,
                day=v["date"],  # type: ignore[arg-type]
                line_id=v["line"],  # type: ignore[arg-type]
                hours_worked=v["hours_worked"],  # type: ignore[arg-type]
                workers=v["workers"],  # type: ignore[arg-type]
                produced=v["produced"],  # type: ignore[arg-type]
                defects=v["defects"],  # type: ignore[arg-type]
                energy_kwh=v.get("energy_kwh"),  # type: ignore[arg-type]
                orders_on_time=v.get("orders_on_time"),  # type: ignore[arg-type]
                orders_total=v.get("orders_total"),  # type: ignore[arg-type]
                products=(
                    (BaselineProduct(str(v["product"]), int(v["produced"]), int(v["defects"])),)  # type: ignore[call-overload]
                    if "product" in v
                    else ()
                ),
            )
        )
        rows_of.append(row)
    if "product" in columns and not errors:
        return _per_line_day(days, rows_of)
    return days, errors


def _per_line_day(
    rows: Sequence[BaselineDay], numbers: Sequence[int]
) -> tuple[list[BaselineDay], list[RowError]]:
    """One row per (day, line) from a log with one row per product: counts and hours are
    summed (each product row gives the hours spent on that product), workers are the
    day's labour hours over its hours, energy and orders count only when every product
    row of the day gives them (a partial sum would read as a low value)."""
    groups: dict[tuple[dt.date, str], list[tuple[int, BaselineDay]]] = {}
    for number, r in zip(numbers, rows, strict=True):
        groups.setdefault((r.day, r.line_id), []).append((number, r))
    out: list[BaselineDay] = []
    errors: list[RowError] = []
    for (day, line), members in groups.items():
        parts = [r for _, r in members]
        hours = sum(r.hours_worked for r in parts)
        if hours > 24:
            last = members[-1][0]
            errors.append(_error(last, "", _msg_day_hours(day, line, hours)))
            continue
        labour = sum(r.hours_worked * r.workers for r in parts)
        out.append(
            BaselineDay(
                factory_id=parts[0].factory_id,
                day=day,
                line_id=line,
                hours_worked=hours,
                workers=labour / hours if hours else max(r.workers for r in parts),
                produced=sum(r.produced for r in parts),
                defects=sum(r.defects for r in parts),
                energy_kwh=_all_or_none([r.energy_kwh for r in parts]),
                orders_on_time=_all_or_none([r.orders_on_time for r in parts]),  # type: ignore[arg-type]
                orders_total=_all_or_none([r.orders_total for r in parts]),  # type: ignore[arg-type]
                products=tuple(p for r in parts for p in r.products),
            )
        )
    return out, errors


def _all_or_none(values: Sequence[float | int | None]) -> float | int | None:
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def parse_baseline(
    data: bytes, filename: str, *, factory: Factory, limits: UploadLimits = DEFAULT_LIMITS
) -> list[BaselineDay]:
    """Rows of a daily production log (CSV or XLSX) of ``factory``, in file order.

    Raises BaselineError listing every bad row and column, BaselineLimitError for a file
    over ``limits``; then nothing may be stored.
    """
    return _parse_days(_read_grid(data, filename, limits), factory)


def _read_grid(data: bytes, filename: str, limits: UploadLimits) -> Grid:
    try:
        return _grid(data, filename, limits)
    except LimitBreach as breach:
        raise BaselineLimitError(breach) from None


def _parse_days(grid: Grid, factory: Factory) -> list[BaselineDay]:
    header_index = _find_header(grid)
    header_row, header_cells = grid[header_index]
    columns = _map_columns(header_row, header_cells)
    days, errors = _parse_rows(grid, header_index, columns, factory)
    if errors:
        raise BaselineError(errors)
    if not days:
        raise _refused(_msg_no_rows(), header_row)
    return days


# -- order logs ---------------------------------------------------------------------

_INSTANT_TEXT = re.compile(
    r"^(\d{4})\s*([-./])\s*(\d{1,2})\s*\2\s*(\d{1,2})\.?\s*[ T]\s*(\d{1,2}):(\d{2})(?::(\d{2}))?$"
)


def _naive_instant(value: Cell) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        raise _Bad(_msg_no_time(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if float(value).is_integer():
            raise _Bad(_msg_no_time(value))
        if _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
            # an Excel date-time that lost its format: days since 1899-12-30, the time as a fraction
            return dt.datetime(1899, 12, 30) + dt.timedelta(days=value)
        raise _Bad(_msg_not_instant(value))
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if m := _INSTANT_TEXT.match(text):
            year, _, month, day, hour, minute, second = m.groups()
            try:
                return dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
            except ValueError:
                raise _Bad(_msg_not_instant(value)) from None
        if ":" in text:  # fromisoformat takes a bare date as midnight: a time must be written
            try:
                return dt.datetime.fromisoformat(text)  # with an offset, as machines write it
            except ValueError:
                pass
        try:
            _date(text)
        except _Bad:
            raise _Bad(_msg_not_instant(value)) from None
        raise _Bad(_msg_no_time(value))
    raise _Bad(_msg_not_instant(value))


def _instant_in(tz: ZoneInfo) -> Callable[[Cell], dt.datetime]:
    """A cell as an aware date and time; a time without a zone is the factory's."""

    def convert(value: Cell) -> dt.datetime:
        when = _naive_instant(value)
        return when if when.tzinfo is not None else when.replace(tzinfo=tz)

    return convert


def _parse_orders(
    grid: Grid, header_index: int, columns: dict[str, tuple[int, str]], factory: Factory
) -> tuple[list[OrderLogRow], list[RowError]]:
    instant = _instant_in(ZoneInfo(factory.calendar.timezone))
    rows: list[OrderLogRow] = []
    errors: list[RowError] = []
    for row, cells in grid[header_index + 1 :]:
        if _blank(cells):
            continue
        reader = _RowReader(row, cells, columns)
        order = reader.read("order_id", _text)
        start = reader.read("start", instant)
        finish = reader.read("finish", instant)
        if start is not None and finish is not None and finish < start:
            reader.fail("finish", _msg_finish_before_start(finish, start))
        if reader.errors:
            errors.extend(reader.errors)
            continue
        rows.append(OrderLogRow(order, start, finish, row))
    return rows, errors


@dataclass(frozen=True)
class BaselineLog:
    """A parsed upload: a daily log (``days``) or an order log (``orders``), never both."""

    days: list[BaselineDay]
    orders: list[OrderLogRow]

    @property
    def rows(self) -> int:
        return len(self.days) + len(self.orders)


def parse_log(
    data: bytes, filename: str, *, factory: Factory, limits: UploadLimits = DEFAULT_LIMITS
) -> BaselineLog:
    """A daily production log or, when its header has an order number column (주문번호,
    order_id), an order log of (order, start, finish) rows. Raises as ``parse_baseline``."""
    grid = _read_grid(data, filename, limits)
    header_index = _find_header(grid)
    header_row, header_cells = grid[header_index]
    if "order_id" not in _known_fields(header_cells):
        return BaselineLog(_parse_days(grid, factory), [])
    columns = _map_columns(header_row, header_cells, ORDER_COLUMNS)
    orders, errors = _parse_orders(grid, header_index, columns, factory)
    if errors:
        raise BaselineError(errors)
    if not orders:
        raise _refused(_msg_no_rows(), header_row)
    return BaselineLog([], orders)
