"""Measurements, tags, machine states, roles and liveness records: what the collector
writes and the assessor reads (``docs/data-model.md``; change both together)."""

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
        Role("product", FieldType.STRING, "product or part being made (its id in the registry)"),
    )
}

#: Roles whose values are cumulative counters (the assessor sums positive deltas).
COUNTER_ROLES = frozenset({"count_total", "count_good", "count_reject", "energy_kwh"})

#: Field names with this prefix are setpoints; the assessor treats a change as a
#: recorded setpoint change (level evidence).
SETPOINT_PREFIX = "sp_"

#: Roles whose values change slowly (a state, a code, a name): a source may store them only
#: when they change, because liveness (below) says how long the last value held.
SLOWLY_CHANGING_ROLES = frozenset(
    {"state", "state_code", "downtime_reason", "alarm_code", "order_id", "lot_id", "product"}
)

# -- Liveness of each machine's data path (docs/data-model.md, "Liveness") ----------------

#: One series per machine (tags as MACHINE_TAGS). Two kinds of points:
#: an *alive record* (field FIELD_ALIVE_S) and a *down mark* (field FIELD_DOWN_REASON).
MEASUREMENT_LIVENESS = "machine_liveness"
#: float seconds: the data path to the machine was alive over [time, time + alive_s].
#: The collector rewrites the same point (same time stamp) with a growing value while the
#: path stays alive; it may rewrite it shorter when it learns the path died earlier.
FIELD_ALIVE_S = "alive_s"
#: string: the path was found dead at this time, and why (DownReason)
FIELD_DOWN_REASON = "down_reason"
#: an alive record never spans more than this; the collector starts a new record at
#: time + LIVENESS_MAX_RECORD_S, so a reader finds every record that overlaps a window
#: by looking back this far before it
LIVENESS_MAX_RECORD_S = 3600.0


class DownReason(StrEnum):
    #: a Modbus device stopped answering (connection lost, timeout, no response)
    NO_ANSWER = "no_answer"
    #: the source declared itself dead: Sparkplug NDEATH/DDEATH, a last will, a status topic
    DEATH = "death"
    #: an MQTT source sent nothing for longer than its subscription's max_silence
    SILENT = "silent"
    #: the collector stopped cleanly (a crash leaves no mark: the records just end)
    COLLECTOR_STOPPED = "collector_stopped"
    #: the broker lost the collector's session: what happened meanwhile was not kept
    SESSION_LOST = "session_lost"
