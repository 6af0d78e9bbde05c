"""Role product from Modbus (a string register, or a program number through ``products:``)
and MQTT (JSON, value, Sparkplug B): decoding, mapping and configuration errors."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.config import ConfigError, parse_config
from collector.modbus.config import RegisterConfig
from collector.modbus.datatypes import ByteOrder
from collector.modbus.decode import BlockDecoder, decode_value
from collector.modbus.planner import ReadRequest, ValueSpan
from collector.modbus.store import ChangeFilter
from collector.mqtt.config import SubscriptionConfig
from collector.mqtt.mapping import BadMessage, SubscriptionMapper
from datacontract import FieldType

ORDERS = list(ByteOrder)
NOW = 1_714_564_800_000_000_000

MODBUS = """\
site: {factory: f, line: line-1}
modbus:
  devices:
    - machine: cnc-01
      host: 127.0.0.1
      registers:
        - {name: total, address: 10, type: uint32, role: count_total}
        - {name: program, address: 2, type: uint16, role: product, products: {1: A-100, 2: B-200}}
"""
PROGRAM = "{name: program, address: 2, type: uint16, role: product, products: {1: A-100, 2: B-200}}"
PRODUCT_AT = "modbus.devices[0].registers[1]"


def modbus_errors(register: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(MODBUS.replace(PROGRAM, register), env={})
    return info.value.errors


def decode_one(r: RegisterConfig, words: list[int], order: ByteOrder = ByteOrder.ABCD) -> list[Any]:
    req = ReadRequest(r.area, 0, len(words), (ValueSpan(0, r.area, 0, r.width),))
    fields, problems = BlockDecoder(req, [r], order).decode(words)
    assert problems == []
    return fields


def text_words(raw: bytes, length: int, pad: bytes, order: ByteOrder) -> list[int]:
    """``raw`` padded to ``length`` registers, as a PLC with ``order`` would hold it."""
    raw = raw.ljust(length * 2, pad)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if order.bytes_swapped:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


# --- Modbus: program number -> product --------------------------------------------------------


def test_program_number_names_the_product_and_unknown_codes_stay_as_text():
    dev = parse_config(MODBUS, env={}).modbus.devices[0]  # type: ignore[union-attr]
    reg = dev.registers[1]
    assert reg.field_type is FieldType.STRING and reg.field_key == "product"
    assert decode_one(reg, [1]) == [("product", "A-100")]
    assert decode_one(reg, [2]) == [("product", "B-200")]
    # the assessor reports the code the registry lacks
    assert decode_one(reg, [7]) == [("product", "7")]
    assert decode_one(reg, [0]) == [("product", "0")]


def test_product_is_stored_on_change_by_default():
    dev = parse_config(MODBUS, env={}).modbus.devices[0]  # type: ignore[union-attr]
    assert dev.store_of(dev.registers[1]) == "on_change"
    f = ChangeFilter.for_device(dev)
    assert f is not None
    assert f.select([("product", "A-100")], 1) == [("product", "A-100")]
    assert f.select([("product", "A-100")], 2) == []
    assert f.select([("product", "B-200")], 3) == [("product", "B-200")]


@pytest.mark.parametrize(
    ("register", "path", "words"),
    [
        (
            "{name: program, address: 2, type: uint16, role: order_id, products: {1: A-100}}",
            f"{PRODUCT_AT}.products",
            "only for role product",
        ),
        (
            "{name: program, address: 2, type: float32, role: product, products: {1: A-100}}",
            f"{PRODUCT_AT}.products",
            "integer type",
        ),
        (
            "{name: program, address: 2, type: uint16, role: product, products: {}}",
            f"{PRODUCT_AT}.products",
            "map is empty",
        ),
        (
            "{name: program, address: 2, type: uint16, role: product, products: {1: ' A-100'}}",
            f"{PRODUCT_AT}.products",
            "surrounding spaces",
        ),
        (
            "{name: program, address: 2, type: uint16, role: product, products: {1: A-100}, scale: 2}",
            f"{PRODUCT_AT}.products",
            "no scale",
        ),
        (
            "{name: program, address: 2, type: uint16, role: product, states: {1: A-100}}",
            f"{PRODUCT_AT}.states",
            "'products:'",
        ),
        (
            "{name: program, address: 2, type: uint16, role: product}",
            PRODUCT_AT,
            "products map",
        ),
        (
            "{name: program, address: 2, type: uint16, role: product, products: [A-100]}",
            f"{PRODUCT_AT}.products",
            "dictionary",
        ),
    ],
)
def test_product_config_errors_name_the_key_path(register: str, path: str, words: str):
    errs = modbus_errors(register)
    assert any(e.startswith(path + ":") and words in e for e in errs), errs
    assert all("(line 8)" in e for e in errs if e.startswith(path)), errs


# --- Modbus: product from a string register ---------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("pad", [b"\0", b" "])
@pytest.mark.parametrize(("text", "length"), [("A-100", 3), ("A-100", 4), ("B-2000", 3), ("X", 1)])
def test_string_register_odd_and_even_lengths_with_padding(order, pad, text, length):
    r = RegisterConfig(name="part", address=0, type="string", length=length, role="product")
    words = text_words(text.encode(), length, pad, order)
    assert decode_one(r, words, order) == [("product", text)]


def test_string_register_keeps_inner_spaces_and_stops_at_nul():
    r = RegisterConfig(name="part", address=0, type="string", length=4, role="product")
    assert decode_value(text_words(b"AB 12  ", 4, b"\0", ByteOrder.ABCD), r, ByteOrder.ABCD) == "AB 12"
    # what follows the first NUL is old text the PLC did not clear
    assert decode_value(text_words(b"B-2\0A-100", 5, b"\0", ByteOrder.ABCD), r, ByteOrder.ABCD) == "B-2"


@given(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
    st.integers(0, 4),
    st.sampled_from([b"\0", b" "]),
    st.sampled_from(ORDERS),
)
def test_any_padded_product_id_decodes_to_itself(text: str, extra: int, pad: bytes, order: ByteOrder):
    length = (len(text) + 1) // 2 + extra
    r = RegisterConfig(name="part", address=0, type="string", length=length, role="product")
    assert decode_value(text_words(text.encode(), length, pad, order), r, order) == text


# --- MQTT ----------------------------------------------------------------------------------------


def mapper(sub: dict[str, Any]) -> SubscriptionMapper:
    cfg = SubscriptionConfig.model_validate(sub)
    return SubscriptionMapper(cfg, site_line="line-1", max_payload=4096, max_future_s=300.0)


JSON_SUB: dict[str, Any] = {
    "topic": "plant/+/telemetry",
    "machine": "{1}",
    "fields": {
        "program": {"path": "$.program", "role": "product", "products": {1: "A-100", 2: "B-200"}},
        "count_total": {"path": "$.total", "role": "count_total"},
    },
}


def test_json_program_number_through_products_map():
    m = mapper(JSON_SUB)

    def product(program: Any) -> Any:
        [s] = m.map("plant/cnc-01/telemetry", json.dumps({"program": program, "total": 3}).encode(), NOW)
        return dict(s.fields)["product"]

    assert product(1) == "A-100"
    assert product(2.0) == "B-200"  # a code sent as a float
    assert product("2") == "B-200"
    assert product(9) == "9"


def test_json_product_as_text():
    m = mapper({**JSON_SUB, "fields": {"part": {"path": "$.part", "role": "product"}}})
    [s] = m.map("plant/cnc-01/telemetry", b'{"part": "A-100"}', NOW)
    assert s.fields == (("product", "A-100"),)
    with pytest.raises(BadMessage):
        m.map("plant/cnc-01/telemetry", b'{"part": {"id": 1}}', NOW)


def test_value_format_program_number():
    m = mapper(
        {
            "topic": "plant/+/program",
            "format": "value",
            "machine": "{1}",
            "role": "product",
            "products": {1: "A-100", 2: "B-200"},
        }
    )
    [s] = m.map("plant/cnc-01/program", b"2", NOW)
    assert s.fields == (("product", "B-200"),)
    [s] = m.map("plant/cnc-01/program", b"12", NOW)
    assert s.fields == (("product", "12"),)


def test_sparkplug_string_metric_and_program_number():
    m = mapper(
        {
            "topic": "spBv1.0/packaging/#",
            "format": "sparkplug_b",
            "include_unmapped": False,
            "fields": {
                "product": {"path": "product", "role": "product", "optional": True},
                "count_total": {"path": "count_total", "role": "count_total", "optional": True},
            },
        }
    )
    s = m.map_metrics(
        "spBv1.0/packaging/DDATA/gw/packer-01", SimpleNamespace(metrics={"product": "P-330"}, ts_ns=NOW)
    )
    assert s is not None and s.fields == (("product", "P-330"),)
    coded = mapper(
        {
            "topic": "spBv1.0/packaging/#",
            "format": "sparkplug_b",
            "fields": {"program": {"path": "Program", "role": "product", "products": {3: "P-500"}}},
        }
    )
    s = coded.map_metrics(
        "spBv1.0/packaging/DDATA/gw/packer-01", SimpleNamespace(metrics={"Program": 3}, ts_ns=NOW)
    )
    assert s is not None and s.fields == (("product", "P-500"),)


MQTT = """\
site: {factory: f, line: line-1}
mqtt:
  url: mqtt://127.0.0.1:1883
  client_id: edge
  subscriptions:
    - topic: plant/+/telemetry
      machine: "{1}"
      fields:
        program: {path: $.program, role: product, products: {1: A-100}}
"""
FIELD_AT = "mqtt.subscriptions[0].fields.program"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("role: product,", "role: order_id,"), f"{FIELD_AT}.products", "only for role product"),
        (("products: {1: A-100}", "states: {1: A-100}"), f"{FIELD_AT}.states", "'products:'"),
        (("products: {1: A-100}", "products: {}"), f"{FIELD_AT}.products", "map is empty"),
        (("products: {1: A-100}", "products: {yes: A-100}"), f"{FIELD_AT}.products", "products key True"),
        (("products: {1: A-100}", "products: {1: ''}"), f"{FIELD_AT}.products", "empty"),
        (("role: product,", "role: product, type: int,"), f"{FIELD_AT}.products", "gives text"),
    ],
)
def test_mqtt_product_config_errors_name_the_key_path(change, path, words):
    with pytest.raises(ConfigError) as info:
        parse_config(MQTT.replace(*change), env={})
    errs = info.value.errors
    assert any(e.startswith(path + ":") and words in e for e in errs), errs
