"""Manual order logs (order, start, finish): read from the baseline upload, stored in the
registry, and turned into the lead time of the "before" period (docs/targets.md)."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from assessor.domain.baseline import BaselineError, OrderLogRow, parse_baseline, parse_log
from assessor.domain.lead_time import median_lead_time_h, spans_from_log
from assessor.domain.models import Factory
from assessor.registry import RegistryStore, parse_registry
from assessor.registry.schema import MIGRATIONS, SCHEMA_VERSION
from assessor.registry.store import _statements
from assessor.services.inputs import import_baseline
from tests.support.registry_samples import TWO_FACTORIES_YAML

FACTORY: Factory = parse_registry(TWO_FACTORIES_YAML)[0]
TZ = ZoneInfo(FACTORY.calendar.timezone)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ)


KOREAN = (
    "작업지시 현황\n"
    "주문번호,시작일시,완료일시,비고\n"
    "A-1,2026-02-20 18:00,2026-02-21 07:00,야간 대기\n"
    "A-2,2026.02.21 22:30,2026.02.22 02:00:00,\n"
    "A-3,2026/02/23 16:00,2026/02/23 20:00,중단\n"
    "A-3,2026-02-24T08:00,2026-02-24T10:00,재개\n"
).encode("cp949")


def test_a_korean_order_log_reads_with_its_rows_and_the_factorys_zone() -> None:
    log = parse_log(KOREAN, "orders.csv", factory=FACTORY)
    assert log.days == []
    assert log.orders == [
        OrderLogRow("A-1", at("2026-02-20T18:00"), at("2026-02-21T07:00"), 3),
        OrderLogRow("A-2", at("2026-02-21T22:30"), at("2026-02-22T02:00"), 4),
        OrderLogRow("A-3", at("2026-02-23T16:00"), at("2026-02-23T20:00"), 5),
        OrderLogRow("A-3", at("2026-02-24T08:00"), at("2026-02-24T10:00"), 6),
    ]
    spans = spans_from_log(log.orders, FACTORY.calendar.timezone)
    assert [s.lead_time_h for s in spans] == [13, 3.5, 18]
    assert median_lead_time_h(spans) == 13


def test_an_xlsx_order_log_with_date_time_cells_and_english_headers() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["order_id", "start", "finish"])
    sheet.append(["B-7", dt.datetime(2026, 1, 5, 21, 0), dt.datetime(2026, 1, 6, 5, 30)])
    # a date-time cell that lost its format: Excel's serial day with the time as a fraction
    sheet.append([1234, 46028.875, 46029.25])
    buf = io.BytesIO()
    book.save(buf)
    log = parse_log(buf.getvalue(), "orders.xlsx", factory=FACTORY)
    assert [(r.order_id, r.start, r.finish) for r in log.orders] == [
        ("B-7", at("2026-01-05T21:00"), at("2026-01-06T05:30")),
        ("1234", at("2026-01-06T21:00"), at("2026-01-07T06:00")),
    ]


def test_bad_rows_are_refused_each_by_row_and_column() -> None:
    data = (
        b"order_id,start,finish\n"
        b"C-1,2026-02-20 18:00,2026-02-20 08:00\n"
        b",2026-02-20 08:00,2026-02-20 09:00\n"
        b"C-3,2026-02-20,2026-02-20 09:00\n"
        b"C-4,2026-02-20 08:00,tomorrow\n"
    )
    with pytest.raises(BaselineError) as caught:
        parse_log(data, "orders.csv", factory=FACTORY)
    got = [(e.row, e.column) for e in caught.value.errors]
    assert got == [(2, "finish"), (3, "order_id"), (4, "start"), (5, "finish")]
    first = caught.value.errors[0]
    assert "finishes (2026-02-20 08:00) before it starts (2026-02-20 18:00)" in first.message
    assert "완료일시" in first.message_ko
    assert "time of day" in caught.value.errors[2].message


def test_an_order_log_misses_a_column_by_name() -> None:
    with pytest.raises(BaselineError) as caught:
        parse_log("주문번호,시작일시\nA,2026-02-20 08:00\n".encode(), "orders.csv", factory=FACTORY)
    (e,) = caught.value.errors
    assert (e.row, e.column) == (1, "") and "finish" in e.message and "완료일시" in e.message_ko


def test_a_daily_log_still_reads_as_one_and_parse_baseline_refuses_an_order_log() -> None:
    daily = "날짜,라인,작업시간,작업인원,생산수량,불량수량\n2026-02-20,line-1,8,3,400,4\n".encode()
    log = parse_log(daily, "log.csv", factory=FACTORY)
    assert log.orders == [] and len(log.days) == 1
    with pytest.raises(BaselineError):
        parse_baseline(KOREAN, "orders.csv", factory=FACTORY)


def test_the_store_keeps_the_log_and_a_corrected_file_replaces_its_orders(tmp_path: Path) -> None:
    with RegistryStore(tmp_path / "r.sqlite") as store:
        store.upsert_factories([FACTORY])
        import_baseline(store, FACTORY.id, KOREAN, "orders.csv")
        assert store.baseline_orders(FACTORY.id) == [
            OrderLogRow(r.order_id, r.start.astimezone(dt.UTC), r.finish.astimezone(dt.UTC))
            for r in parse_log(KOREAN, "orders.csv", factory=FACTORY).orders
        ]
        fixed = "주문번호,시작일시,완료일시\nA-3,2026-02-23 16:00,2026-02-23 23:00\n".encode()
        import_baseline(store, FACTORY.id, fixed, "fixed.csv")
        kept = store.baseline_orders(FACTORY.id)
        assert [(r.order_id, r.finish) for r in kept] == [
            ("A-1", at("2026-02-21T07:00")),
            ("A-2", at("2026-02-22T02:00")),
            ("A-3", at("2026-02-23T23:00")),
        ]
        # a refused file stores nothing
        with pytest.raises(BaselineError):
            import_baseline(store, FACTORY.id, b"order_id,start,finish\nA-1,x,y\n", "bad.csv")
        assert store.baseline_orders(FACTORY.id) == kept
        assert store.baseline(FACTORY.id) == []


def test_a_version_8_registry_gains_the_order_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for step in sorted(s for s in MIGRATIONS if s <= 8):
        for statement in _statements(MIGRATIONS[step]):
            db.execute(statement)
    db.execute("INSERT INTO schema_version (version) VALUES (8)")
    db.commit()
    db.close()
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 9
        store.upsert_factories([FACTORY])
        import_baseline(store, FACTORY.id, KOREAN, "orders.csv")
        assert len(store.baseline_orders(FACTORY.id)) == 4
