"""The data contract between the collector and the assessor.

This module is the code form of ``docs/data-model.md``; change both together.
Nothing else is shared between the two packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Every machine sample, from Modbus or MQTT, lands in this measurement.
MEASUREMENT_MACHINE = "machine_data"

#: Tags on every point of MEASUREMENT_MACHINE, in this order.
TAG_FACTORY = "factory"
TAG_LINE = "line"
TAG_MACHINE = "machine"
MACHINE_TAGS = (TAG_FACTORY, TAG_LINE, TAG_MACHINE)


class MachineState(StrEnum):
    """Canonical machine states, stored as the string field ``state``."""

    RUNNING = "running"
    IDLE = "idle"
    FAULT = "fault"
    SETUP = "setup"
    STOPPED = "stopped"
    PLANNED_STOP = "planned_stop"
    #: the source sent a code the configuration does not map
    UNKNOWN = "unknown"
    #: the source declared itself disconnected (MQTT/Sparkplug death)
    OFFLINE = "offline"


CANONICAL_STATES: frozenset[str] = frozenset(s.value for s in MachineState)


class FieldType(StrEnum):
    INTEGER = "integer"
    FLOAT = "float"
    STRING = "string"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Role:
    name: str
    field_type: FieldType
    meaning: str


#: Signal roles: a source value with a role is stored under the role's name,
#: so the assessor finds it whatever the PLC calls it. One role per machine.
ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("state", FieldType.STRING, "canonical machine state (MachineState)"),
        Role("state_code", FieldType.INTEGER, "raw state code as the machine reports it"),
        Role("count_total", FieldType.INTEGER, "cumulative produced units (may wrap or reset)"),
        Role("count_good", FieldType.INTEGER, "cumulative good units (may wrap or reset)"),
        Role("count_reject", FieldType.INTEGER, "cumulative rejected units (may wrap or reset)"),
        Role("energy_kwh", FieldType.FLOAT, "cumulative energy meter reading, kWh"),
        Role("power_kw", FieldType.FLOAT, "instantaneous power, kW"),
        Role("cycle_time_s", FieldType.FLOAT, "last measured cycle time, seconds"),
        Role("downtime_reason", FieldType.STRING, "reason of the current stop, free text or code"),
        Role("alarm_code", FieldType.INTEGER, "active alarm code, 0 when none"),
        Role("order_id", FieldType.STRING, "production order being worked"),
        Role("lot_id", FieldType.STRING, "lot being produced"),
    )
}

#: Roles whose values are cumulative counters (the assessor sums positive deltas).
COUNTER_ROLES = frozenset({"count_total", "count_good", "count_reject", "energy_kwh"})

#: Field names with this prefix are setpoints; the assessor treats a change as a
#: recorded setpoint change (level evidence).
SETPOINT_PREFIX = "sp_"
