"""Random MQTT payloads for the fuzz tests, and an oracle that predicts what the collector
must make of each one under FUZZ_SUBS.

The oracle is written from the rules of docs/mqtt.md ("Mapping rules", "format: value"),
not from collector/mqtt/mapping.py, and imports nothing from collector/mqtt: a mapper bug
makes the two disagree instead of being predicted. It knows only the fuzz subscriptions
(a float `v`, optional int `n`, string `s`, bool `ok`, time stamps in ms), which keeps it
short enough to check by reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction

from hypothesis import strategies as st

FUZZ_MAX_PAYLOAD = 600
#: the subscriptions of the fuzz collector, as they appear under mqtt.subscriptions
FUZZ_SUBS = """\
    - topic: fz/json/+/+
      machine: "{2}-{3}"
      timestamp: {path: $.ts, unit: ms}
      fields:
        v: {type: float}
        n: {type: int, optional: true}
        s: {type: string, optional: true}
        ok: {type: bool, optional: true}
    - topic: fz/value/+/+
      format: value
      machine: "{2}-{3}"
      field: v
      type: float
    - topic: spBv1.0/fz/NBIRTH/+
      format: sparkplug_b
    - topic: spBv1.0/fz/NDATA/+
      format: sparkplug_b
    - topic: spBv1.0/fz/NDEATH/+
      format: sparkplug_b
    - topic: spBv1.0/fz/+/+/+
      format: sparkplug_b
