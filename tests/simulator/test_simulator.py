"""The simulator over real Modbus TCP, and the test servers the rest of the suite uses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException

from collector.config import load_config
from collector.modbus.datatypes import Area
from simulator import main as simulator_main
from simulator.config import (
    SimulatorConfig,
    SimulatorConfigError,
    load_simulator_config,
    parse_simulator_config,
)
from simulator.register_map import (
    HOLDING_READ_SEQUENCE,
    HOLDING_SIZE,
    PRODUCT_REGISTERS,
    REGISTER_MAP,
    decode_holding,
)
from simulator.server import LineServer
from tests.support.modbus_server import RecordingModbusServer, encode_value, free_ports

REPO = Path(__file__).resolve().parents[2]
LINE = REPO / "configs" / "simulated-line.yaml"
DEMO = REPO / "configs" / "collector-demo.yaml"
KST = timezone(timedelta(hours=9))
#: a Tuesday morning in the "after" regime of the demo line
T0 = datetime(2025, 3, 4, 9, 0, tzinfo=KST).timestamp()


class FakeClock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def on_free_ports(config: SimulatorConfig, ports: list[int] | None = None) -> SimulatorConfig:
    """The config with each machine moved to a fresh port (or the ports given)."""
    ports = ports or free_ports(len(config.machines))
    pairs = zip(config.machines, ports, strict=True)
    machines = [m.model_copy(update={"port": p}) for m, p in pairs]
    return config.model_copy(update={"machines": machines})


async def client_for(port: int, timeout: float = 1.0) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=timeout, retries=0)
    assert await client.connect(), f"cannot connect to {port}"
    return client


# ------------------------------------------------------------------ configs


def test_demo_configs_match_the_register_map_and_the_line():
    line = load_simulator_config(LINE)
    demo = load_config(DEMO, env={})
    assert [d.machine for d in demo.modbus.devices] == [m.name for m in line.machines]
    for dev, machine in zip(demo.modbus.devices, line.machines, strict=True):
        assert (dev.host, dev.port, dev.unit) == (line.host, machine.port, machine.unit)
        schedule = line.params_of(machine).products
        # a machine with a product schedule also has its program number read
        expected_map = REGISTER_MAP + (PRODUCT_REGISTERS[:1] if schedule else ())
        assert len(dev.registers) == len(expected_map)
        if schedule:
            assert dev.registers[-1].products == {p.code: p.id for p in schedule}
        for reg, spec in zip(dev.registers, expected_map, strict=True):
            assert (reg.name, reg.area, reg.address, reg.value_type) == (
                spec.name, spec.area, spec.address, spec.type,
            )
            assert reg.role == spec.role
            assert reg.scale == spec.scale
            assert reg.states == spec.states
            if spec.byte_order is not None:
                assert reg.byte_order == spec.byte_order
    ports = [m.port for m in line.machines]
    assert ports == list(range(5020, 5020 + len(ports)))
    assert len({m.seed for m in line.machines}) == len(line.machines)


def test_simulator_config_errors_name_the_key(tmp_path):
    bad = """
machines:
  - {name: a, port: 5020, seed: 1, params: {ideal_cycle_time: 70s, speed_factor: 1}}
  - {name: b, port: 5020, seed: 2, params: {fault_reasons: {999: 1}}}
  - {name: c, port: 5021, seed: 3, colour: red}
