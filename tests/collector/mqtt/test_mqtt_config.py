"""MQTT configuration: the documented example works as written; every error names its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError, parse_config
from collector.mqtt.config import as_text, check_template, parse_template, topic_filter_levels
from datacontract import FieldType

EXAMPLE = """\
site: {factory: demo-factory, line: line-1}
spool: {path: /var/lib/factorylens/spool}
mqtt:
  url: mqtt://127.0.0.1:1883
  client_id: edge-line-1
  username: ${MQTT_USER:-}
  password: ${MQTT_PASSWORD:-}
  subscriptions:
    - topic: plant/+/+/telemetry
      qos: 1
      format: json
      line: "{1}"
      machine: "{2}"
      timestamp: {path: $.ts, unit: ms}
      fields:
        state: {path: $.status, role: state, states: {RUN: running, IDLE: idle, ALARM: fault}}
        count_total: {path: $.counters.total, role: count_total, type: int}
        temperature: {path: $.temp, type: float}
"""

EXTENDED = """\
site: {factory: demo-factory, line: line-1}
modbus:
  devices:
    - machine: press-01
      host: 127.0.0.1
      registers:
        - {name: total, address: 10, type: uint32, role: count_total}
mqtt:
  url: mqtts://broker.example:8884
  client_id: edge-line-1
  username: edge
  password: ${MQTT_PASSWORD}
  tls: {ca: /etc/factorylens/ca.pem, cert: /etc/factorylens/edge.pem, key: /etc/factorylens/edge.key}
  protocol: 5
  session_expiry: 2d
  keepalive: 45s
  max_payload_bytes: 64KiB
  max_future: 2m
  dead_letter_path: /data/dead
  subscriptions:
    - topic: plant/+/+/sensor/+
      format: value
      machine: "{2}"
      field: "{4}"
    - topic: plant/+/+/state
      format: value
      line: "{1}"
      machine: "{2}"
      role: state
      states: {0: stopped, 1: running, 2: fault}
    - topic: 공장/+/+/데이터
      line: "{1}"
      machine: "{2}"
      include_unmapped: true
      fields:
        온도: {path: "$['온도']", type: float}
        note: {path: $.note, optional: true}
    - topic: spBv1.0/plant/#
      format: sparkplug_b
      fields:
        count_good: {path: Counters/Good, role: count_good}
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return info.value.errors


def test_issue_example_loads_as_written():
    cfg = parse_config(EXAMPLE, env={"MQTT_USER": "edge"})
    mqtt = cfg.mqtt
    assert mqtt is not None
    assert not cfg.modbus.devices  # MQTT alone is a valid source
    assert mqtt.username == "edge" and mqtt.password == ""
    assert (mqtt.host, mqtt.port, mqtt.tls_enabled) == ("127.0.0.1", 1883, False)
    assert mqtt.protocol == "5"
    assert mqtt.session_expiry == 86400.0 and mqtt.keepalive == 30.0
    assert mqtt.max_payload_bytes == 256 * 1024 and mqtt.max_future == 300.0
    assert mqtt.dead_letter_dir(cfg.spool.path) == Path("/var/lib/factorylens/deadletter")
    sub = mqtt.subscriptions[0]
    assert (sub.qos, sub.format, sub.line, sub.machine) == (1, "json", "{1}", "{2}")
    assert sub.timestamp is not None and (sub.timestamp.path, sub.timestamp.unit) == ("$.ts", "ms")
    assert sub.fields["state"].states == {"RUN": "running", "IDLE": "idle", "ALARM": "fault"}
    assert sub.fields["state"].field_type is FieldType.STRING
    assert sub.fields["count_total"].field_type is FieldType.INTEGER
    assert sub.fields["temperature"].field_type is FieldType.FLOAT
    assert sub.unmapped is False


def test_extensions_load():
    cfg = parse_config(EXTENDED, env={"MQTT_PASSWORD": "secret"})
    mqtt = cfg.mqtt
    assert mqtt is not None
    assert (mqtt.host, mqtt.port, mqtt.tls_enabled) == ("broker.example", 8884, True)
    assert mqtt.tls is not None and mqtt.tls.key == Path("/etc/factorylens/edge.key")
    assert mqtt.session_expiry == 2 * 86400 and mqtt.keepalive == 45
    assert mqtt.max_payload_bytes == 64 * 1024 and mqtt.max_future == 120
    assert mqtt.dead_letter_dir(cfg.spool.path) == Path("/data/dead")
    value, state, korean, sparkplug = mqtt.subscriptions
    assert value.field == "{4}" and value.line is None
    assert state.states == {"0": "stopped", "1": "running", "2": "fault"}  # YAML numbers become text
    assert korean.unmapped and korean.fields["note"].optional
    assert sparkplug.unmapped and sparkplug.machine is None  # defaults to device / edge node


