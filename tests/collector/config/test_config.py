"""Configuration: the issue's example works as written; every error names its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError, load_config, parse_config
from collector.modbus.datatypes import ByteOrder, DataType
from configkit.units import parse_duration, parse_size
from datacontract import FieldType

EXAMPLE = """\
site: {factory: demo-factory, line: line-1}
influx:
  url: http://127.0.0.1:8086
  api: v1
  database: factory
  username: ${INFLUX_USER:-}
  password: ${INFLUX_PASSWORD:-}
  org: ""
  token: ${INFLUX_TOKEN:-}
spool: {path: ./data/spool, max_bytes: 1GiB}
modbus:
  devices:
    - machine: press-01
      line: line-1
      transport: tcp
      host: 127.0.0.1
      port: 5020
      unit: 1
      interval: 1s
      timeout: 500ms
      byte_order: ABCD
      registers:
        - {name: state, area: holding, address: 0, type: uint16, role: state,
           states: {0: stopped, 1: running, 2: idle, 3: fault, 4: setup, 5: planned_stop}}
        - {name: total, area: holding, address: 10, type: uint32, byte_order: CDAB, role: count_total}
        - {name: rejects, area: holding, address: 12, type: uint32, byte_order: CDAB, role: count_reject}
        - {name: temperature, area: input, address: 0, type: int16, scale: 0.1, unit: degC}
        - {name: door_open, area: discrete, address: 3, type: bool}
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return info.value.errors


def test_issue_example_loads_as_written():
    cfg = parse_config(EXAMPLE, env={"INFLUX_USER": "edge"})
    assert cfg.influx.username == "edge"
    assert cfg.influx.password == ""
    assert cfg.spool.max_bytes == 2**30
    dev = cfg.modbus.devices[0]
    assert dev.interval == 1.0 and dev.timeout == 0.5
    regs = {r.name: r for r in dev.registers}
    assert regs["total"].byte_order is ByteOrder.CDAB
    assert regs["total"].field_key == "count_total"
    assert regs["total"].field_type is FieldType.INTEGER
    assert regs["temperature"].field_type is FieldType.FLOAT
    assert regs["state"].field_type is FieldType.STRING
    assert regs["door_open"].value_type is DataType.BOOL
    assert cfg.line_of(dev) == "line-1"


def test_unknown_type_is_named_by_key_path():
    errs = errors_of(EXAMPLE.replace("type: int16", "type: flaot32"))
    assert len(errs) == 1
    assert errs[0].startswith("modbus.devices[0].registers[3].type: unknown type 'flaot32'")
    assert "(line 27)" in errs[0]


def test_every_field_error_is_reported():
    text = EXAMPLE.replace("type: int16", "type: flaot32").replace("port: 5020", "port: 99999")
    errs = errors_of(text)
    assert any(e.startswith("modbus.devices[0].port:") for e in errs)
    assert any(e.startswith("modbus.devices[0].registers[3].type:") for e in errs)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("role: count_reject", "role: count_total"), "modbus.devices[0].registers[2]", "role 'count_total'"),
        (("name: rejects", "name: total"), "modbus.devices[0].registers[2]", "repeats"),
        (("area: input", "area: inputs"), "modbus.devices[0].registers[3].area", "unknown area"),
        (("byte_order: ABCD", "byte_order: ABDC"), "modbus.devices[0].byte_order", "unknown byte order"),
        (("5: planned_stop", "5: lunch"), "modbus.devices[0].registers[0].states", "not canonical"),
        (
            ("role: count_reject}", "role: count_rejects}"),
            "modbus.devices[0].registers[2].role",
            "unknown role",
        ),
        (("interval: 1s", "interval: soon"), "modbus.devices[0].interval", "duration"),
        (("max_bytes: 1GiB", "max_bytes: lots"), "spool.max_bytes", "size"),
        (("url: http://127.0.0.1:8086", "url: 127.0.0.1:8086"), "influx.url", "http://"),
        (
            ("      unit: 1\n", "      unit: 1\n      colour: red\n"),
            "modbus.devices[0].colour",
            "unknown key",
        ),
        (("type: bool}", "type: int16}"), "modbus.devices[0].registers[4]", "type must be bool"),
        (("api: v1", "api: v2"), "influx", "org"),
        (("scale: 0.1,", "scale: 0.1, bit: 3,"), "modbus.devices[0].registers[3]", "only for type bit"),
    ],
)
def test_errors_name_their_place(change, path, words):
    errs = errors_of(EXAMPLE.replace(*change))
    assert any(e.startswith(path + ":") and words in e for e in errs), errs


