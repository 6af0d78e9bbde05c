"""POST /api/v1/factories/{id}/baseline: manual daily logs as CSV (UTF-8, CP949) or XLSX,
all or nothing, and what a stored log does to the gains of a support project."""

from __future__ import annotations

import datetime as dt
import io
import re

import httpx
import openpyxl
import pytest

from assessor.api.app import MAX_UPLOAD_BYTES
from assessor.domain.models import BaselineDay
from tests.support.assessor_env import AssessorEnv

DEMO = "demo-factory"
URL = f"/api/v1/factories/{DEMO}/baseline"
KST = dt.timezone(dt.timedelta(hours=9))
#: pinned "now", so the open-ended "after" window of sp-2023 stays short
NOW = dt.datetime(2024, 3, 6, 12, tzinfo=KST).timestamp()
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GOOD_CSV = (
    b"date,line,hours_worked,workers,produced,defects\n"
    b"2022-09-01,line-1,7.5,3,900,12\n"
    b"2022-09-02,line-1,7,3,840,7\n"
    b"2022-09-05,line-1,8,4,1000,10\n"
)


@pytest.fixture
async def env(assessor_env: AssessorEnv) -> AssessorEnv:
    assessor_env.service.clock = lambda: NOW
    return assessor_env


def day(d: str, hours: float, workers: float, produced: int, defects: int) -> BaselineDay:
    return BaselineDay(
        factory_id=DEMO,
        day=dt.date.fromisoformat(d),
        line_id="line-1",
        hours_worked=hours,
        workers=workers,
        produced=produced,
        defects=defects,
        energy_kwh=None,
        orders_on_time=None,
        orders_total=None,
    )


GOOD_ROWS = [
    day("2022-09-01", 7.5, 3, 900, 12),
    day("2022-09-02", 7, 3, 840, 7),
    day("2022-09-05", 8, 4, 1000, 10),
]


async def upload_raw(env: AssessorEnv, body: bytes, filename: str | None = "log.csv") -> httpx.Response:
    params = {"filename": filename} if filename else {}
    return await env.client.post(URL, content=body, params=params, headers=env.auth(DEMO))


async def test_good_utf8_csv_is_stored(env: AssessorEnv) -> None:
    r = await upload_raw(env, GOOD_CSV)
    assert r.status_code == 200, r.text
    assert r.json() == {"stored_rows": 3, "source": "manual", "file": "log.csv"}
    assert env.store.baseline(DEMO) == GOOD_ROWS
    assert env.store.baseline("other-factory") == []


async def test_good_cp949_csv_with_korean_headers_is_stored(env: AssessorEnv) -> None:
    text = (
        "날짜,라인,가동시간,작업자수,생산량,불량수,비고\n"
        "2022-09-01,line-1,7.5,3,900,12,정상\n"
        "2022.09.02,line-1,7:00,3,840,7,\n"
        '2022년 9월 5일,line-1,8,4,"1,000",10,금형 교체\n'
    )
    data = text.encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8
    r = await upload_raw(env, data, "생산일지.csv")
    assert r.status_code == 200, r.text
    assert r.json()["stored_rows"] == 3
    assert env.store.baseline(DEMO) == GOOD_ROWS


def _xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["2022년 생산일지"])  # a title above the header
    ws.append(["date", "line", "hours_worked", "workers", "produced", "defects"])
    ws.append([dt.date(2022, 9, 1), "line-1", 7.5, 3, 900, 12])
    ws.append([dt.datetime(2022, 9, 2), "line-1", dt.time(7, 0), 3, 840, 7])
    ws.append([dt.date(2022, 9, 5), "line-1", 8, 4, 1000, 10])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def test_good_xlsx_multipart_upload_is_stored(env: AssessorEnv) -> None:
    r = await env.client.post(URL, files={"file": ("log.xlsx", _xlsx(), XLSX_MIME)}, headers=env.auth(DEMO))
    assert r.status_code == 200, r.text
    assert r.json() == {"stored_rows": 3, "source": "manual", "file": "log.xlsx"}
    assert env.store.baseline(DEMO) == GOOD_ROWS


