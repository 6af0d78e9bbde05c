"""`collector check` and `collector run --once` agree on names (datacontract.names): what
check accepts runs and lands in InfluxDB where the assessor's InfluxQL finds it; what
check refuses is refused by run too, naming the same key path; neither prints a traceback.

The commands run as subprocesses against a real pymodbus server and the shared influxd.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from assessor.data.influxql import ident, literal
from datacontract import MAX_NAME_CHARS, MEASUREMENT_MACHINE, RESERVED_FIELD_NAMES, ROLES
from localservices.influxd import InfluxServer
from tests.support.influxd_fixtures import unique_name
from tests.support.modbus_server import RecordingModbusServer

ROOT = Path(__file__).resolve().parents[2]

#: `check` said OK, `run` died with a traceback
RUN_KILLERS = ["a\x00b", "a\\,b", "\tlead", 'a\\"b', "x" * 65537]
#: stored by the collector, refused by the assessor's registry
NEVER_ASSESSED = ["a\\b", "x" * (MAX_NAME_CHARS + 1), " lead", "trail "]
KNOWN_BAD = frozenset([*RUN_KILLERS, *NEVER_ASSESSED, "", "a\nb"])
#: a register needs no role to be valid; these give it one
REGISTER_ROLES = [None, None, "power_kw", "alarm_code"]

NASTY = list(",= \"'\\\t\n\r\x00\x7f\x85\u2028\u3000#/?%:.{}[]-_xy설비")
nasty_names = st.one_of(
    st.sampled_from([*KNOWN_BAD, *RESERVED_FIELD_NAMES, "count_total"]),
    st.text(alphabet=st.sampled_from(NASTY), min_size=0, max_size=6),
    st.text(max_size=5),
)
#: names the rule allows, many of them needing escapes in line protocol or quotes in InfluxQL
good_names = st.one_of(
    st.sampled_from(["설비 1", 'a"b', "it's", "a,b=c d", "#1", "x" * MAX_NAME_CHARS]),
    st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
    st.text(alphabet=st.sampled_from(list("ab,= \"'#.-설비")), min_size=1, max_size=6).filter(
        lambda s: s == s.strip() and s not in RESERVED_FIELD_NAMES
    ),
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


@pytest.fixture(scope="module")
def plc() -> Iterator[RecordingModbusServer]:
    """One pymodbus server for the module, in its own thread: the tests block on subprocesses."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = RecordingModbusServer(holding=list(range(1, 17)), size=64)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def config(
    tmp: Path, influx_url: str, database: str, port: int, site: dict[str, str], devices: list[dict[str, Any]],
    mqtt: dict[str, Any] | None = None,
) -> Path:
    doc: dict[str, Any] = {
        "site": site,
        "influx": {"url": influx_url, "database": database, "retry_min": "100ms", "flush_timeout": "5s"},
        "spool": {"path": str(tmp / "spool"), "max_bytes": "8MiB"},
        "metrics": {"listen": ""},
        "log": {"level": "warning"},
        "modbus": {"devices": [{"host": "127.0.0.1", "port": port, "timeout": "1s", **d} for d in devices]},
    }
    if mqtt is not None:
        doc["mqtt"] = mqtt
    path = tmp / "collector.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, width=1 << 20), encoding="utf-8")
    return path


def error_paths(stderr: str) -> list[str]:
    """The key path of each error line `check` and `run` print under "is not valid"."""
    lines = [line.strip() for line in stderr.splitlines() if line.startswith("  ")]
    return [line.split(": ", 1)[0] for line in lines]


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stdout, result.stdout[-3000:]


# --- the findings, one by one --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESERVED_FIELD_NAMES))
def test_a_register_named_like_a_tag_is_refused_by_check_and_run(tmp_path: Path, name: str) -> None:
    path = config(
        tmp_path, "http://127.0.0.1:1", "db", 1, {"factory": "f1"},
        [{"machine": "m1", "registers": [{"name": "temp", "address": 0}, {"name": name, "address": 1}]}],
    )
    for args in (("check",), ("run", "--once")):
        result = cli(*args, "--config", str(path))
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert_no_traceback(result)
        assert error_paths(result.stderr) == ["modbus.devices[0].registers[1].name"], result.stderr
        assert "reserved" in result.stderr


