"""Decoding: every type in every byte order from hand-computed words, round trips, golden cases."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.modbus.config import RegisterConfig
from collector.modbus.datatypes import Area, ByteOrder, DataType
from collector.modbus.decode import BlockDecoder, arrange_bytes, decode_value
from collector.modbus.planner import ReadRequest, ValueSpan, plan_reads

ABCD, BADC, CDAB, DCBA = ByteOrder.ABCD, ByteOrder.BADC, ByteOrder.CDAB, ByteOrder.DCBA
ORDERS = list(ByteOrder)
CASES_DIR = Path(__file__).resolve().parents[2] / "testcases" / "decode"


def reg(type_: str, **kw: Any) -> RegisterConfig:
    return RegisterConfig(name=kw.pop("name", "v"), address=kw.pop("address", 0), type=type_, **kw)


def same(a: object, b: object) -> bool:
    """Equal in type and value; floats also in the sign of zero."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return math.isclose(a, b, rel_tol=1e-12) and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def decode_one(r: RegisterConfig, words: list[int] | list[bool], order: ByteOrder = ABCD):
    req = ReadRequest(r.area, 0, len(words), (ValueSpan(0, r.area, 0, r.width),))
    return BlockDecoder(req, [r], order).decode(words)


# --- arrange_bytes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (ABCD, [0x0102, 0x0304]),
        (CDAB, [0x0304, 0x0102]),
        (BADC, [0x0201, 0x0403]),
        (DCBA, [0x0403, 0x0201]),
    ],
)
def test_arrange_bytes_32(order: ByteOrder, words: list[int]) -> None:
    assert arrange_bytes(words, order) == bytes([1, 2, 3, 4])


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (ABCD, [0x0102, 0x0304, 0x0506, 0x0708]),
        (CDAB, [0x0708, 0x0506, 0x0304, 0x0102]),
        (BADC, [0x0201, 0x0403, 0x0605, 0x0807]),
        (DCBA, [0x0807, 0x0605, 0x0403, 0x0201]),
    ],
)
def test_arrange_bytes_64(order: ByteOrder, words: list[int]) -> None:
    assert arrange_bytes(words, order) == bytes(range(1, 9))


def test_arrange_bytes_16() -> None:
    assert arrange_bytes([0x0102], ABCD) == arrange_bytes([0x0102], CDAB) == b"\x01\x02"
    assert arrange_bytes([0x0102], BADC) == arrange_bytes([0x0102], DCBA) == b"\x02\x01"


# --- every type x every byte order, hand-computed ------------------------------------------

# (type, expected raw value, words in ABCD, CDAB, BADC, DCBA)
MATRIX: list[tuple[str, Any, list[int], list[int], list[int], list[int]]] = [
    ("int16", -1234, [0xFB2E], [0xFB2E], [0x2EFB], [0x2EFB]),
    ("int16", -32768, [0x8000], [0x8000], [0x0080], [0x0080]),
    ("int16", 32767, [0x7FFF], [0x7FFF], [0xFF7F], [0xFF7F]),
    ("uint16", 0x1234, [0x1234], [0x1234], [0x3412], [0x3412]),
    ("uint16", 65535, [0xFFFF], [0xFFFF], [0xFFFF], [0xFFFF]),
    ("int32", -123456789, [0xF8A4, 0x32EB], [0x32EB, 0xF8A4], [0xA4F8, 0xEB32], [0xEB32, 0xA4F8]),
    ("int32", -(2**31), [0x8000, 0], [0, 0x8000], [0x0080, 0], [0, 0x0080]),
    ("int32", 2**31 - 1, [0x7FFF, 0xFFFF], [0xFFFF, 0x7FFF], [0xFF7F, 0xFFFF], [0xFFFF, 0xFF7F]),
    ("uint32", 0x01020304, [0x0102, 0x0304], [0x0304, 0x0102], [0x0201, 0x0403], [0x0403, 0x0201]),
    ("uint32", 2**32 - 1, [0xFFFF, 0xFFFF], [0xFFFF, 0xFFFF], [0xFFFF, 0xFFFF], [0xFFFF, 0xFFFF]),
    (
        "int64", 0x0102030405060708,
        [0x0102, 0x0304, 0x0506, 0x0708], [0x0708, 0x0506, 0x0304, 0x0102],
        [0x0201, 0x0403, 0x0605, 0x0807], [0x0807, 0x0605, 0x0403, 0x0201],
    ),
    (
        "int64", -(2**63),
        [0x8000, 0, 0, 0], [0, 0, 0, 0x8000], [0x0080, 0, 0, 0], [0, 0, 0, 0x0080],
    ),
    (
        "int64", -2,
        [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF],
        [0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF], [0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF],
    ),
    (
        "uint64", 2**63 - 1,
        [0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF], [0xFFFF, 0xFFFF, 0xFFFF, 0x7FFF],
        [0xFF7F, 0xFFFF, 0xFFFF, 0xFFFF], [0xFFFF, 0xFFFF, 0xFFFF, 0xFF7F],
    ),
    ("float16", 1.5, [0x3E00], [0x3E00], [0x003E], [0x003E]),
    ("float16", -0.0, [0x8000], [0x8000], [0x0080], [0x0080]),
    ("float16", 65504.0, [0x7BFF], [0x7BFF], [0xFF7B], [0xFF7B]),
    ("float32", 1.0, [0x3F80, 0], [0, 0x3F80], [0x803F, 0], [0, 0x803F]),
    ("float32", 3.141590118408203, [0x4049, 0x0FD0], [0x0FD0, 0x4049], [0x4940, 0xD00F],
     [0xD00F, 0x4940]),
    ("float32", -0.0, [0x8000, 0], [0, 0x8000], [0x0080, 0], [0, 0x0080]),
    ("float64", 1.0, [0x3FF0, 0, 0, 0], [0, 0, 0, 0x3FF0], [0xF03F, 0, 0, 0], [0, 0, 0, 0xF03F]),
    (
        "float64", -2.5,
        [0xC004, 0, 0, 0], [0, 0, 0, 0xC004], [0x04C0, 0, 0, 0], [0, 0, 0, 0x04C0],
    ),
]