"""
#: docs/mqtt.md, `max_future` default
MAX_FUTURE_NS = 5 * 60 * 10**9
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: InfluxDB's last representable time
TIME_MAX_NS = INT64_MAX - 1
#: "numeric text": ASCII digits with an optional sign, fraction and exponent
NUMERIC = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
FLOAT_MAX = Fraction(2) ** 1024 - Fraction(2) ** 970  # first value that rounds to inf


class Refused(Exception):
    """The message must go to the dead letters."""


@dataclass(frozen=True)
class Expected:
    machine: str
    fields: dict[str, object]
    ts_ns: int  # the arrival time when the payload has none


def _number_text(raw: str) -> Fraction:
    text = raw.strip()
    if not NUMERIC.fullmatch(text):
        raise Refused(f"{raw!r} is not a number")
    return Fraction(text)


def as_float(raw: object) -> float:
    if type(raw) is bool or raw is None or isinstance(raw, list | dict):
        raise Refused(f"{raw!r} is not a number")
    if type(raw) is float:
        exact = Fraction(raw) if raw == raw and abs(raw) != float("inf") else None
    elif type(raw) is int:
        exact = Fraction(raw)
    else:
        exact = _number_text(raw)  # type: ignore[arg-type]
    if exact is None or abs(exact) >= FLOAT_MAX:
        raise Refused(f"{raw!r} is beyond float range")
    if exact == 0:
        # a fraction has no sign of zero; the number as written does (-0.0 stays -0.0)
        if type(raw) is float:
            return raw
        return -0.0 if str(raw).strip().startswith("-") else 0.0
    return float(exact)


def as_int(raw: object) -> int:
    if type(raw) is bool or raw is None or isinstance(raw, list | dict):
        raise Refused(f"{raw!r} is not an integer")
    if type(raw) is float:
        if raw != raw or abs(raw) == float("inf"):
            raise Refused("not finite")
        exact = Fraction(raw)
    elif type(raw) is int:
        exact = Fraction(raw)
    else:
        exact = _number_text(raw)  # type: ignore[arg-type]
    if exact.denominator != 1 or not INT64_MIN <= exact <= INT64_MAX:
        raise Refused(f"{raw!r} is not a whole number in 64 bits")
    return int(exact)


def as_bool(raw: object) -> bool:
    if type(raw) is bool:
        return raw
    if type(raw) is int and raw in (0, 1):
        return raw == 1
    if type(raw) is str and raw.strip().lower() in ("true", "1", "false", "0"):
        return raw.strip().lower() in ("true", "1")
    raise Refused(f"{raw!r} is not a boolean")


def as_string(raw: object) -> str:
    if type(raw) is str:
        text = raw
    elif type(raw) is bool:
        text = "true" if raw else "false"
    elif type(raw) is int:
        text = str(raw)
    elif type(raw) is float:
        if raw != raw or abs(raw) == float("inf"):
            raise Refused("not finite")
        text = str(int(raw)) if raw == int(raw) else repr(raw)
    else:
        raise Refused(f"{raw!r} is not a value")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise Refused("unpaired surrogate")
    return text


def ms_to_ns(raw: object, arrival_ns: int) -> int:
    if type(raw) is bool or raw is None:
        raise Refused(f"timestamp {raw!r}")
    if type(raw) is int:
        exact = Fraction(raw)
    elif type(raw) is float:
        if raw != raw or abs(raw) == float("inf"):
            raise Refused("not finite")
        exact = Fraction(repr(raw))  # the publisher's digits, not the binary float
    elif type(raw) is str:
        exact = _number_text(raw)
    else:
        raise Refused(f"timestamp {raw!r}")
    ns = round(exact * 10**6)  # Fraction rounds half to even
    if ns < 0 or ns - arrival_ns > MAX_FUTURE_NS or ns > TIME_MAX_NS:
        raise Refused(f"timestamp {ns} out of range")
    return ns


def _refuse_constant(name: str) -> object:
    raise Refused(f"{name} is not JSON")


def _text(payload: bytes) -> str:
    if len(payload) > FUZZ_MAX_PAYLOAD:
        raise Refused("too large")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def _json_sample(obj: dict, machine: str, arrival_ns: int) -> Expected:
    if obj.get("v") is None:
        raise Refused("$.v missing or null")
    fields: dict[str, object] = {"v": as_float(obj["v"])}
    for key, convert in (("n", as_int), ("s", as_string), ("ok", as_bool)):
        if obj.get(key) is not None:
            fields[key] = convert(obj[key])
    if obj.get("ts") is None:
        raise Refused("$.ts missing or null")
    return Expected(machine, fields, ms_to_ns(obj["ts"], arrival_ns))


def expect_json(topic: str, payload: bytes, arrival_ns: int) -> list[Expected]:
    """The samples of a message on fz/json/+/+ (machine "{2}-{3}"), or Refused."""
    levels = topic.split("/")
    machine = f"{levels[2]}-{levels[3]}"
    text = _text(payload)
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise Refused("not JSON") from None
    if type(doc) is dict:
        return [_json_sample(doc, machine, arrival_ns)]
    if type(doc) is not list or not doc or any(type(e) is not dict for e in doc):
        raise Refused("neither an object nor a non-empty array of objects")
    return [_json_sample(e, machine, arrival_ns) for e in doc]


def expect_value(topic: str, payload: bytes, arrival_ns: int) -> list[Expected]:
    """The sample of a message on fz/value/+/+ (field v, type float), or Refused."""
    levels = topic.split("/")
    text = _text(payload).strip()
    if not text:
        raise Refused("empty")
    # true/false are booleans, which a float field refuses; other text must be numeric
    return [Expected(f"{levels[2]}-{levels[3]}", {"v": as_float(text)}, arrival_ns)]


# --- strategies ----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_docs = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
numberish = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.sampled_from(["12", " -3.5 ", "1e3", "nan", "inf", "hot", "", "0x10"])
    | st.booleans()
    | st.none()
)


@st.composite
def good_json_sample(draw: st.DrawFn, now_ms: int) -> dict[str, object]:
    ts = now_ms - draw(st.integers(0, 86_400_000))
    doc: dict[str, object] = {
        "ts": draw(st.sampled_from([ts, str(ts), ts + 0.5])),
        "v": draw(
            st.floats(allow_nan=False, allow_infinity=False)
            | st.integers(-(2**53), 2**53)
            | st.integers(-999, 999).map(lambda i: f" {i} ")
        ),
    }
    if draw(st.booleans()):
        doc["n"] = draw(st.integers(-(2**63), 2**63 - 1) | st.just(3.0))
    if draw(st.booleans()):
        doc["s"] = draw(st.text(max_size=20) | st.integers() | st.booleans())
    if draw(st.booleans()):
        doc["ok"] = draw(st.sampled_from([True, False, 0, 1, "true", "FALSE"]))
    return doc


@st.composite
def odd_json_sample(draw: st.DrawFn, now_ms: int) -> dict[str, object]:
    """A sample with something off: far-future or missing time stamp, values of the wrong
    type or out of range, text too long for max_payload_bytes."""
    doc = draw(good_json_sample(now_ms))
    what = draw(st.sampled_from(["future", "no ts", "null ts", "no v", "v", "n", "s", "ok"]))
    if what == "future":
        doc["ts"] = now_ms + draw(st.integers(3_600_000, 86_400_000))
    elif what in ("no ts", "no v"):
        doc.pop(what[3:])
    elif what == "null ts":
        doc["ts"] = None
    elif what == "s":
        doc["s"] = draw(st.text(min_size=600, max_size=700) | json_docs)
    elif what == "ok":
        doc["ok"] = draw(st.sampled_from(["yes", 2, None, [], 0.5]))
    else:
        doc[what] = draw(numberish | st.integers(2**63, 2**70) | json_docs)
    return doc


def json_sample(now_ms: int) -> st.SearchStrategy[dict[str, object]]:
    return st.one_of(good_json_sample(now_ms), good_json_sample(now_ms), odd_json_sample(now_ms))


@st.composite
def json_payload(draw: st.DrawFn, now_ms: int) -> bytes:
    kind = draw(st.sampled_from(["bytes", "doc", "sample", "sample", "sample", "array", "array", "nan"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "doc":
        return json.dumps(draw(json_docs)).encode()
    if kind == "sample":
        return json.dumps(draw(json_sample(now_ms)), ensure_ascii=draw(st.booleans())).encode()
    if kind == "array":
        return json.dumps(draw(st.lists(json_sample(now_ms), min_size=0, max_size=4))).encode()
    return b'{"ts": %d, "v": NaN}' % now_ms


@st.composite
def value_payload(draw: st.DrawFn) -> bytes:
    return draw(
        st.binary(max_size=30)
        | st.from_regex(r" ?-?[0-9]{1,20}(\.[0-9]{0,8})?([eE][+-]?[0-9]{1,3})? ?", fullmatch=True).map(
            str.encode
        )
        | st.floats(allow_nan=False).map(lambda f: repr(f).encode())
        | st.sampled_from([b"true", b"nan", b"inf", b"", b" ", b"1_000", "１２".encode()])
        | st.text(max_size=10).map(str.encode)
    )
