"""A support project's targets as the issue writes them: imported, measured from data in a
real influxd, a result entered with its evidence, and the completion pack read back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from zoneinfo import ZoneInfo

import pytest

from assessor.domain.report.completion import achievement_text, value_text
from assessor.domain.targets import KpiTarget, Side
from tests.support.report_pdf import pdf_text

SEOUL = ZoneInfo("Asia/Seoul")
REGISTRY = """\
factories:
  - id: tgt-factory
    name: 목표정밀
    region: 충남
    calendar:
      shifts: [{days: daily, start: "08:00", end: "20:00"}]
    lines:
      - id: line-1
        machines:
          - {id: m1, ideal_cycle_time: 20s}
    support_projects:
      - id: sp-2026
        program: basic
        start: 2026-03-10
        end: 2026-07-07
        baseline: {start: 2025-11-01, end: 2026-02-28}
        kpis:
          - {kpi: units_per_hour, target: "+20%"}
          - {kpi: defect_rate, baseline: 0.029, target: 0.018}
          - {kpi: manufacturing_lead_time, target: "-15%"}
          - {kpi: inventory_days, baseline: 21, target: 15, result_source: manual}
"""
BEFORE_DAYS = [dt.date(2026, 2, d) for d in range(20, 26)]
AFTER_DAYS = [dt.date(2026, 7, d) for d in range(8, 14)]
#: the service's "now": the result window runs from the day after the project to yesterday
NOW = dt.datetime(2026, 7, 14, 12, tzinfo=SEOUL).timestamp()


def day_lines(day: dt.date, per_hour: int, reject_every: int, order_hours: int) -> list[str]:
    """08:00-20:00 running, a sample every 30 s; a new production order every ``order_hours``."""
    start = dt.datetime.combine(day, dt.time(8), SEOUL).timestamp()
    base = day.toordinal() * 10_000
    out = []
    for i in range(12 * 120 + 1):
        t = start + 30 * i
        made = base + (i * per_hour) // 120
        rejects = (made - base) // reject_every
        order = f"O{day:%m%d}-{min(i // (order_hours * 120), 12 // order_hours - 1)}"
        state = "running" if i < 12 * 120 else "stopped"
        out.append(
            f'machine_data,factory=tgt-factory,line=line-1,machine=m1 state="{state}",order_id="{order}",'
            f"count_total={made}i,count_reject={base // reject_every + rejects}i {round(t * 1e9)}"
        )
    return out


@pytest.fixture
async def env(assessor_env):
    r = await assessor_env.client.post(
        "/api/v1/registry", content=REGISTRY.encode(), headers=assessor_env.auth("operator")
    )
    assert r.status_code == 200, r.text
    lines = [x for d in BEFORE_DAYS for x in day_lines(d, 100, 30, 4)]
    lines += [x for d in AFTER_DAYS for x in day_lines(d, 115, 80, 3)]
    status, text = assessor_env.influx.write(lines, assessor_env.database)
    assert status == 204, text
    assessor_env.service.clock = lambda: NOW
    return assessor_env


async def targets(env, who="operator"):
    r = await env.client.get("/api/v1/factories/tgt-factory/targets", headers=env.auth(who))
    assert r.status_code == 200, r.text
    return r.json()


def as_kpi(row: dict) -> KpiTarget:
    return KpiTarget(
        **{**row, "baseline": Side(**row["baseline"]), "result": Side(**row["result"]), "daily": ()}
    )


async def test_targets_from_data_and_an_entered_result(env):
    started = time.time()
    body = await targets(env)
    k = {row["kpi"]: row for row in body["kpis"]}
    assert list(k) == ["units_per_hour", "defect_rate", "manufacturing_lead_time", "inventory_days"]
    assert body["result_window"] == {"start": "2026-07-08", "end": "2026-07-13"}

    uph = k["units_per_hour"]  # 100/h -> 115/h against +20%: not met
    assert uph["baseline"]["source"] == "measured" and uph["baseline"]["count"] == len(BEFORE_DAYS)
    assert uph["baseline"]["value"] == pytest.approx(100, rel=0.01)
    assert uph["target"] == pytest.approx(uph["baseline"]["value"] * 1.2)
    assert uph["result"]["value"] == pytest.approx(115, rel=0.01)
    assert uph["result"]["low"] <= uph["result"]["value"] <= uph["result"]["high"]
    assert uph["achievement"] == pytest.approx(0.75, abs=0.05)
    assert uph["status"] == "fail"

    defects = k["defect_rate"]  # 1 in 80 rejected against 0.018 from 0.029: met
    assert defects["baseline"] == {
        "value": 0.029,
        "source": "registry",
        "count": 0,
        "low": None,
        "high": None,
    }
    assert defects["result"]["value"] == pytest.approx(1 / 80, rel=0.05)
    assert defects["status"] == "pass" and defects["achievement"] > 1

    lead = k["manufacturing_lead_time"]  # orders of 4 h, then of 3 h, against -15%: met
    assert lead["baseline"]["value"] == pytest.approx(4, abs=0.05)
    assert lead["result"]["value"] == pytest.approx(3, abs=0.05)
    assert lead["baseline"]["count"] == 3 * len(BEFORE_DAYS) and lead["result"]["count"] == 4 * len(
        AFTER_DAYS
    )
    assert lead["status"] == "pass"
    assert [d["orders"] for d in lead["daily"]] == [4] * len(AFTER_DAYS)

    stock = k["inventory_days"]  # no result entered yet: neither met nor failed
    assert (stock["status"], stock["reason"], stock["result"]["value"]) == ("no_data", "not_entered", None)
    assert body["verdict"] == {"met": 2, "total": 4, "open": 1, "pass_share": 1.0, "status": "fail"}

    evidence = b"stock count 2026-07-10: 14 days\n"
    r = await env.client.post(
        "/api/v1/factories/tgt-factory/projects/sp-2026/results",
        data={"kpi": "inventory_days", "value": "14", "note": "재고 실사", "entered_by": "김담당"},
        files={"file": ("재고실사.csv", io.BytesIO(evidence), "text/csv")},
        headers=env.auth("operator"),
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert (entry["entered_by"], entry["file_name"], entry["file_size"]) == (
        "김담당",
        "재고실사.csv",
        len(evidence),
    )
    assert entry["token_id"] and dt.datetime.fromisoformat(entry["entered_at"]).timestamp() >= started - 1
    r = await env.client.get(
        f"/api/v1/factories/tgt-factory/projects/sp-2026/results/{entry['id']}/file",
        headers=env.auth("operator"),
    )
    assert r.content == evidence

    body = await targets(env)
    stock = body["kpis"][3]
    assert (stock["status"], stock["result"]["value"], stock["result"]["source"]) == ("pass", 14.0, "entered")
    assert stock["entered"]["entered_by"] == "김담당" and stock["entered"]["note"] == "재고 실사"
    assert body["verdict"]["met"] == 3 and body["verdict"]["status"] == "fail"

    # the completion pack: every number the API gave, as the PDF prints it
    r = await env.client.get(
        "/api/v1/factories/tgt-factory/projects/sp-2026/completion", headers=env.auth("operator")
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert "목표 달성 3/4" in text
    for row in body["kpis"]:
        kpi = as_kpi(row)
        for number in (kpi.baseline.value, kpi.target, kpi.result.value):
            assert value_text(kpi, number) in text, (row["kpi"], number)
        assert f"{kpi.achievement * 100:,.1f}%" in text
        assert row["name_ko"] in text
    assert "재고실사.csv" in text and "김담당" in text
    for head in ("지표", "단위", "기준값", "목표값", "달성값", "달성률", "측정 방법", "자료 출처"):
        assert head in text
    assert "m1" in text and "2026-07-13" in text  # the machine's last sample

    r = await env.client.get(
        "/api/v1/factories/tgt-factory/projects/sp-2026/completion",
        params={"format": "csv"},
        headers=env.auth("operator"),
    )
    rows = r.content.decode("utf-8-sig").splitlines()
    assert len(rows) == 1 + 4
    uph = body["kpis"][0]
    assert repr(uph["result"]["value"]) in rows[1] and repr(uph["achievement"]) in rows[1]


async def test_results_are_entered_only_for_the_callers_factory_and_manual_kpis(env):
    url = "/api/v1/factories/tgt-factory/projects/sp-2026/results"
    form = {"kpi": "inventory_days", "value": "14", "note": "n", "entered_by": "x"}
    files = {"file": ("a.txt", io.BytesIO(b"x"), "text/plain")}
    r = await env.client.post(url, data=form, files=files, headers=env.auth("other-factory"))
    assert r.status_code == 403
    r = await env.client.post(
        url, data={**form, "kpi": "units_per_hour"}, files=files, headers=env.auth("operator")
    )
    assert r.status_code == 400 and "measured from the data" in r.text
    no_file = {"photo": ("a.txt", io.BytesIO(b"x"), "text/plain")}
    r = await env.client.post(url, data=form, files=no_file, headers=env.auth("operator"))
    assert r.status_code == 400 and r.json()["error"]["parameter"] == "file"
    r = await env.client.post(url, data={**form, "value": "-1"}, files=files, headers=env.auth("operator"))
    assert r.status_code == 400 and r.json()["error"]["parameter"] == "value"


async def test_factory_page_and_portfolio_show_the_targets(env):
    origin = {"Origin": "http://assessor"}
    r = await env.client.post("/login", data={"token": env.tokens["operator"]}, headers=origin)
    assert r.status_code == 303, r.text
    body = await targets(env)
    r = await env.client.get("/factories/tgt-factory?lang=ko")
    assert r.status_code == 200, r.text
    section = r.text[r.text.index('id="targets-sp-2026"') :]
    section = section[: section.index("</section>")]
    assert "목표 달성 2/4" in section and 'data-status="fail"' in section
    for row in body["kpis"]:
        kpi = as_kpi(row)
        assert f'data-kpi="{row["kpi"]}" data-status="{row["status"]}"' in section
        assert value_text(kpi, kpi.result.value) in section
    assert "증빙과 함께 입력된 달성값이 없습니다" in section  # inventory days: not entered
    r = await env.client.get("/factories/tgt-factory/projects/sp-2026/completion?format=pdf&lang=en")
    assert r.status_code == 200 and "targets met 2/4" in pdf_text(r.content)

    r = await env.client.get("/api/v1/portfolio", headers=env.auth("operator"))
    row = next(x for x in r.json()["factories"] if x["factory"] == "tgt-factory")
    assert row["targets"] == {"project": "sp-2026", "met": 2, "total": 4, "open": 1, "status": "fail"}
    r = await env.client.get("/portfolio?lang=ko")
    assert "목표 달성 2/4" in r.text
    r = await env.client.get("/portfolio?lang=en")
    assert "targets met 2/4" in r.text


async def test_portfolio_report_csv_carries_the_targets(env):
    r = await env.client.get(
        "/api/v1/portfolio/report", params={"format": "csv", "lang": "en"}, headers=env.auth("operator")
    )
    lines = r.content.decode("utf-8-sig").splitlines()
    head = lines[0].split(",")
    row = next(x.split(",") for x in lines[1:] if x.startswith("tgt-factory,"))
    got = {k: row[head.index(k)] for k in ("targets_met", "targets_total", "targets_status")}
    assert got == {"targets_met": "2", "targets_total": "4", "targets_status": "fail"}


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_factory_report_pdf_shows_the_targets_as_the_api_gives_them(env, lang):
    body = await targets(env)
    r = await env.client.get(
        "/api/v1/factories/tgt-factory/report",
        params={"format": "pdf", "lang": lang},
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    text = pdf_text(r.content)
    title, note = (
        ("지원사업 성과지표 목표", "사업계획서의")
        if lang == "ko"
        else ("Support project targets", "The project's own")
    )
    got = section(text, title, note)
    verdict = "목표 달성 2/4 · 미달" if lang == "ko" else "targets met 2/4 · failed"
    assert f"sp-2026 · {verdict}" in got
    rows = body["kpis"]
    for row, nxt in zip(rows, [*rows[1:], None], strict=True):
        kpi = as_kpi(row)
        # each KPI's row, from its name to the next KPI's: the numbers in the API's order
        name = kpi.name_ko if lang == "ko" else kpi.name_en
        after = (nxt["name_ko"] if lang == "ko" else nxt["name_en"]) if nxt else note
        cells = section(got + note, name, after)
        shown = [
            value_text(kpi, kpi.baseline.value),
            value_text(kpi, kpi.target),
            value_text(kpi, kpi.result.value),
            achievement_text(kpi),
        ]
        at = [cells.find(s, cells.find(shown[i - 1]) + 1 if i else 0) for i, s in enumerate(shown)]
        assert -1 not in at and at == sorted(at), (cells, shown)


async def test_factory_report_csv_carries_the_targets_exactly(env):
    body = await targets(env)
    r = await env.client.get(
        "/api/v1/factories/tgt-factory/report",
        params={"format": "csv", "lang": "en"},
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    rows = {x["kpi"]: x for x in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
    for k in body["kpis"]:
        row = rows[k["kpi"]]
        for column, value in (
            ("target_baseline", k["baseline"]["value"]),
            ("target", k["target"]),
            ("target_result", k["result"]["value"]),
            ("target_achievement", k["achievement"]),
        ):
            assert (float(row[column]) if row[column] else None) == value, (k["kpi"], column)
        assert (row["target_status"], row["target_text"]) == (k["status"], k["target_text"])
    assert {(x["targets_met"], x["targets_total"], x["targets_status"]) for x in rows.values()} == {
        ("2", "4", "fail")
    }


@pytest.mark.parametrize(("lang", "shown"), [("ko", "목표 달성 2/4 미달"), ("en", "targets met 2/4 failed")])
async def test_portfolio_pdf_has_the_targets_column(env, lang, shown):
    r = await env.client.get(
        "/api/v1/portfolio/report", params={"format": "pdf", "lang": lang}, headers=env.auth("operator")
    )
    assert r.status_code == 200, r.text
    text = pdf_text(r.content)
    assert ("지원사업 목표" if lang == "ko" else "Project targets") in text
    assert shown in text
