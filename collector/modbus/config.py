"""Pydantic models of the ``modbus`` section of the collector's YAML file: devices and
their registers. Every check reports its key path: a message starting with ``key.path: ``
is attached to that key by the loader (configkit.yamlfile)."""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from collector.modbus.datatypes import (
    FLOAT_TYPES,
    INTEGER_TYPES,
    REGISTER_WIDTH,
    Area,
    ByteOrder,
    DataType,
)
from configkit import Duration
from datacontract import (
    CANONICAL_STATES,
    COUNTER_ROLES,
    ROLES,
    SLOWLY_CHANGING_ROLES,
    FieldType,
    name_problem,
    plain_field_problem,
    tag_value_problem,
)
from datacontract.names import checked

#: when a register's value is stored: at every answered poll, or only when it changed
#: (and again after the path was dead, and at least every ``refresh``)
StoreMode = Literal["on_change", "every_poll"]


def _number(value: object) -> object:
    """A plain YAML number: no bool (which pydantic would take as 1.0), no numeric text."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise ValueError(f"expected a number, got {value!r}")


Deadband = Annotated[float, BeforeValidator(_number)]


def _choice(enum_cls: type, what: str):
    def check(value: object) -> object:
        if isinstance(value, enum_cls):
            return value
        allowed = [m.value for m in enum_cls]
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
        return enum_cls(value)

    return BeforeValidator(check)

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterConfig(_Strict):
    name: str
    area: Annotated[Area, _choice(Area, "area")] = Area.HOLDING
    address: int = Field(ge=0, le=65535)
    type: Annotated[DataType, _choice(DataType, "type")] | None = None
    role: str | None = None
    states: dict[int, str] | None = None
    #: role product: program or recipe number -> product id (as the registry names it)
    products: dict[int, str] | None = None
    scale: float | None = None
    offset: float | None = None
    unit: str | None = None
    byte_order: Annotated[ByteOrder, _choice(ByteOrder, "byte order")] | None = None
    bit: int | None = Field(None, ge=0, le=15)
    byte: Literal["high", "low"] = "low"
    length: int | None = Field(None, ge=1, le=125)
    encoding: str = "utf-8"
    #: None: the device's ``store``, else on_change for slowly changing roles
    store: StoreMode | None = None
    #: numbers stored on change: only a change of at least this much counts
    deadband: Deadband | None = Field(None, ge=0, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        # logs and metrics name the register: a name, even when a role gives the field's
        return checked(name_problem(v, "name"), v)

    @field_validator("role")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        if v is not None and v not in ROLES:
            raise ValueError(f"unknown role {v!r}; expected one of {', '.join(ROLES)}")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown text encoding {v!r}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RegisterConfig:
        if self.role is None and (problem := plain_field_problem(self.name, "field name")):
            # stored under its own name: a field named like a tag hides the tag's data
            raise ValueError(f"name: {problem}")
        t = self.value_type
        if self.area.is_bit and t is not DataType.BOOL:
            raise ValueError(f"area {self.area.value} holds single bits: type must be bool")
        if t is DataType.BIT and self.bit is None:
            raise ValueError("type bit needs 'bit' (0-15)")
        if t is not DataType.BIT and self.bit is not None:
            raise ValueError("'bit' is only for type bit")
        if t is DataType.STRING and self.length is None:
            raise ValueError("type string needs 'length' (registers)")
        if t is not DataType.STRING and self.length is not None:
            raise ValueError("'length' is only for type string")
        numeric = t in INTEGER_TYPES or t in FLOAT_TYPES
        if (self.scale is not None or self.offset is not None) and not numeric:
            raise ValueError(f"scale/offset need a numeric type, not {t.value}")
        if self.states is not None:
            if t not in INTEGER_TYPES:
                raise ValueError(f"states need an integer type, not {t.value}")
            if self.scale is not None or self.offset is not None:
                raise ValueError("states and scale/offset exclude each other")
        self._check_products(t)
        if self.role == "state":
            if not self.states:
                raise ValueError("role state needs a 'states' map from code to canonical state")
            bad = sorted({s for s in self.states.values() if s not in CANONICAL_STATES})
            if bad:
                raise ValueError(
                    f"states: {', '.join(map(repr, bad))} not canonical; expected "
                    f"{', '.join(sorted(CANONICAL_STATES))}"
                )
        if self.role is not None:
            want = ROLES[self.role].field_type
            have = self.field_type
            if want is FieldType.INTEGER and have is not FieldType.INTEGER:
                raise ValueError(f"role {self.role} needs an integer value, this gives {have}")
            if want is FieldType.STRING and have is not FieldType.STRING:
                maps = "products map" if self.role == "product" else "states map"
                raise ValueError(f"role {self.role} needs text (string type or {maps})")
            if want is FieldType.FLOAT and have not in (FieldType.FLOAT, FieldType.INTEGER):
                raise ValueError(f"role {self.role} needs a number, this gives {have}")
        self._check_store()
        return self

    def _check_products(self, t: DataType) -> None:
        # messages start with the key so that the loader reports e.g. registers[3].products
        if self.role == "product" and self.states is not None:
            raise ValueError("states: role product maps program numbers with 'products:', not 'states:'")
        if self.products is None:
            return
        if self.role != "product":
            raise ValueError("products: only for role product (a program or recipe number)")
        if t not in INTEGER_TYPES:
            raise ValueError(f"products: a program number needs an integer type, not {t.value}")
        if self.scale is not None or self.offset is not None:
            raise ValueError("products: a program number takes no scale/offset")
        if not self.products:
            raise ValueError("products: the map is empty")
        for code, product in self.products.items():
            if not product or product != product.strip():
                raise ValueError(
                    f"products: code {code}: product id {product!r} is empty or has surrounding spaces"
                )

    def _check_store(self) -> None:
        # messages start with the key so that the loader reports e.g. registers[2].deadband
        counter = self.role in COUNTER_ROLES
        if self.store == "on_change" and counter:
            raise ValueError(
                f"store: a counter (role {self.role}) is stored at every poll; the assessor spreads "
                "its increase over the time between two readings"
            )
        if self.deadband is None:
            return
        if counter:
            raise ValueError(f"deadband: a counter (role {self.role}) is stored at every poll")
        if self.field_type not in (FieldType.INTEGER, FieldType.FLOAT):
            raise ValueError(f"deadband: only for numbers; this register stores a {self.field_type} value")
        if self.store == "every_poll":
            raise ValueError("deadband: implies store: on_change, but store is every_poll")

    @property
    def value_type(self) -> DataType:
        if self.type is not None:
            return self.type
        return DataType.BOOL if self.area.is_bit else DataType.UINT16

    @property
    def width(self) -> int:
        """Registers (or bits, for bit areas) this value occupies."""
        if self.area.is_bit:
            return 1
        t = self.value_type
        return self.length if t is DataType.STRING else REGISTER_WIDTH[t]  # type: ignore[return-value]

    @property
    def field_key(self) -> str:
        """The InfluxDB field this register is stored under."""
        return self.role or self.name

    @property
    def field_type(self) -> FieldType:
        """The InfluxDB type of the stored value; fixed for the life of the field."""
        t = self.value_type
        if t in (DataType.BOOL, DataType.BIT):
            return FieldType.BOOLEAN
        if t is DataType.STRING or self.states is not None or self.products is not None:
            return FieldType.STRING
        if t in FLOAT_TYPES or self.scale is not None or self.offset is not None:
            return FieldType.FLOAT
        if self.role is not None and ROLES[self.role].field_type is FieldType.FLOAT:
            return FieldType.FLOAT
        return FieldType.INTEGER


class SerialConfig(_Strict):
    device: str
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class DeviceConfig(_Strict):
    machine: str
    line: str | None = None
    transport: Literal["tcp", "rtu", "rtu-over-tcp"] = "tcp"
    host: str | None = None
    port: int = Field(502, ge=1, le=65535)
    serial: SerialConfig | None = None
    unit: int = Field(1, ge=0, le=255)
    interval: Duration = 1.0
    timeout: Duration = 1.0
    byte_order: Annotated[ByteOrder, _choice(ByteOrder, "byte order")] = ByteOrder.ABCD
    address_base: Literal[0, 1] = 0
    #: unused registers the planner may read to join two requests
    max_gap: int = Field(10, ge=0, le=124)
    max_registers_per_request: int = Field(125, ge=1, le=125)
    max_bits_per_request: int = Field(2000, ge=1, le=2000)
    #: some devices need a pause after connecting or between requests
    connect_pause: Duration = 0.0
    request_pause: Duration = 0.0
    #: exception 6 (server busy): how often and after how long to ask again
    busy_retries: int = Field(3, ge=0, le=20)
    busy_retry_delay: Duration = 0.1
    reconnect_min: Duration = 0.5
    reconnect_max: Duration = 30.0
    #: default store mode of this device's registers (None: by role, see store_of)
    store: StoreMode | None = None
    #: a value stored on change is stored again at least this often
    refresh: Duration = 900.0
    registers: list[RegisterConfig] = Field(min_length=1)

    @field_validator("machine", "line")
    @classmethod
    def _names(cls, v: str | None, info: Any) -> str | None:
        return None if v is None else checked(tag_value_problem(v, info.field_name), v)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if v < 0.01:
            raise ValueError(f"interval must be at least 10ms, got {v}s")
        return v

    @field_validator("refresh")
    @classmethod
    def _refresh(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("refresh must be positive")
        return v

    @model_validator(mode="after")
    def _device_checks(self) -> DeviceConfig:
        if self.transport in ("tcp", "rtu-over-tcp") and not self.host:
            raise ValueError(f"transport {self.transport} needs 'host'")
        if self.transport == "rtu" and self.serial is None:
            raise ValueError("transport rtu needs 'serial: {device: /dev/ttyUSB0, ...}'")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must not be below reconnect_min")
        names: dict[str, int] = {}
        roles: dict[str, int] = {}
        for i, reg in enumerate(self.registers):
            if reg.name in names:
                raise ValueError(f"registers[{i}]: name {reg.name!r} repeats registers[{names[reg.name]}]")
            names[reg.name] = i
            if reg.role is not None:
                if reg.role in roles:
                    raise ValueError(
                        f"registers[{i}]: role {reg.role!r} is already given to "
                        f"registers[{roles[reg.role]}] ({self.registers[roles[reg.role]].name!r})"
                    )
                roles[reg.role] = i
            start = reg.address - self.address_base
            if start < 0:
                raise ValueError(
                    f"registers[{i}]: address {reg.address} is below address_base {self.address_base}"
                )
            if start + reg.width > 65536:
                raise ValueError(f"registers[{i}]: runs past address 65535")
            limit = self.max_bits_per_request if reg.area.is_bit else self.max_registers_per_request
            if reg.width > limit:
                raise ValueError(f"registers[{i}]: {reg.width} registers exceed one request ({limit})")
        keys: dict[str, int] = {}
        for i, reg in enumerate(self.registers):
            for key in self.field_keys(reg):
                if key in keys and keys[key] != i:
                    raise ValueError(
                        f"registers[{i}]: field {key!r} is also written by registers[{keys[key]}]"
                    )
                keys[key] = i
        return self

    @staticmethod
    def field_keys(reg: RegisterConfig) -> tuple[str, ...]:
        """Fields a register writes: a state register also keeps its raw code."""
        if reg.role == "state":
            return ("state", "state_code")
        return (reg.field_key,)

    def store_of(self, reg: RegisterConfig) -> StoreMode:
        """When ``reg`` is stored: its own ``store``; on change if it has a deadband; every
        poll for counters; else the device's ``store``; else on change for the slowly
        changing roles (docs/configuration.md) and every poll for everything else."""
        if reg.store is not None:
            return reg.store
        if reg.deadband is not None:
            return "on_change"
        if reg.role in COUNTER_ROLES:
            return "every_poll"
        if self.store is not None:
            return self.store
        return "on_change" if reg.role in SLOWLY_CHANGING_ROLES else "every_poll"


class ModbusConfig(_Strict):
    devices: list[DeviceConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _across_devices(self) -> ModbusConfig:
        serial: dict[str, tuple[int, SerialConfig]] = {}
        for i, dev in enumerate(self.devices):
            if dev.serial is not None and dev.transport == "rtu":
                seen = serial.setdefault(dev.serial.device, (i, dev.serial))
                if seen[1] != dev.serial:
                    raise ValueError(
                        f"devices[{i}].serial: bus {dev.serial.device} is set up differently "
                        f"in devices[{seen[0]}]"
                    )
        return self
