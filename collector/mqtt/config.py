"""Pydantic models of the ``mqtt`` section of the collector's YAML file.

Every check reports its key path, the way ``collector.modbus.config`` does: a message
starting with ``key.path: `` is attached to that key by the loader (configkit.yamlfile).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from collector.mqtt.jsonpath import JsonPathError, compile_path
from configkit import Duration, LocalPath, Size, parse_duration
from datacontract import CANONICAL_STATES, ROLES, FieldType, plain_field_problem, tag_value_problem

FORMATS = ("json", "value", "sparkplug_b", "status")
VALUE_TYPES = ("int", "float", "bool", "string")
TIME_UNITS = ("s", "ms", "us", "ns", "iso")
PROTOCOLS = ("3.1.1", "5")

TYPE_OF = {
    "int": FieldType.INTEGER,
    "float": FieldType.FLOAT,
    "bool": FieldType.BOOLEAN,
    "string": FieldType.STRING,
}
_TYPE_NAME = {v: k for k, v in TYPE_OF.items()}

#: MQTT caps a packet at 256 MiB; a bigger limit could never be reached
MAX_MQTT_PAYLOAD = 268_435_455
#: MQTT 5 session expiry is a 32-bit number of seconds; the largest means "never"
MAX_SESSION_EXPIRY = 0xFFFFFFFF
SPARKPLUG_NAMESPACE = "spBv1.0"

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _optional_duration(value: object) -> object:
    """A duration, or None for ``null``/``none``/``off`` (a check switched off)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "off")):
        return None
    return parse_duration(value)


def _status_words(value: object) -> object:
    """A status word list as lower-case text (YAML reads ``1`` as a number: compared as "1")."""
    if not isinstance(value, list):
        return value
    words = []
    for item in value:
        if isinstance(item, bool):
            raise ValueError(
                f"{item!r}: YAML reads yes/no/on/off/true/false as true or false; "
                'quote the word ("on") to compare text'
            )
        if not isinstance(item, str | int | float):
            raise ValueError(f"expected text, got {item!r}")
        word = as_text(item).strip().lower()
        if not word:
            raise ValueError("an empty word would match an empty payload; list words only")
        words.append(word)
    if not words:
        raise ValueError("the list is empty: no payload could match")
    return words


OptionalDuration = Annotated[float | None, BeforeValidator(_optional_duration)]
StatusWords = Annotated[list[str], BeforeValidator(_status_words)]

#: how long a json or value source may send nothing before it is declared silent
#: (docs/mqtt.md, "Liveness"); Sparkplug B and status sources declare their deaths
DEFAULT_MAX_SILENCE = {"json": 900.0, "value": 900.0, "sparkplug_b": None, "status": None}
DEFAULT_ONLINE = ("online", "1", "true")
DEFAULT_OFFLINE = ("offline", "0", "false")
DEFAULT_SYNC_TOPIC = "factorylens/sync/{client_id}"


def _one_of(allowed: Sequence[str], what: str) -> BeforeValidator:
    def check(value: object) -> object:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
        return value

    return BeforeValidator(check)


def _protocol(value: object) -> object:
    # YAML reads "protocol: 5" as a number and "protocol: 3.1.1" as text
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if text not in PROTOCOLS:
        raise ValueError(f"unknown protocol {value!r}; expected 3.1.1 or 5")
    return text


