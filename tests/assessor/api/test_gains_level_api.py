"""Gains and level through the API, from months of data the simulator's machine model
produced with a real improvement after the support project, written to a real influxd."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from simulator.machine import Calendar, MachineModel, MachineParams

SEOUL = ZoneInfo("Asia/Seoul")
REGISTRY = """\
factories:
  - id: sim-factory
    name: 시뮬정밀
    region: 충남
    employees: 12
    lines:
      - id: line-1
        machines:
          - {id: sim-01, ideal_cycle_time: 10s}
    support_projects:
      - {id: sp-2024, program: basic, start: 2024-01-11, end: 2024-01-31,
         baseline: {start: 2024-01-01, end: 2024-01-10},
         after: {start: 2024-02-01, end: 2024-02-10}}
"""
BEFORE = MachineParams(
    ideal_cycle_time_s=10,
    speed_factor=0.7,
    reject_rate=0.06,
    mtbf_s=3600,
    mttr_s=900,
    calendar=Calendar.always(9 * 3600),
)
AFTER = MachineParams(
    ideal_cycle_time_s=10,
    speed_factor=0.95,
    reject_rate=0.02,
    mtbf_s=4 * 3600,
    mttr_s=600,
    calendar=Calendar.always(9 * 3600),
)


def local(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), SEOUL).timestamp()


def simulated_lines(start: dt.date, end: dt.date) -> list[str]:
    switch = local(dt.date(2024, 1, 20))
    model = MachineModel(
        BEFORE,
        seed=7,
        start_time_s=local(start),
        after=AFTER,
        switch_at_s=switch,
        initial_total=2**32 - 50_000,
    )
    lines = []
    for t, snap in model.history(local(start), local(end), 30.0):
        lines.append(
            f'machine_data,factory=sim-factory,line=line-1,machine=sim-01 state="{snap.state.value}",'
            f"count_total={snap.total}i,count_reject={snap.rejects}i,energy_kwh={snap.energy_wh / 1000.0},"
            f"temperature={snap.temperature_x10 / 10.0} {round(t * 1e9)}"
        )
    return lines


@pytest.fixture
async def sim_factory(assessor_env):
    r = await assessor_env.client.post(
        "/api/v1/registry", content=REGISTRY.encode(), headers=assessor_env.auth("operator")
    )
    assert r.status_code == 200, r.text
    lines = simulated_lines(dt.date(2024, 1, 1), dt.date(2024, 2, 11))
    for i in range(0, len(lines), 10_000):
        status, text = assessor_env.influx.write(lines[i : i + 10_000], assessor_env.database)
        assert status == 204, text
    return assessor_env


def by_kpi(body):
    return {g["kpi"]: g for g in body["gains"]}


async def test_measured_gain_shows_the_improvement_with_an_interval(sim_factory):
    env = sim_factory
    r = await env.client.get(
        "/api/v1/factories/sim-factory/gains", params={"project": "sp-2024"}, headers=env.auth("operator")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["baseline"] == {"start": "2024-01-01", "end": "2024-01-10"}
    gains = by_kpi(body)
    uph = gains["units_per_hour"]
    assert uph["days_before"] == 10 and uph["days_after"] == 10
    assert uph["source_before"] == "measured" and uph["source_after"] == "measured"
    assert uph["improvement"] > 0.2  # speed 0.7 -> 0.95 and fewer faults
    assert uph["ci95_low"] is not None and uph["ci95_low"] <= uph["improvement"] <= uph["ci95_high"]
    assert uph["reference"]["improvement"] == pytest.approx(0.30)
    defects = gains["defect_rate"]
    assert defects["direction"] == "lower"
    assert defects["improvement"] > 0.4  # 6% -> 2% rejects: a 67% reduction
    assert gains["oee"]["after"] > gains["oee"]["before"]
    assert [p["month"] for p in body["trend"]["units_per_hour"]] == ["2024-02-01"]


async def test_manual_baseline_is_used_and_flagged(sim_factory):
    env = sim_factory
    csv = "date,line,hours_worked,workers,produced,defects\n" + "".join(
        f"2024-01-{d:02d},line-1,24,3,6000,300\n" for d in range(1, 11)
    )
    r = await env.client.post(
        "/api/v1/factories/sim-factory/baseline",
        params={"filename": "log.csv"},
        content=csv.encode(),
        headers=env.auth("sim-admin" if False else "operator"),
    )
    assert r.status_code == 200, r.text
    gains = by_kpi(
        (
            await env.client.get(
                "/api/v1/factories/sim-factory/gains",
                params={"project": "sp-2024"},
                headers=env.auth("operator"),
            )
        ).json()
    )
    uph = gains["units_per_hour"]
    assert uph["source_before"] == "manual" and uph["source_after"] == "measured"
    assert uph["before"] == pytest.approx(6000 / 24)
    assert any(w["code"] == "mixed_sources" for w in uph["warnings"])
    # a log without a product column gives no standard hours, and the gain says why
    standard = gains["standard_hours_per_hour"]
    assert standard["before"] is None and standard["improvement"] is None
    assert standard["warnings"][0]["code"] == "mix_unknown"
    assert "10 day(s)" in standard["warnings"][0]["en"]


async def test_explicit_windows(sim_factory):
    env = sim_factory
    r = await env.client.get(
        "/api/v1/factories/sim-factory/gains",
        params={
            "baseline_start": "2024-01-01",
            "baseline_end": "2024-01-05",
            "after_start": "2024-02-01",
            "after_end": "2024-02-05",
        },
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    uph = by_kpi(r.json())["units_per_hour"]
    assert uph["days_before"] == 5 and uph["days_after"] == 5
    r = await env.client.get(
        "/api/v1/factories/sim-factory/gains",
        params={"baseline_start": "2024-01-01"},
        headers=env.auth("operator"),
    )
    assert r.status_code == 400 and r.json()["error"]["parameter"] == "baseline_end"


async def test_assessment_reports_gates_and_next_steps(sim_factory):
    """The level of the seeded factory, worked out by hand from the seed and
    configs/assessment-levels.yaml.

    Assessed as of 2024-02-11 00:00 KST (the end of the seed): the 30-day window touches
    the UTC days 2024-01-11 .. 2024-02-10, every one with samples (the model writes one
    every 30 s, day and night), so data_days = 31. The seed stores state, count_total,
    count_reject, energy_kwh and temperature for the one registered machine, and nothing
    else: coverage 1.0, state signal, counters, rejects, quality linked to a process value
    (rejects + temperature), energy, KPIs computable (the last 7 days have data), state
    granularity 30 s; no downtime reasons, setpoints, order/lot or closed loop.

    Score without a questionnaire (measured share: process 0.25, system 0.5, performance 0.5):
      process      2 of 4 indicators = 0.5                    * 400 * 0.25 =  50.0
      system       (1 + 1 + 1 + (1 - ln 30 / ln 3600) + 0 + 0) / 6 = 0.5974
                                                              * 400 * 0.5  = 119.5
      performance  (1 + 1 + 31/180) / 3 = 0.7241              * 100 * 0.5  =  36.2
      total 205.7: below level 2's 300, so level 1 though every other level 2 gate passes.
    Every answer 4 (ratio 0.8) adds the questionnaire part (1 - share) * 0.8 * max:
      strategy 80 + process 290 + system 279.5 + performance 76.2 = 725.7 -> level 2
    (level 3 fails on downtime reasons, setpoint changes and order/lot, whatever the score)."""
    env = sim_factory
    env.service.clock = lambda: local(dt.date(2024, 2, 11))
    r = await env.client.get("/api/v1/factories/sim-factory/assessment", headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["level"], a["build_level"], a["tier"]) == (1, "basic", "basic")
    assert a["score"] == pytest.approx(205.7, abs=0.05)
    parts = {p["field"]: p["measured_points"] for p in a["score_parts"]}
    assert parts == pytest.approx(
        {"strategy": 0.0, "process": 50.0, "system": 119.49, "performance": 36.2}, abs=0.01
    )
    failed = {(g["level"], g["id"]) for g in a["gates"] if not g["passed"]}
    assert failed == {
        (2, "min_score"),
        (3, "has_downtime_reasons"),
        (3, "setpoint_changes_recorded"),
        (3, "has_order_or_lot"),
        (3, "min_score"),
        (4, "state_granularity_s"),
        (4, "data_days"),
        (4, "min_score"),
        (5, "closed_loop_control"),
        (5, "state_granularity_s"),
        (5, "data_days"),
        (5, "min_score"),
    }
    evidence = {(g["level"], g["id"]): g["evidence"] for g in a["gates"]}
    assert evidence[(2, "data_days")] == 31 and evidence[(3, "state_granularity_s")] == 30.0
    assert evidence[(2, "auto_capture_coverage")] == 1.0
    # the next level is 2: answer the questionnaire, then raise the score to 300
    assert [(s["level"], s["gate"]) for s in a["next_steps"]] == [(2, None), (2, "min_score")]
    assert "300" in a["next_steps"][1]["en"] and "300" in a["next_steps"][1]["ko"]
    assert a["questionnaire_missing"] is True
    q = (
        await env.client.get("/api/v1/factories/sim-factory/questionnaire", headers=env.auth("operator"))
    ).json()
    answers = {item["id"]: 4 for item in q["items"]}
    r = await env.client.put(
        "/api/v1/factories/sim-factory/questionnaire", json={"answers": answers}, headers=env.auth("operator")
    )
    assert r.status_code == 200, r.text
    a2 = (
        await env.client.get("/api/v1/factories/sim-factory/assessment", headers=env.auth("operator"))
    ).json()
    assert a2["questionnaire_missing"] is False
    assert a2["score"] == pytest.approx(725.7, abs=0.05)
    assert a2["level"] == 2
    # what stands between it and level 3 is data the seed does not have
    assert {s["gate"] for s in a2["next_steps"]} == {
        "has_downtime_reasons",
        "setpoint_changes_recorded",
        "has_order_or_lot",
    }
    assert {s["level"] for s in a2["next_steps"]} == {3}
    bad = await env.client.put(
        "/api/v1/factories/sim-factory/questionnaire",
        json={"answers": {"nope": 9}},
        headers=env.auth("operator"),
    )
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]


async def test_portfolio_lists_level_oee_gains_and_health(sim_factory):
    env = sim_factory
    await env.service.refresh_all()  # what the server's background refresher does
    r = await env.client.get("/api/v1/portfolio", headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    rows = {row["factory"]: row for row in r.json()["factories"]}
    sim = rows["sim-factory"]
    assert sim["project"] == "sp-2024"
    gains = {g["kpi"]: g for g in sim["gains"]}
    assert gains["units_per_hour"]["improvement"] > 0.2
    assert gains["units_per_hour"]["reference"] == pytest.approx(0.30)
    assert gains["defect_rate"]["improvement"] > 0.4 and gains["defect_rate"]["meets_reference"] is True
    assert sim["level"] >= 1 and sim["tier"] in ("basic", "advanced")
    # the simulated data is from 2024: the machine has been silent for the whole window
    assert sim["data_health"]["machines"] == 1 and sim["data_health"]["reporting"] == 0


# --- flagged KPIs, liveness -------------------------------------------------------------------

#: the same machine registered with an ideal cycle time four times too slow: the simulator
#: makes a unit every 10 s / speed, so performance comes out near 400 %
SLOW_IDEAL = """\
factories:
  - id: slow-ideal
    name: 느린기준
    lines:
      - id: line-1
        machines:
          - {id: sim-01, ideal_cycle_time: 40s}
    support_projects:
      - {id: sp-2024, program: basic, start: 2024-01-11, end: 2024-01-31,
         baseline: {start: 2024-01-01, end: 2024-01-10},
         after: {start: 2024-02-01, end: 2024-02-10}}
