"""KPIs per product through a real influxd and the API: a shift of two products with a
changeover between them (docs/kpi-method.md, "Products")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from assessor.domain.models import Product

SEOUL = ZoneInfo("Asia/Seoul")
DAY = dt.date(2024, 3, 4)  # a Monday; the shift 06:00-14:00 plans 420 minutes
TAGS = "factory=demo-factory,line=line-1,machine=press-01"
PRODUCTS = (
    Product("A-100", 25.0, name="브래킷"),
    # slower on other machines, 45 s on press-01
    Product("B-200", 50.0, name="하우징", machine_times={"press-01": 45.0}),
)


def at(hh: int, mm: int, ss: int = 0) -> float:
    return dt.datetime.combine(DAY, dt.time(hh, mm, ss), SEOUL).timestamp()


def ns(t: float) -> int:
    return round(t * 1e9)


#: states stored on change; breaks 08:00-08:15, 10:00-10:30, 12:00-12:15 are idle
STATES = [
    ((6, 0), "running"), ((8, 0), "idle"), ((8, 15), "running"), ((9, 30), "setup"),
    ((10, 0), "idle"), ((10, 30), "running"), ((12, 0), "idle"), ((12, 15), "running"),
    ((13, 0), "fault"), ((13, 20), "running"), ((14, 0), "stopped"),
]  # fmt: skip


def shift_points() -> list[str]:
    """A-100 from 06:00, one unit per 30 s of running, a reject every 39th unit; setup
    09:30-10:00 with the product changed to B-200 at 09:45; B-200 one unit per 60 s of
    running, a reject every 35th unit; a fault 13:00-13:20. Counters read every 30 s."""
    states = [(at(*hm), s) for hm, s in STATES]
    lines = [f'machine_data,{TAGS} state="{s}" {ns(t)}' for t, s in states]
    lines += [
        f'machine_data,{TAGS} product="A-100" {ns(at(6, 0))}',
        f'machine_data,{TAGS} product="B-200" {ns(at(9, 45))}',
    ]
    ran_a = ran_b = 0.0
    t = at(6, 0)
    while t <= at(14, 0):
        a, b = int(ran_a // 30), int(ran_b // 60)
        total, reject = a + b, a // 39 + b // 35
        lines.append(f"machine_data,{TAGS} count_total={total}i,count_reject={reject}i {ns(t)}")
        state = [s for st, s in states if st <= t][-1]
        if state == "running":
            if t < at(9, 45):
                ran_a += 30
            else:
                ran_b += 30
        t += 30
    # the data path was alive all along: hourly alive records 05:00-15:00
    lines += [f"machine_liveness,{TAGS} alive_s=3600 {ns(at(h, 0))}" for h in range(5, 15)]
    return lines


@pytest.fixture
def two_products(assessor_env):
    status, text = assessor_env.influx.write(shift_points(), assessor_env.database)
    assert status == 204, text
    # the factory with its products, stored in the registry; no support project, whose
    # gains the factory page would compute over years of empty days
    store = assessor_env.store
    f = store.factory("demo-factory")
    store.upsert_factories([dataclasses.replace(f, products=PRODUCTS, support_projects=())])


async def get(env, **params):
    r = await env.client.get(
        "/api/v1/factories/demo-factory/kpis",
        params={"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00", **params},
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    return r.json()


# hand-computed: planned 420 min = 25,200 s; A-100 runs 195 min (11,700 s) making 390
# units (10 rejects); B-200 runs 175 min (10,500 s) making 175 units (5 rejects); setup
# 1,800 s and fault 1,200 s, both B-200's (the setup before its first unit)
RUN_S = 11_700 + 10_500
IDEAL_S = 25 * 390 + 45 * 175


async def test_machine_kpis_time_each_unit_by_its_product(assessor_env, two_products):
    (row,) = (await get(assessor_env, group="machine"))["rows"]
    assert row["planned_time_s"] == pytest.approx(25_200)
    assert row["run_time_s"] == pytest.approx(RUN_S)
    assert (row["total_count"], row["reject_count"], row["good_count"]) == (565, 15, 550)
    assert row["availability"] == pytest.approx(RUN_S / 25_200)
    assert row["performance"] == pytest.approx(IDEAL_S / RUN_S)
    assert row["quality"] == pytest.approx(550 / 565)
    assert row["oee"] == pytest.approx(RUN_S / 25_200 * IDEAL_S / RUN_S * 550 / 565)
    assert round(row["oee"] * 100, 2) == 68.08


async def test_kpis_per_product_and_changeovers(assessor_env, two_products):
    body = await get(assessor_env, group="machine,product")
    rows = {r["product"]: r for r in body["rows"]}
    assert set(rows) == {"A-100", "B-200"}
    a, b = rows["A-100"], rows["B-200"]
    assert (a["line"], a["machine"], a["product_known"]) == ("line-1", "press-01", True)
    assert (a["total_count"], a["good_count"], a["reject_count"]) == (390, 380, 10)
    assert (b["total_count"], b["good_count"], b["reject_count"]) == (175, 170, 5)
    assert a["run_time_s"] == pytest.approx(11_700) and b["run_time_s"] == pytest.approx(10_500)
    assert a["ideal_time_s"] == pytest.approx(25 * 390) and b["ideal_time_s"] == pytest.approx(45 * 175)
    assert a["performance"] == pytest.approx(25 * 390 / 11_700)
    assert b["performance"] == pytest.approx(45 * 175 / 10_500)
    assert a["availability"] == pytest.approx(1.0)
    assert b["availability"] == pytest.approx(10_500 / 13_500)
    assert b["standard_time_s"] == pytest.approx(45 * 170)
    assert body["unknown_products"] == []
    assert body["changeovers"] == [
        {"line": "line-1", "machine": "press-01", "from_product": "A-100", "to_product": "B-200",
         "count": 1, "setup_s": 1800.0}
    ]  # fmt: skip
    by_product = await get(assessor_env, group="product")
    assert [r["product"] for r in by_product["rows"]] == ["A-100", "B-200"]
    assert "machine" not in by_product["rows"][0]


async def test_a_whole_day_stores_the_standard_time_produced(assessor_env, two_products):
    params = {"start": "2024-03-04", "end": "2024-03-04", "group": "machine"}
    r = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis", params=params, headers=assessor_env.auth("operator")
    )
    assert r.status_code == 200, r.text
    (stored,) = assessor_env.influx.points("kpi_daily", assessor_env.database)
    assert stored["standard_s"] == pytest.approx(25 * 380 + 45 * 170)
    assert stored["ideal_run_s"] == pytest.approx(IDEAL_S)


async def test_a_product_window_is_bounded(assessor_env, two_products):
    r = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis",
        params={"start": "2024-01-01", "end": "2024-03-04", "group": "product"},
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 400 and r.json()["error"]["parameter"] == "end"


async def test_factory_page_shows_products_and_changeovers(assessor_env, two_products):
    for lang, title, changeovers in (("ko", "품목별 실적", "품목 교체"), ("en", "Products", "Changeovers")):
        r = await assessor_env.client.get(
            "/factories/demo-factory",
            params={"tl_start": "2024-03-04", "tl_end": "2024-03-04"},
            headers={"Cookie": f"fl_session={assessor_env.tokens['operator']}; fl_lang={lang}"},
        )
        assert r.status_code == 200, r.text
        page = r.text
        assert 'id="products-table"' in page and title in page and changeovers in page
        table = page[page.index('id="products-table"') : page.index('id="changeovers"')]
        assert "A-100" in table and "B-200" in table and "390" in table and "175" in table
        listed = page[page.index('id="changeovers"') :]
        assert "A-100 → B-200" in listed and "0.50" in listed  # 1,800 s of setup