def as_text(value: Any) -> str:
    """The text a raw scalar is compared (``states``) and stored (``type: string``) as.

    Whole numbers read the same whatever their JSON spelling (``3``, ``3.0``), so a states
    map keyed by code works for publishers that send codes as floats.
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    raise TypeError(f"not a scalar: {value!r}")


def _code_keys(what: str) -> Callable[[object], object]:
    """Keys of a ``states`` or ``products`` map as the text a raw value is compared as."""

    def keys(value: object) -> object:
        if not isinstance(value, dict):
            return value
        out: dict[object, object] = {}
        for key in value:
            if isinstance(key, bool) or key is None:
                raise ValueError(
                    f"{what} key {key!r}: YAML reads yes/no/on/off/true/false/null as special values; "
                    'quote the key ("ON") to match text'
                )
            out[as_text(key) if isinstance(key, int | float) else key] = value[key]
        return out

    return keys


States = Annotated[dict[str, str], BeforeValidator(_code_keys("states"))]
Products = Annotated[dict[str, str], BeforeValidator(_code_keys("products"))]


# --- names -------------------------------------------------------------------------------
# The rule is the data contract's (datacontract.names): tag_value_problem for a line or a
# machine, plain_field_problem for the stored name of a value without a role. The mapping
# applies the same functions to names taken from topics and payloads at run time.


def _field_at(name: str) -> str:
    """Key path of a field entry; the loader attaches identifier-like paths to the key."""
    if _IDENTIFIER.fullmatch(name) and len(name) <= 60:
        return f"fields.{name}"
    shown = repr(name) if len(name) <= 60 else repr(name[:57]) + "..."
    return f"fields[{shown}]"


# --- topic filters and templates -----------------------------------------------------------


def topic_filter_levels(topic: str) -> tuple[str, ...]:
    """The levels of a valid MQTT topic filter; ValueError says what is wrong."""
    if not topic:
        raise ValueError("topic filter must not be empty")
    if "\x00" in topic:
        raise ValueError("topic filter must not contain NUL")
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"topic filter {topic!r} is not valid Unicode text") from None
    if size > 65535:
        raise ValueError(f"topic filter is {size} bytes; MQTT allows 65535")
    if topic.startswith("$share/"):
        raise ValueError("shared subscriptions ($share/...) are not supported")
    levels = tuple(topic.split("/"))
    for i, level in enumerate(levels):
        if "#" in level:
            if level != "#":
                raise ValueError(f"topic filter {topic!r}: '#' must fill a whole level")
            if i != len(levels) - 1:
                raise ValueError(f"topic filter {topic!r}: '#' must be the last level")
        if "+" in level and level != "+":
            raise ValueError(f"topic filter {topic!r}: '+' must fill a whole level")
    return levels


def topic_name_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to, or None."""
    if not topic:
        return "topic must not be empty"
    if "+" in topic or "#" in topic:
        return f"topic {topic!r} holds a wildcard (+ or #); publishing needs a plain topic"
    if topic.startswith("$"):
        return f"topic {topic!r} starts with '$', which brokers reserve for themselves"
    if "\x00" in topic:
        return "topic must not contain NUL"
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return f"topic {topic!r} is not valid Unicode text"
    if size > 65535:
        return f"topic is {size} bytes; MQTT allows 65535"
    return None


TemplatePart = str | int


def parse_template(text: str) -> tuple[TemplatePart, ...]:
    """Split ``"{1}-{2}"`` into literal text and 0-based topic level numbers.
    ``{{`` and ``}}`` stand for literal braces. Nothing is evaluated."""
    parts: list[TemplatePart] = []
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"template {text!r}: {exc} (write {{{{ or }}}} for a literal brace)") from None
    for literal, name, spec, conversion in pieces:
        if literal:
            parts.append(literal)
        if name is None:
            continue
        if not name.isdigit() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"template {text!r}: {shown} is not a topic level; use {{0}}, {{1}}, ...")
        parts.append(int(name))
    return tuple(parts)