@pytest.mark.parametrize(
    "name", RUN_KILLERS, ids=["nul", "backslash-comma", "leading-tab", "backslash-quote", "64KiB"]
)
def test_names_that_killed_run_are_refused_by_check_with_the_key_path(tmp_path: Path, name: str) -> None:
    path = config(
        tmp_path, "http://127.0.0.1:1", "db", 1, {"factory": "f1"},
        [{"machine": "m1", "registers": [{"name": "temp", "address": 0}, {"name": name, "address": 1}]}],
    )
    for args in (("check",), ("run", "--once")):
        result = cli(*args, "--config", str(path))
        assert result.returncode == 2, (args, result.stdout, result.stderr[-2000:])
        assert_no_traceback(result)
        assert error_paths(result.stderr) == ["modbus.devices[0].registers[1].name"], result.stderr[-2000:]
        assert len(result.stderr) < 2000  # a 64 KiB name is not printed whole


# --- generated configurations ----------------------------------------------------------------------


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, Any]:
    # half the configurations hold only allowed names: the path through run and InfluxDB
    # is taken as often as the refusals
    names = good_names if draw(st.booleans()) else st.one_of(good_names, nasty_names)
    site = {"factory": draw(names), "line": draw(names)}
    machines = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    devices = []
    for machine in machines:
        registers = [
            {"name": n, "address": i}
            for i, n in enumerate(draw(st.lists(names, min_size=1, max_size=3, unique=True)))
        ]
        roles = draw(st.permutations(REGISTER_ROLES))
        for reg, role in zip(registers, roles, strict=False):
            if role:
                reg["role"] = role
        device: dict[str, Any] = {"machine": machine, "registers": registers}
        if draw(st.booleans()):
            device["line"] = draw(names)
        devices.append(device)
    mqtt = None
    if draw(st.booleans()):
        # run --once starts no MQTT client: check alone judges these names
        mqtt = {
            "client_id": "edge",
            "subscriptions": [
                {"topic": "plant/+", "machine": draw(st.sampled_from(["{1}", draw(names)])),
                 "fields": {draw(names): {"path": "$.v"}}}
            ],
        }
    return {"site": site, "devices": devices, "mqtt": mqtt}


def name_paths(cfg: dict[str, Any]) -> dict[str, str]:
    """Key path -> the generated name at that place."""
    paths = {"site.factory": cfg["site"]["factory"], "site.line": cfg["site"]["line"]}
    for i, dev in enumerate(cfg["devices"]):
        paths[f"modbus.devices[{i}].machine"] = dev["machine"]
        if "line" in dev:
            paths[f"modbus.devices[{i}].line"] = dev["line"]
        for j, reg in enumerate(dev["registers"]):
            paths[f"modbus.devices[{i}].registers[{j}].name"] = reg["name"]
    if cfg["mqtt"] is not None:
        sub = cfg["mqtt"]["subscriptions"][0]
        paths["mqtt.subscriptions[0].machine"] = sub["machine"]
        paths["mqtt.subscriptions[0].fields"] = next(iter(sub["fields"]))
    return paths


def must_refuse(cfg: dict[str, Any]) -> list[str]:
    """Key paths of the findings' names: check has to refuse them, by these paths."""
    paths = [p for p, name in name_paths(cfg).items() if name in KNOWN_BAD and "mqtt" not in p]
    for i, dev in enumerate(cfg["devices"]):
        for j, reg in enumerate(dev["registers"]):
            if reg["name"] in RESERVED_FIELD_NAMES and "role" not in reg:
                paths.append(f"modbus.devices[{i}].registers[{j}].name")
    return paths


def _parents(path: str) -> set[str]:
    out = set()
    for m in re.finditer(r"\.|\[", path):
        out.add(path[: m.start()])
    return out | {path}


def stored_fields(dev: dict[str, Any]) -> set[str]:
    return {reg.get("role") or reg["name"] for reg in dev["registers"]}