def test_protocol_311_and_default_ports():
    text = EXAMPLE.replace("  client_id:", "  protocol: 3.1.1\n  client_id:").replace(
        "mqtt://127.0.0.1:1883", "mqtts://broker"
    )
    mqtt = parse_config(text, env={}).mqtt
    assert mqtt is not None and mqtt.protocol == "3.1.1" and mqtt.port == 8883


def test_no_source_at_all_is_an_error():
    errs = errors_of("site: {factory: f}\n")
    assert errs == [
        "(top level): no sources: list at least one device under modbus.devices "
        "or a subscription under mqtt.subscriptions (line 1)"
    ]


def test_mqtt_section_needs_subscriptions():
    errs = errors_of("site: {factory: f}\nmqtt: {client_id: x, subscriptions: []}\n")
    assert any(e.startswith("mqtt.subscriptions:") for e in errs), errs


SUB = "mqtt.subscriptions[0]"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("plant/+/+/telemetry", "plant/#/telemetry"), f"{SUB}.topic", "'#' must be the last level"),
        (("plant/+/+/telemetry", "plant/a#/+/x"), f"{SUB}.topic", "'#' must fill a whole level"),
        (("plant/+/+/telemetry", "plant/+x/+/t"), f"{SUB}.topic", "'+' must fill a whole level"),
        (("plant/+/+/telemetry", '""'), f"{SUB}.topic", "must not be empty"),
        (("plant/+/+/telemetry", "$share/g/plant/+"), f"{SUB}.topic", "shared subscriptions"),
        (('machine: "{2}"', 'machine: "{7}"'), f"{SUB}.machine", "level {7} does not exist"),
        (("plant/+/+/telemetry", "plant/+/#"), f"{SUB}.machine", "'#'"),
        (('line: "{1}"', 'line: "{one}"'), f"{SUB}.line", "is not a topic level"),
        (('line: "{1}"', 'line: "{1"'), f"{SUB}.line", "literal brace"),
        (('line: "{1}"', 'line: "{1:>5}"'), f"{SUB}.line", "is not a topic level"),
        (('machine: "{2}"', 'machine: "press\\\\"'), f"{SUB}.machine", "backslash"),
        (('machine: "{2}"', 'machine: " "'), f"{SUB}.machine", "must not start or end with blanks"),
        (('machine: "{2}"', 'machine: ""'), f"{SUB}.machine", "must not be empty"),
        (("path: $.temp", "path: '$.temp['"), f"{SUB}.fields.temperature.path", "expected an array index"),
        (("path: $.temp", "path: temp"), f"{SUB}.fields.temperature.path", "starts with '$'"),
        (("path: $.temp", "path: $..temp"), f"{SUB}.fields.temperature.path", "recursive descent"),
        (("path: $.temp", "path: '$.a[*]'"), f"{SUB}.fields.temperature.path", "wildcards"),
        (("path: $.ts", "path: $.ts."), f"{SUB}.timestamp.path", "expected a key"),
        (("unit: ms", "unit: sec"), f"{SUB}.timestamp.unit", "unknown unit 'sec'"),
        (("type: float}", "type: flaot}"), f"{SUB}.fields.temperature.type", "unknown type 'flaot'"),
        (("role: count_total,", "role: count_totl,"), f"{SUB}.fields.count_total.role", "unknown role"),
        (("ALARM: fault", "ALARM: broken"), f"{SUB}.fields.state.states", "'broken' not canonical"),
        (("ALARM: fault", "ON: fault"), f"{SUB}.fields.state.states", "quote the key"),
        (
            ("type: int}", "type: float}"),
            f"{SUB}.fields.count_total",
            "role count_total is stored as integer",
        ),
        (("role: state,", "role: state, type: int,"), f"{SUB}.fields.state", "states produce text"),
        (
            (
                "path: $.status, role: state, states: {RUN: running, IDLE: idle, ALARM: fault}",
                "path: $.s, role: state, type: float",
            ),
            f"{SUB}.fields.state",
            "role state is stored as text",
        ),
        (
            ("temperature: {path: $.temp, type: float}", "total2: {path: $.t2, role: count_total}"),
            f"{SUB}.fields.total2",
            "role 'count_total' is also written by fields.count_total",
        ),
        (
            ("temperature: {path: $.temp, type: float}", "state_code: {path: $.c, role: state_code}"),
            f"{SUB}.fields.state_code",
            "also written by fields.state",
        ),
        (("temperature:", "time:"), f"{SUB}.fields.time", "reserved"),
        (("temperature:", "machine:"), f"{SUB}.fields.machine", "reserved"),
        (("temperature:", "count_good:"), f"{SUB}.fields.count_good", "is a role name"),
        (("format: json", "format: xml"), f"{SUB}.format", "unknown format 'xml'"),
        (("qos: 1", "qos: 3"), f"{SUB}.qos", ""),
        (('      machine: "{2}"\n', ""), f"{SUB}.machine", "required"),
        (("      qos: 1\n", "      qos: 1\n      colour: red\n"), f"{SUB}.colour", "unknown key"),
        (("format: json", "format: value"), f"{SUB}.fields", "format value carries one value"),
        (("format: json", "format: sparkplug_b"), f"{SUB}.topic", "spBv1.0/"),
        (("      qos: 1\n", "      qos: 1\n      field: x\n"), f"{SUB}.field", "only for format value"),
        (("mqtt://127.0.0.1:1883", "http://127.0.0.1:1883"), "mqtt.url", "mqtt:// or mqtts://"),
        (("mqtt://127.0.0.1:1883", "mqtt://user:pw@127.0.0.1"), "mqtt.url", "credentials"),
        (("mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:99999"), "mqtt.url", "invalid port"),
        (("mqtt://127.0.0.1:1883", "mqtt://"), "mqtt.url", "no host"),
        (("  client_id: edge-line-1\n", ""), "mqtt.client_id", "required key is missing"),
        (("client_id: edge-line-1", 'client_id: ""'), "mqtt.client_id", "persistent session"),
        (("  client_id:", "  tls: {ca: /ca.pem}\n  client_id:"), "mqtt.tls", "use mqtts://"),
        (
            ("  client_id:", "  tls: {cert: /c.pem}\n  client_id:"),
            "mqtt.tls",
            "cert and key go together",
        ),
        (("  client_id:", "  protocol: 4\n  client_id:"), "mqtt.protocol", "unknown protocol"),
        (
            ("  client_id:", "  protocol: 3.1.1\n  session_expiry: 1h\n  client_id:"),
            "mqtt.session_expiry",
            "needs protocol 5",
        ),
        (("  client_id:", "  keepalive: 500ms\n  client_id:"), "mqtt.keepalive", "whole seconds"),
        (("  client_id:", "  keepalive: soon\n  client_id:"), "mqtt.keepalive", "duration"),
        (("  client_id:", "  max_payload_bytes: 0\n  client_id:"), "mqtt.max_payload_bytes", "from 1"),
        (("  client_id:", "  max_payload_bytes: 1TiB\n  client_id:"), "mqtt.max_payload_bytes", "from 1"),
        (("  client_id:", "  session_expiry: 200y\n  client_id:"), "mqtt.session_expiry", "duration"),
    ],
)
def test_errors_name_their_place(change, path, words):
    errs = errors_of(EXAMPLE.replace(*change))
    assert any(e.startswith(path + ":") and words in e for e in errs), errs
    assert all("(line " in e for e in errs), errs