def check_template(text: str, levels: Sequence[str], *, sparkplug: bool = False) -> tuple[TemplatePart, ...]:
    """Parse a template and check that it only uses levels every matching topic has as one
    whole level: literals and ``+`` levels, not ``#`` or beyond the filter. Sparkplug topics
    have a fixed shape (namespace/group/type/edge node/device), so there levels 0-4 are fine
    whatever the filter says."""
    parts = parse_template(text)
    topic = "/".join(levels)
    for part in parts:
        if type(part) is not int:
            continue
        if sparkplug:
            if part > 4:
                raise ValueError(
                    f"template {text!r}: level {{{part}}} does not exist; Sparkplug B topics have "
                    "levels 0 to 4 (namespace, group, message type, edge node, device)"
                )
            continue
        if part >= len(levels):
            raise ValueError(
                f"template {text!r}: level {{{part}}} does not exist; topic {topic!r} has "
                f"levels 0 to {len(levels) - 1}"
            )
        if levels[part] == "#":
            raise ValueError(f"template {text!r}: level {{{part}}} is '#', which can span several levels")
    return parts


def is_literal(parts: Sequence[TemplatePart]) -> bool:
    return all(type(p) is str for p in parts)


# --- value specifications -------------------------------------------------------------------


def stored_type(role: str | None, type_: str | None, states: dict[str, str] | None) -> FieldType | None:
    """The InfluxDB type a field is stored as; None: taken from each value (no type given)."""
    if states is not None:
        return FieldType.STRING
    if type_ is not None:
        return TYPE_OF[type_]
    if role is not None:
        return ROLES[role].field_type
    return None


def _check_role(value: str | None) -> str | None:
    if value is not None and value not in ROLES:
        raise ValueError(f"unknown role {value!r}; expected one of {', '.join(ROLES)}")
    return value


def _products_problem(
    role: str | None, states: dict[str, str] | None, products: dict[str, str] | None
) -> str | None:
    """Why a ``products`` map (program or recipe number -> product id) does not fit, or None."""
    if role == "product" and states is not None:
        return "states: role product maps codes with 'products:', not 'states:'"
    if products is None:
        return None
    if role != "product":
        return "products: only for role product (a program or recipe number)"
    for code, product in products.items():
        if not product or product != product.strip():
            return f"products: code {code}: product id {product!r} is empty or has surrounding spaces"
    return None


def _value_spec_problem(
    role: str | None,
    type_: str | None,
    states: dict[str, str] | None,
    products: dict[str, str] | None = None,
) -> str | None:
    """Why role, type and states (or products) do not fit together, or None."""
    if problem := _products_problem(role, states, products):
        return problem
    if products is not None:
        if not products:
            return "products: the map is empty"
        if type_ not in (None, "string"):
            return f"products: the map gives text: type must be string or left out, not {type_}"
        states = products
    if states is not None:
        if not states:
            return "states: the map is empty"
        if type_ not in (None, "string"):
            return f"states produce text: type must be string or left out, not {type_}"
        if role == "state":
            bad = sorted({s for s in states.values() if s not in CANONICAL_STATES})
            if bad:
                return (
                    f"states: {', '.join(map(repr, bad))} not canonical; expected "
                    f"{', '.join(sorted(CANONICAL_STATES))}"
                )
    if role is None:
        return None
    want = ROLES[role].field_type
    have = stored_type(role, type_, states)
    if have is want:
        return None
    if role == "state":
        return "role state is stored as text: map the raw values with 'states', or use type: string"
    if want is FieldType.STRING:
        return f"role {role} is stored as text: use type: string or leave type out"
    return f"role {role} is stored as {want.value}: use type: {_TYPE_NAME[want]} or leave type out"


# --- models -------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    #: PEM bundle to verify the broker with; empty: the system store
    ca: LocalPath | None = None
    #: client certificate and key, for brokers that require mutual TLS
    cert: LocalPath | None = None
    key: LocalPath | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together (mutual TLS needs both)")
        return self


class TimestampConfig(_Strict):
    path: str
    unit: Annotated[str, _one_of(TIME_UNITS, "unit")]

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        try:
            compile_path(v)
        except JsonPathError as exc:
            raise ValueError(str(exc)) from None
        return v