MATRIX_CASES = [
    pytest.param(t, order, words, value, id=f"{t}-{value!r}-{order.value}")
    for t, value, *by_order in MATRIX
    for order, words in zip((ABCD, CDAB, BADC, DCBA), by_order, strict=True)
]


@pytest.mark.parametrize(("type_", "order", "words", "value"), MATRIX_CASES)
def test_matrix_decode_value(type_: str, order: ByteOrder, words: list[int], value: Any) -> None:
    assert same(decode_value(words, reg(type_), order), value)
    # the register's own byte order beats the device's
    other = next(o for o in ORDERS if o is not order)
    assert same(decode_value(words, reg(type_, byte_order=order.value), other), value)


@pytest.mark.parametrize(("type_", "order", "words", "value"), MATRIX_CASES)
def test_matrix_block_decoder(type_: str, order: ByteOrder, words: list[int], value: Any) -> None:
    # placed behind a spare register, so that offsets inside the block matter
    r = reg(type_, address=1)
    req = ReadRequest(Area.HOLDING, 0, 1 + len(words), (ValueSpan(0, Area.HOLDING, 1, r.width),))
    fields, problems = BlockDecoder(req, [r], order).decode([0xAAAA, *words])
    assert problems == []
    assert len(fields) == 1 and fields[0][0] == "v" and same(fields[0][1], value)


NON_FINITE = [
    ("float16", [0x7E00], "nan"),
    ("float16", [0x7C00], "inf"),
    ("float16", [0xFC00], "-inf"),
    ("float32", [0x7FC0, 0], "nan"),
    ("float32", [0x7F80, 0], "inf"),
    ("float32", [0xFF80, 0], "-inf"),
    ("float32", [0xFFC0, 0x0001], "nan"),  # a negative NaN with payload is still NaN
    ("float64", [0x7FF8, 0, 0, 0], "nan"),
    ("float64", [0x7FF0, 0, 0, 0], "inf"),
    ("float64", [0xFFF0, 0, 0, 0], "-inf"),
]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("type_", "abcd_words", "text"), NON_FINITE)
def test_non_finite_floats_are_problems(
    type_: str, abcd_words: list[int], text: str, order: ByteOrder
) -> None:
    words = wire_words(arrange_bytes(abcd_words, ABCD), order)
    raw = decode_value(words, reg(type_), order)
    assert repr(raw) == text or (text == "nan" and math.isnan(raw))  # type: ignore[arg-type]
    fields, problems = decode_one(reg(type_, name="flow"), words, order)
    assert fields == []
    assert problems == [("flow", f"not a finite number ({text})")]