def test_error_points_at_the_line():
    errs = errors_of(EXAMPLE.replace("type: float}", "type: flaot}"))
    assert errs == [
        f"{SUB}.fields.temperature.type: unknown type 'flaot'; "
        "expected one of int, float, bool, string (line 18)"
    ]


def test_repeated_topic_filter():
    sub = EXAMPLE[EXAMPLE.index("    - topic:") :]
    errs = errors_of(EXAMPLE + sub)
    assert any(e.startswith("mqtt.subscriptions[1].topic:") and "repeats" in e for e in errs), errs


def test_password_without_username_on_311():
    text = EXAMPLE.replace("  client_id:", "  protocol: 3.1.1\n  client_id:")
    errs = errors_of(text, env={"MQTT_PASSWORD": "pw"})
    assert any(e.startswith("mqtt.password:") for e in errs), errs


def test_missing_environment_variable_names_the_key():
    errs = errors_of(EXAMPLE.replace("${MQTT_PASSWORD:-}", "${MQTT_PASSWORD}"))
    assert errs == ["mqtt.password: environment variable MQTT_PASSWORD is not set and has no default"]


def _value_sub(extra: str) -> str:
    return EXAMPLE[: EXAMPLE.index("    - topic:")] + (
        '    - topic: plant/+/+/sensor/+\n      format: value\n      machine: "{2}"\n' + extra
    )


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ("", SUB, "either 'field'"),
        ('      field: "{4}"\n      role: power_kw\n', SUB, "either 'field'"),
        ('      field: "{9}"\n', f"{SUB}.field", "level {9} does not exist"),
        ("      field: time\n", f"{SUB}.field", "reserved"),
        ("      role: count_total\n      type: string\n", SUB, "stored as integer"),
        ("      role: state\n      type: int\n", SUB, "stored as text"),
        ("      field: x\n      timestamp: {path: $.ts, unit: s}\n", f"{SUB}.timestamp", "arrival time"),
        ("      field: x\n      include_unmapped: true\n", f"{SUB}.include_unmapped", "only for"),
        ("      field: x\n      states: {}\n", f"{SUB}.states", "map is empty"),
    ],
)
def test_value_format_errors(extra, path, words):
    errs = errors_of(_value_sub(extra))
    assert any(e.startswith(path + ":") and words in e for e in errs), errs


