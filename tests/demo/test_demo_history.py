"""The local demo's history: deterministic, a real improvement, only in shift hours, and
records the assessor reads back as they were meant."""

from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_right
from collections.abc import Callable
from itertools import pairwise

import pytest

from assessor.domain.baseline import parse_baseline
from assessor.domain.kpi.calendar import planned_intervals
from assessor.registry.importer import load_registry
from collector.config import load_config
from collector.mqtt.mapping import SubscriptionMapper
from demo.history import (
    FactoryPlan,
    _model,
    baseline_csv,
    line_products,
    line_protocol,
    manual_days,
    measured_samples,
    planned_by_day,
    true_totals,
    window_bounds,
)
from demo.portfolio import CONFIGS, build_plans, timeline
from simulator.mqtt_publisher import load_mqtt_simulator_config, payload

#: a Thursday, as the demo's first run could be
ANCHOR = dt.date(2025, 11, 27)
DAYS = 12


@pytest.fixture(scope="module")
def plans() -> list[FactoryPlan]:
    return build_plans(ANCHOR, DAYS, 6)


def _measured(plan: FactoryPlan, machine: int = 0) -> list[tuple[int, dict]]:
    f = plan.factory
    planned = [iv for _, day in planned_by_day(f, plan.after_window) for iv in day]
    start = window_bounds(f, plan.after_window)[0]
    return list(measured_samples(plan.machines[machine], planned, start, until_s=plan.silent_from))


def _full(plan: FactoryPlan) -> list[dict]:
    """The full samples (not the state-only ones of a state change) of the first machine."""
    return [f for _, f in _measured(plan) if "count_total" in f]


def _interval_of(planned: list[tuple[float, float]], what: str) -> Callable[[float], int]:
    """Index of the planned interval holding a time (ends included); fails outside them."""
    starts = [lo for lo, _ in planned]

    def interval(t: float) -> int:
        k = bisect_right(starts, t) - 1
        assert k >= 0 and t <= planned[k][1], f"{what}: sample at {t} outside shifts"
        return k

    return interval


def test_timeline_places_baseline_project_and_after_window_before_the_anchor():
    t = timeline(ANCHOR, 90)
    assert t.after_end == ANCHOR - dt.timedelta(days=1)
    assert (t.after_end - t.project_end).days == 90
    assert (t.project_end - t.project_start).days + 1 == 60
    assert (t.baseline_end - t.baseline_start).days + 1 == 120
    assert t.baseline_end < t.project_start


def test_the_same_plan_gives_the_same_history(plans):
    again = build_plans(ANCHOR, DAYS, 6)
    for a, b in zip(plans[:2], again[:2], strict=True):
        assert manual_days(a, a.project.baseline) == manual_days(b, b.project.baseline)
        assert _measured(a) == _measured(b)
    first = _measured(plans[0])[:3]
    assert [line_protocol("demo-factory", "press", "press-01", s) for s in first] == [
        line_protocol("demo-factory", "press", "press-01", s) for s in _measured(again[0])[:3]
    ]


def test_samples_only_in_planned_time_and_never_further_apart_than_the_hold(plans):
    for plan in plans:
        f = plan.factory
        start, end = window_bounds(f, plan.after_window)
        planned = planned_intervals(f.calendar, start, end)
        interval = _interval_of(planned, f.id)
        for i in range(len(plan.machines)):
            times = [t for t, _ in _measured(plan, i)]
            assert times, f"{f.id}: no samples"
            assert times == sorted(set(times))
            # inside one planned interval consecutive samples are at most 60 s (kpi.hold_s) apart
            for a, b in pairwise(times):
                assert interval(a) != interval(b) or b - a <= 60


def test_a_silent_edge_box_sends_nothing_after_it_went_silent(plans):
    silent = [p for p in plans if p.silent_from is not None]
    assert [p.factory.id for p in silent] == ["gongju-precision"]
    plan = silent[0]
    times = [t for t, _ in _measured(plan)]
    assert max(times) <= plan.silent_from
    # silent two days before the anchor, mid-morning
    assert plan.silent_from - max(times) < 3 * 3600


