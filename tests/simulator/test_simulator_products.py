"""The simulator's product schedule: products in turn with a changeover between runs, each
at its own ideal cycle time, shown as a program number register, product text registers
and a Sparkplug string metric; the collector reads what the simulator serves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest

from collector.config import load_config
from collector.modbus.config import RegisterConfig
from collector.modbus.datatypes import ByteOrder
from collector.modbus.decode import decode_value
from collector.mqtt.sparkplug_codec import decode_payload, metric_value
from datacontract import MachineState
from simulator.config import SimulatorConfigError, load_simulator_config, parse_simulator_config
from simulator.machine import (
    REASON_CHANGEOVER,
    Calendar,
    MachineModel,
    MachineParams,
    ProductRun,
    summarize,
)
from simulator.mqtt_publisher import load_mqtt_simulator_config, sparkplug_values
from simulator.register_map import (
    HOLDING_PRODUCT_TEXT,
    HOLDING_PROGRAM,
    PRODUCT_REGISTERS,
    PRODUCT_TEXT_LENGTH,
    decode_holding,
    holding_registers,
    text_words,
)
from simulator.sparkplug_node import OnChangeEdgeNode

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
KST = timezone(timedelta(hours=9))
MONDAY = datetime(2025, 1, 6, tzinfo=KST).timestamp()
DAY = 86_400.0

A = ProductRun(1, "A-100", 4.0, units=300)
B = ProductRun(2, "B-200", 9.0, units=100)


def schedule_params(**changes: object) -> MachineParams:
    """Nothing but production and changeovers, round the clock."""
    base = MachineParams(
        ideal_cycle_time_s=6.0,
        speed_factor=0.8,
        reject_rate=0.0,
        mtbf_s=None,
        idle_probability=0.0,
        setup_duration_s=900.0,
        calendar=Calendar.always(9 * 3600),
        products=(A, B),
    )
    return base.with_changes(**changes)


def test_products_take_turns_with_a_changeover_between_runs():
    m = MachineModel(schedule_params(), seed=5, start_time_s=MONDAY, keep_events=True)
    m.advance(MONDAY + 2 * DAY)
    events = m.events
    runs = [e for e in events if e.state is MachineState.RUNNING]
    setups = [e for e in events if e.state is MachineState.SETUP]
    assert [e.product for e in runs[:4]] == ["A-100", "B-200", "A-100", "B-200"]
    assert all(e.units == (300 if e.product == "A-100" else 100) for e in runs)
    assert all(e.ideal_cycle_time_s == (4.0 if e.product == "A-100" else 9.0) for e in runs)
    assert setups and all(e.reason_code == REASON_CHANGEOVER for e in setups)
    # a changeover belongs to the incoming product: the run after it makes the same product
    for before, after in pairwise(events):
        if before.state is MachineState.SETUP:
            assert after.state is MachineState.RUNNING and after.product == before.product
    # performance over the whole mix is exact: each unit timed by its own product
    totals = summarize(events)
    ideal = sum(e.units * (4.0 if e.product == "A-100" else 9.0) for e in runs)
    assert totals.ideal_run_s == pytest.approx(ideal)
    assert totals.performance == pytest.approx(0.8, rel=1e-3)


def test_snapshot_and_registers_show_the_current_product():
    m = MachineModel(schedule_params(), seed=5, start_time_s=MONDAY)
    seen: dict[int, set[int]] = {}
    for _, snap in m.history(MONDAY, MONDAY + DAY, 60):
        regs = holding_registers(snap, 0)
        assert decode_holding(regs)["product_code"] == snap.product_code == regs[HOLDING_PROGRAM]
        text = regs[HOLDING_PRODUCT_TEXT : HOLDING_PRODUCT_TEXT + PRODUCT_TEXT_LENGTH]
        spec = PRODUCT_REGISTERS[1]
        reg = RegisterConfig(name=spec.name, address=spec.address, type=spec.type, length=PRODUCT_TEXT_LENGTH)
        assert decode_value(text, reg, ByteOrder.ABCD) == snap.product
        seen.setdefault(snap.product_code, set()).add(snap.ideal_cycle_ms)
    assert seen == {1: {4000}, 2: {9000}}


def test_a_machine_without_a_schedule_shows_program_zero():
    m = MachineModel(schedule_params(products=()), seed=5, start_time_s=MONDAY)
    m.advance(MONDAY + 3600)
    snap = m.snapshot()
    assert (snap.product_code, snap.product, snap.ideal_cycle_ms) == (0, "", 6000)
    regs = holding_registers(snap, 0)
    assert regs[HOLDING_PROGRAM] == 0
    assert (
        regs[HOLDING_PRODUCT_TEXT : HOLDING_PRODUCT_TEXT + PRODUCT_TEXT_LENGTH] == [0] * PRODUCT_TEXT_LENGTH
    )
    assert "product" not in sparkplug_values(snap)


def test_schedule_does_not_depend_on_sampling():
    coarse = dict(
        MachineModel(schedule_params(), seed=9, start_time_s=MONDAY).history(MONDAY, MONDAY + DAY, 600)
    )
    fine = MachineModel(schedule_params(), seed=9, start_time_s=MONDAY)
    for t, snap in sorted(coarse.items()):
        fine.advance(max(fine.now_s, t - 0.5))
        fine.advance(t)
        assert fine.snapshot() == snap


def test_text_words_pad_and_cut():
    assert text_words("A-100", 3) == [0x412D, 0x3130, 0x3000]
    assert text_words("", 1) == [0]
    # cut at a character boundary, never inside a UTF-8 sequence
    assert bytes(b for w in text_words("브래킷", 2) for b in (w >> 8, w & 0xFF)) == "브".encode() + b"\0"


def test_sparkplug_product_is_a_string_metric_sent_when_it_changes():
    m = MachineModel(schedule_params(), seed=5, start_time_s=MONDAY)
    node = OnChangeEdgeNode("packaging", "gw")
    m.advance(MONDAY + 60)
    [_, (_, dbirth)] = node.birth(1, {"packer-01": sparkplug_values(m.snapshot())})
    birth = {x.name: metric_value(x) for x in decode_payload(dbirth).metrics}
    assert birth["product"] == "A-100"
    products = []
    for t, snap in m.history(MONDAY + 120, MONDAY + DAY, 30):
        msg = node.changes("packer-01", round(t * 1000), sparkplug_values(snap))
        if msg is not None:
            metrics = {x.name: x for x in decode_payload(msg[1]).metrics}
            if "product" in metrics:
                assert metrics["product"].datatype == 12  # Sparkplug String
                products.append(metric_value(metrics["product"]))
    assert products[:3] == ["B-200", "A-100", "B-200"]


def test_schedule_errors_name_the_machine():
    text = """