async def test_xlsx_as_raw_body_without_filename(env: AssessorEnv) -> None:
    headers = {**env.auth(DEMO), "Content-Type": XLSX_MIME}
    r = await env.client.post(URL, content=_xlsx(), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["file"] == "upload.xlsx"
    assert env.store.baseline(DEMO) == GOOD_ROWS


BAD_CSV = (
    b"date,line,hours_worked,workers,produced,defects\n"
    b"2022-09-01,line-1,7.5,3,900,12\n"  # row 2: fine on its own
    b"2022-13-01,line-1,7,3,800,5\n"  # row 3: bad date
    b"2022-09-06,line-1,7,-2,800,5\n"  # row 4: negative workers
    b"2022-09-07,line-1,7,3,10,11\n"  # row 5: more defects than produced
    b"2022-09-08,line-9,7,3,800,5\n"  # row 6: unknown line
    b"2022-09-01,line-1,6,2,700,3\n"  # row 7: same day and line as row 2
)
BAD_CELLS = {(3, "date"), (4, "workers"), (5, "defects"), (6, "line"), (7, "date")}


async def test_bad_file_lists_every_problem_and_stores_nothing(env: AssessorEnv) -> None:
    earlier = b"date,line,hours_worked,workers,produced,defects\n2022-09-01,line-1,5,2,100,1\n"
    assert (await upload_raw(env, earlier, "earlier.csv")).status_code == 200
    before = env.store.baseline(DEMO)
    assert before == [day("2022-09-01", 5, 2, 100, 1)]

    r = await upload_raw(env, BAD_CSV)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["parameter"] == "file"
    assert "nothing stored" in error["message"]
    assert {(d["row"], d["column"]) for d in error["details"]} == BAD_CELLS
    assert all(d["message"] for d in error["details"])
    # the same problems in Korean, for Korean clients
    assert all(re.search(r"[\uac00-\ud7a3]", d["message_ko"]) for d in error["details"])
    by_cell = {(d["row"], d["column"]): d for d in error["details"]}
    assert by_cell[5, "defects"]["message"] == "defects (11) exceed produced (10)"
    assert by_cell[5, "defects"]["message_ko"] == "불량수량(11)이 생산수량(10)보다 많습니다."
    # row 2 would have replaced the earlier upload's 2022-09-01: it must not have
    assert env.store.baseline(DEMO) == before


async def test_bad_xlsx_reports_sheet_rows(env: AssessorEnv) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["날짜", "라인", "가동시간", "작업자수", "생산량", "불량수"])
    ws.append([dt.date(2022, 9, 1), "line-1", 30, 3, 900, 12])  # 30 hours in a day
    ws.append([dt.date(2022, 9, 2), "line-1", 7, 3, 900.5, 12])  # half a unit
    out = io.BytesIO()
    wb.save(out)
    r = await env.client.post(URL, files={"file": ("log.xlsx", out.getvalue())}, headers=env.auth(DEMO))
    assert r.status_code == 400, r.text
    assert {(d["row"], d["column"]) for d in r.json()["error"]["details"]} == {(2, "가동시간"), (3, "생산량")}
    assert env.store.baseline(DEMO) == []


@pytest.mark.parametrize(
    "body",
    [b"", b"\xff\xfe\x00", b"not a log at all", b"%PDF-1.7\n", b"\xd0\xcf\x11\xe0" + b"\0" * 60],
    ids=["empty", "utf16-bom-only", "no-header", "pdf", "xls-97"],
)
async def test_unusable_body_is_400(env: AssessorEnv, body: bytes) -> None:
    r = await upload_raw(env, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["parameter"] == "file"
    assert env.store.baseline(DEMO) == []


async def test_multipart_without_file_field_or_with_empty_file_is_400(env: AssessorEnv) -> None:
    no_file = await env.client.post(
        URL, data={"other": "x"}, files={"upload": ("a.csv", GOOD_CSV)}, headers=env.auth(DEMO)
    )
    empty = await env.client.post(URL, files={"file": ("a.csv", b"")}, headers=env.auth(DEMO))
    for r in (no_file, empty):
        assert r.status_code == 400, r.text
        assert r.json()["error"]["parameter"] == "file"
    assert env.store.baseline(DEMO) == []


async def test_oversized_body_is_413(env: AssessorEnv) -> None:
    # a valid log padded past the limit with blank rows (which a reader would skip)
    body = GOOD_CSV + b"\n" * (MAX_UPLOAD_BYTES + 1 - len(GOOD_CSV))
    r = await upload_raw(env, body)
    assert r.status_code == 413, r.text[:300]
    assert r.json()["error"]["parameter"] == "file"
    assert env.store.baseline(DEMO) == []


async def test_oversized_multipart_file_is_413(env: AssessorEnv) -> None:
    body = GOOD_CSV + b"\n" * (MAX_UPLOAD_BYTES + 1 - len(GOOD_CSV))
    r = await env.client.post(URL, files={"file": ("log.csv", body)}, headers=env.auth(DEMO))
    assert r.status_code == 413, r.text[:300]
    assert env.store.baseline(DEMO) == []


async def test_stored_log_is_the_manual_before_side_of_gains(env: AssessorEnv) -> None:
    async def units_per_hour() -> dict[str, object]:
        r = await env.client.get(
            f"/api/v1/factories/{DEMO}/gains", params={"project": "sp-2023"}, headers=env.auth(DEMO)
        )
        assert r.status_code == 200, r.text
        return next(g for g in r.json()["gains"] if g["kpi"] == "units_per_hour")

    assert (await units_per_hour())["source_before"] != "manual"
    assert (await upload_raw(env, GOOD_CSV)).status_code == 200
    gain = await units_per_hour()
    assert gain["source_before"] == "manual"
    assert gain["days_before"] == 3
    # ratio of sums over the logged days
    assert gain["before"] == pytest.approx((900 + 840 + 1000) / (7.5 + 7 + 8))


async def test_level_and_portfolio_work_before_the_edge_box_sends_data(env: AssessorEnv) -> None:
    """A factory uploads its manual log before any machine data exists, then looks around."""
    assert (await upload_raw(env, GOOD_CSV)).status_code == 200
    r = await env.client.get(
        f"/api/v1/factories/{DEMO}/gains", params={"project": "sp-2023"}, headers=env.auth(DEMO)
    )
    assert r.status_code == 200
    r = await env.client.get(f"/api/v1/factories/{DEMO}/assessment", headers=env.auth(DEMO))
    assert r.status_code == 200
    r = await env.client.get("/api/v1/portfolio", headers=env.auth("operator"))
    assert r.status_code == 200
