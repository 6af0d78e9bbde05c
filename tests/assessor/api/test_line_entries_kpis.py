"""Scrap and count corrections entered at the line change the KPIs of /kpis, also for a
day already materialised (docs/kpi-method.md, "Scrap and count corrections")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assessor.domain.models import DowntimeReason
from tests.assessor.api.test_kpis_api import at, reference_points

FACTORY = "demo-factory"
KPIS = f"/api/v1/factories/{FACTORY}/kpis"
OPERATOR = f"/api/v1/factories/{FACTORY}/operator"
DAY_PARAMS = {"start": "2024-03-04", "end": "2024-03-04", "group": "machine"}


@pytest.fixture
def env(assessor_env):
    status, text = assessor_env.influx.write(reference_points(), assessor_env.database)
    assert status == 204, text
    f = assessor_env.store.factory(FACTORY)
    tree = (DowntimeReason("scratch", "긁힘", "Scratch", "material"),)
    assessor_env.store.upsert_factories([replace(f, downtime_reasons=tree)])
    return assessor_env


async def _row(env) -> dict:
    r = await env.client.get(KPIS, params=DAY_PARAMS, headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    (row,) = r.json()["rows"]
    return row


async def test_scrap_and_a_count_correction_change_quality(env):
    before = await _row(env)
    assert (before["total_count"], before["reject_count"]) == (19_271, 423)
    assert before["line_scrap"] == 0 and before["count_source"] == "measured"
    # the day is materialised now; an entry must still count
    assert env.influx.points("kpi_daily", env.database)

    scrap = {
        "client_id": "scrap-1",
        "line": "line-1",
        "machine": "press-01",
        "at": at(11, 0),
        "quantity": 577,
        "reason": "scratch",
    }
    r = await env.client.post(f"{OPERATOR}/scrap", json=scrap, headers=env.auth("operator"))
    assert r.status_code == 201, r.text
    after_scrap = await _row(env)
    assert after_scrap["reject_count"] == 1_000 and after_scrap["total_count"] == 19_271
    assert after_scrap["line_scrap"] == 577
    assert after_scrap["quality"] == pytest.approx(18_271 / 19_271)

    correction = {
        "client_id": "count-1",
        "line": "line-1",
        "machine": "press-01",
        "day": "2024-03-04",
        "old_count": 19_271,
        "new_count": 20_000,
    }
    r = await env.client.post(f"{OPERATOR}/counts", json=correction, headers=env.auth("operator"))
    assert r.status_code == 201, r.text
    corrected = await _row(env)
    assert corrected["total_count"] == 20_000 and corrected["count_source"] == "line"
    assert corrected["reject_count"] == 1_000
    assert corrected["quality"] == pytest.approx(19_000 / 20_000)
    # performance follows the corrected count
    assert corrected["performance"] == pytest.approx(before["performance"] * 20_000 / 19_271)



async def test_the_portfolio_counts_line_entries_as_kpis_does(env):
    # "today" two days after the measured day: the portfolio's last week holds it. One day
    # of data in seven flags the week's OEE for coverage in both views; the flag carries
    # the value it withholds, which is compared here.
    env.service.clock = lambda: at(12, 0) + 2 * 86400
    week = {"start": "2024-02-27", "end": "2024-03-05", "group": "factory"}

    def oee(flags: list[dict]) -> float:
        (value,) = [f["value"] for f in flags if f["kpi"] == "oee"]
        return value

    async def portfolio_and_kpis() -> tuple[float, dict]:
        # /kpis first: it materialises the week's days, which the portfolio sums
        k = await env.client.get(KPIS, params=week, headers=env.auth("operator"))
        assert k.status_code == 200, k.text
        (total,) = k.json()["rows"]
        r = await env.client.get("/api/v1/portfolio", headers=env.auth("operator"))
        assert r.status_code == 200, r.text
        (row,) = [f for f in r.json()["factories"] if f["factory"] == FACTORY]
        assert row["oee_7d"] is None
        return oee(row["flags_7d"]), total

    oee_before, kpis_before = await portfolio_and_kpis()
    assert oee_before == pytest.approx(oee(kpis_before["flags"]))
    scrap = {
        "client_id": "scrap-portfolio",
        "line": "line-1",
        "machine": "press-01",
        "at": at(11, 0),
        "quantity": 577,
        "reason": "scratch",
    }
    r = await env.client.post(f"{OPERATOR}/scrap", json=scrap, headers=env.auth("operator"))
    assert r.status_code == 201, r.text
    oee_after, kpis_after = await portfolio_and_kpis()
    # the same rule in both: the scrap lowers quality, and with it the week's OEE, alike
    assert kpis_after["quality"] == pytest.approx(18_271 / 19_271)
    assert oee_after == pytest.approx(oee(kpis_after["flags"]))
    assert oee_after == pytest.approx(oee_before * kpis_after["quality"] / kpis_before["quality"])