def test_after_is_a_real_improvement_over_before(plans):
    for plan in plans:
        before = true_totals(plan, plan.project.baseline, "before")
        after = true_totals(plan, plan.after_window, "after")
        assert before.oee is not None and after.oee is not None
        assert after.oee - before.oee >= 0.08, plan.factory.id
        assert 0.5 <= before.oee <= 0.7, plan.factory.id
        assert after.rejects / after.units <= 0.6 * before.rejects / before.units, plan.factory.id
        assert after.units / after.planned_busy_s > 1.1 * before.units / before.planned_busy_s


def test_the_manual_log_records_the_before_regime(plans):
    plan = plans[0]
    rows = manual_days(plan, plan.project.baseline)
    truth = true_totals(plan, plan.project.baseline, "before")
    produced = sum(r.produced for r in rows)
    assert produced == pytest.approx(truth.units, rel=0.01)
    assert sum(r.defects for r in rows) == pytest.approx(truth.rejects, rel=0.02)
    # hours to the half hour, as people write them; a line's hours are its busy time
    assert all((r.hours_worked * 2).is_integer() and 0 < r.hours_worked <= 24 for r in rows)
    assert sum(r.hours_worked for r in rows) * 3600 == pytest.approx(truth.planned_busy_s, rel=0.03)
    # workers of all lines add up to the headcount, so labour productivity compares
    day = rows[0].day
    assert sum(r.workers for r in rows if r.day == day) == plan.factory.employees


def test_the_csv_is_the_log_as_the_assessor_reads_it(plans):
    for plan in plans[:3]:
        rows = manual_days(plan, plan.project.baseline)
        data = baseline_csv(rows, plan.factory)
        assert data.startswith(b"\xef\xbb\xbf")
        assert "날짜,라인,품목,가동시간(h)" in data.decode("utf-8-sig")
        assert parse_baseline(data, "log.csv", factory=plan.factory) == rows


def test_measured_points_carry_the_fields_of_their_edge_box(plans):
    live, advanced, basic = plans[0], plans[1], plans[2]
    modbus = _full(live)[1]
    assert {"state", "state_code", "downtime_reason", "count_total", "count_reject", "energy_kwh"} <= set(
        modbus
    )
    assert isinstance(modbus["count_total"], int) and isinstance(modbus["energy_kwh"], float)
    traced = _full(advanced)[1]
    assert {"lot_id", "sp_speed_pct"} <= set(traced)
    counts_only = _full(basic)[1]
    # the product is stored on change (and on a shift's first sample), beside the state
    assert set(counts_only) - {"product"} == {"state", "count_total", "count_reject"}
    line = line_protocol("demo-factory", "press", "press-01", (1_700_000_000, modbus))
    assert line.startswith("machine_data,factory=demo-factory,line=press,machine=press-01 state=")
    assert line.endswith(" 1700000000") and "count_total=" in line and "i," in line


def test_every_simulated_machine_is_a_registered_machine():
    registry = {f.id: f for f in load_registry(CONFIGS / "registry-demo.yaml")}
    factory = registry["demo-factory"]
    registered = {(m.line_id, m.id) for m in factory.machines}
    collector = load_config(CONFIGS / "collector-demo.yaml", env={})
    modbus = {(collector.line_of(d), d.machine) for d in collector.modbus.devices}
    mqtt_sim = load_mqtt_simulator_config(CONFIGS / "simulated-packaging.yaml")
    mqtt = {(m.line, m.name) for m in mqtt_sim.machines}
    assert modbus | mqtt == registered
    assert collector.site.factory == "demo-factory"


