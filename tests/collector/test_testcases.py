"""Golden cases for the collector, one folder per case under tests/testcases/collector/ (the
layout of Telegraf's Modbus ``testcases``): a ``collector.yaml``, and either a ``plc.yaml``
(what a real pymodbus server holds) with ``expected.lp`` (the line protocol ``collector test``
prints, timestamps left out, one point per line in any order) or ``expected_error.txt`` (the
exact text ``collector check`` and ``collector test`` print, exit 2).

A case is data, not code: adding a register map to the suite is adding a folder. To write a
new case's ``expected.lp`` run with ``GOLDEN_UPDATE=1`` once and check every value by hand
against ``plc.yaml`` before committing (the comments there say how each value is made).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.modbus_server import READ_FUNCTIONS, RecordingModbusServer

CASES = Path(__file__).resolve().parents[1] / "testcases" / "collector"
ROOT = CASES.parents[2]
ALL = sorted(p.name for p in CASES.iterdir() if p.is_dir())
READING = [c for c in ALL if (CASES / c / "expected.lp").exists() or (CASES / c / "plc.yaml").exists()]
FAILING = [c for c in ALL if (CASES / c / "expected_error.txt").exists()]


async def _cli(case: Path, command: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", command, "--config", "collector.yaml",
        cwd=case, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _without_timestamps(text: str) -> list[str]:
    return sorted(line.rsplit(" ", 1)[0] for line in text.splitlines() if line.strip())


def test_every_case_has_an_expectation() -> None:
    assert ALL, "no golden cases found"
    for case in ALL:
        assert case in READING or case in FAILING, f"{case}: neither plc.yaml nor expected_error.txt"
        assert (CASES / case / "collector.yaml").exists(), f"{case}: no collector.yaml"


@pytest.mark.parametrize("case", READING)
async def test_register_map_reads_as_expected(case: str, tmp_path: Path) -> None:
    folder = CASES / case
    plc = yaml.safe_load((folder / "plc.yaml").read_text(encoding="utf-8")) or {}
    server = RecordingModbusServer(
        holding=plc.get("holding", {}), input=plc.get("input", {}),
        coils=plc.get("coils", {}), discrete=plc.get("discrete", {}),
    )
    env = {"MODBUS_PORT": str(server.port), "CASE_TMP": str(tmp_path)}
    async with server:
        check = await _cli(folder, "check", env)
        assert check[0] == 0, check[2]
        code, out, err = await _cli(folder, "test", env)
    assert code == 0, err
    got = _without_timestamps(out)
    expected_file = folder / "expected.lp"
    if os.environ.get("GOLDEN_UPDATE") == "1":
        expected_file.write_text("\n".join(got) + "\n", encoding="utf-8")
    expected = sorted(line for line in expected_file.read_text(encoding="utf-8").splitlines() if line)
    assert got == expected
    # every printed line carries a timestamp in nanoseconds
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in out.splitlines() if line.strip())
    # the collector reads; it never writes a register or a coil
    assert server.requests, "the device was never asked"
    assert {r.function_code for r in server.requests} <= READ_FUNCTIONS


@pytest.mark.parametrize("case", FAILING)
@pytest.mark.parametrize("command", ["check", "test"])
async def test_bad_configuration_is_named(case: str, command: str, tmp_path: Path) -> None:
    folder = CASES / case
    code, out, err = await _cli(folder, command, {"MODBUS_PORT": "1502", "CASE_TMP": str(tmp_path)})
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err == (folder / "expected_error.txt").read_text(encoding="utf-8")


async def test_a_silent_device_fails_the_test_command(tmp_path: Path) -> None:
    from tests.support.modbus_server import free_port

    code, out, err = await _cli(
        CASES / "press_map", "test", {"MODBUS_PORT": str(free_port()), "CASE_TMP": str(tmp_path)}
    )
    assert code == 1
    assert out == ""
    assert "press/press-01: 0 of 1 request(s) answered" in err
    assert "Traceback" not in err
