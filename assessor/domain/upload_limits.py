"""Bounds on what reading an uploaded file may cost, checked before and while it is read.

A few kilobytes can ask for gigabytes: an XLSX is a zip archive whose members may
inflate a thousandfold and whose sheet may declare a million rows of sixteen thousand
columns, and YAML aliases repeat whole subtrees (the "billion laughs"). The checks here
look at what the file *says* it holds (the zip central directory, the YAML event
stream with aliases counted as the copies they make) before anything is expanded, and
count rows and cells as they are read. Why each default is what it is: docs/registry.md,
"Upload limits". The worker process that runs the parse is in assessor.services.upload_worker.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: sheet size of Excel 2007 and later; a dimension beyond it is not a sheet Excel wrote
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384
#: an archive member this small cannot cost much whatever its ratio (XML of a few rows
#: compresses well above any sane ratio limit)
_RATIO_FLOOR_BYTES = 1 << 20


class UploadLimits(BaseModel):
    """``uploads:`` in the assessor config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: rows with data in a baseline sheet (blank rows are skipped and not kept)
    max_rows: int = Field(100_000, ge=1)
    #: cells read from a baseline sheet: the width of every row as read (to its last cell,
    #: or to a declared width that is not refused), blank rows included
    max_cells: int = Field(1_000_000, ge=1)
    #: members of an XLSX archive
    max_zip_members: int = Field(1_000, ge=1)
    #: uncompressed size of all members of an XLSX archive, as its central directory
    #: declares them (zipfile stops reading a member at its declared size)
    max_unzipped_bytes: int = Field(100 * 2**20, ge=1)
    #: uncompressed / compressed size of one archive member larger than 1 MiB
    max_zip_ratio: float = Field(100.0, gt=1)
    #: YAML nodes after expanding aliases: every alias counts as a copy of what it names
    max_yaml_nodes: int = Field(200_000, ge=1)
    #: YAML aliases (``*name``) in one file
    max_yaml_aliases: int = Field(1_000, ge=0)
    #: YAML nesting of mappings and lists
    max_yaml_depth: int = Field(50, ge=1)
    #: wall time of one parse in its worker process, seconds; the worker is killed after it
    parse_timeout_s: float = Field(30.0, gt=0)
    #: address space of a worker process, MiB (RLIMIT_AS); 0: no limit
    worker_memory_mib: int = Field(2048, ge=0)
    #: worker processes at once; more uploads wait their turn
    max_workers: int = Field(2, ge=1)


DEFAULT_LIMITS = UploadLimits()


class LimitBreach(Exception):
    """A file over one of the limits; the message names the limit. ``status`` is 413 for
    a file too large to read, 400 for one whose structure is refused."""

    def __init__(self, status: int, en: str, ko: str):
        super().__init__(status, en, ko)
        self.status, self.en, self.ko = status, en, ko

    def __str__(self) -> str:
        return self.en


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size < 10 * 2**20 else f"{size / 2**20:,.0f} MiB"


# -- XLSX: the zip archive ----------------------------------------------------------

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22


def _declared_member_count(data: bytes) -> int | None:
    """Entries the end-of-central-directory record declares, read before zipfile builds
    one object per entry; None when there is no such record (zipfile will say why)."""
    # the record is the last thing in the file, after a comment of at most 64 KiB
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - 0xFFFF))
    if at < 0 or at + _EOCD_SIZE > len(data):
        return None
    (total,) = struct.unpack_from("<H", data, at + 10)
    return total