"""
    with pytest.raises(SimulatorConfigError) as err:
        parse_simulator_config(bad, "line.yaml")
    text = "\n".join(err.value.errors)
    assert "machines.1.params.fault_reasons" in text and "999" in text
    assert "machines.2.colour" in text
    dup = "machines: [{name: a, port: 1, seed: 1}, {name: b, port: 1, seed: 2}]"
    with pytest.raises(SimulatorConfigError, match="port 1 unit 1 is already taken"):
        parse_simulator_config(dup)
    slow = "machines: [{name: a, port: 1, seed: 1, params: {ideal_cycle_time: 70s}}]"
    with pytest.raises(SimulatorConfigError, match="65535 ms"):
        parse_simulator_config(slow)
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    assert simulator_main(["--config", str(path)]) == 2
    assert simulator_main(["--config", str(LINE), "--start", "yesterday"]) == 2


# ------------------------------------------------------------------ simulator server


@dataclass
class Line:
    server: LineServer
    clock: FakeClock
    config: SimulatorConfig


@pytest.fixture
async def line():
    """The demo line on fresh ports, its clock stopped at T0 until a test moves it."""
    clock = FakeClock(T0)
    config = on_free_ports(load_simulator_config(LINE))
    server = LineServer.from_config(config, clock=clock)
    async with server:
        yield Line(server, clock, config)


async def test_registers_match_the_model(line):
    clock, config = line.clock, line.config
    for spec in config.machines:
        # an independent model of the same machine, advanced to the same instants
        twin = config.build_model(spec, T0)
        client = await client_for(spec.port)
        try:
            for step in (0.0, 1234.5, 4 * 3600.0, 9 * 3600.0):
                clock.t = T0 + step
                twin.advance(clock.t)
                snap = twin.snapshot()
                rr = await client.read_holding_registers(0, count=42, device_id=spec.unit)
                assert not rr.isError(), rr
                values = decode_holding(rr.registers)
                ir = await client.read_input_registers(0, count=1, device_id=spec.unit)
                di = await client.read_discrete_inputs(0, count=8, device_id=spec.unit)
                expected = {
                    "state_code": snap.state_code,
                    "reason_code": snap.reason_code,
                    "total": snap.total,
                    "rejects": snap.rejects,
                    "energy_wh": snap.energy_wh,
                    "power_w": snap.power_w,
                    "ideal_cycle_ms": snap.ideal_cycle_ms,
                    "cycle_ms": snap.cycle_ms,
                    "product_code": snap.product_code,
                }
                assert {k: values[k] for k in expected} == expected, (spec.name, step)
                temp = client.convert_from_registers(ir.registers, client.DATATYPE.INT16)
                assert temp == snap.temperature_x10
                assert di.bits[3] is snap.door_open
        finally:
            client.close()


async def test_counters_are_word_swapped(line):
    press = line.config.machine("press-01")
    assert press.initial.total > 0xFFFF_0000  # the demo starts close to the wrap
    client = await client_for(press.port)
    try:
        rr = await client.read_holding_registers(10, count=2, device_id=press.unit)
        low, high = rr.registers
        total = line.server.devices["press-01"].model.snapshot().total
        assert (high << 16 | low) == total
        assert client.convert_from_registers(
            rr.registers, client.DATATYPE.UINT32, word_order="little"
        ) == total
    finally:
        client.close()


async def test_read_sequence_increments_once_per_read(line):
    spec = line.config.machines[1]
    unit, seq = spec.unit, HOLDING_READ_SEQUENCE
    client = await client_for(spec.port)
    try:
        seen = []
        for _ in range(20):
            rr = await client.read_holding_registers(0, count=HOLDING_SIZE, device_id=unit)
            seen.append(decode_holding(rr.registers)["read_sequence"])
        assert seen == list(range(1, 21))
        # reads that miss 40-41 do not count; one covering only 41 does
        await client.read_holding_registers(0, count=40, device_id=unit)
        await client.read_input_registers(0, count=1, device_id=unit)
        rr = await client.read_holding_registers(seq + 1, count=1, device_id=unit)
        assert rr.registers == [21]
        rr = await client.read_holding_registers(seq, count=2, device_id=unit)
        assert rr.registers == [0, 22]
        assert line.server.devices[spec.name].read_sequence == 22
    finally:
        client.close()


async def test_simulator_refuses_writes_and_unknown_addresses(line):
    spec = line.config.machines[0]
    client = await client_for(spec.port)
    try:
        for rr in (
            await client.write_register(0, 3, device_id=spec.unit),
            await client.write_coil(0, True, device_id=spec.unit),
            await client.read_holding_registers(HOLDING_SIZE - 1, count=2, device_id=spec.unit),
        ):
            assert rr.isError() and rr.exception_code == 2, rr
        rr = await client.read_holding_registers(0, count=1, device_id=spec.unit + 1)
        assert rr.isError() and rr.exception_code == 0x0B
    finally:
        client.close()


async def test_several_machines_as_units_on_one_port():
    base = load_simulator_config(LINE)
    (port,) = free_ports(1)
    machines = [
        m.model_copy(update={"port": port, "unit": i + 1}) for i, m in enumerate(base.machines)
    ]
    config = base.model_copy(update={"machines": machines})
    clock = FakeClock(T0 + 2 * 3600)
    async with LineServer.from_config(config, clock=clock) as server:
        assert len(server.ports) == 1
        client = await client_for(port)
        try:
            for m in machines:
                rr = await client.read_holding_registers(30, count=1, device_id=m.unit)
                assert rr.registers == [server.devices[m.name].model.params.ideal_cycle_ms]
        finally:
            client.close()


async def test_time_acceleration_moves_the_counters():
    config = on_free_ports(load_simulator_config(LINE))
    molding = config.machine("molding-01")  # round the clock: running at any hour
    async with LineServer.from_config(config, start_time_s=T0, speed=600.0) as server:
        client = await client_for(molding.port)
        try:
            first = decode_holding((await client.read_holding_registers(0, count=42)).registers)
            await asyncio.sleep(0.5)  # five simulated minutes
            second = decode_holding((await client.read_holding_registers(0, count=42)).registers)
        finally:
            client.close()
        assert server.devices["molding-01"].model.now_s > T0 + 250
    assert second["energy_wh"] > first["energy_wh"]
    assert second["read_sequence"] == first["read_sequence"] + 1


# ------------------------------------------------------------------ recording server


async def test_recording_server_records_function_codes(modbus_server):
    plc = await modbus_server(
        holding={0: 7}, input={5: 0xFFFE}, coils={2: True}, discrete=[False, False, False, True]
    )
    plc.set_value(10, 0x12345678, "uint32", "CDAB")
    client = await client_for(plc.port)
    try:
        rr = await client.read_holding_registers(0, count=12, device_id=3)
        assert rr.registers[0] == 7 and rr.registers[10:12] == [0x5678, 0x1234]
        assert (await client.read_input_registers(5, count=1, device_id=3)).registers == [0xFFFE]
        assert (await client.read_coils(0, count=3, device_id=3)).bits[:3] == [False, False, True]
        assert (await client.read_discrete_inputs(3, count=1, device_id=3)).bits[0] is True
        await client.write_register(100, 55, device_id=3)
    finally:
        client.close()
    got = [(r.function_code, r.address, r.count, r.device_id) for r in plc.requests]
    assert got == [(3, 0, 12, 3), (4, 5, 1, 3), (1, 0, 3, 3), (2, 3, 1, 3), (6, 100, 1, 3)]
    assert [r.function_code for r in plc.reads()] == [3, 4, 1, 2]
    assert [r.function_code for r in plc.writes()] == [6]
    assert plc.registers(100) == [55]
    assert [r.exception_code for r in plc.responses] == [0] * 5
    assert encode_value(1.5, "float32", "CDAB") == [0x0000, 0x3FC0]


async def test_recording_server_holes_answer_exception_2(modbus_server):
    plc = await modbus_server(holding=list(range(100)))
    plc.add_hole(20, 29)
    plc.add_hole(5, area=Area.DISCRETE.value)
    client = await client_for(plc.port)
    try:
        assert (await client.read_holding_registers(10, count=10)).registers == list(range(10, 20))
        for address, count in ((15, 10), (20, 1), (29, 5)):
            rr = await client.read_holding_registers(address, count=count)
            assert rr.isError() and rr.exception_code == 2, (address, count)
        assert not (await client.read_holding_registers(30, count=10)).isError()
        assert (await client.read_discrete_inputs(5, count=1)).exception_code == 2
        assert not (await client.read_discrete_inputs(0, count=5)).isError()
        # beyond the served size pymodbus answers 2 by itself
        assert (await client.read_holding_registers(plc.size - 1, count=2)).exception_code == 2
    finally:
        client.close()
    assert [r.exception_code for r in plc.responses].count(2) == 5


async def test_recording_server_busy_for_the_next_k_requests(modbus_server):
    plc = await modbus_server(holding=[1, 2, 3])
    plc.busy_next(2)
    client = await client_for(plc.port)
    try:
        codes = []
        for _ in range(4):
            rr = await client.read_holding_registers(0, count=3)
            codes.append(rr.exception_code if rr.isError() else rr.registers)
    finally:
        client.close()
    assert codes == [6, 6, [1, 2, 3], [1, 2, 3]]
    assert len(plc.requests) == 4


async def test_recording_server_late_answer_is_not_taken_for_the_next_request(modbus_server):
    """pymodbus 3.16.1's own handler stamps a late answer with the transaction id of the
    newest request: here the second read would return [0, 1], the first read's data."""
    plc = await modbus_server(holding=list(range(50)))
    plc.response_delay = 0.3
    client = await client_for(plc.port, timeout=1.0)
    try:
        # the caller gives up early, as a collector's own deadline would
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.read_holding_registers(0, count=2), 0.1)
        # the first answer arrives while this request waits: it carries the old
        # transaction id, so the client skips it and waits for its own
        rr = await client.read_holding_registers(10, count=3)
        assert rr.registers == [10, 11, 12]
    finally:
        client.close()
    assert [r.transaction_id for r in plc.responses] == [r.transaction_id for r in plc.requests]
    assert plc.responses[1].at - plc.responses[0].at >= 0.25  # one at a time, as a PLC