def test_json_needs_something_to_store():
    text = EXAMPLE[: EXAMPLE.index("      fields:")]
    errs = errors_of(text)
    assert any(e.startswith(f"{SUB}.fields:") and "nothing would be stored" in e for e in errs), errs
    assert parse_config(text + "      include_unmapped: true\n", env={}).mqtt is not None


def test_field_name_that_is_not_an_identifier_still_says_where():
    errs = errors_of(EXAMPLE.replace("temperature: {path: $.temp", '"oil temp": {path: "$.t["'))
    assert any(e.startswith(SUB + ":") and "fields['oil temp'].path" in e for e in errs), errs


def test_sparkplug_templates_may_use_levels_under_hash():
    text = EXAMPLE.replace("plant/+/+/telemetry", "spBv1.0/+/#").replace(
        "format: json", "format: sparkplug_b"
    )
    text = text.replace('line: "{1}"', 'line: "{1}"').replace('machine: "{2}"', 'machine: "{3}-{4}"')
    text = text.replace("      timestamp: {path: $.ts, unit: ms}\n", "")
    cfg = parse_config(text, env={})
    assert cfg.mqtt is not None and cfg.mqtt.subscriptions[0].machine == "{3}-{4}"
    errs = errors_of(text.replace("{3}-{4}", "{5}"))
    assert any(e.startswith(f"{SUB}.machine:") and "levels 0 to 4" in e for e in errs), errs
    errs = errors_of(text.replace("      fields:", "      timestamp: {path: $.ts, unit: ms}\n      fields:"))
    assert any(e.startswith(f"{SUB}.timestamp:") and "own time stamps" in e for e in errs), errs


def test_topic_filter_rules():
    assert topic_filter_levels("#") == ("#",)
    assert topic_filter_levels("+/+") == ("+", "+")
    assert topic_filter_levels("a//b") == ("a", "", "b")
    assert topic_filter_levels("공장/+/#") == ("공장", "+", "#")
    for bad in ("a/#/b", "a#", "a/b+", "", "a\x00b"):
        with pytest.raises(ValueError):
            topic_filter_levels(bad)


def test_templates():
    assert parse_template("{1}") == (1,)
    assert parse_template("{1}-{2}") == (1, "-", 2)
    assert parse_template("press-01") == ("press-01",)
    assert parse_template("{{x}}{0}") == ("{", "x}", 0)
    assert check_template("{1}", ("plant", "+", "x")) == (1,)
    with pytest.raises(ValueError, match="does not exist"):
        check_template("{3}", ("plant", "+", "x"))
    with pytest.raises(ValueError, match="'#'"):
        check_template("{1}", ("plant", "#"))


def test_state_keys_compare_as_text():
    assert as_text(3) == "3" and as_text(3.0) == "3" and as_text(2.5) == "2.5"
    assert as_text(True) == "true" and as_text("RUN") == "RUN"