class FieldConfig(_Strict):
    #: JSONPath (format json; default ``$['<field name>']``) or metric name (sparkplug_b)
    path: str | None = None
    role: str | None = None
    type: Annotated[str, _one_of(VALUE_TYPES, "type")] | None = None
    states: States | None = None
    #: role product: program or recipe number -> product id
    products: Products | None = None
    #: a message without this value is stored without it, instead of being refused
    optional: bool = False

    @field_validator("role")
    @classmethod
    def _known_role(cls, v: str | None) -> str | None:
        return _check_role(v)

    @model_validator(mode="after")
    def _fits(self) -> FieldConfig:
        problem = _value_spec_problem(self.role, self.type, self.states, self.products)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def code_map(self) -> dict[str, str] | None:
        """Raw value (as text) -> stored text: the states map, or the products map."""
        return self.states if self.states is not None else self.products

    @property
    def field_type(self) -> FieldType | None:
        return stored_type(self.role, self.type, self.code_map)


class SubscriptionConfig(_Strict):
    topic: str
    qos: Literal[0, 1, 2] = 1
    format: Annotated[str, _one_of(FORMATS, "format")] = "json"
    #: templates over topic levels ("{1}") or literal text; line defaults to site.line
    line: str | None = None
    #: sparkplug_b default: the device id, or the edge node id for node messages
    machine: str | None = None
    #: default: the time the message arrived
    timestamp: TimestampConfig | None = None
    fields: dict[str, FieldConfig] = Field(default_factory=dict)
    #: json: also store top-level scalar keys not listed; sparkplug_b: metrics not listed
    include_unmapped: bool | None = None
    # format value: the payload is one value
    field: str | None = None
    role: str | None = None
    type: Annotated[str, _one_of(VALUE_TYPES, "type")] | None = None
    states: States | None = None
    products: Products | None = None
    #: a machine that sends nothing for this long is declared silent; None: never
    #: (default per format: DEFAULT_MAX_SILENCE)
    max_silence: OptionalDuration = None
    # format status: payload words for "online" and "offline", compared without case
    online: StatusWords | None = None
    offline: StatusWords | None = None

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        topic_filter_levels(v)
        return v

    @field_validator("max_silence")
    @classmethod
    def _max_silence(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("max_silence must be positive; write null to switch the check off")
        return v

    @field_validator("role")
    @classmethod
    def _known_role(cls, v: str | None) -> str | None:
        return _check_role(v)

    @model_validator(mode="after")
    def _consistent(self) -> SubscriptionConfig:
        levels = self.levels
        sparkplug = self.format == "sparkplug_b"
        if self.machine is None and not sparkplug:
            raise ValueError('machine: required: a topic template such as "{2}", or a fixed name')
        for key in ("line", "machine"):
            text = getattr(self, key)
            if text is None:
                continue
            try:
                parts = check_template(text, levels, sparkplug=sparkplug)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            if is_literal(parts) and (problem := tag_value_problem("".join(parts), key)):  # type: ignore[arg-type]
                raise ValueError(f"{key}: {problem}")
        if self.format != "status":
            for key in ("online", "offline"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: only for format status")
        if self.format == "value":
            self._check_value_format(levels)
        elif self.format == "status":
            self._check_status_format()
        else:
            self._check_fields()
        return self

    def _check_status_format(self) -> None:
        for key in ("fields", "timestamp", "include_unmapped", "field", "role", "type", "states", "products"):
            if getattr(self, key):
                raise ValueError(f"{key}: format status stores no data, only online/offline")
        both = sorted(set(self.online_words) & set(self.offline_words))
        if both:
            raise ValueError(f"offline: {', '.join(map(repr, both))} also listed under online")

    def _check_value_format(self, levels: Sequence[str]) -> None:
        if self.fields:
            raise ValueError(
                "fields: format value carries one value: use field (or role), type, states or products"
            )
        if self.timestamp is not None:
            raise ValueError("timestamp: format value has no payload fields; arrival time is used")
        if self.include_unmapped:
            raise ValueError("include_unmapped: only for format json or sparkplug_b")
        if (self.field is None) == (self.role is None):
            raise ValueError("format value needs either 'field' (a name or template like \"{3}\") or 'role'")
        if self.field is not None:
            try:
                parts = check_template(self.field, levels)
            except ValueError as exc:
                raise ValueError(f"field: {exc}") from None
            if is_literal(parts) and (problem := plain_field_problem("".join(parts))):  # type: ignore[arg-type]
                raise ValueError(f"field: {problem}")
        problem = _value_spec_problem(self.role, self.type, self.states, self.products)
        if problem:
            raise ValueError(problem)

    @property
    def code_map(self) -> dict[str, str] | None:
        """Format value: raw payload (as text) -> stored text, from states or products."""
        return self.states if self.states is not None else self.products

    def _check_fields(self) -> None:
        for key in ("field", "role", "type", "states", "products"):
            if getattr(self, key) is not None:
                raise ValueError(f"{key}: only for format value; list fields under 'fields'")
        if self.format == "sparkplug_b":
            if self.levels[0] != SPARKPLUG_NAMESPACE:
                raise ValueError(f"topic: Sparkplug B topics start with {SPARKPLUG_NAMESPACE}/")
            if self.timestamp is not None:
                raise ValueError("timestamp: Sparkplug B payloads carry their own time stamps")
        if not self.fields and not self.unmapped:
            raise ValueError("fields: none listed and include_unmapped is false: nothing would be stored")
        written: dict[str, str] = {}
        for name, spec in self.fields.items():
            at = _field_at(name)
            if spec.path is not None:
                if self.format == "json":
                    try:
                        compile_path(spec.path)
                    except (JsonPathError, ValueError) as exc:
                        raise ValueError(f"{at}.path: {exc}") from None
                elif not spec.path:
                    raise ValueError(f"{at}.path: metric name must not be empty")
            if spec.role is None and (problem := plain_field_problem(name)):
                raise ValueError(f"{at}: {problem}")
            for key in self.stored_keys(name, spec):
                if key in written:
                    what = f"role {key!r}" if spec.role == key else f"field {key!r}"
                    raise ValueError(f"{at}: {what} is also written by {_field_at(written[key])}")
                written[key] = name

    @staticmethod
    def stored_keys(name: str, spec: FieldConfig) -> tuple[str, ...]:
        """Fields an entry writes: a state entry also keeps its raw integer code."""
        if spec.role == "state":
            return ("state", "state_code")
        return (spec.role or name,)

    @property
    def levels(self) -> tuple[str, ...]:
        return topic_filter_levels(self.topic)

    @property
    def silence_limit(self) -> float | None:
        """max_silence in seconds as configured, else the format's default; None: no limit."""
        if "max_silence" in self.model_fields_set:
            return self.max_silence
        return DEFAULT_MAX_SILENCE[self.format]

    @property
    def online_words(self) -> tuple[str, ...]:
        return tuple(self.online) if self.online is not None else DEFAULT_ONLINE

    @property
    def offline_words(self) -> tuple[str, ...]:
        return tuple(self.offline) if self.offline is not None else DEFAULT_OFFLINE

    @property
    def unmapped(self) -> bool:
        """Whether values not listed under fields are stored too."""
        if self.include_unmapped is not None:
            return self.include_unmapped
        return self.format == "sparkplug_b"


class MqttConfig(_Strict):
    url: str = "mqtt://127.0.0.1:1883"
    #: fixed, so the broker keeps the session (and queued QoS 1/2 messages) across reconnects
    client_id: str
    username: str = ""
    password: str = ""
    tls: TlsConfig | None = None
    protocol: Annotated[str, BeforeValidator(_protocol)] = "5"
    #: MQTT 5: how long the broker keeps the session while the collector is away
    session_expiry: Duration = 86400.0
    keepalive: Duration = 30.0
    max_payload_bytes: Size = 256 * 1024
    #: payload time stamps further ahead of the arrival time are refused
    max_future: Duration = 300.0
    #: default: a "deadletter" folder beside the spool folder
    dead_letter_path: LocalPath | None = None
    #: oldest dead-letter days are deleted beyond this; then new dead letters are dropped
    dead_letter_max_bytes: Size = 256 * 2**20
    #: the collector's own topic: a marker published there and read back tells it that
    #: the broker's queue for its session was read to the end ("{client_id}" is replaced)
    sync_topic: str = DEFAULT_SYNC_TOPIC
    subscriptions: list[SubscriptionConfig] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"url must start with mqtt:// or mqtts://, got {v!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not hold credentials; use username and password")
        if not parts.hostname:
            raise ValueError(f"url has no host: {v!r}")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            raise ValueError(f"url has an invalid port: {v!r}") from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"url must be mqtt[s]://host[:port] only, got {v!r}")
        return v

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("client_id must not be empty: a persistent session needs a fixed id")
        if "\x00" in v:
            raise ValueError("client_id must not contain NUL")
        if len(v.encode("utf-8", "surrogatepass")) > 65535:
            raise ValueError("client_id is longer than MQTT allows (65535 bytes)")
        return v

    @field_validator("keepalive")
    @classmethod
    def _keepalive(cls, v: float) -> float:
        if not v.is_integer() or not 1 <= v <= 65535:
            raise ValueError(f"keepalive must be whole seconds from 1s to 65535s, got {v}s")
        return v

    @field_validator("session_expiry")
    @classmethod
    def _expiry(cls, v: float) -> float:
        if v > MAX_SESSION_EXPIRY:
            raise ValueError(f"session_expiry must not exceed {MAX_SESSION_EXPIRY}s (MQTT 5 limit)")
        return v

    @field_validator("max_payload_bytes")
    @classmethod
    def _max_payload(cls, v: int) -> int:
        if not 1 <= v <= MAX_MQTT_PAYLOAD:
            raise ValueError(f"max_payload_bytes must be from 1 to {MAX_MQTT_PAYLOAD}, got {v}")
        return v

    @field_validator("dead_letter_max_bytes")
    @classmethod
    def _dead_letter_max(cls, v: int) -> int:
        if v < 1 << 20:
            raise ValueError(f"dead_letter_max_bytes must be at least 1MiB, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if self.tls is not None and not self.tls_enabled:
            raise ValueError("tls: certificate files are given but url is mqtt://; use mqtts://")
        if self.protocol == "3.1.1":
            if "session_expiry" in self.model_fields_set:
                raise ValueError(
                    "session_expiry: needs protocol 5; a 3.1.1 session lasts until the broker drops it"
                )
            if self.password and not self.username:
                raise ValueError("password: MQTT 3.1.1 allows a password only with a username")
        problem = topic_name_problem(self.sync_topic_name)
        if problem:
            raise ValueError(f"sync_topic: {problem}")
        seen: dict[str, int] = {}
        for i, sub in enumerate(self.subscriptions):
            if sub.topic in seen:
                # the broker keeps one subscription per filter: the second would replace the first
                first = seen[sub.topic]
                raise ValueError(f"subscriptions[{i}].topic: {sub.topic!r} repeats subscriptions[{first}]")
            seen[sub.topic] = i
        return self

    @property
    def sync_topic_name(self) -> str:
        return self.sync_topic.replace("{client_id}", self.client_id)

    @property
    def tls_enabled(self) -> bool:
        return self.url.startswith("mqtts://")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls_enabled else 1883)

    def dead_letter_dir(self, spool_path: Path) -> Path:
        """Where dead letters go: ``dead_letter_path``, or beside the spool folder."""
        return self.dead_letter_path or spool_path.parent / "deadletter"
