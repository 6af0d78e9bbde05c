"""The simulator's machine model: deterministic, event based, calendar bound."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest

from datacontract import CANONICAL_STATES, MachineState
from simulator.machine import (
    REASON_BREAK,
    REASON_CHANGEOVER,
    REASON_NO_SHIFT,
    STATE_CODES,
    UINT32,
    Calendar,
    CalendarKind,
    Episode,
    MachineModel,
    MachineParams,
    Regime,
    summarize,
)
from simulator.register_map import (
    COUNTER_ORDER,
    HOLDING_TOTAL,
    decode_holding,
    holding_registers,
    input_registers,
    u32_value,
    u32_words,
)

KST = timezone(timedelta(hours=9))
OFFSET = 9 * 3600
#: Monday 2025-01-06 00:00 in Seoul
MONDAY = datetime(2025, 1, 6, tzinfo=KST).timestamp()
DAY = 86_400.0
HOUR = 3600.0


def busy_params(**changes: object) -> MachineParams:
    """Every kind of event switched on, so a month exercises all states."""
    base = MachineParams(
        ideal_cycle_time_s=5.0,
        speed_factor=0.85,
        reject_rate=0.03,
        mtbf_s=2 * HOUR,
        mttr_s=900.0,
        idle_probability=0.004,
        idle_mean_s=400.0,
        setup_every_units=2000,
        setup_duration_s=1800.0,
        stop_every_s=4 * HOUR,
        stop_mean_s=600.0,
        calendar=Calendar(utc_offset_s=OFFSET),
    )
    return base.with_changes(**changes)


def run(model: MachineModel, start: float, end: float, step: float):
    return list(model.history(start, end, step))


# ------------------------------------------------------------------ determinism


def test_same_seed_and_params_give_identical_history():
    a = MachineModel(busy_params(), seed=7, start_time_s=MONDAY)
    b = MachineModel(busy_params(), seed=7, start_time_s=MONDAY)
    assert run(a, MONDAY, MONDAY + 3 * DAY, 30) == run(b, MONDAY, MONDAY + 3 * DAY, 30)


def test_another_seed_gives_another_machine():
    a = run(MachineModel(busy_params(), seed=1, start_time_s=MONDAY), MONDAY, MONDAY + DAY, 600)
    b = run(MachineModel(busy_params(), seed=2, start_time_s=MONDAY), MONDAY, MONDAY + DAY, 600)
    assert [s.total for _, s in a] != [s.total for _, s in b]


def test_trajectory_does_not_depend_on_how_often_it_is_sampled():
    """Live reads come at arbitrary instants; they must see the machine history shows."""
    coarse = MachineModel(busy_params(), seed=3, start_time_s=MONDAY)
    every_minute = dict(coarse.history(MONDAY, MONDAY + 2 * DAY, 60))
    fine = MachineModel(busy_params(), seed=3, start_time_s=MONDAY)
    t = MONDAY
    step = 0.0
    while t < MONDAY + 2 * DAY - 60:
        step = (step * 7.3 + 13.1) % 97  # irregular steps, some of them sub-second
        t += step
        fine.advance(t)
        grid = (t // 60 + 1) * 60
        fine.advance(grid)
        t = grid
        assert fine.snapshot() == every_minute[grid]


def test_time_runs_forward_only():
    m = MachineModel(busy_params(), seed=1, start_time_s=MONDAY)
    m.advance(MONDAY + 100)
    with pytest.raises(ValueError):
        m.advance(MONDAY + 99)


def test_history_windows_chain_without_duplicates():
    whole = run(MachineModel(busy_params(), seed=4, start_time_s=MONDAY), MONDAY, MONDAY + DAY, 10)
    m = MachineModel(busy_params(), seed=4, start_time_s=MONDAY)
    parts = run(m, MONDAY, MONDAY + DAY / 2, 10) + run(m, MONDAY + DAY / 2, MONDAY + DAY, 10)
    assert parts == whole
    assert len(whole) == 8640


# ------------------------------------------------------------------ counters


def test_counters_wrap_at_2_pow_32():
    p = MachineParams(
        ideal_cycle_time_s=1.0, speed_factor=1.0, reject_rate=0.5, mtbf_s=None,
        idle_probability=0.0, running_kw=3600.0, calendar=Calendar.always(),
    )
    m = MachineModel(
        p, seed=1, start_time_s=MONDAY,
        initial_total=UINT32 - 100, initial_rejects=UINT32 - 10, initial_energy_wh=UINT32 - 1000,
    )
    samples = run(m, MONDAY, MONDAY + 1000, 1)
    totals = [s.total for _, s in samples]
    rejects = [s.rejects for _, s in samples]
    energy = [s.energy_wh for _, s in samples]
    for values in (totals, rejects, energy):
        assert all(0 <= v < UINT32 for v in values)
        assert values[0] > values[-1], "expected a wrap"
        # exactly one step down, and it is a wrap, not a reset
        downs = [i for i in range(1, len(values)) if values[i] < values[i - 1]]
        assert len(downs) == 1
    last = samples[-1][1]
    assert (last.total - (UINT32 - 100)) % UINT32 == m.produced == 999
    assert (last.rejects - (UINT32 - 10)) % UINT32 == m.rejected
    # 3600 kW for 999 s is 999 kWh
    assert (last.energy_wh - (UINT32 - 1000)) % UINT32 == 999_000
    assert last.good == (last.total - last.rejects) % UINT32


def test_counters_survive_the_register_encoding_across_the_wrap():
    p = MachineParams(ideal_cycle_time_s=1.0, speed_factor=1.0, mtbf_s=None,
                      idle_probability=0.0, calendar=Calendar.always())
    m = MachineModel(p, seed=1, start_time_s=MONDAY, initial_total=UINT32 - 3)
    for t, snap in m.history(MONDAY, MONDAY + 8, 1):
        regs = holding_registers(snap, read_sequence=int(t))
        assert decode_holding(regs)["total"] == snap.total
        # CDAB: the low word comes first
        assert regs[HOLDING_TOTAL] == snap.total & 0xFFFF
        assert regs[HOLDING_TOTAL + 1] == snap.total >> 16
    assert m.snapshot().total == 4


def test_word_orders_round_trip():
    from collector.modbus.datatypes import ByteOrder

    for order in ByteOrder:
        for value in (0, 1, 0x12345678, UINT32 - 1):
            assert u32_value(u32_words(value, order), order) == value
    assert u32_words(0x12345678, COUNTER_ORDER) == [0x5678, 0x1234]


def test_negative_temperature_is_twos_complement():
    p = MachineParams(ambient_c=-12.5, calendar=Calendar(shifts=()))
    snap = MachineModel(p, seed=1, start_time_s=MONDAY).snapshot()
    assert snap.temperature_x10 == -125
    assert input_registers(snap)[0] == 0x10000 - 125


def test_episode_log_matches_counters():
    m = MachineModel(busy_params(), seed=11, start_time_s=MONDAY, keep_events=True)
    m.advance(MONDAY + 14 * DAY)
    episodes = [*m.events, m.current_episode()]
    assert sum(e.units for e in episodes) == m.produced
    assert sum(e.rejects for e in episodes) == m.rejected
    # contiguous, no gaps or overlaps
    for a, b in pairwise(episodes):
        assert a.end_s == b.start_s
    assert episodes[0].start_s == MONDAY and episodes[-1].end_s == MONDAY + 14 * DAY


# ------------------------------------------------------------------ states


def test_only_canonical_states_and_codes():
    m = MachineModel(busy_params(), seed=5, start_time_s=MONDAY)
    seen = set()
    for _, snap in m.history(MONDAY, MONDAY + 14 * DAY, 20):
        assert snap.state.value in CANONICAL_STATES
        assert STATE_CODES[snap.state] == snap.state_code
        seen.add(snap.state)
    # the parameters switch every kind of stop on: all six PLC states occur
    assert seen == set(STATE_CODES)


def test_faults_only_interrupt_running():
    m = MachineModel(busy_params(), seed=6, start_time_s=MONDAY, keep_events=True)
    m.advance(MONDAY + 30 * DAY)
    episodes = m.events
    faults = 0
    for before, ep in pairwise(episodes):
        if ep.state is MachineState.FAULT and before.state is not MachineState.FAULT:
            faults += 1
            assert before.state is MachineState.RUNNING, (before, ep)
    assert faults > 20


def test_door_is_open_during_setup_and_repair_only():
    m = MachineModel(busy_params(), seed=8, start_time_s=MONDAY)
    for _, snap in m.history(MONDAY, MONDAY + 7 * DAY, 30):
        assert snap.door_open == (snap.state in (MachineState.SETUP, MachineState.FAULT))
        if snap.state is MachineState.FAULT:
            assert 100 <= snap.fault_code < 200
        else:
            assert snap.fault_code == 0


def test_planned_stops_follow_the_calendar():
    cal = Calendar(utc_offset_s=OFFSET)
    m = MachineModel(busy_params(), seed=9, start_time_s=MONDAY)
    for t, snap in m.history(MONDAY, MONDAY + 14 * DAY, 60):
        kind, _ = cal.segment(int(t * 1000))
        local = datetime.fromtimestamp(t, KST)
        if kind is CalendarKind.PRODUCTION:
            assert snap.state is not MachineState.PLANNED_STOP, local
        else:
            assert snap.state is MachineState.PLANNED_STOP, local
            reason = REASON_BREAK if kind is CalendarKind.BREAK else REASON_NO_SHIFT
            assert snap.reason_code == reason
            assert snap.power_w == 300


@pytest.mark.parametrize(
    ("local", "kind"),
    [
        (datetime(2025, 1, 6, 7, 59, tzinfo=KST), CalendarKind.OFF),
        (datetime(2025, 1, 6, 8, 0, tzinfo=KST), CalendarKind.PRODUCTION),
        (datetime(2025, 1, 6, 10, 5, tzinfo=KST), CalendarKind.BREAK),
        (datetime(2025, 1, 6, 12, 30, tzinfo=KST), CalendarKind.BREAK),
        (datetime(2025, 1, 6, 16, 59, tzinfo=KST), CalendarKind.PRODUCTION),
        (datetime(2025, 1, 6, 17, 0, tzinfo=KST), CalendarKind.OFF),
        (datetime(2025, 1, 11, 10, 0, tzinfo=KST), CalendarKind.OFF),  # Saturday
    ],
)
def test_default_calendar(local: datetime, kind: CalendarKind):
    assert Calendar(utc_offset_s=OFFSET).segment(int(local.timestamp() * 1000))[0] is kind


def test_night_shift_runs_past_midnight():
    from simulator.machine import DailyWindow

    cal = Calendar(shifts=(DailyWindow(22 * 3600, 6 * 3600, frozenset({0})),), breaks=(),
                   utc_offset_s=OFFSET)
    at = datetime(2025, 1, 7, 3, 0, tzinfo=KST)  # Tuesday 03:00, in Monday's night shift
    kind, until = cal.segment(int(at.timestamp() * 1000))
    assert kind is CalendarKind.PRODUCTION
    assert until == int(datetime(2025, 1, 7, 6, 0, tzinfo=KST).timestamp() * 1000)


def test_setups_come_every_n_units():
    p = busy_params(mtbf_s=None, stop_every_s=None, idle_probability=0.0,
                    setup_every_units=1000, calendar=Calendar.always(OFFSET))
    m = MachineModel(p, seed=10, start_time_s=MONDAY, keep_events=True)
    m.advance(MONDAY + 7 * DAY)
    setups = [e for e in m.events if e.state is MachineState.SETUP]
    assert all(e.reason_code == REASON_CHANGEOVER for e in setups)
    runs_between = [e.units for e in m.events if e.state is MachineState.RUNNING]
    assert runs_between and all(u == 1000 for u in runs_between)
    assert len(setups) == len(runs_between)


def test_machine_warms_when_running_and_cools_when_stopped():
    p = MachineParams(mtbf_s=None, idle_probability=0.0, ambient_c=20.0, running_c=50.0,
                      thermal_tau_s=1200.0, calendar=Calendar(utc_offset_s=OFFSET, breaks=()))
    m = MachineModel(p, seed=1, start_time_s=MONDAY + 8 * HOUR)
    m.advance(MONDAY + 16 * HOUR)
    assert m.snapshot().state is MachineState.RUNNING
    assert m.snapshot().temperature_c == pytest.approx(50.0, abs=0.2)
    m.advance(MONDAY + 20 * HOUR)
    assert m.snapshot().state is MachineState.PLANNED_STOP
    assert m.snapshot().temperature_c == pytest.approx(20.0, abs=0.2)


def test_energy_follows_power_by_state():
    p = MachineParams(mtbf_s=None, idle_probability=0.0, running_kw=10.0, standby_kw=0.5,
                      calendar=Calendar(utc_offset_s=OFFSET, breaks=()))
    m = MachineModel(p, seed=1, start_time_s=MONDAY + 9 * HOUR)
    e0 = m.snapshot().energy_wh
    m.advance(MONDAY + 10 * HOUR)
    assert m.snapshot().power_w == 10_000
    assert m.snapshot().energy_wh - e0 == 10_000
    m.advance(MONDAY + 20 * HOUR)
    e1 = m.snapshot().energy_wh
    m.advance(MONDAY + 22 * HOUR)
    assert m.snapshot().energy_wh - e1 == 1_000


# ------------------------------------------------------------------ regimes and KPIs


def test_after_regime_improves_oee_from_the_event_log():
    before = busy_params(calendar=Calendar.always(OFFSET))
    after = before.with_changes(speed_factor=0.95, mtbf_s=8 * HOUR, mttr_s=600.0, reject_rate=0.01)
    switch = MONDAY + 30 * DAY
    m = MachineModel(before, seed=12, start_time_s=MONDAY, after=after, switch_at_s=switch,
                     keep_events=True)
    m.advance(MONDAY + 60 * DAY)
    episodes = [*m.events, m.current_episode()]
    b = summarize(episodes, MONDAY, switch)
    a = summarize(episodes, switch, MONDAY + 60 * DAY)
    assert b.planned_busy_s == pytest.approx(30 * DAY)
    assert a.planned_busy_s == pytest.approx(30 * DAY)
    assert a.oee > b.oee + 0.05
    assert a.performance > b.performance
    assert a.quality > b.quality
    assert a.faults < b.faults
    # performance is the speed factor: the model loses speed in no other way
    assert b.performance == pytest.approx(0.85, abs=0.005)
    assert a.performance == pytest.approx(0.95, abs=0.005)
    # no episode straddles the switch: the windows sum exactly
    assert any(e.end_s == switch for e in m.events)


def test_regimes_list_and_a_model_started_after_the_switch():
    before, after = busy_params(), busy_params(speed_factor=1.0)
    switch = MONDAY + DAY
    m = MachineModel([Regime(0, before), Regime(switch, after)], seed=1, start_time_s=switch + 60)
    assert m.params is after
    m2 = MachineModel(before, seed=1, start_time_s=switch + 60, after=after, switch_at_s=switch)
    assert m2.params is after


def test_totals_reproduce_the_reference_vector():
    """Vorne's worked example: 420 min planned, 373 min run, 1 s ideal, 19271/423."""
    eps = [
        Episode(0, 373 * 60, MachineState.RUNNING, 0, 19_271, 423, 1.0),
        Episode(373 * 60, 420 * 60, MachineState.FAULT, 101, 0, 0, 1.0),
        Episode(420 * 60, 480 * 60, MachineState.PLANNED_STOP, REASON_BREAK, 0, 0, 1.0),
    ]
    t = summarize(eps)
    assert t.availability == pytest.approx(0.8881, abs=1e-4)
    assert t.performance == pytest.approx(0.8611, abs=1e-4)
    assert t.quality == pytest.approx(0.9780, abs=1e-4)
    assert t.oee == pytest.approx(0.7479, abs=1e-4)
    assert summarize([]).oee is None


# ------------------------------------------------------------------ speed


def test_a_month_at_10s_sampling_takes_well_under_a_second():
    m = MachineModel(busy_params(), seed=13, start_time_s=MONDAY)
    cpu = time.process_time()
    n = sum(1 for _ in m.history(MONDAY, MONDAY + 30 * DAY, 10))
    elapsed = time.process_time() - cpu
    assert n == 259_200
    assert elapsed < 1.0, f"{elapsed:.2f}s CPU for a month"
