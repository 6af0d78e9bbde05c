"""The data contract between the collector and the assessor.

This module is the code form of ``docs/data-model.md``; change both together.
Nothing else is shared between the two packages.
"""

from __future__ import annotations

from datacontract.contract import (
    CANONICAL_STATES,
    COUNTER_ROLES,
    FIELD_ALIVE_S,
    FIELD_DOWN_REASON,
    LIVENESS_MAX_RECORD_S,
    MACHINE_TAGS,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    ROLES,
    SETPOINT_PREFIX,
    SLOWLY_CHANGING_ROLES,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
    DownReason,
    FieldType,
    MachineState,
    Role,
)

# -- Names (docs/data-model.md, "Names") ----------------------------------------------------
from datacontract.names import (
    MAX_NAME_CHARS,
    RESERVED_FIELD_NAMES,
    BadName,
    factory_id_problem,
    field_key_problem,
    measurement_problem,
    name_problem,
    plain_field_problem,
    tag_key_problem,
    tag_value_problem,
)

__all__ = [
    "CANONICAL_STATES",
    "COUNTER_ROLES",
    "FIELD_ALIVE_S",
    "FIELD_DOWN_REASON",
    "LIVENESS_MAX_RECORD_S",
    "MACHINE_TAGS",
    "MAX_NAME_CHARS",
    "MEASUREMENT_LIVENESS",
    "MEASUREMENT_MACHINE",
    "RESERVED_FIELD_NAMES",
    "ROLES",
    "SETPOINT_PREFIX",
    "SLOWLY_CHANGING_ROLES",
    "TAG_FACTORY",
    "TAG_LINE",
    "TAG_MACHINE",
    "BadName",
    "DownReason",
    "FieldType",
    "MachineState",
    "Role",
    "factory_id_problem",
    "field_key_problem",
    "measurement_problem",
    "name_problem",
    "plain_field_problem",
    "tag_key_problem",
    "tag_value_problem",
]