def check_then_run(tmp: Path, influxd: InfluxServer, port: int, cfg: dict[str, Any]) -> None:
    db = influxd.create_database(unique_name("names"))
    try:
        path = config(tmp, influxd.url, db, port, cfg["site"], cfg["devices"], cfg["mqtt"])
        checked = cli("check", "--config", str(path))
        assert_no_traceback(checked)
        ran = cli("run", "--once", "--config", str(path))
        assert_no_traceback(ran)
        paths = name_paths(cfg)
        event("refused" if checked.returncode == 2 else "accepted")
        if checked.returncode == 2:
            # refused: every error names a key path of a generated name (or the entry
            # holding it, for a repeat), and run refuses with the very same errors
            found = error_paths(checked.stderr)
            assert found, checked.stderr
            allowed = set().union(*(_parents(p) for p in paths)) - {"site", "modbus", "mqtt", ""}
            for p in found:
                assert p in allowed or p.startswith("mqtt.subscriptions[0]"), (p, checked.stderr)
            assert ran.returncode == 2 and error_paths(ran.stderr) == found, ran.stderr[-2000:]
            for p in must_refuse(cfg):
                assert any(p == f or p.startswith(f + ".") for f in found), (p, found)
            return
        assert checked.returncode == 0, checked.stderr
        assert not must_refuse(cfg), checked.stdout
        # accepted: run stores every register under its name, where the assessor's
        # InfluxQL (assessor.data.influxql) finds it by factory, line and machine
        assert ran.returncode == 0, ran.stderr[-3000:]
        site = cfg["site"]
        for dev in cfg["devices"]:
            where = " AND ".join(
                f"{ident(tag)} = {literal(value)}"
                for tag, value in (
                    ("factory", site["factory"]),
                    ("line", dev.get("line") or site["line"]),
                    ("machine", dev["machine"]),
                )
            )
            result = influxd.query(f"SELECT * FROM {ident(MEASUREMENT_MACHINE)} WHERE {where} GROUP BY *", db)
            series = result[0].get("series", [])
            assert len(series) == 1, (dev, result)
            # SELECT * lists every field of the measurement; this machine's are the non-null ones
            cols, rows = series[0]["columns"], series[0]["values"]
            columns = {c for i, c in enumerate(cols) if c != "time" and any(r[i] is not None for r in rows)}
            assert columns == stored_fields(dev), (columns, dev)
    finally:
        influxd.drop_database(db)


CLEAN = {
    "site": {"factory": "공장 1", "line": 'line "A"'},
    "devices": [
        {
            "machine": "a,b=c d",
            "registers": [
                {"name": "온도 1", "address": 0},
                {"name": "machine", "address": 1, "role": "power_kw"},
            ],
        }
    ],
    "mqtt": None,
}
FINDINGS = {
    "site": {"factory": "f1", "line": "l1"},
    "devices": [
        {"machine": "m1", "registers": [{"name": "factory", "address": 0}, {"name": "a\\,b", "address": 1}]}
    ],
    "mqtt": None,
}

FEW = settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MANY = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FEW
@given(cfg=configurations())
@example(cfg=CLEAN)
@example(cfg=FINDINGS)
def test_check_and_run_agree_on_generated_names(
    tmp_path_factory: pytest.TempPathFactory, influxd: InfluxServer, plc: RecordingModbusServer,
    cfg: dict[str, Any],
) -> None:
    check_then_run(tmp_path_factory.mktemp("cfg"), influxd, plc.port, cfg)


@pytest.mark.slow
@MANY
@given(cfg=configurations())
def test_check_and_run_agree_on_many_generated_names(
    tmp_path_factory: pytest.TempPathFactory, influxd: InfluxServer, plc: RecordingModbusServer,
    cfg: dict[str, Any],
) -> None:
    check_then_run(tmp_path_factory.mktemp("cfg"), influxd, plc.port, cfg)


def test_role_names_reach_the_store_unchanged() -> None:
    # the generated registers take their roles from here: every one must be a real role
    assert {r for r in REGISTER_ROLES if r} <= set(ROLES)