def test_uint64_above_int64_is_a_problem_not_a_field() -> None:
    r = reg("uint64", name="total")
    words = [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]
    assert decode_value(words, r, ABCD) == 2**64 - 1  # the raw value is still known
    assert decode_one(r, words) == ([], [("total", "value exceeds the signed 64-bit range")])
    assert decode_one(r, [0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF]) == ([("total", 2**63 - 1)], [])


def test_scaled_uint64_is_a_float_and_kept() -> None:
    fields, problems = decode_one(reg("uint64", scale=1.0), [0xFFFF] * 4)
    assert problems == [] and same(fields[0][1], float(2**64 - 1))


# --- bits, bytes, bools --------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_bits_ignore_the_byte_order(order: ByteOrder) -> None:
    word = [0b1000_0000_0000_0101]
    got = [decode_value(word, reg("bit", bit=n), order) for n in range(16)]
    assert got == [n in (0, 2, 15) for n in range(16)]
    assert all(type(b) is bool for b in got)


@pytest.mark.parametrize("order", ORDERS)
def test_bytes_name_their_place_on_the_wire(order: ByteOrder) -> None:
    word = [0x80FF]
    assert decode_value(word, reg("uint8", byte="high"), order) == 0x80
    assert decode_value(word, reg("uint8", byte="low"), order) == 0xFF
    assert decode_value(word, reg("int8", byte="high"), order) == -128
    assert decode_value(word, reg("int8", byte="low"), order) == -1
    assert decode_value([0x7F01], reg("int8", byte="high"), order) == 127
    assert decode_value([0x7F01], reg("int8"), order) == 1  # low is the default


def test_bool_on_a_register_is_non_zero() -> None:
    assert decode_value([0], reg("bool"), ABCD) is False
    assert decode_value([0x0100], reg("bool"), DCBA) is True
    assert decode_one(reg("bool", name="on"), [1]) == ([("on", True)], [])


def test_coil_and_discrete_bits() -> None:
    for area in ("coil", "discrete"):
        r = RegisterConfig(name="run", area=area, address=0)
        assert decode_value([True], r, ABCD) is True
        assert decode_value([False], r, DCBA) is False


def test_bit_block_accepts_padding_and_maps_offsets() -> None:
    regs = [RegisterConfig(name=f"c{a}", area="coil", address=a) for a in (3, 5, 6, 12)]
    (req,) = plan_reads(
        [ValueSpan(i, Area.COIL, r.address, 1) for i, r in enumerate(regs)], max_gap=10
    )
    assert (req.start, req.count) == (3, 10)
    # pymodbus pads bits to a whole byte: 10 asked, 16 returned
    bits = [a in (3, 6) for a in range(3, 19)]
    fields, problems = BlockDecoder(req, regs, ABCD).decode(bits)
    assert fields == [("c3", True), ("c5", False), ("c6", True), ("c12", False)]
    assert problems == []


# --- strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "words"),
    [
        (ABCD, [0x4865, 0x6C6C, 0x6F00, 0x0000]),
        (CDAB, [0x4865, 0x6C6C, 0x6F00, 0x0000]),  # word order never applies to text
        (BADC, [0x6548, 0x6C6C, 0x006F, 0x0000]),
        (DCBA, [0x6548, 0x6C6C, 0x006F, 0x0000]),
    ],
)
def test_string_orders_and_nul_padding(order: ByteOrder, words: list[int]) -> None:
    assert decode_value(words, reg("string", length=4), order) == "Hello"


def test_string_fills_its_registers_without_nul() -> None:
    assert decode_value([0x4142, 0x4344], reg("string", length=2), ABCD) == "ABCD"


def test_string_stops_at_the_first_nul() -> None:
    assert decode_value([0x4142, 0x0043, 0x4400], reg("string", length=3), ABCD) == "AB"
    assert decode_value([0x0041], reg("string", length=1), ABCD) == ""


@pytest.mark.parametrize(
    ("encoding", "words", "text"),
    [
        ("utf-8", [0xED95, 0x9CEA, 0xB880, 0x0000], "한글"),
        ("cp949", [0xC7D1, 0xB1DB, 0x0000], "한글"),
        ("utf-8", [0xEC98, 0xA8EB, 0x8F84, 0x20EC, 0x84BC, 0xEC84, 0x9C00], "온도 센서"),
    ],
)
@pytest.mark.parametrize("order", ORDERS)
def test_korean_text(encoding: str, words: list[int], text: str, order: ByteOrder) -> None:
    r = reg("string", length=len(words), encoding=encoding)
    if order.bytes_swapped:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    assert decode_value(words, r, order) == text