machines:
  - name: a
    port: 5020
    seed: 1
    params:
      products:
        - {code: 1, id: A-100, ideal_cycle_time: 10s}
        - {code: 2, id: B-200, ideal_cycle_time: 20s}
"""
    with pytest.raises(SimulatorConfigError, match=r"machines\[0\]: products: a schedule needs run lengths"):
        parse_simulator_config(text)
    with pytest.raises(SimulatorConfigError, match=r"machines\[0\]: products: a product code repeats"):
        parse_simulator_config(text.replace("code: 2", "code: 1").replace("20s}", "20s, units: 5}"))
    with pytest.raises(SimulatorConfigError, match="65535 ms"):
        parse_simulator_config(text.replace("20s}", "70s, units: 5}").replace("10s}", "10s, units: 5}"))
    with pytest.raises(SimulatorConfigError, match=r"machines.0.params.products.0.code"):
        parse_simulator_config(text.replace("code: 1", "code: 0"))
    parse_simulator_config(text.replace("20s}", "20s, units: 5}").replace("10s}", "10s, units: 5}"))


def test_the_demo_runs_the_schedules_the_collector_and_registry_expect():
    line = load_simulator_config(CONFIGS / "simulated-line.yaml")
    collector = load_config(CONFIGS / "collector-demo.yaml", env={})
    devices = {d.machine: d for d in collector.modbus.devices}  # type: ignore[union-attr]
    scheduled = [m for m in line.machines if line.params_of(m).products]
    assert scheduled, "the demo line runs a product schedule"
    for m in scheduled:
        [program] = [r for r in devices[m.name].registers if r.role == "product"]
        assert program.address == HOLDING_PROGRAM
        assert program.products == {p.code: p.id for p in line.params_of(m).products}
    packaging = load_mqtt_simulator_config(CONFIGS / "simulated-packaging.yaml")
    packer = [m for m in packaging.machines if m.report == "sparkplug_b"]
    assert any(packaging.params_of(m).products for m in packer)
    spb = [s for s in collector.mqtt.subscriptions if s.format == "sparkplug_b"]  # type: ignore[union-attr]
    assert any(f.role == "product" and f.path == "product" for s in spb for f in s.fields.values())