async def test_recording_server_goes_silent_and_speaks_again(modbus_server):
    plc = await modbus_server(holding=[9])
    plc.go_silent()
    client = await client_for(plc.port, timeout=0.2)
    try:
        with pytest.raises(ModbusIOException):
            await client.read_holding_registers(0, count=1)
        assert len(plc.requests) == 1 and plc.responses == []
    finally:
        client.close()
    plc.speak()
    client = await client_for(plc.port)
    try:
        assert (await client.read_holding_registers(0, count=1)).registers == [9]
    finally:
        client.close()


async def test_recording_server_restarts_on_the_same_port(modbus_server):
    plc = await modbus_server(holding=[1])
    port = plc.port
    client = await client_for(port, timeout=0.3)
    try:
        plc.set_holding(0, 2)
        assert (await client.read_holding_registers(0, count=1)).registers == [2]
        await plc.stop()
        with pytest.raises((ModbusIOException, ConnectionException)):
            await client.read_holding_registers(0, count=1)
    finally:
        client.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    await plc.start()
    assert plc.port == port
    client = await client_for(port)
    try:
        assert (await client.read_holding_registers(0, count=1)).registers == [2]
    finally:
        client.close()
    assert plc.connects == 2


async def test_recording_server_drops_connections_but_keeps_listening(modbus_server):
    plc = await modbus_server(holding=[4])
    client = await client_for(plc.port, timeout=0.3)
    try:
        assert (await client.read_holding_registers(0, count=1)).registers == [4]
        plc.drop_connections()
        await asyncio.sleep(0.05)
        assert plc.disconnects == 1
    finally:
        client.close()
    client = await client_for(plc.port)
    try:
        assert (await client.read_holding_registers(0, count=1)).registers == [4]
    finally:
        client.close()
    assert plc.connects == 2


