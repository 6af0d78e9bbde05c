"""KPIs through the API from hand-built signal sequences written to a real influxd."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

SEOUL = ZoneInfo("Asia/Seoul")
DAY = dt.date(2024, 3, 4)  # a Monday
WRAP_BASE = 2**32 - 5_000  # the counter wraps during the shift


def at(hh: int, mm: int, ss: int = 0) -> float:
    return dt.datetime.combine(DAY, dt.time(hh, mm, ss), SEOUL).timestamp()


def reference_points(
    factory: str = "demo-factory", machine: str = "press-01", units: int = 19_271, rejects: int = 423
) -> list[str]:
    """Vorne's worked example: shift 06:00-14:00 with breaks 08:00-08:15, 10:00-10:30 and
    12:00-12:15 (420 planned minutes); a 47-minute fault 09:00-09:47; ideal cycle 1 s;
    19,271 units of which 423 rejects (or ``units`` and ``rejects``), spread evenly over the
    373 running minutes."""
    breaks = [(at(8, 0), at(8, 15)), (at(10, 0), at(10, 30)), (at(12, 0), at(12, 15))]
    fault = (at(9, 0), at(9, 47))
    run_total = 373 * 60
    lines = []
    ran = 0.0
    t = at(6, 0)
    step = 10.0
    while t < at(14, 0):
        in_break = any(a <= t < b for a, b in breaks)
        in_fault = fault[0] <= t < fault[1]
        state, code = ("idle", 2) if in_break else ("fault", 3) if in_fault else ("running", 1)
        total = round(units * ran / run_total)
        rejected = round(rejects * ran / run_total)
        count = (WRAP_BASE + total) % 2**32
        lines.append(
            f"machine_data,factory={factory},line=line-1,machine={machine} "
            f'state="{state}",state_code={code}i,count_total={count}i,count_reject={rejected}i '
            f"{round(t * 1e9)}"
        )
        if state == "running":
            ran += step
        t += step
    # the shift ends: final counts, machine stopped
    lines.append(
        f'machine_data,factory={factory},line=line-1,machine={machine} state="stopped",state_code=0i,'
        f"count_total={(WRAP_BASE + units) % 2**32}i,count_reject={rejects}i {round(at(14, 0) * 1e9)}"
    )
    return lines


@pytest.fixture
def reference_data(assessor_env):
    status, text = assessor_env.influx.write(reference_points(), assessor_env.database)
    assert status == 204, text


def _row(body):
    assert len(body["rows"]) == 1, body
    return body["rows"][0]


async def test_reference_example_over_the_shift(assessor_env, reference_data):
    r = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis",
        params={"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00"},
        headers=assessor_env.auth("operator"),
    )
    assert r.status_code == 200, r.text
    row = _row(r.json())
    assert row["planned_time_s"] == pytest.approx(420 * 60)
    assert row["run_time_s"] == pytest.approx(373 * 60)
    assert row["total_count"] == 19_271
    assert row["reject_count"] == 423
    assert row["good_count"] == 18_848
    assert round(row["availability"] * 100, 2) == 88.81
    assert round(row["performance"] * 100, 2) == 86.11
    assert round(row["quality"] * 100, 2) == 97.80
    assert round(row["oee"] * 100, 2) == 74.79
    assert row["oee"] == pytest.approx(row["availability"] * row["performance"] * row["quality"])
    assert row["mttr_s"] == pytest.approx(47 * 60)
    assert row["unknown_time_s"] == pytest.approx(0)
    assert row["flags"] == [] and row["unattributed_count"] == 0 and row["small_stop_time_s"] == 0
    losses = row["losses"]
    assert losses["known_s"] == pytest.approx(420 * 60)
    assert losses["breakdowns_s"] == pytest.approx(47 * 60)
    assert losses["fully_productive_s"] == pytest.approx(18_848, abs=1)


async def test_whole_day_is_materialised_and_read_back_the_same(assessor_env, reference_data):
    params = {"start": "2024-03-04", "end": "2024-03-04", "group": "machine"}
    first = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis", params=params, headers=assessor_env.auth("operator")
    )
    assert first.status_code == 200, first.text
    stored = assessor_env.influx.points("kpi_daily", assessor_env.database)
    assert len(stored) == 1 and stored[0]["machine"] == "press-01"
    # a second read comes from kpi_daily: remove the raw data to prove it
    assessor_env.influx.query("DROP MEASUREMENT machine_data", assessor_env.database)
    second = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis", params=params, headers=assessor_env.auth("operator")
    )
    assert second.json()["rows"] == first.json()["rows"]
    row = _row(second.json())
    assert round(row["oee"] * 100, 2) == 74.79


async def test_rollups_sum_times_and_counts(assessor_env, reference_data):
    # a second machine on the same line, running the same day at a different pace (and
    # sampled half as often), so that a rollup of one machine taken twice shows
    extra = reference_points(machine="press-02", units=9_000, rejects=300)[::2]
    assessor_env.store.upsert_factories([_with_second_machine(assessor_env.store.factory("demo-factory"))])
    status, text = assessor_env.influx.write(extra, assessor_env.database)
    assert status == 204, text
    params = {"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00"}
    by_machine = (
        await assessor_env.client.get(
            "/api/v1/factories/demo-factory/kpis",
            params={**params, "group": "machine"},
            headers=assessor_env.auth("operator"),
        )
    ).json()["rows"]
    factory = _row(
        (
            await assessor_env.client.get(
                "/api/v1/factories/demo-factory/kpis",
                params={**params, "group": "factory"},
                headers=assessor_env.auth("operator"),
            )
        ).json()
    )
    assert len(by_machine) == 2
    assert {m["machine"]: (m["total_count"], m["reject_count"]) for m in by_machine} == {
        "press-01": (19_271, 423),
        "press-02": (9_000, 300),
    }
    for key in ("planned_time_s", "run_time_s", "total_count", "good_count", "reject_count"):
        assert factory[key] == pytest.approx(sum(m[key] for m in by_machine))
    run = sum(m["run_time_s"] for m in by_machine)
    known = sum(m["planned_time_s"] - m["unknown_time_s"] for m in by_machine)
    assert factory["availability"] == pytest.approx(run / known)


def _with_second_machine(factory):
    import dataclasses

    from assessor.domain.models import Machine

    line = factory.lines[0]
    line2 = dataclasses.replace(line, machines=(*line.machines, Machine("press-02", line.id, 1.0)))
    return dataclasses.replace(factory, lines=(line2,))


async def test_a_stray_zero_reading_credits_nothing_also_as_the_reading_before_a_window(assessor_env):
    """One message with ``count_total`` 0 stamped in the past, among the readings of a
    counter near the top of its range (a drop once read as a wrap, then a rise of
    billions), and another five seconds before a window that starts at 10:00: the machine
    counts what its twin without them counts. (A stray reading as the last one before a
    day is tested in tests/assessor/domain/kpi/test_counter_previous.py.)"""
    assessor_env.store.upsert_factories([_with_second_machine(assessor_env.store.factory("demo-factory"))])
    tags = "factory=demo-factory,line=line-1,machine=press-01"
    stray = [f"machine_data,{tags} count_total=0i {round(t * 1e9)}" for t in (at(7, 30, 5), at(9, 59, 55))]
    points = reference_points() + reference_points(machine="press-02") + stray
    status, text = assessor_env.influx.write(points, assessor_env.database)
    assert status == 204, text
    for start in ("06:00:00", "10:00:00"):
        params = {"start": f"2024-03-04T{start}", "end": "2024-03-04T14:00:00", "group": "machine"}
        rows = {r["machine"]: r for r in await _kpis(assessor_env, params)}
        assert rows["press-01"]["total_count"] == rows["press-02"]["total_count"], start
        assert rows["press-01"]["flags"] == [], start
    whole = {"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00", "group": "machine"}
    assert {r["machine"]: r["total_count"] for r in await _kpis(assessor_env, whole)}["press-01"] == 19_271


async def test_time_without_data_is_unknown_not_down(assessor_env):
    # data only from 06:00 to 07:00, all running; the rest of the shift has no samples
    lines = [p for p in reference_points() if int(p.rsplit(" ", 1)[1]) < at(7, 0) * 1e9]
    assessor_env.influx.write(lines, assessor_env.database)
    r = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis",
        params={"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00"},
        headers=assessor_env.auth("operator"),
    )
    row = _row(r.json())
    assert row["run_time_s"] == pytest.approx(3600, abs=60)
    assert row["unknown_time_s"] == pytest.approx(420 * 60 - 3600, abs=120)
    # known time was all running, but one hour of seven is too little to show it
    assert row["availability"] is None and row["oee"] is None
    flags = {(f["kpi"], f["reason"]): f["value"] for f in row["flags"]}
    assert flags[("availability", "coverage")] == pytest.approx(1.0, abs=0.02)


async def test_daily_granularity_and_no_data_days(assessor_env, reference_data):
    r = await assessor_env.client.get(
        "/api/v1/factories/demo-factory/kpis",
        params={"start": "2024-03-04", "end": "2024-03-05", "granularity": "day"},
        headers=assessor_env.auth("operator"),
    )
    rows = r.json()["rows"]
    assert [row["day"] for row in rows] == ["2024-03-04", "2024-03-05"]
    assert rows[1]["run_time_s"] == 0
    assert rows[1]["availability"] is None  # no data: undefined, not 0
    assert rows[1]["unknown_time_s"] == pytest.approx(420 * 60)
    assert rows[1]["flags"] == [{"kpi": "oee", "reason": "no_data", "value": None}]


async def test_samples_delivered_late_are_counted_once_the_refresher_runs(assessor_env):
    """An outage from 11:00: the edge box's spool delivers the rest of the shift after the
    day was materialised. The refresher sees the day's raw count change and computes it
    again; then the day is the reference example, and nothing is stale any more."""
    service = assessor_env.service
    service.clock = lambda: at(14, 0) + 2 * 86400
    points = reference_points()
    early = [p for p in points if int(p.rsplit(" ", 1)[1]) < at(11, 0) * 1e9]
    late = points[len(early) :]
    status, text = assessor_env.influx.write(early, assessor_env.database)
    assert status == 204, text
    params = {"start": "2024-03-04", "end": "2024-03-04"}
    headers = assessor_env.auth("operator")
    before = _row(
        (
            await assessor_env.client.get(
                "/api/v1/factories/demo-factory/kpis", params=params, headers=headers
            )
        ).json()
    )
    assert before["total_count"] < 19_271

    status, text = assessor_env.influx.write(late, assessor_env.database)
    assert status == 204, text
    still = _row(
        (
            await assessor_env.client.get(
                "/api/v1/factories/demo-factory/kpis", params=params, headers=headers
            )
        ).json()
    )
    assert still["total_count"] == before["total_count"]  # the materialised day, until refreshed

    factory = service.store.factory("demo-factory")
    assert await service.refresh_late_days(factory) == [DAY]
    after = _row(
        (
            await assessor_env.client.get(
                "/api/v1/factories/demo-factory/kpis", params=params, headers=headers
            )
        ).json()
    )
    assert after["total_count"] == 19_271 and round(after["oee"] * 100, 2) == 74.79
    assert await service.refresh_late_days(factory) == []


# -- liveness: states stored only on change ----------------------------------------------

#: the reference shift as state changes: (time, state)
CHANGES = [
    (at(6, 0), "running"), (at(8, 0), "idle"), (at(8, 15), "running"), (at(9, 0), "fault"),
    (at(9, 47), "running"), (at(10, 0), "idle"), (at(10, 30), "running"), (at(12, 0), "idle"),
    (at(12, 15), "running"), (at(14, 0), "stopped"),
]  # fmt: skip
RUN_S = 373 * 60


def _state_at(t: float) -> str:
    return [s for c, s in CHANGES if c <= t][-1]


def _ran_until(t: float) -> float:
    """Running seconds from 06:00 to ``t``."""
    edges = [*CHANGES, (at(23, 0), "")]
    return sum(max(0.0, min(b, t) - a) for (a, s), (b, _) in pairwise(edges) if s == "running")


def on_change_points(
    machine: str, *, liveness: bool, gap: tuple[float, float] | None = None, poll: float = 60.0
) -> list[str]:
    """States only when they change (and again when the path comes back after ``gap``),
    counters at every answered poll, alive records as the collector writes them."""
    tags = f"factory=demo-factory,line=line-1,machine={machine}"
    dead = (lambda t: gap[0] < t < gap[1]) if gap else (lambda t: False)
    lines = [f'machine_data,{tags} state="{s}" {round(t * 1e9)}' for t, s in CHANGES if not dead(t)]
    if gap:
        lines.append(f'machine_data,{tags} state="{_state_at(gap[1])}" {round(gap[1] * 1e9)}')
    t = at(6, 0)
    while t <= at(14, 0):
        if not dead(t):
            ran = _ran_until(t)
            total, rejects = round(19_271 * ran / RUN_S), round(423 * ran / RUN_S)
            lines.append(
                f"machine_data,{tags} count_total={(WRAP_BASE + total) % 2**32}i,count_reject={rejects}i "
                f"{round(t * 1e9)}"
            )
        t += poll
    if liveness:
        alive = [(at(5, 0), at(15, 0))] if gap is None else [(at(5, 0), gap[0]), (gap[1], at(15, 0))]
        for lo, hi in alive:
            start = lo
            while start < hi:
                length = min(3600.0, hi - start)
                lines.append(f"machine_liveness,{tags} alive_s={length} {round(start * 1e9)}")
                start += 3600.0
        if gap:
            lines.append(f'machine_liveness,{tags} down_reason="no_answer" {round(gap[0] * 1e9)}')
    return lines


async def _kpis(env, params):
    r = await env.client.get(
        "/api/v1/factories/demo-factory/kpis", params=params, headers=env.auth("operator")
    )
    assert r.status_code == 200, r.text
    return r.json()["rows"]


async def test_states_stored_on_change_with_liveness_give_the_reference_figures(assessor_env):
    status, text = assessor_env.influx.write(
        on_change_points("press-01", liveness=True), assessor_env.database
    )
    assert status == 204, text
    for params in (
        {"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00"},  # computed live
        {"start": "2024-03-04", "end": "2024-03-04"},  # a whole day: materialised
    ):
        row = _row({"rows": await _kpis(assessor_env, params)})
        assert row["planned_time_s"] == pytest.approx(420 * 60)
        assert row["unknown_time_s"] == pytest.approx(0)
        assert row["run_time_s"] == pytest.approx(RUN_S)
        assert (row["total_count"], row["reject_count"], row["unattributed_count"]) == (19_271, 423, 0)
        assert round(row["availability"] * 100, 2) == 88.81
        assert round(row["performance"] * 100, 2) == 86.11
        assert round(row["quality"] * 100, 2) == 97.80
        assert round(row["oee"] * 100, 2) == 74.79
        assert row["mttr_s"] == pytest.approx(47 * 60) and row["flags"] == []
    # a window that starts long after the last state change: the state in force then
    # (the newest sample before the window) carries in while the path is alive
    row = _row(
        {"rows": await _kpis(assessor_env, {"start": "2024-03-04T07:00:00", "end": "2024-03-04T08:00:00"})}
    )
    assert (row["run_time_s"], row["unknown_time_s"]) == (pytest.approx(3600), pytest.approx(0))
    row = _row(
        {"rows": await _kpis(assessor_env, {"start": "2024-03-04T09:30:00", "end": "2024-03-04T09:50:00"})}
    )
    assert (row["run_time_s"], row["unknown_time_s"]) == (pytest.approx(180), pytest.approx(0))
    # the fault began before the window: its time counts, but it is not this window's failure
    assert row["losses"]["breakdowns_s"] == pytest.approx(17 * 60) and row["mttr_s"] is None


async def test_a_liveness_gap_is_unknown_time_and_its_units_are_unattributed(assessor_env):
    gap = (at(11, 0), at(11, 30))
    status, text = assessor_env.influx.write(
        on_change_points("press-01", liveness=True, gap=gap), assessor_env.database
    )
    assert status == 204, text
    row = _row({"rows": await _kpis(assessor_env, {"start": "2024-03-04", "end": "2024-03-04"})})
    assert row["unknown_time_s"] == pytest.approx(1800)
    assert row["run_time_s"] == pytest.approx(RUN_S - 1800)
    assert row["availability"] == pytest.approx((RUN_S - 1800) / (420 * 60 - 1800))
    made_in_gap = round(19_271 * 1800 / RUN_S)
    assert row["unattributed_count"] == pytest.approx(made_in_gap, abs=2)
    assert row["total_count"] + row["unattributed_count"] == pytest.approx(19_271, abs=2)
    # units and run time share the same known time: performance is unchanged by the gap
    assert round(row["performance"] * 100, 2) == 86.11


async def test_a_machine_without_liveness_falls_back_to_the_hold_limit(assessor_env):
    assessor_env.store.upsert_factories([_with_second_machine(assessor_env.store.factory("demo-factory"))])
    points = on_change_points("press-01", liveness=True) + on_change_points("press-02", liveness=False)
    status, text = assessor_env.influx.write(points, assessor_env.database)
    assert status == 204, text
    rows = await _kpis(
        assessor_env, {"start": "2024-03-04T06:00:00", "end": "2024-03-04T14:00:00", "group": "machine"}
    )
    alive, legacy = sorted(rows, key=lambda r: r["machine"])
    assert alive["unknown_time_s"] == pytest.approx(0)
    # each of the six state samples in planned time holds kpi.hold_s (60 s), no longer
    hold = assessor_env.service.cfg.kpi.hold_s
    assert legacy["unknown_time_s"] == pytest.approx(420 * 60 - 6 * hold)
    assert legacy["availability"] is None
    assert {(f["kpi"], f["reason"]) for f in legacy["flags"]} >= {("availability", "coverage")}


async def test_a_day_materialised_by_older_rules_is_computed_again(assessor_env, reference_data):
    from assessor.data.daily_rows import KPI_RULES_VERSION, day_start

    factory = assessor_env.store.factory("demo-factory")
    midnight = round(day_start(factory, DAY) * 1e9)
    # a row as the previous version wrote it: no rules_version, different figures
    old = (
        "kpi_daily,factory=demo-factory,line=line-1,machine=press-01 planned_s=25200,run_s=100,idle_s=0,"
        "fault_s=0,setup_s=0,stopped_s=0,planned_stop_s=0,unknown_s=25100,ideal_run_s=50,total_count=50i,"
        f"good_count=50i,reject_count=0i,failures=0i,repair_s=0,graded_count=50i,raw_points=1i {midnight}"
    )
    status, text = assessor_env.influx.write([old], assessor_env.database)
    assert status == 204, text
    row = _row({"rows": await _kpis(assessor_env, {"start": "2024-03-04", "end": "2024-03-04"})})
    assert row["total_count"] == 19_271 and round(row["oee"] * 100, 2) == 74.79
    (stored,) = assessor_env.influx.points("kpi_daily", assessor_env.database)
    assert stored["rules_version"] == KPI_RULES_VERSION and stored["total_count"] == 19_271
    (factory_row,) = assessor_env.influx.points("kpi_daily_factory", assessor_env.database)
    assert factory_row["rules_version"] == KPI_RULES_VERSION
    # the refresher takes such days too: an older version counts as stale
    assessor_env.influx.write(
        [old.replace("raw_points=1i", "raw_points=1i,rules_version=1i")], assessor_env.database
    )
    assessor_env.service.clock = lambda: at(14, 0) + 2 * 86400
    assert await assessor_env.service.refresh_late_days(factory) == [DAY]
    (stored,) = assessor_env.influx.points("kpi_daily", assessor_env.database)
    assert stored["rules_version"] == KPI_RULES_VERSION and stored["total_count"] == 19_271


async def test_an_alive_record_that_grows_after_its_day_was_materialised_is_counted(assessor_env):
    """A record grows by being rewritten in place, which adds no point to count: the
    refresher must still see that the day's raw data changed."""
    service = assessor_env.service
    service.clock = lambda: at(14, 0) + 2 * 86400
    points = on_change_points("press-01", liveness=True)
    # the 10:00 record stopped at 10:20 when the day was first computed (a spool behind)
    cut = [
        p.replace("alive_s=3600.0", "alive_s=1200.0") if f" {round(at(10, 0) * 1e9)}" in p else p
        for p in points
    ]
    assert cut != points
    status, text = assessor_env.influx.write(cut, assessor_env.database)
    assert status == 204, text
    day = {"start": "2024-03-04", "end": "2024-03-04"}
    before = _row({"rows": await _kpis(assessor_env, day)})
    assert before["unknown_time_s"] > 0
    status, text = assessor_env.influx.write(points, assessor_env.database)
    assert status == 204, text
    factory = service.store.factory("demo-factory")
    assert await service.refresh_late_days(factory) == [DAY]
    after = _row({"rows": await _kpis(assessor_env, day)})
    assert after["unknown_time_s"] == pytest.approx(0) and round(after["oee"] * 100, 2) == 74.79
    assert await service.refresh_late_days(factory) == []
