"""Modbus values stored on change: config defaults and errors, deadband, re-store, refresh,
and the poller's liveness calls (against an in-memory endpoint; the real server path is in
tests/collector/modbus/test_liveness_modbus.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.config import ConfigError, parse_config
from collector.config.model import CollectorConfig
from collector.liveness import LivenessRecorder
from collector.modbus.client import (
    IllegalAddress,
    ModbusExceptionResponse,
    NotConnected,
    ReadResult,
    ReadTimeout,
)
from collector.modbus.config import DeviceConfig
from collector.modbus.datatypes import Area
from collector.modbus.poller import DevicePoller
from collector.modbus.store import ChangeFilter

S = 1_000_000_000

CONFIG = """\
site: {factory: f1, line: line-1}
modbus:
  devices:
    - machine: press-01
      host: 127.0.0.1
DEVICE_EXTRA      registers:
        - {name: state, address: 0, role: state, states: {0: stopped, 1: running}}
        - {name: total, address: 1, role: count_total}
        - {name: temperature, address: 2, type: int16, scale: 0.1}
        - {name: alarm, address: 3, role: alarm_code}
        - {name: door, address: 4, type: bool}
        - {name: order, address: 5, type: string, length: 4, role: order_id}
"""


def config(device_extra: str = "", replace: tuple[str, str] | None = None) -> CollectorConfig:
    return parse_config(_text(device_extra, replace), env={})


def _text(device_extra: str = "", replace: tuple[str, str] | None = None) -> str:
    text = CONFIG.replace("DEVICE_EXTRA", device_extra)
    return text.replace(*replace) if replace else text


def errors_of(device_extra: str = "", replace: tuple[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(_text(device_extra, replace), env={})
    return info.value.errors


def modes(dev: DeviceConfig) -> dict[str, str]:
    return {r.name: dev.store_of(r) for r in dev.registers}


# --- configuration ---------------------------------------------------------------------


def test_defaults_slowly_changing_roles_on_change_everything_else_every_poll() -> None:
    cfg = config()
    dev = cfg.modbus.devices[0]
    assert modes(dev) == {
        "state": "on_change",
        "total": "every_poll",
        "temperature": "every_poll",
        "alarm": "on_change",
        "door": "every_poll",
        "order": "on_change",
    }
    assert dev.refresh == 900.0
    assert cfg.liveness.flush_interval == 10.0


def test_device_store_every_poll_turns_on_change_off() -> None:
    dev = config("      store: every_poll\n      refresh: 1m\n").modbus.devices[0]
    assert set(modes(dev).values()) == {"every_poll"}
    assert dev.refresh == 60.0


def test_device_store_on_change_keeps_counters_every_poll_and_a_register_wins() -> None:
    dev = config(
        "      store: on_change\n",
        ("{name: door, address: 4, type: bool}", "{name: door, address: 4, type: bool, store: every_poll}"),
    ).modbus.devices[0]
    assert modes(dev) == {
        "state": "on_change",
        "total": "every_poll",
        "temperature": "on_change",
        "alarm": "on_change",
        "door": "every_poll",
        "order": "on_change",
    }


def test_deadband_implies_on_change_and_liveness_interval_parses() -> None:
    cfg = parse_config(
        _text(replace=("type: int16, scale: 0.1}", "type: int16, scale: 0.1, deadband: 0.5}"))
        + "liveness: {flush_interval: 2s}\n",
        env={},
    )
    dev = cfg.modbus.devices[0]
    assert dev.store_of(dev.registers[2]) == "on_change"
    assert dev.registers[2].deadband == 0.5
    assert cfg.liveness.flush_interval == 2.0


TEMP = "type: int16, scale: 0.1}"


@pytest.mark.parametrize(
    ("extra", "replace", "path", "words"),
    [
        ("", (TEMP, "type: int16, scale: 0.1, deadband: -1}"), "registers[2].deadband", "greater than"),
        ("", (TEMP, "type: int16, scale: 0.1, deadband: yes}"), "registers[2].deadband", "a number"),
        ("", (TEMP, "type: int16, scale: 0.1, deadband: '1'}"), "registers[2].deadband", "a number"),
        ("", (TEMP, "type: int16, scale: 0.1, deadband: .inf}"), "registers[2].deadband", "finite"),
        (
            "",
            (TEMP, "type: int16, scale: 0.1, deadband: 1, store: every_poll}"),
            "registers[2].deadband",
            "implies store: on_change",
        ),
        ("", ("type: bool}", "type: bool, deadband: 1}"), "registers[4].deadband", "only for numbers"),
        ("", ("order_id}", "order_id, deadband: 1}"), "registers[5].deadband", "only for numbers"),
        ("", ("role: state,", "role: state, deadband: 1,"), "registers[0].deadband", "only for numbers"),
        ("", ("role: count_total}", "role: count_total, deadband: 5}"), "registers[1].deadband", "counter"),
        (
            "",
            ("role: count_total}", "role: count_total, store: on_change}"),
            "registers[1].store",
            "every poll",
        ),
        ("", (TEMP, "type: int16, scale: 0.1, store: sometimes}"), "registers[2].store", "on_change"),
        ("      store: never\n", None, "store", "on_change"),
        ("      refresh: 0s\n", None, "refresh", "positive"),
        ("      refresh: soon\n", None, "refresh", "duration"),
    ],
)
def test_errors_name_the_key_path(extra: str, replace: tuple[str, str] | None, path: str, words: str) -> None:
    errs = errors_of(extra, replace)
    want = f"modbus.devices[0].{path}:"
    assert any(e.startswith(want) and words in e for e in errs), errs


def test_liveness_flush_interval_error_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_text() + "liveness: {flush_interval: 1ms}\n", env={})
    assert info.value.errors[0].startswith("liveness.flush_interval: ")


# --- the filter ------------------------------------------------------------------------


def one_field_filter(band: float = 0.0, refresh_s: float = 900.0) -> ChangeFilter:
    return ChangeFilter({"v": (0, band)}, int(refresh_s * S))


def stored(f: ChangeFilter, values: Sequence[float], step_s: float = 1.0) -> list[float]:
    out = []
    for n, value in enumerate(values):
        kept = f.select([("v", value)], int(n * step_s * S))
        out.extend(v for _, v in kept)
    return out


def test_unchanged_value_is_left_out_changed_one_kept() -> None:
    assert stored(one_field_filter(), [1, 1, 1, 2, 2, 1]) == [1, 2, 1]


def test_deadband_counts_from_the_last_stored_value_and_includes_its_edge() -> None:
    # 0.4 + 0.3 drift from 10.0: 10.7 differs by 0.7 from the last *stored* 10.0
    assert stored(one_field_filter(0.5), [10.0, 10.4, 10.7, 10.3, 10.2, 10.7]) == [10.0, 10.7, 10.2, 10.7]
    # an integer with deadband 1 stores every step, 2 every other step (>=)
    assert stored(one_field_filter(1), [0, 1, 2, 2, 3]) == [0, 1, 2, 3]
    assert stored(one_field_filter(2), [0, 1, 2, 3, 4, 3, 2]) == [0, 2, 4, 2]


def test_a_bool_becoming_an_int_of_the_same_value_counts_as_a_change() -> None:
    assert stored(one_field_filter(), [True, 1, 1]) == [True, 1]


def test_forget_stores_again_whatever_the_change() -> None:
    f = one_field_filter(5)
    assert f.select([("v", 1)], 0) == [("v", 1)]
    assert f.select([("v", 2)], S) == []
    f.forget()
    assert f.select([("v", 2)], 2 * S) == [("v", 2)]


def test_refresh_stores_an_unchanged_value_again() -> None:
    f = one_field_filter(refresh_s=10)
    # polled every second: stored at 0, 10, 20 although it never changes
    assert [t for t in range(25) if f.select([("v", 7)], t * S)] == [0, 10, 20]


def test_fields_of_one_register_travel_together_and_every_poll_fields_pass() -> None:
    f = ChangeFilter({"state": (0, 0.0), "state_code": (0, 0.0), "alarm": (1, 0.0)}, 900 * S)
    first = [("state", "running"), ("state_code", 1), ("count_total", 5), ("alarm", 0)]
    assert f.select(first, 0) == first
    assert f.select([("state", "running"), ("state_code", 1), ("count_total", 6), ("alarm", 0)], S) == [
        ("count_total", 6)
    ]
    # two codes the map does not know are both "unknown": the code change carries the name along
    f.select([("state", "unknown"), ("state_code", 8), ("alarm", 0)], 2 * S)
    assert f.select([("state", "unknown"), ("state_code", 9), ("alarm", 0)], 3 * S) == [
        ("state", "unknown"),
        ("state_code", 9),
    ]


@given(
    band=st.floats(min_value=0, max_value=100),
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60),
)
def test_deadband_property(band: float, values: list[float]) -> None:
    """Every value left out lies within the deadband of the last stored one (equal, with
    none); every stored value but the first lies at least the deadband away from it."""
    f = one_field_filter(band)
    last: float | None = None
    for n, value in enumerate(values):
        kept = f.select([("v", value)], n * S)
        if last is None:
            assert kept == [("v", value)]
        elif kept:
            assert abs(value - last) >= band and (band > 0 or value != last)
        else:
            assert abs(value - last) < band if band > 0 else value == last
        if kept:
            last = value


def test_device_without_on_change_registers_has_no_filter() -> None:
    dev = config("      store: every_poll\n").modbus.devices[0]
    assert ChangeFilter.for_device(dev) is None


# --- the poller: liveness calls and re-store after a failed poll -----------------------


class ScriptedEndpoint:
    """Stands in for ModbusEndpoint: answers every read with the next scripted outcome
    (a list of register values, or an exception to raise), stamping request times 1 s apart."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.t_ns = 1000 * S

    async def read(self, area: Area, start: int, count: int, unit: int) -> ReadResult:
        self.t_ns += S
        outcome = self.script.pop(0)
        if isinstance(outcome, type) and issubclass(outcome, ModbusExceptionResponse):
            raise outcome(2 if outcome is IllegalAddress else 4, "scripted", self.t_ns)
        if isinstance(outcome, Exception):
            raise outcome
        return ReadResult(list(outcome), self.t_ns)


