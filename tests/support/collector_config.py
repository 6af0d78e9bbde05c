"""Build collector YAML for tests, pointing at real servers started by fixtures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

ISSUE_EXAMPLE_REGISTERS = """\
        - {name: state, area: holding, address: 0, type: uint16, role: state,
           states: {0: stopped, 1: running, 2: idle, 3: fault, 4: setup, 5: planned_stop}}
        - {name: total, area: holding, address: 10, type: uint32, byte_order: CDAB, role: count_total}
        - {name: rejects, area: holding, address: 12, type: uint32, byte_order: CDAB, role: count_reject}
        - {name: temperature, area: input, address: 0, type: int16, scale: 0.1, unit: degC}
        - {name: door_open, area: discrete, address: 3, type: bool}
"""

#: The simulator's register map (docs/simulator.md), with the read sequence counter that
#: tests use to prove that no sample is lost or duplicated.
SIMULATOR_REGISTERS = """\
        - {name: state, address: 0, type: uint16, role: state,
           states: {0: stopped, 1: running, 2: idle, 3: fault, 4: setup, 5: planned_stop}}
        - {name: total, address: 10, type: uint32, byte_order: CDAB, role: count_total}
        - {name: rejects, address: 12, type: uint32, byte_order: CDAB, role: count_reject}
        - {name: seq, address: 40, type: uint32}
"""


def device_yaml(
    machine: str,
    port: int,
    registers: str = ISSUE_EXAMPLE_REGISTERS,
    *,
    interval: str = "200ms",
    timeout: str = "500ms",
    unit: int = 1,
    extra: str = "",
) -> str:
    return (
        f"    - machine: {machine}\n"
        f"      host: 127.0.0.1\n"
        f"      port: {port}\n"
        f"      unit: {unit}\n"
        f"      interval: {interval}\n"
        f"      timeout: {timeout}\n"
        f"      reconnect_min: 100ms\n"
        f"      reconnect_max: 1s\n"
        f"{extra}"
        f"      registers:\n{registers}"
    )


def collector_yaml(
    influx_url: str,
    database: str,
    spool: Path,
    devices: Sequence[str],
    *,
    factory: str = "test-factory",
    metrics: str = "",
    flush_timeout: str = "10s",
) -> str:
    return (
        f"site: {{factory: {factory}, line: line-1}}\n"
        f"influx: {{url: {influx_url}, database: {database}, retry_min: 100ms, retry_max: 1s,"
        f" flush_timeout: {flush_timeout}}}\n"
        f"spool: {{path: {spool}, max_bytes: 64MiB}}\n"
        f"metrics: {{listen: '{metrics}'}}\n"
        f"log: {{level: info}}\n"
        f"modbus:\n  devices:\n" + "".join(devices)
    )
