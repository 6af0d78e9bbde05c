"""Before/after on lines of several machines: a manual log counts a line's units over the
line's hours, and the measured side must count the same, or a plant with two parallel
presses would show half its throughput after the project. Parallel machines add up; a
serial line counts its output station (``line_output``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

SEOUL = ZoneInfo("Asia/Seoul")
REGISTRY = """\
factories:
  - id: twin-factory
    name: 쌍둥이정밀
    region: 충남
    employees: 4
    lines:
      - id: press
        machines:
          - {id: p1, ideal_cycle_time: 30s}
          - {id: p2, ideal_cycle_time: 30s}
      - id: assembly
        machines:
          - {id: cut, ideal_cycle_time: 25s}
          - {id: pack, ideal_cycle_time: 30s, line_output: true}
    support_projects:
      - {id: sp-twin, program: basic, start: 2024-01-10, end: 2024-01-31,
         baseline: {start: 2024-01-01, end: 2024-01-03},
         after: {start: 2024-02-01, end: 2024-02-03}}
"""
#: units per hour of each machine, running all day
RATES = {("press", "p1"): 100, ("press", "p2"): 100, ("assembly", "cut"): 120, ("assembly", "pack"): 100}
#: what the factory's log says a day of each line made: the presses' sum, assembly's packed units
LOG = "날짜,라인,작업시간,작업인원,생산수량,불량수량\n" + "".join(
    f"2024-01-0{d},press,24,2,4800,0\n2024-01-0{d},assembly,24,2,2400,0\n" for d in (1, 2, 3)
)


def measured_lines() -> list[str]:
    start = dt.datetime(2024, 2, 1, tzinfo=SEOUL).timestamp()
    lines = []
    for (line, machine), rate in RATES.items():
        for i in range(3 * 24 * 120 + 1):  # every 30 s for three days
            t = start + 30 * i
            count = rate * i // 120
            lines.append(
                f"machine_data,factory=twin-factory,line={line},machine={machine} "
                f'state="running",count_total={count}i,count_reject=0i {round(t * 1e9)}'
            )
    return lines


@pytest.fixture
async def twin(assessor_env):
    env = assessor_env
    env.service.clock = lambda: dt.datetime(2024, 2, 10, 12, tzinfo=SEOUL).timestamp()
    r = await env.client.post("/api/v1/registry", content=REGISTRY.encode(), headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    lines = measured_lines()
    for i in range(0, len(lines), 10_000):
        status, text = env.influx.write(lines[i : i + 10_000], env.database)
        assert status == 204, text
    r = await env.client.post(
        "/api/v1/factories/twin-factory/baseline?filename=log.csv",
        content=LOG.encode(),
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    return env


async def test_units_per_hour_compare_line_units_over_line_hours(twin):
    r = await twin.client.get(
        "/api/v1/factories/twin-factory/gains", params={"project": "sp-twin"}, headers=twin.auth("operator")
    )
    assert r.status_code == 200, r.text
    uph = {g["kpi"]: g for g in r.json()["gains"]}["units_per_hour"]
    assert uph["source_before"] == "manual" and uph["source_after"] == "measured"
    # both sides: (4,800 + 2,400) units a day over 2 lines x 24 h = 150 units per line-hour
    assert uph["before"] == pytest.approx(150.0)
    assert uph["after"] == pytest.approx(150.0, rel=0.01)
    assert abs(uph["improvement"]) < 0.01


async def test_the_portfolio_counts_the_same_way(twin):
    await twin.service.refresh_all()
    r = await twin.client.get("/api/v1/portfolio", headers=twin.auth("operator"))
    row = next(f for f in r.json()["factories"] if f["factory"] == "twin-factory")
    uph = next(g for g in row["gains"] if g["kpi"] == "units_per_hour")
    assert uph["before"] == pytest.approx(150.0)
    assert uph["after"] == pytest.approx(150.0, rel=0.01)