def check_zip(data: bytes, limits: UploadLimits) -> None:
    """Refuse an archive whose central directory promises more than the limits allow,
    before any member is inflated."""
    count = _declared_member_count(data)
    # 0xFFFF also marks a ZIP64 archive, which only more than 65,534 members or 4 GiB need
    if count is not None and count > limits.max_zip_members:
        raise _too_many_members(count, limits)
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not an archive zipfile can list: openpyxl will say so in its words
    if len(infos) > limits.max_zip_members:
        raise _too_many_members(len(infos), limits)
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise LimitBreach(
            413,
            f"the .xlsx file unpacks to {_mib(total)}; the limit is {_mib(limits.max_unzipped_bytes)}",
            f".xlsx 파일의 압축을 풀면 {_mib(total)}입니다. 한도는 {_mib(limits.max_unzipped_bytes)}입니다.",
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_zip_ratio:
            raise LimitBreach(
                413,
                f"the .xlsx member {info.filename!r} inflates {ratio:,.0f} times "
                f"({_mib(info.compress_size)} to {_mib(info.file_size)}); "
                f"the limit is {limits.max_zip_ratio:,.0f} times",
                f".xlsx 파일 안의 {info.filename!r}이(가) {ratio:,.0f}배로 늘어납니다 "
                f"({_mib(info.compress_size)} → {_mib(info.file_size)}). "
                f"한도는 {limits.max_zip_ratio:,.0f}배입니다.",
            )


def _too_many_members(count: int, limits: UploadLimits) -> LimitBreach:
    return LimitBreach(
        413,
        f"the .xlsx archive holds {_n(count)} files; the limit is {_n(limits.max_zip_members)}",
        f".xlsx 압축 파일 안에 파일이 {_n(count)}개 있습니다. 한도는 {_n(limits.max_zip_members)}개입니다.",
    )


def sheet_too_large(rows: int, columns: int, limits: UploadLimits) -> bool:
    """Whether a declared sheet dimension is one not to trust: reading pads every row to
    the declared width and every gap to the declared height, so a false dimension costs
    rows x columns however few cells the sheet holds."""
    return rows > EXCEL_ROWS or columns > EXCEL_COLUMNS or rows * columns > limits.max_cells


def beyond_excel_rows() -> LimitBreach:
    return LimitBreach(
        400,
        f"the sheet names a row beyond row {_n(EXCEL_ROWS)}, the last row of an Excel sheet",
        f"시트에 Excel 시트의 마지막 행({_n(EXCEL_ROWS)}행)보다 뒤의 행이 있습니다.",
    )


# -- rows and cells as they are read -------------------------------------------------


class CellCounter:
    """Counts the rows with data and the cells read from a sheet (padding of empty cells
    included), refusing the row that goes over a limit, so the time and memory a sheet
    costs stay bounded however the file is built."""

    def __init__(self, limits: UploadLimits):
        self.limits = limits
        self.rows = 0
        self.cells = 0

    def add(self, row_number: int, width: int, *, blank: bool = False) -> None:
        self.rows += not blank
        self.cells += width
        if self.rows > self.limits.max_rows:
            raise LimitBreach(
                413,
                f"the sheet has more than {_n(self.limits.max_rows)} rows with data (row {_n(row_number)}); "
                f"the limit is {_n(self.limits.max_rows)} rows",
                f"데이터가 있는 행이 {_n(self.limits.max_rows)}개를 넘습니다 ({_n(row_number)}행). "
                f"한도는 {_n(self.limits.max_rows)}행입니다.",
            )
        if self.cells > self.limits.max_cells:
            raise LimitBreach(
                413,
                f"the sheet has more than {_n(self.limits.max_cells)} cells by row {_n(row_number)} "
                f"(that row alone is {_n(width)} columns wide); "
                f"the limit is {_n(self.limits.max_cells)} cells",
                f"{_n(row_number)}행까지 셀이 {_n(self.limits.max_cells)}개를 넘습니다 "
                f"(이 행만 {_n(width)}열). 한도는 {_n(self.limits.max_cells)}셀입니다.",
            )


# -- YAML: the event stream ------------------------------------------------------------


def check_yaml_events(events: Iterable[Any], limits: UploadLimits) -> int:
    """Refuse YAML that nests too deep, uses too many aliases or expands past the node
    limit, from its events alone: they stream in linear time and never copy what an
    alias names, so a billion laughs is seen before anything builds it. Returns the
    number of values with aliases expanded."""
    import yaml  # deferred: the baseline path never reads YAML

    # an anchor's subtree size, aliases inside it counted expanded
    sizes: dict[str, int] = {}
    # open collections: [nodes so far, anchor]
    stack: list[list[Any]] = []
    total = aliases = 0

    def grow(by: int, event: Any) -> None:
        nonlocal total
        total += by
        if stack:
            stack[-1][0] += by
        if total > limits.max_yaml_nodes:
            line = event.start_mark.line + 1
            raise LimitBreach(
                413,
                f"line {line}: the YAML expands to more than {_n(limits.max_yaml_nodes)} values "
                f"(each alias counts as a copy of what it names); the limit is {_n(limits.max_yaml_nodes)}",
                f"{line}번째 줄: YAML을 펼치면 값이 {_n(limits.max_yaml_nodes)}개를 넘습니다 "
                f"(별칭 *은 가리키는 내용의 사본으로 셉니다). 한도는 {_n(limits.max_yaml_nodes)}개입니다.",
            )

    for event in events:
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_yaml_aliases:
                line = event.start_mark.line + 1
                raise LimitBreach(
                    400,
                    f"line {line}: more than {_n(limits.max_yaml_aliases)} aliases (*{event.anchor}); "
                    f"the limit is {_n(limits.max_yaml_aliases)} aliases",
                    f"{line}번째 줄: 별칭(*{event.anchor})이 {_n(limits.max_yaml_aliases)}개를 넘습니다. "
                    f"한도는 {_n(limits.max_yaml_aliases)}개입니다.",
                )
            grow(sizes.get(event.anchor, 1), event)
        elif isinstance(event, yaml.ScalarEvent):
            grow(1, event)
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            grow(1, event)
            stack.append([1, event.anchor])
            if len(stack) > limits.max_yaml_depth:
                line = event.start_mark.line + 1
                raise LimitBreach(
                    400,
                    f"line {line}: lists and mappings nested more than {limits.max_yaml_depth} deep; "
                    f"the limit is {limits.max_yaml_depth} levels",
                    f"{line}번째 줄: 목록과 매핑이 {limits.max_yaml_depth}단계보다 깊게 중첩되어 있습니다. "
                    f"한도는 {limits.max_yaml_depth}단계입니다.",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = stack.pop()
            if anchor:
                sizes[anchor] = size
            if stack:
                # the collection itself was counted in its parent when it started
                stack[-1][0] += size - 1
    return total