def test_the_collector_maps_the_packaging_gateways_messages():
    collector = load_config(CONFIGS / "collector-demo.yaml", env={})
    assert collector.mqtt is not None
    mapper = SubscriptionMapper(
        collector.mqtt.subscriptions[0], site_line="press", max_payload=4096, max_future_s=300.0
    )
    sim = load_mqtt_simulator_config(CONFIGS / "simulated-packaging.yaml")
    spec = sim.machines[0]
    model = sim.build_model(spec, dt.datetime(2025, 11, 27, 9, 30, tzinfo=dt.UTC).timestamp() - 9 * 3600)
    model.advance(model.now_s + 600)
    message = payload(model.snapshot())
    [sample] = mapper.map(sim.topic_of(spec), json.dumps(message).encode(), message["ts"] * 10**6)
    fields = dict(sample.fields)
    assert (sample.line, sample.machine) == (spec.line, spec.name)
    assert sample.ts_ns == message["ts"] * 10**6
    assert fields["state"] == model.snapshot().state.value
    assert fields["count_total"] == message["counters"]["total"]
    assert {"downtime_reason", "count_reject", "energy_kwh", "power_kw", "temperature"} <= set(fields)


def test_the_factories_make_several_products_with_changeovers(plans):
    for plan in plans:
        assert len(plan.factory.products) >= 3, plan.factory.id
        assert all(m.products for m in plan.machines), plan.factory.id
        # each line makes at least two products that fit its machines
        for line in {m.line for m in plan.machines}:
            made = {pid for _, pid in next(m for m in plan.machines if m.line == line).products}
            assert len(made) >= 2, (plan.factory.id, line)
            assert made <= set(line_products(plan.factory, line)), (plan.factory.id, line)
    plan = plans[1]
    m = plan.machines[0]
    samples = _measured(plan)
    changes = [(t, f["product"]) for t, f in samples if "product" in f]
    # the product is written on change; a change starts a setup (a changeover) right after
    switched = [(t, p) for (_, a), (t, p) in pairwise(changes) if p != a]
    assert len({p for _, p in changes}) >= 2 and switched
    states = {t: f["state"] for t, f in samples}
    for t, product in switched:
        assert m.product_at(t) == product
        assert "setup" in {states.get(t + s) for s in range(0, 3)}, (t, product)


def test_units_are_timed_by_the_product_current_when_they_were_made(plans):
    plan = plans[1]
    m = plan.machines[0]
    times = dict(m.product_times)
    registered = next(x for x in plan.factory.machines if x.id == m.machine)
    assert times == {p.id: plan.factory.ideal_cycle_time(registered, p.id)[0] for p in plan.factory.products}
    assert len(set(times.values())) == 3
    # the ground truth's ideal time is the sum of each product's units x its ideal time
    truth = true_totals(plan, plan.after_window, "after")
    every = [t for x in plan.machines for _, t in x.product_times]
    assert min(every) * truth.units < truth.ideal_run_s < max(every) * truth.units
    # the model runs each product at its own ideal time
    start, end = window_bounds(plan.factory, plan.after_window)
    model = _model(m, m.after, start)
    model.advance(end)
    ran = {ep.ideal_cycle_time_s for ep in model.drain_events() if ep.units}
    assert ran == set(times.values())


def test_the_manual_log_has_a_product_column(plans):
    plan = plans[1]
    rows = manual_days(plan, plan.project.baseline)
    assert all(r.products and sum(p.produced for p in r.products) == r.produced for r in rows)
    assert any(len(r.products) >= 2 for r in rows)
    back = parse_baseline(baseline_csv(rows, plan.factory), "log.csv", factory=plan.factory)
    assert [r.products for r in back] == [r.products for r in rows]


def test_the_live_factory_has_stops_its_plc_gives_no_reason_for(plans):
    # the line tablet's queue: waits of the CNC come with reason "none" (code 0), which
    # the assessor takes for no reason (docs/kpi-method.md)
    live = next(p for p in plans if p.factory.id == "demo-factory")
    cnc = next(i for i, m in enumerate(live.machines) if m.machine == "cnc-01")
    runs: list[float] = []
    began = None
    for t, fields in _measured(live, cnc):
        unexplained = fields.get("state") == "idle" and fields.get("downtime_reason") == "none"
        if unexplained and began is None:
            began = t
        elif not unexplained and began is not None and "state" in fields:
            runs.append(t - began)
            began = None
    assert sum(1 for r in runs if r >= 5 * 60) >= 3, runs