POLLER_CONFIG = """\
site: {factory: f1}
modbus:
  devices:
    - machine: m1
      host: 127.0.0.1
      registers:
        - {name: state, address: 0, role: state, states: {0: stopped, 1: running}}
        - {name: total, address: 1, role: count_total}
"""


def make_poller() -> tuple[DevicePoller, ScriptedEndpoint, LivenessRecorder, list[bytes]]:
    dev = parse_config(POLLER_CONFIG, env={}).modbus.devices[0]
    endpoint = ScriptedEndpoint()
    recorder = LivenessRecorder("f1")
    spooled: list[bytes] = []

    async def accept(points: list[bytes]) -> None:
        spooled.extend(points)

    poller = DevicePoller(
        dev,
        factory="f1",
        line="line-1",
        endpoint=endpoint,  # type: ignore[arg-type]
        accept=accept,
        liveness=recorder,
    )
    return poller, endpoint, recorder, spooled


def fields_of(point: bytes) -> set[str]:
    return {f.split("=", 1)[0] for f in point.split(b" ")[1].decode().split(",")}


async def test_failed_poll_ends_the_record_marks_no_answer_and_the_state_is_stored_again() -> None:
    poller, endpoint, recorder, spooled = make_poller()
    endpoint.script = [[1, 10], [1, 11], [1, 12]]
    for _ in range(3):
        await poller.poll_once()
    assert [fields_of(p) for p in spooled] == [
        {"state", "state_code", "count_total"},
        {"count_total"},
        {"count_total"},
    ]
    last_answer = endpoint.t_ns
    assert recorder.last_alive_ns(poller.key) == last_answer
    endpoint.script = [ReadTimeout("scripted")]
    stats = await poller.poll_once()
    assert stats.errors == ["timeout"] and stats.answered == 0
    assert not recorder.is_alive(poller.key)
    lines = recorder.flush()
    assert any(b'down_reason="no_answer"' in x for x in lines)
    alive = [x for x in lines if b"alive_s=" in x]
    assert alive and alive[-1].endswith(b"alive_s=2.0 %d" % (1001 * S))
    # the next failures while down add no further mark
    endpoint.script = [NotConnected("scripted")]
    await poller.poll_once()
    assert recorder.flush() == []
    spooled.clear()
    endpoint.script = [[1, 13], [1, 14]]
    await poller.poll_once()
    await poller.poll_once()
    # unchanged state, stored again at the first answer after the gap, then left out
    assert [fields_of(p) for p in spooled] == [{"state", "state_code", "count_total"}, {"count_total"}]
    assert recorder.is_alive(poller.key)


async def test_an_exception_answer_proves_the_path_alive_a_gateway_no_response_does_not() -> None:
    poller, endpoint, recorder, _ = make_poller()
    endpoint.script = [IllegalAddress, [1], [10]]  # refused whole, then read in halves
    stats = await poller.poll_once()
    assert stats.answered == 3 and recorder.is_alive(poller.key)
    endpoint.script = [ModbusExceptionResponse(0x0B, "gateway: target failed to respond", endpoint.t_ns)]
    stats = await poller.poll_once()
    assert stats.answered == 0 and not recorder.is_alive(poller.key)
    assert any(b'down_reason="no_answer"' in x for x in recorder.flush())


async def test_a_sample_the_spool_refused_is_stored_again_at_the_next_poll() -> None:
    poller, endpoint, _, spooled = make_poller()
    calls = 0

    async def flaky_accept(points: list[bytes]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        spooled.extend(points)

    poller._accept = flaky_accept  # type: ignore[method-assign]
    endpoint.script = [[1, 10], [1, 11]]
    with pytest.raises(OSError):
        await poller.poll_once()
    await poller.poll_once()
    assert [fields_of(p) for p in spooled] == [{"state", "state_code", "count_total"}]