def test_undecodable_text_is_replaced() -> None:
    # a UTF-8 lead byte cut off by the register boundary
    assert decode_value([0x41ED], reg("string", length=1), ABCD) == "A\ufffd"


# --- what is stored ------------------------------------------------------------------------


def test_scale_and_offset_give_floats() -> None:
    fields, _ = decode_one(reg("int16", name="t", scale=0.1), [0xFF85])
    assert same(fields[0][1], -12.3)
    fields, _ = decode_one(reg("uint16", name="t", offset=-40), [100])
    assert same(fields[0][1], 60.0)
    fields, _ = decode_one(reg("float32", name="t", scale=2), [0x8000, 0])
    assert same(fields[0][1], -0.0)  # no offset: the sign of zero is kept


def test_scale_overflowing_to_infinity_is_a_problem() -> None:
    fields, problems = decode_one(reg("float32", name="t", scale=1e300), [0x7F7F, 0xFFFF])
    assert fields == [] and problems == [("t", "not a finite number (inf)")]


def test_negative_zero_is_kept() -> None:
    fields, problems = decode_one(reg("float64", name="z"), [0x8000, 0, 0, 0])
    assert problems == [] and same(fields[0][1], -0.0)


@pytest.mark.parametrize(
    ("role", "type_", "words", "value"),
    [
        ("power_kw", "uint16", [7], 7.0),  # float role: the field type never changes
        ("energy_kwh", "uint32", [0, 9], 9.0),
        ("count_total", "uint32", [1, 0], 65536),
        ("alarm_code", "int16", [0xFFFF], -1),
        ("cycle_time_s", "float32", [0x3F80, 0], 1.0),
        ("lot_id", "string", [0x4C31, 0], "L1"),
    ],
)
def test_roles_set_key_and_type(role: str, type_: str, words: list[int], value: Any) -> None:
    extra = {"length": len(words)} if type_ == "string" else {}
    r = reg(type_, name="plc_tag", role=role, **extra)
    fields, problems = decode_one(r, words)
    assert problems == [] and len(fields) == 1
    assert fields[0][0] == role and same(fields[0][1], value)


def test_state_role_writes_name_and_code() -> None:
    r = reg("uint16", name="status", role="state", states={0: "stopped", 1: "running"})
    assert decode_one(r, [1]) == ([("state", "running"), ("state_code", 1)], [])
    assert decode_one(r, [9]) == ([("state", "unknown"), ("state_code", 9)], [])


def test_states_without_role() -> None:
    r = reg("int16", name="mode", states={-1: "off", 1: "auto"})
    assert decode_one(r, [0xFFFF]) == ([("mode", "off")], [])
    assert decode_one(r, [5]) == ([("mode", "5")], [])


def test_block_mixes_orders_and_reports_problems_without_losing_fields() -> None:
    regs = [
        reg("float32", name="a", address=0, byte_order="CDAB"),
        reg("float32", name="nan", address=2),
        reg("int32", name="b", address=4, byte_order="BADC"),
        reg("string", name="s", address=6, length=2, byte_order="DCBA"),
        reg("uint16", name="kw", address=8, role="power_kw"),
        reg("bit", name="flag", address=8, bit=1),
    ]
    spans = [ValueSpan(i, Area.HOLDING, r.address, r.width) for i, r in enumerate(regs)]
    (req,) = plan_reads(spans, max_gap=0)
    words = [0, 0x3F80, 0x7FC0, 0, 0xA4F8, 0xEB32, 0x4241, 0x0043, 0x0002]
    fields, problems = BlockDecoder(req, regs, ABCD).decode(words)
    assert fields == [
        ("a", 1.0), ("b", -123456789), ("s", "ABC"), ("power_kw", 2.0), ("flag", True)
    ]
    assert problems == [("nan", "not a finite number (nan)")]


def test_decoder_refuses_short_responses_and_bad_words() -> None:
    r = reg("float32")
    req = ReadRequest(Area.HOLDING, 0, 2, (ValueSpan(0, Area.HOLDING, 0, 2),))
    dec = BlockDecoder(req, [r], ABCD)
    with pytest.raises(ValueError, match="asked for 2"):
        dec.decode([0])
    with pytest.raises(struct.error):
        dec.decode([0x10000, 0])
    assert dec.decode([0x3F80, 0, 99]) == ([("v", 1.0)], [])  # extra words are ignored