def test_role_needs_matching_type():
    text = EXAMPLE.replace(
        "{name: total, area: holding, address: 10, type: uint32,",
        "{name: total, area: holding, address: 10, type: float32,",
    )
    errs = errors_of(text)
    assert any("registers[1]" in e and "integer" in e for e in errs), errs


def test_missing_environment_variable_without_default():
    errs = errors_of(EXAMPLE.replace("${INFLUX_TOKEN:-}", "${INFLUX_TOKEN}"))
    assert errs == ["influx.token: environment variable INFLUX_TOKEN is not set and has no default"]


def test_invalid_yaml_names_the_line():
    errs = errors_of("site: {factory: x\nmodbus: [")
    assert errs[0].startswith("line ")


def test_same_machine_twice_is_an_error():
    dev = EXAMPLE[EXAMPLE.index("    - machine: press-01") :]
    errs = errors_of(EXAMPLE + dev)
    assert any(e.startswith("modbus.devices[1]:") and "repeats" in e for e in errs), errs


def test_address_base_one():
    text = EXAMPLE.replace("      byte_order: ABCD\n", "      byte_order: ABCD\n      address_base: 1\n")
    errs = errors_of(text)
    # address 0 is not a valid register number when numbering starts at 1
    assert any("below address_base" in e for e in errs), errs


def test_names_that_influx_cannot_carry_are_rejected():
    errs = errors_of(EXAMPLE.replace("machine: press-01", 'machine: "press\\n01"'))
    assert any(e.startswith("modbus.devices[0].machine:") and "line break" in e for e in errs), errs


def test_load_config_reports_unreadable_file(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert "cannot read" in info.value.errors[0]


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), (3, 3.0), ("1.5h", 5400.0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "size"), [("1GiB", 2**30), ("500MB", 500 * 10**6), (4096, 4096)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_shipped_configs_validate():
    root = Path(__file__).resolve().parents[3] / "configs"
    # the compose configs need the container's environment: tests/project/test_compose.py
    collector_configs = [p for p in root.glob("collector-*.yaml") if not p.stem.endswith("-compose")]
    assert collector_configs
    for path in collector_configs:
        load_config(path, env={})


def test_shipped_assessor_configs_validate():
    from assessor.config import load_assessor_config
    from assessor.registry.importer import load_registry

    root = Path(__file__).resolve().parents[3] / "configs"
    load_assessor_config(root / "assessor.yaml", env={})
    load_assessor_config(root / "assessor-demo.yaml", env={})
    assert [f.id for f in load_registry(root / "registry-demo.yaml")] == ["demo-factory"]


def test_assessor_reads_the_collectors_influx_durations(tmp_path):
    # one `influx:` block serves both programs: durations are written the same way
    from assessor.config import AssessorConfigError, load_assessor_config

    good = tmp_path / "a.yaml"
    good.write_text("influx: {timeout: 10s, retry_min: 500ms, retry_max: 1m, flush_timeout: 10s}\n")
    cfg = load_assessor_config(good, env={})
    assert (cfg.influx.timeout, cfg.influx.retry_min, cfg.influx.retry_max) == (10.0, 0.5, 60.0)
    bad = tmp_path / "b.yaml"
    bad.write_text("influx: {timeout: soon}\n")
    with pytest.raises(AssessorConfigError) as exc:
        load_assessor_config(bad, env={})
    assert any(e.startswith("influx.timeout:") for e in exc.value.errors), exc.value.errors