"""


async def seed_slow_ideal(env) -> None:
    """Register SLOW_IDEAL and give it the simulated line's data."""
    r = await env.client.post("/api/v1/registry", content=SLOW_IDEAL.encode(), headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    lines = [
        line.replace("factory=sim-factory", "factory=slow-ideal")
        for line in simulated_lines(dt.date(2024, 1, 1), dt.date(2024, 2, 11))
    ]
    for i in range(0, len(lines), 10_000):
        status, text = env.influx.write(lines[i : i + 10_000], env.database)
        assert status == 204, text


async def test_a_too_slow_ideal_cycle_time_is_flagged_and_left_out_of_the_gains(assessor_env):
    env = assessor_env
    await seed_slow_ideal(env)
    r = await env.client.get(
        "/api/v1/factories/slow-ideal/kpis",
        params={"start": "2024-02-01", "end": "2024-02-10"},
        headers=env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    (row,) = r.json()["rows"]
    assert row["performance"] is None and row["oee"] is None
    implausible = {f["kpi"] for f in row["flags"] if f["reason"] == "implausible_ideal_time"}
    assert implausible == {"performance", "oee"}
    assert row["availability"] is not None  # time-based KPIs do not rest on the ideal time
    r = await env.client.get(
        "/api/v1/factories/slow-ideal/gains", params={"project": "sp-2024"}, headers=env.auth("operator")
    )
    assert r.status_code == 200, r.text
    gains = by_kpi(r.json())
    oee = gains["oee"]
    assert oee["excluded_reason"] == "before:implausible_ideal_time; after:implausible_ideal_time"
    assert oee["improvement"] is None and oee["before"] is None and oee["after"] is None
    assert any(w["code"] == "flagged" and "ideal cycle time" in w["en"] for w in oee["warnings"])
    # a gain that does not rest on the ideal cycle time is still there
    assert gains["units_per_hour"]["excluded_reason"] is None and gains["units_per_hour"]["improvement"] > 0.2


def on_change_lines(factory: str, now: float) -> list[str]:
    """A machine whose state is stored only on change (running since 5 h ago, nothing
    since), its counter polled every minute, and alive records for the last 6 h: full
    hours, and the current one still growing (last written 20 s ago)."""
    tags = f"factory={factory},line=line-1,machine=m1"
    start = int(now) - 6 * 3600
    lines = [f'machine_data,{tags} state="idle" {start * 10**9}']
    lines.append(f'machine_data,{tags} state="running" {(start + 3600) * 10**9}')
    for i, t in enumerate(range(start, int(now) - 20, 60)):
        lines.append(f"machine_data,{tags} count_total={i * 6}i {t * 10**9}")
    for t in range(start, int(now), 3600):
        alive = min(3600.0, now - 20 - t)
        lines.append(f"machine_liveness,{tags} alive_s={alive} {t * 10**9}")
    return lines


ON_CHANGE = """\
factories:
  - id: on-change
    name: 변경저장
    lines:
      - id: line-1
        machines:
          - {id: m1, ideal_cycle_time: 8s}
"""


async def test_an_alive_machine_with_states_stored_on_change(assessor_env):
    """Data health, timeline, Pareto and level evidence of a machine that writes its state
    only when it changes: its alive records say it was reached all along."""
    import time

    from assessor.data.evidence_query import machine_evidence
    from assessor.data.timeline import state_timeline
    from assessor.domain.downtime import downtime_by_reason
    from assessor.domain.kpi.calendar import planned_intervals

    env = assessor_env
    r = await env.client.post("/api/v1/registry", content=ON_CHANGE.encode(), headers=env.auth("operator"))
    assert r.status_code == 200, r.text
    now = time.time()
    status, text = env.influx.write(on_change_lines("on-change", now), env.database)
    assert status == 204, text
    factory = env.store.factory("on-change")
    service = env.service
    health = await service.data_health([factory])
    # the last state is 5 h old; the alive record ends 20 s ago
    assert health["on-change"]["m1"] == pytest.approx(now - 20, abs=2)
    tl = await state_timeline(service.influx, factory, now - 3 * 3600, now - 60, service.cfg.kpi.hold_s)
    (m,) = tl.machines
    assert [(e.state, round(e.end - e.start)) for e in m.episodes] == [("running", 3 * 3600 - 60)]
    tl = await state_timeline(service.influx, factory, now - 6 * 3600, now - 60, service.cfg.kpi.hold_s)
    assert [e.state for e in tl.machines[0].episodes] == ["idle", "running"]
    planned = planned_intervals(factory.calendar, now - 6 * 3600, now)
    assert downtime_by_reason(tl, planned) == {("idle", ""): pytest.approx(3600.0, abs=1)}
    machines, days = await machine_evidence(service.influx, factory, 30, now=now)
    (ev,) = machines
    assert ev.has_data and ev.has_state_signal and days >= 1
    # the state changed once in the last day; the counter polled every minute says how fresh it is
    assert ev.state_interval_s == pytest.approx(60.0)