async def test_recording_server_answers_requests_sent_back_to_back(modbus_server):
    plc = await modbus_server(holding=list(range(10)))
    reader, writer = await asyncio.open_connection(plc.host, plc.port)
    try:
        # two MBAP frames in one write: read 1 register at 2, read 2 registers at 5
        frames = bytes.fromhex("000100000006010300020001" "000200000006010300050002")
        writer.write(frames)
        first = await asyncio.wait_for(reader.readexactly(11), 2)
        second = await asyncio.wait_for(reader.readexactly(13), 2)
    finally:
        writer.close()
    assert first.hex() == "000100000005010302" "0002"
    assert second.hex() == "000200000007010304" "00050006"


async def test_recording_server_unit_filter(modbus_server):
    plc = await modbus_server(holding=[5], unit_ids=[1])
    client = await client_for(plc.port)
    try:
        assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [5]
        rr = await client.read_holding_registers(0, count=1, device_id=2)
        assert rr.isError() and rr.exception_code == 0x0B
    finally:
        client.close()


async def test_recording_server_as_context_manager():
    async with RecordingModbusServer(holding=[3]) as plc:
        client = await client_for(plc.port)
        try:
            assert (await client.read_holding_registers(0, count=1)).registers == [3]
        finally:
            client.close()
    assert not plc.running


# ------------------------------------------------------------------ subprocess


@pytest.mark.slow
async def test_simulator_process_survives_kill_and_restart(simulator_process):
    sim = await simulator_process(machines=2, cycle_s=0.5)
    port = sim.ports[1]
    client = await client_for(port)
    try:
        rr = await client.read_holding_registers(40, count=2)
        assert rr.registers == [0, 1]
        first_pid = sim.pid
        sim.kill()
        assert not sim.alive and sim.proc.returncode == -9
        with pytest.raises((ModbusIOException, ConnectionException)):
            await client.read_holding_registers(40, count=2)
    finally:
        client.close()
    await sim.restart()
    assert sim.pid != first_pid and sim.starts == 2
    client = await client_for(port)
    try:
        # a fresh process: its read sequence starts again
        rr = await client.read_holding_registers(0, count=42)
        values = decode_holding(rr.registers)
        assert values["read_sequence"] == 1
        assert values["state_code"] == 1  # round the clock, running
    finally:
        client.close()
