"""One rule for names (datacontract.names): what `collector check` accepts, the encoder
writes at run time, the MQTT mapping takes from topics and payloads, and the assessor's
registry and InfluxQL builder accept, are the same names."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from assessor.data.influxql import UnsafeIdentifier, check_id, ident, literal
from assessor.registry import RegistryError, parse_registry
from collector.config import ConfigError, parse_config
from collector.mqtt.config import SubscriptionConfig
from collector.mqtt.mapping import BadMessage, SubscriptionMapper
from datacontract import (
    MACHINE_TAGS,
    MAX_NAME_CHARS,
    RESERVED_FIELD_NAMES,
    ROLES,
    factory_id_problem,
    field_key_problem,
    lineprotocol,
    measurement_problem,
    name_problem,
    plain_field_problem,
    tag_key_problem,
    tag_value_problem,
)

#: the names of the findings: `collector check` said OK, `run` died with a traceback
RUN_KILLERS = ["a\x00b", "a\\,b", "\tlead", 'a\\"b', "x" * 65537]
#: stored by the collector, refused by the registry: could never be assessed
NEVER_ASSESSED = ["a\\b", "x" * (MAX_NAME_CHARS + 1), " lead", "trail ", "\u3000전각", "a\u2028b"]
BAD_NAMES = [*RUN_KILLERS, *NEVER_ASSESSED, "", "a\nb", "a\rb", "end\\", "a\x7fb", "a\x85b", "\ud800"]
GOOD_NAMES = [
    "press-01",
    "설비 온도",
    "a,b=c d",
    'a"b',
    "it's",
    "#first",
    "x" * MAX_NAME_CHARS,
    "온" * MAX_NAME_CHARS,
    "ünïcödé",
    "a\u00a0b",
]

#: characters every consumer of names has had its own opinion about
NASTY = list(",= \"'\\\t\n\r\x00\x7f\x85\u2028\u3000#/?%:.{}[]-_xy설비")
nasty_names = st.one_of(
    st.sampled_from([*BAD_NAMES, *GOOD_NAMES, *RESERVED_FIELD_NAMES, *ROLES]),
    st.text(alphabet=st.sampled_from(NASTY), min_size=0, max_size=8),
    st.text(max_size=6),
)


def refused(problem: str | None) -> bool:
    return problem is not None


# --- the rule itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_everywhere(name: str) -> None:
    for check in (name_problem, tag_value_problem, tag_key_problem, field_key_problem, measurement_problem):
        problem = check(name, "thing")
        assert problem is not None and problem.startswith("thing "), (check, problem)
        assert "\n" not in problem and len(problem) < 200


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_are_accepted(name: str) -> None:
    assert tag_value_problem(name) is None
    assert field_key_problem(name) is None
    assert plain_field_problem(name) is None


def test_reserved_field_names_are_time_and_every_tag_key() -> None:
    assert {"time", "factory", "line", "machine"} == RESERVED_FIELD_NAMES
    assert set(MACHINE_TAGS) <= RESERVED_FIELD_NAMES
    for name in RESERVED_FIELD_NAMES:
        assert "reserved" in (field_key_problem(name) or "")
        assert tag_value_problem(name) is None  # a machine may be called "line"
    assert tag_key_problem("factory") is None
    assert "reserved" in (tag_key_problem("time") or "")


def test_role_names_are_field_keys_but_not_plain_field_names() -> None:
    assert field_key_problem("count_total") is None
    assert "role name" in (plain_field_problem("count_total") or "")


def test_measurement_and_factory_extras() -> None:
    assert "comment" in (measurement_problem("#m") or "")
    assert tag_value_problem("#m") is None
    for c in "/?#%":
        assert "web addresses" in (factory_id_problem(f"a{c}b") or "")
        assert tag_value_problem(f"a{c}b") is None


def test_messages_say_why() -> None:
    assert name_problem("", "machine") == "machine must not be empty"
    assert "backslash" in (name_problem("a\\b", "id") or "")
    assert "blanks" in (name_problem(" a", "id") or "")
    assert "control characters" in (name_problem("\ta", "id") or "")
    assert "at most 256" in (name_problem("x" * 65537, "id") or "")
    assert len(name_problem("x" * 65537, "id") or "") < 200
    assert "Unicode" in (name_problem("\ud800", "id") or "")
    assert "text" in (name_problem(3, "id") or "")


# --- the encoder refuses exactly what the rule refuses ----------------------------------------------


@settings(max_examples=300)
@given(name=nasty_names)
def test_encoder_follows_the_rule(name: str) -> None:
    for encode, problem in (
        (lineprotocol.tag_value, tag_value_problem),
        (lineprotocol.tag_key, tag_key_problem),
        (lineprotocol.field_key, field_key_problem),
        (lineprotocol.measurement_key, measurement_problem),
    ):
        try:
            encode(name)
        except ValueError:
            assert refused(problem(name)), (encode, name)
        else:
            assert not refused(problem(name)), (encode, name)


@pytest.mark.parametrize("name", sorted(RESERVED_FIELD_NAMES))
def test_encoder_refuses_a_field_named_like_a_tag(name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        lineprotocol.field_key(name)
    with pytest.raises(ValueError, match="reserved"):
        lineprotocol.encode_point(b"m,machine=m1", [(name, 1)], 1)


# --- the assessor accepts exactly what the collector stores ------------------------------------------


@settings(max_examples=300)
@given(name=nasty_names)
def test_query_builder_follows_the_rule(name: str) -> None:
    try:
        check_id(name)
    except UnsafeIdentifier:
        assert refused(tag_value_problem(name)), name
    else:
        assert not refused(tag_value_problem(name)), name
        assert literal(name).startswith("'") and ident(name).startswith('"')


def registry_yaml(factory: str = "f1", line: str = "line-1", machine: str = "m1") -> str:
    doc = {
        "factories": [
            {
                "id": factory,
                "name": "공장",
                "lines": [{"id": line, "machines": [{"id": machine, "ideal_cycle_time": "10s"}]}],
            }
        ]
    }
    return yaml.safe_dump(doc, allow_unicode=True)


def collector_yaml(
    factory: str = "f1", line: str = "line-1", machine: str = "m1", register: str = "temp", **reg: Any
) -> str:
    registers = [{"name": register, "address": 0, **reg}]
    doc: dict[str, Any] = {
        "site": {"factory": factory, "line": line},
        "modbus": {"devices": [{"machine": machine, "host": "127.0.0.1", "registers": registers}]},
    }
    return yaml.safe_dump(doc, allow_unicode=True)


def collector_errors(text: str) -> list[str] | None:
    try:
        parse_config(text, env={})
    except ConfigError as exc:
        return exc.errors
    return None


def registry_errors(text: str) -> list[str] | None:
    try:
        parse_registry(text)
    except RegistryError as exc:
        return exc.errors
    return None


@settings(max_examples=200, deadline=None)
@given(name=nasty_names)
def test_collector_check_accepts_the_ids_the_registry_accepts(name: str) -> None:
    for key in ("factory", "line", "machine"):
        c_text = collector_yaml(**{key: name})
        c_errors = collector_errors(c_text)
        r_errors = registry_errors(registry_yaml(**{key: name}))
        assert (c_errors is None) == (r_errors is None), (key, name, c_errors, r_errors)
        if c_errors is not None and c_errors[0].startswith("line "):
            continue  # not even YAML (an escaped unpaired surrogate): both refuse the file
        # YAML may not give back every character as written: the rule judges what it read
        site = yaml.safe_load(c_text)["site"]
        read = site[key] if key != "machine" else yaml.safe_load(c_text)["modbus"]["devices"][0]["machine"]
        rule = factory_id_problem if key == "factory" else tag_value_problem
        assert (c_errors is None) == (rule(read) is None), (key, name, c_errors)
        if c_errors is not None:
            where = "site.factory" if key == "factory" else "modbus.devices[0].machine"
            if key == "line":
                where = "site.line"
            assert any(e.startswith(f"{where}:") for e in c_errors), c_errors


# --- collector check: findings 1 and 2 -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESERVED_FIELD_NAMES))
def test_a_register_named_like_a_tag_is_refused_by_check(name: str) -> None:
    errors = collector_errors(collector_yaml(register=name))
    assert errors is not None and len(errors) == 1, errors
    assert errors[0].startswith("modbus.devices[0].registers[0].name:"), errors
    assert "reserved" in errors[0]


def test_a_register_named_like_a_tag_may_carry_a_role() -> None:
    # stored under the role's name: the register's own name is never a field
    assert collector_errors(collector_yaml(register="machine", role="power_kw")) is None


def test_a_plain_register_named_like_a_role_is_refused() -> None:
    errors = collector_errors(collector_yaml(register="count_good"))
    assert errors is not None and errors[0].startswith("modbus.devices[0].registers[0].name:")
    assert "role name" in errors[0]


@pytest.mark.parametrize("name", [*RUN_KILLERS, *NEVER_ASSESSED])
@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("register", "modbus.devices[0].registers[0].name"),
        ("machine", "modbus.devices[0].machine"),
        ("line", "site.line"),
        ("factory", "site.factory"),
    ],
)
def test_names_that_run_or_the_registry_cannot_take_are_refused_by_check(
    name: str, key: str, path: str
) -> None:
    errors = collector_errors(collector_yaml(**{key: name}))
    assert errors is not None, (key, name)
    assert errors[0].startswith(f"{path}:"), errors


@pytest.mark.parametrize("name", [*RUN_KILLERS, *NEVER_ASSESSED, "factory", "time"])
def test_mqtt_field_names_follow_the_same_rule(name: str) -> None:
    sub = {"topic": "t/+", "machine": "{1}", "fields": {name: {"path": "$.v"}}}
    with pytest.raises(ValueError, match="fields"):
        SubscriptionConfig.model_validate(sub)


@pytest.mark.parametrize("name", [*RUN_KILLERS, *NEVER_ASSESSED])
def test_mqtt_literal_machine_follows_the_same_rule(name: str) -> None:
    with pytest.raises(ValueError, match="machine"):
        SubscriptionConfig.model_validate({"topic": "t/+", "machine": name, "fields": {"v": {}}})


# --- names that arrive at run time: dropped with the topic named, never a traceback -------------------


def mapper(**sub: Any) -> SubscriptionMapper:
    cfg = SubscriptionConfig.model_validate({"topic": "plant/+/+", "line": "{1}", "machine": "{2}", **sub})
    return SubscriptionMapper(cfg, site_line="l", max_payload=4096, max_future_s=300.0)


@pytest.mark.parametrize("level", ["a\\b", " lead", "trail ", "x" * 257])
def test_a_topic_level_the_registry_would_refuse_is_a_bad_message(level: str) -> None:
    m = mapper(fields={"v": {}})
    with pytest.raises(BadMessage) as info:
        m.map(f"plant/line-1/{level}", b'{"v": 1}', 1)
    assert "machine" in info.value.reason and "plant/line-1/" in info.value.reason


def test_a_payload_key_that_cannot_be_a_field_is_dropped_and_logged_with_its_topic(caplog) -> None:
    m = mapper(fields={"v": {}}, include_unmapped=True)
    payload = json.dumps({"v": 1, "a\\b": 2, "factory": "x", " t": 3, "ok": 4}).encode()
    with caplog.at_level(logging.WARNING, logger="collector.mqtt.mapping"):
        (s,) = m.map("plant/line-1/press-01", payload, 1)
        m.map("plant/line-1/press-01", payload, 2)  # logged once, not per message
    assert dict(s.fields) == {"v": 1.0, "ok": 4.0}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3, logged
    for key in ("'a\\\\b'", "'factory'", "' t'"):
        assert any(key in line and "plant/line-1/press-01" in line for line in logged), (key, logged)


@pytest.mark.parametrize("level", ["factory", "a\\b", " x"])
def test_a_field_name_from_the_topic_is_checked_by_the_rule(level: str) -> None:
    m = mapper(format="value", field="{2}", machine="m1")
    with pytest.raises(BadMessage) as info:
        m.map(f"plant/line-1/{level}", b"1", 1)
    assert "field" in info.value.reason and "plant/line-1/" in info.value.reason
