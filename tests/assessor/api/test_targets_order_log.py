"""Lead time's baseline from a manual order log: the baseline window has no orders in
InfluxDB (the edge box came later), so the log uploaded through the baseline route gives
it (docs/targets.md, "Lead time")."""

from __future__ import annotations

import statistics

import pytest

from tests.assessor.api.test_targets_api import AFTER_DAYS, NOW, REGISTRY, day_lines, targets

URL = "/api/v1/factories/tgt-factory/baseline"
#: orders across midnight and shifts; the baseline window is 2025-11-01 .. 2026-02-28 (KST)
ORDER_LOG = (
    "주문번호,시작일시,완료일시\n"
    "P-0,2025-10-31 23:00,2025-11-01 01:00\n"  # started before the window, finished in it: counts
    "P-1,2026-02-20 18:00,2026-02-21 07:00\n"  # overnight: 13 h
    "P-2,2026.02.21 22:30,2026.02.22 02:00\n"  # 3.5 h
    "P-3,2026-02-23 16:00,2026-02-23 20:00\n"  # stopped at the end of the evening shift ...
    "P-3,2026-02-24 08:00,2026-02-24 10:00\n"  # ... and finished next morning: 18 h
    "P-4,2026-02-25 09:00,2026-02-25 14:00\n"  # 5 h
    "P-5,2026-02-28 20:00,2026-03-01 08:00\n"  # finished after the window: left out
).encode()
IN_WINDOW_H = [2, 13, 3.5, 18, 5]


@pytest.fixture
async def env(assessor_env):
    r = await assessor_env.client.post(
        "/api/v1/registry", content=REGISTRY.encode(), headers=assessor_env.auth("operator")
    )
    assert r.status_code == 200, r.text
    # data for the result window only
    lines = [x for d in AFTER_DAYS for x in day_lines(d, 115, 80, 3)]
    status, text = assessor_env.influx.write(lines, assessor_env.database)
    assert status == 204, text
    assessor_env.service.clock = lambda: NOW
    return assessor_env


def lead_time(body: dict) -> dict:
    return next(k for k in body["kpis"] if k["kpi"] == "manufacturing_lead_time")


async def test_the_lead_time_baseline_comes_from_the_uploaded_order_log(env):
    assert lead_time(await targets(env))["baseline"]["value"] is None  # nothing yet: no data
    r = await env.client.post(
        URL, params={"filename": "orders.csv"}, content=ORDER_LOG, headers=env.auth("operator")
    )
    assert r.status_code == 200, r.text
    assert r.json()["stored_rows"] == 7

    lead = lead_time(await targets(env))
    assert lead["baseline"]["value"] == pytest.approx(statistics.median(IN_WINDOW_H)) == 5
    assert (lead["baseline"]["source"], lead["baseline"]["count"]) == ("manual", len(IN_WINDOW_H))
    # the result still comes from the data: orders of 3 h against -15 % of 5 h
    assert lead["result"]["value"] == pytest.approx(3, abs=0.05)
    assert lead["target"] == pytest.approx(5 * 0.85)
    assert lead["status"] == "pass"


async def test_a_bad_order_row_is_refused_by_row_and_column_and_nothing_is_stored(env):
    bad = ORDER_LOG.replace(b"2026-02-25 14:00", b"2026-02-25 04:00")
    r = await env.client.post(
        URL, params={"filename": "orders.csv"}, content=bad, headers=env.auth("operator")
    )
    assert r.status_code == 400, r.text
    assert "nothing stored" in r.json()["error"]["message"]
    (detail,) = r.json()["error"]["details"]
    assert (detail["row"], detail["column"]) == (7, "완료일시")
    assert "before it starts" in detail["message"]
    assert env.service.store.baseline_orders("tgt-factory") == []
    assert lead_time(await targets(env))["baseline"]["value"] is None