def test_decoder_refuses_spans_that_do_not_match() -> None:
    r = reg("float32")
    too_narrow = ReadRequest(Area.HOLDING, 0, 1, (ValueSpan(0, Area.HOLDING, 0, 1),))
    with pytest.raises(ValueError, match="does not match"):
        BlockDecoder(too_narrow, [r], ABCD)
    too_short = ReadRequest(Area.HOLDING, 0, 1, (ValueSpan(0, Area.HOLDING, 0, 2),))
    with pytest.raises(ValueError, match="outside its request"):
        BlockDecoder(too_short, [r], ABCD)


# --- round trips ---------------------------------------------------------------------------


def wire_words(value_bytes: bytes, order: ByteOrder) -> list[int]:
    """How a device sends a value, from its bytes most significant first (Telegraf's rule)."""
    words = [value_bytes[i : i + 2] for i in range(0, len(value_bytes), 2)]
    if order in (CDAB, DCBA):
        words.reverse()
    if order in (BADC, DCBA):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


INT_RANGES = {
    "int16": ("h", -(2**15), 2**15 - 1),
    "uint16": ("H", 0, 2**16 - 1),
    "int32": ("i", -(2**31), 2**31 - 1),
    "uint32": ("I", 0, 2**32 - 1),
    "int64": ("q", -(2**63), 2**63 - 1),
    "uint64": ("Q", 0, 2**64 - 1),
}
FLOAT_CODES = {"float16": ("e", 16), "float32": ("f", 32), "float64": ("d", 64)}


@st.composite
def int_cases(draw: st.DrawFn) -> tuple[str, int]:
    t = draw(st.sampled_from(sorted(INT_RANGES)))
    _, lo, hi = INT_RANGES[t]
    return t, draw(st.integers(lo, hi))


@settings(max_examples=300, deadline=None)
@given(int_cases(), st.sampled_from(ORDERS))
def test_round_trip_integers(case: tuple[str, int], order: ByteOrder) -> None:
    t, value = case
    words = wire_words(struct.pack(">" + INT_RANGES[t][0], value), order)
    assert decode_value(words, reg(t), order) == value


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(sorted(FLOAT_CODES)), st.sampled_from(ORDERS))
def test_round_trip_floats(data: st.DataObject, t: str, order: ByteOrder) -> None:
    code, width = FLOAT_CODES[t]
    value = data.draw(st.floats(width=width, allow_nan=True))  # type: ignore[arg-type]
    packed = struct.pack(">" + code, value)
    got = decode_value(wire_words(packed, order), reg(t), order)
    assert isinstance(got, float)
    assert struct.pack(">" + code, got) == packed or (math.isnan(value) and math.isnan(got))


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30),
    st.sampled_from(["utf-8", "utf-16-be", "cp949"]),
    st.sampled_from(ORDERS),
)
def test_round_trip_text(text: str, encoding: str, order: ByteOrder) -> None:
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        return
    if b"\0" in raw or not raw:  # utf-16 has NUL bytes of its own; text must not be empty
        return
    length = (len(raw) + 1) // 2 + 1  # at least one NUL register of padding
    raw = raw.ljust(length * 2, b"\0")
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if order.bytes_swapped:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    r = reg("string", length=length, encoding=encoding)
    # trailing spaces are padding, as NULs are
    assert decode_value(words, r, order) == text.rstrip(" ")


# --- golden cases from tests/testcases/decode ----------------------------------------------


def golden_cases() -> list[Any]:
    return [pytest.param(p, id=p.stem) for p in sorted(CASES_DIR.glob("*.yaml"))]


def test_golden_cases_exist() -> None:
    assert len(golden_cases()) >= 10


@pytest.mark.parametrize("path", golden_cases())
def test_golden(path: Path) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    r = RegisterConfig.model_validate(case["register"])
    words = case["words"]
    assert len(words) == r.width, "words must cover the register exactly"
    fields, problems = decode_one(r, words, ByteOrder(case.get("byte_order", "ABCD")))
    got, want = dict(fields), case.get("fields", {})
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert same(got[key], value), f"{key}: got {got[key]!r}, want {value!r}"
    assert dict(problems) == case.get("problems", {})


def test_data_types_are_all_covered() -> None:
    covered = {t for t, *_ in MATRIX} | {"bit", "int8", "uint8", "bool", "string"}
    assert covered == {t.value for t in DataType}
