"""The command line, RTU over TCP, and several units behind one gateway connection."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from collector.config import parse_config
from collector.runtime import Collector
from tests.support.collector_config import ISSUE_EXAMPLE_REGISTERS, collector_yaml, device_yaml
from tests.support.modbus_server import encode_value, free_port

ROOT = Path(__file__).resolve().parents[2]
TAGS = ("time", "factory", "line", "machine")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_check_accepts_the_shipped_demo_config():
    result = cli("check", "--config", "configs/collector-demo.yaml", "--plan")
    assert result.returncode == 0, result.stderr
    assert "OK: 4 device(s)" in result.stdout
    assert "holding" in result.stdout  # the plan


def test_check_names_every_error_and_exits_2(tmp_path):
    bad = (ROOT / "configs" / "collector-demo.yaml").read_text(encoding="utf-8")
    bad = bad.replace(
        "type: uint32, byte_order: CDAB, role: count_total", "type: flaot32, role: count_total", 1
    )
    bad = bad.replace("port: 5021", "port: 0", 1)
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    result = cli("check", "--config", str(path))
    assert result.returncode == 2
    assert "modbus.devices[0].registers[2].type: unknown type 'flaot32'" in result.stderr
    assert "modbus.devices[1].port:" in result.stderr


async def test_run_once_delivers_and_exits_0(modbus_server, influxd, influx_db, tmp_path):
    plc = await modbus_server(holding={0: 1})
    path = tmp_path / "c.yaml"
    path.write_text(
        collector_yaml(influxd.url, influx_db, tmp_path / "spool", [device_yaml("press-01", plc.port)]),
        encoding="utf-8",
    )
    result = await asyncio.to_thread(cli, "run", "--config", str(path), "--once")
    assert result.returncode == 0, result.stderr
    # one poll of the issue's register map reads three blocks (holding 0-13, input 0,
    # discrete 3), each stored as one point stamped when it was read: exactly three points,
    # every value once
    rows = influxd.points("machine_data", influx_db)
    fields = [{k: v for k, v in r.items() if v is not None and k not in TAGS} for r in rows]
    assert sorted(fields, key=sorted) == sorted(
        [
            {"state": "running", "state_code": 1, "count_total": 0, "count_reject": 0},
            {"temperature": 0.0},
            {"door_open": False},
        ],
        key=sorted,
    )
    assert len({r["time"] for r in rows}) == 3
    assert influxd.count("machine_data", influx_db) == 3
    assert {r["machine"] for r in rows} == {"press-01"}


async def test_run_once_with_influxdb_unreachable_exits_1_and_keeps_the_samples(modbus_server, tmp_path):
    plc = await modbus_server(holding={0: 1})
    path = tmp_path / "c.yaml"
    path.write_text(
        collector_yaml(
            f"http://127.0.0.1:{free_port()}",
            "factory",
            tmp_path / "spool",
            [device_yaml("press-01", plc.port)],
            flush_timeout="1s",
        ),
        encoding="utf-8",
    )
    result = await asyncio.to_thread(cli, "run", "--config", str(path), "--once")
    assert result.returncode == 1
    assert "stay spooled" in result.stderr
    from collector.spool import Spool

    with Spool(tmp_path / "spool", max_bytes=64 << 20) as spool:
        assert spool.stats.pending_points >= 1


async def test_rtu_over_tcp(influxd, influx_db, tmp_path):
    holding = [0] * 20
    holding[0] = 1
    holding[10:12] = encode_value(123456, "uint32", "CDAB")
    holding[12:14] = encode_value(789, "uint32", "CDAB")
    device = SimDevice(
        id=1,
        simdata=(
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[False, False, False, True] + [False] * 12, datatype=DataType.BITS)],
            [SimData(0, values=holding, datatype=DataType.REGISTERS)],
            [SimData(0, values=encode_value(-125, "int16"), datatype=DataType.REGISTERS)],
        ),
    )
    port = free_port()
    server = ModbusTcpServer(device, address=("127.0.0.1", port), framer=FramerType.RTU)
    await server.serve_forever(background=True)
    try:
        dev = device_yaml("press-01", port, extra="      transport: rtu-over-tcp\n")
        cfg = parse_config(collector_yaml(influxd.url, influx_db, tmp_path / "spool", [dev]), env={})
        await Collector(cfg).run(asyncio.Event(), once=True)
    finally:
        await server.shutdown()
    merged = {}
    for row in influxd.points("machine_data", influx_db):
        merged.update({k: v for k, v in row.items() if v is not None})
    assert merged["count_total"] == 123456
    assert merged["count_reject"] == 789
    assert merged["temperature"] == -12.5
    assert merged["door_open"] is True


async def test_units_behind_one_gateway_share_a_connection_one_request_at_a_time(
    modbus_server, influxd, influx_db, tmp_path
):
    plc = await modbus_server(holding={0: 1}, unit_ids={1, 2}, response_delay=0.02)
    devices = [
        device_yaml("press-01", plc.port, ISSUE_EXAMPLE_REGISTERS, unit=1, interval="100ms"),
        device_yaml("press-02", plc.port, ISSUE_EXAMPLE_REGISTERS, unit=2, interval="100ms"),
    ]
    cfg = parse_config(collector_yaml(influxd.url, influx_db, tmp_path / "spool", devices), env={})
    stop = asyncio.Event()
    collector = Collector(cfg)
    task = asyncio.create_task(collector.run(stop))
    try:
        # three full polls of each unit, however long the machine takes to get there
        deadline = time.monotonic() + 30
        while min(collector.metrics.values.labels(m)._value.get() for m in ("press-01", "press-02")) < 18:
            assert time.monotonic() < deadline, "units not polled three times within 30 s"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    assert plc.connects == 1, "devices behind one gateway must share its connection"
    assert {r.device_id for r in plc.requests} == {1, 2}
    # never a second request before the previous answer went out
    answered = sorted(r.at for r in plc.responses)
    for req, prev_answer in zip(sorted(r.at for r in plc.requests)[1:], answered, strict=False):
        assert req >= prev_answer
    machines = {row["machine"] for row in influxd.points("machine_data", influx_db)}
    assert machines == {"press-01", "press-02"}


async def test_serial_rtu_through_a_pty_pair(influxd, influx_db, tmp_path):
    """A real serial line needs hardware; socat's linked pseudo-terminals are the closest:
    pymodbus's serial RTU server on one end, the collector on the other."""
    from pymodbus.server import ModbusSerialServer

    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    socat = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if a.exists() and b.exists():
                break
            await asyncio.sleep(0.05)
        holding = [0] * 20
        holding[0] = 1
        holding[10:12] = encode_value(4242, "uint32", "CDAB")
        device = SimDevice(id=1, simdata=[SimData(0, values=holding, datatype=DataType.REGISTERS)])
        server = ModbusSerialServer(device, port=str(a), framer=FramerType.RTU, baudrate=19200)
        await server.serve_forever(background=True)
        try:
            regs = (
                "        - {name: state, address: 0, type: uint16, role: state, states: {1: running}}\n"
                "        - {name: total, address: 10, type: uint32, byte_order: CDAB, role: count_total}\n"
            )
            dev = (
                "    - machine: press-rtu\n      transport: rtu\n      unit: 1\n      timeout: 1s\n"
                f"      serial: {{device: {b}, baudrate: 19200}}\n      registers:\n{regs}"
            )
            cfg = parse_config(collector_yaml(influxd.url, influx_db, tmp_path / "spool", [dev]), env={})
            await Collector(cfg).run(asyncio.Event(), once=True)
        finally:
            await server.shutdown()
    finally:
        socat.terminate()
        socat.wait(timeout=5)
    rows = influxd.points("machine_data", influx_db)
    assert any(r.get("count_total") == 4242 and r.get("state") == "running" for r in rows), rows
