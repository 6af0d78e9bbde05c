"""Report downloads (API and command line) from simulated months with a real improvement,
stored in a real influxd: the PDF and CSV must say what the JSON API says."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from assessor.domain.labels import fmt_interval, fmt_kpi, fmt_num, fmt_pct, fmt_signed_pct
from assessor.services.auth import create_token
from localservices.influxd import free_port
from tests.assessor.api.test_gains_level_api import REGISTRY, seed_slow_ideal, simulated_lines
from tests.support.report_pdf import embedded_fonts, pdf_text, save_artifact

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def env(assessor_env):
    r = await assessor_env.client.post(
        "/api/v1/registry", content=REGISTRY.encode(), headers=assessor_env.auth("operator")
    )
    assert r.status_code == 200, r.text
    lines = simulated_lines(dt.date(2024, 1, 1), dt.date(2024, 2, 11))
    for i in range(0, len(lines), 10_000):
        status, text = assessor_env.influx.write(lines[i : i + 10_000], assessor_env.database)
        assert status == 204, text
    assessor_env.tokens["sim-factory"] = create_token(assessor_env.store, "factory", "sim-factory")
    return assessor_env


async def get_report(env, path: str, who: str = "operator", **params: str):
    return await env.client.get(path, params=params, headers=env.auth(who))


def disposition_names(header: str) -> tuple[str, str]:
    """(plain filename, decoded filename*) of a Content-Disposition header."""
    assert header.startswith("attachment;"), header
    plain = header.split('filename="', 1)[1].split('"', 1)[0]
    star = header.split("filename*=", 1)[1]
    charset, _, encoded = star.split("'", 2)
    assert charset == "UTF-8"
    return plain, unquote(encoded, encoding="utf-8")


def csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def nanum_embedded(content: bytes) -> bool:
    nanum = {n: e for n, e in embedded_fonts(content).items() if "NanumGothic" in n}
    return bool(nanum) and all(nanum.values())


async def test_factory_report_pdf_and_csv_say_what_the_api_says(env):
    gains_r = await get_report(env, "/api/v1/factories/sim-factory/gains", project="sp-2024")
    assert gains_r.status_code == 200, gains_r.text
    gains = {g["kpi"]: g for g in gains_r.json()["gains"]}
    level = (await get_report(env, "/api/v1/factories/sim-factory/assessment")).json()

    r = await get_report(env, "/api/v1/factories/sim-factory/report", project="sp-2024")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    plain, name = disposition_names(r.headers["content-disposition"])
    assert name.startswith("시뮬정밀_sp-2024_성과보고서_") and name.endswith(".pdf")
    assert plain.startswith("sim-factory_sp-2024_report_") and plain.isascii()
    save_artifact("factory-ko.pdf", r.content)
    assert nanum_embedded(r.content)
    text = pdf_text(r.content)
    assert "시뮬정밀" in text and "충남" in text and "sp-2024" in text
    assert "2024-01-01 ~ 2024-01-10" in text and "2024-02-01 ~ 2024-02-10" in text
    for kpi, name_ko in (("units_per_hour", "시간당 생산량"), ("defect_rate", "공정불량률")):
        g = gains[kpi]
        assert name_ko in text
        assert fmt_kpi(kpi, g["before"]) in text and fmt_kpi(kpi, g["after"]) in text
        assert fmt_signed_pct(g["improvement"]) in text
        assert fmt_interval(g["ci95_low"], g["ci95_high"]) in text
    assert "생산성 30% 향상" in text and "자동 수집" in text
    assert f"{fmt_num(level['score'], 1)} / 1,000" in text and f"Level {level['level']} (" in text
    assert "(Asia/Seoul)" in text and "ISO 22400" in text

    en = await get_report(env, "/api/v1/factories/sim-factory/report", project="sp-2024", lang="en")
    assert en.status_code == 200
    save_artifact("factory-en.pdf", en.content)
    assert nanum_embedded(en.content)
    en_text = pdf_text(en.content)
    assert "Smart-factory before/after report" in en_text and "Units per hour" in en_text
    assert fmt_signed_pct(gains["units_per_hour"]["improvement"]) in en_text and "measured" in en_text

    c = await get_report(
        env, "/api/v1/factories/sim-factory/report", project="sp-2024", format="csv", lang="en"
    )
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    _, csv_name = disposition_names(c.headers["content-disposition"])
    assert csv_name.endswith(".csv")
    save_artifact("factory-en.csv", c.content)
    by_kpi = {row["kpi"]: row for row in csv_rows(c.content)}
    assert set(by_kpi) == set(gains)
    for kpi, g in gains.items():
        row = by_kpi[kpi]
        for field in ("before", "after", "improvement", "ci95_low", "ci95_high"):
            assert (row[field] == "") if g[field] is None else float(row[field]) == g[field], (kpi, field)
        assert int(row["days_before"]) == g["days_before"] and row["source_after"] == g["source_after"]
    assert int(by_kpi["units_per_hour"]["level"]) == level["level"]

    # no project named: the latest one
    latest = await get_report(env, "/api/v1/factories/sim-factory/report", format="csv")
    assert latest.status_code == 200
    assert disposition_names(latest.headers["content-disposition"])[1].startswith("시뮬정밀_sp-2024_")


async def test_manual_baseline_is_named_and_flagged(env):
    log = "date,line,hours_worked,workers,produced,defects\n" + "".join(
        f"2024-01-{d:02d},line-1,24,3,6000,300\n" for d in range(1, 11)
    )
    r = await env.client.post(
        "/api/v1/factories/sim-factory/baseline",
        params={"filename": "log.csv"},
        content=log.encode(),
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    pdf = await get_report(env, "/api/v1/factories/sim-factory/report", who="sim-factory")
    assert pdf.status_code == 200, pdf.text
    save_artifact("factory-manual-baseline-ko.pdf", pdf.content)
    text = pdf_text(pdf.content)
    assert "데이터 출처: 수기 기록" in text  # the baseline window's source
    assert "측정 방식의 차이" in text  # the mixed-sources warning
    assert fmt_kpi("units_per_hour", 6000 / 24) in text
    rows = {
        row["kpi"]: row
        for row in csv_rows(
            (await get_report(env, "/api/v1/factories/sim-factory/report", format="csv", lang="en")).content
        )
    }
    uph = rows["units_per_hour"]
    assert uph["source_before"] == "manual" and float(uph["before"]) == pytest.approx(250.0)
    assert "mixed_sources" in uph["warnings"].split(";")


async def test_access_rules_and_errors(env):
    path = "/api/v1/factories/sim-factory/report"
    assert (await env.client.get(path)).status_code == 401
    denied = await get_report(env, path, who="demo-factory")
    assert denied.status_code == 403 and denied.json()["error"]["parameter"] == "id"
    unknown = await get_report(env, path, project="sp-1999")
    assert unknown.status_code == 404 and unknown.json()["error"]["parameter"] == "project"
    assert (await get_report(env, "/api/v1/factories/nowhere/report")).status_code == 404
    bad = await get_report(env, path, format="xls")
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "format"

    # a factory without a support project still gets its report
    plain = await get_report(
        env, "/api/v1/factories/demo-factory/report", who="demo-factory", project="sp-2023"
    )
    assert plain.status_code == 200
    none = await get_report(env, "/api/v1/factories/other-factory/report", who="other-factory")
    assert none.status_code == 200
    assert "등록된 지원사업이 없어" in pdf_text(none.content)
    assert disposition_names(none.headers["content-disposition"])[1].startswith("다른공장_사업없음_")

    mine = await get_report(env, "/api/v1/portfolio/report", who="demo-factory", format="csv", lang="en")
    assert mine.status_code == 200
    assert [row["factory"] for row in csv_rows(mine.content)] == ["demo-factory"]
    mine_pdf = pdf_text((await get_report(env, "/api/v1/portfolio/report", who="demo-factory")).content)
    assert "데모정밀" in mine_pdf and "시뮬정밀" not in mine_pdf and "다른공장" not in mine_pdf

    await env.service.refresh_all()  # what the server's background refresher does
    everyone = await get_report(env, "/api/v1/portfolio/report", format="csv", lang="en")
    assert {row["factory"] for row in csv_rows(everyone.content)} == {
        "demo-factory",
        "other-factory",
        "sim-factory",
    }
    portfolio = await get_report(env, "/api/v1/portfolio/report")
    assert portfolio.status_code == 200
    plain_name, name = disposition_names(portfolio.headers["content-disposition"])
    assert name.startswith("factorylens_포트폴리오보고서_") and plain_name.startswith(
        "factorylens_portfolio-report_"
    )
    save_artifact("portfolio-ko.pdf", portfolio.content)
    assert nanum_embedded(portfolio.content)
    text = pdf_text(portfolio.content)
    assert all(n in text for n in ("데모정밀", "다른공장", "시뮬정밀"))
    sim = next(row for row in csv_rows(everyone.content) if row["factory"] == "sim-factory")
    portfolio_json = (await get_report(env, "/api/v1/portfolio")).json()["factories"]
    uph = next(
        g
        for row in portfolio_json
        if row["factory"] == "sim-factory"
        for g in row["gains"]
        if g["kpi"] == "units_per_hour"
    )
    assert float(sim["units_per_hour_improvement"]) == uph["improvement"]
    assert f"시간당 생산량 {fmt_signed_pct(uph['improvement'])}" in text
    en = await get_report(env, "/api/v1/portfolio/report", lang="en")
    save_artifact("portfolio-en.pdf", en.content)
    assert "Smart-factory programme portfolio report" in pdf_text(en.content)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assessor.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


async def test_cli_writes_reports(env, tmp_path):
    registry = env.service.cfg.registry
    (tmp_path / "assessor.yaml").write_text(
        f"influx: {{url: {env.influx.url}, database: {env.database}}}\nregistry: {registry}\n",
        encoding="utf-8",
    )
    cfg = ["--config", "assessor.yaml"]
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli(
        *cfg,
        "report",
        "factory",
        "--factory",
        "sim-factory",
        "--format",
        "csv",
        "--lang",
        "en",
        "--output",
        str(out),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    written = Path(r.stdout.strip())
    assert written.parent == out and written.name.startswith("시뮬정밀_sp-2024_report_")
    api = await get_report(env, "/api/v1/factories/sim-factory/report", format="csv", lang="en")
    strip = [{k: v for k, v in row.items() if k != "generated_at"} for row in csv_rows(written.read_bytes())]
    assert strip == [{k: v for k, v in row.items() if k != "generated_at"} for row in csv_rows(api.content)]

    r = run_cli(*cfg, "report", "factory", "--factory", "sim-factory", "--output", "mine.pdf", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "mine.pdf" and nanum_embedded((tmp_path / "mine.pdf").read_bytes())

    r = run_cli(*cfg, "report", "portfolio", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / r.stdout.strip()).read_bytes().startswith(b"%PDF-")

    # a directory that does not exist yet, written with a trailing slash, is created
    r = run_cli(*cfg, "report", "portfolio", "--output", "reports/new/", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).parent == Path("reports/new")
    assert (tmp_path / r.stdout.strip()).read_bytes().startswith(b"%PDF-")

    r = run_cli(*cfg, "report", "factory", "--factory", "sim-factory", "--project", "sp-1999", cwd=tmp_path)
    assert r.returncode == 1 and "sp-1999" in r.stderr and "sp-2024" in r.stderr
    r = run_cli(*cfg, "report", "factory", "--factory", "nowhere", cwd=tmp_path)
    assert r.returncode == 1 and "nowhere" in r.stderr

    (tmp_path / "down.yaml").write_text(
        f"influx: {{url: 'http://127.0.0.1:{free_port()}', database: x, timeout: 2}}\nregistry: {registry}\n",
        encoding="utf-8",
    )
    r = run_cli("--config", "down.yaml", "report", "factory", "--factory", "sim-factory", cwd=tmp_path)
    assert r.returncode == 3 and "InfluxDB" in r.stderr


async def test_a_flagged_kpi_is_named_in_the_report_never_printed(assessor_env):
    """A factory whose registered ideal cycle time is four times too slow: performance and
    OEE are flagged, so the report names the reason and never prints the measured value."""
    env = assessor_env
    await seed_slow_ideal(env)
    kpis = await get_report(env, "/api/v1/factories/slow-ideal/kpis", start="2024-02-01", end="2024-02-10")
    (row,) = kpis.json()["rows"]
    measured = next(f["value"] for f in row["flags"] if f["kpi"] == "performance")
    assert measured > 2  # what the formula gave: far above 100 %
    pdf = await get_report(env, "/api/v1/factories/slow-ideal/report", project="sp-2024")
    assert pdf.status_code == 200, pdf.text
    save_artifact("factory-flagged-ko.pdf", pdf.content)
    text = pdf_text(pdf.content)
    assert "성능가동률: 이상치(표준 사이클타임 확인)" in text and "그래프에서 제외" in text
    assert "개선율 계산에서 제외" in text  # the OEE gain, left out with its reason
    for shown in (fmt_pct(measured), fmt_pct(measured, 0)):
        assert shown not in text, shown
    c = await get_report(
        env, "/api/v1/factories/slow-ideal/report", project="sp-2024", format="csv", lang="en"
    )
    oee = next(r for r in csv_rows(c.content) if r["kpi"] == "oee")
    assert oee["excluded_reason"] == "before:implausible_ideal_time; after:implausible_ideal_time"
    assert oee["before"] == "" and oee["after"] == "" and oee["improvement"] == ""
