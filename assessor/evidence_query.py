"""What a factory's data shows about its digitalisation: the measured evidence behind
its level, read from InfluxDB with a few aggregate queries (no raw points)."""

from __future__ import annotations

import logging
import statistics
import time

from assessor.domain import Factory
from assessor.influx_client import InfluxClient
from assessor.influxql import UnsafeIdentifier, check_id, ident, tag_equals, time_range
from assessor.level import Evidence, MachineEvidence
from datacontract import MEASUREMENT_MACHINE, ROLES, SETPOINT_PREFIX, TAG_FACTORY, TAG_LINE, TAG_MACHINE

log = logging.getLogger(__name__)

ROLE_FIELDS = (
    "state",
    "count_total",
    "count_good",
    "count_reject",
    "downtime_reason",
    "order_id",
    "lot_id",
    "energy_kwh",
)


async def field_keys(client: InfluxClient) -> list[str]:
    """Field keys of the machine measurement that a query can name. The list spans every
    factory, so one edge box's odd field name (a backslash, a control character) must not
    break another factory's assessment: such keys are left out and logged."""
    result = await client.query(f"SHOW FIELD KEYS FROM {ident(MEASUREMENT_MACHINE)}")
    keys = [row["fieldKey"] for s in (result[0] if result else []) for row in s.rows()]
    usable = []
    for k in keys:
        try:
            usable.append(check_id(k, "field key"))
        except UnsafeIdentifier:
            log.warning("evidence: field key %r cannot be named in InfluxQL; left out", k)
    return usable


async def machine_evidence(
    client: InfluxClient,
    factory: Factory,
    window_days: int,
    *,
    now: float | None = None,
    keys: list[str] | None = None,
) -> tuple[list[MachineEvidence], int]:
    """Per registered machine what its data shows over the window, and the number of
    days with any data. ``keys``: field_keys() already read for this pass over several
    factories (the list spans the whole database)."""
    now = time.time() if now is None else now
    start = now - window_days * 86400.0
    if keys is None:
        keys = await field_keys(client)
    present = [f for f in ROLE_FIELDS if f in keys]
    process = [k for k in keys if k not in ROLES and not k.startswith(SETPOINT_PREFIX)]
    setpoints = [k for k in keys if k.startswith(SETPOINT_PREFIX)]
    m = ident(MEASUREMENT_MACHINE)
    where = f"{tag_equals(TAG_FACTORY, factory.id)} AND {time_range(start, now)}"
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    counted = present + process
    counts_select = ", ".join(f"COUNT({ident(f)}) AS {ident(f)}" for f in counted)
    statements = [
        # sampling interval of the state signal over its most recent samples
        f"SELECT ELAPSED({ident('state')}, 1ms) FROM {m} WHERE {tag_equals(TAG_FACTORY, factory.id)} "
        f"AND {time_range(max(start, now - 86400.0), now)} {group} LIMIT 500",
        f"SELECT COUNT(*) FROM {m} WHERE {where} GROUP BY time(1d)",
    ]
    if counted:
        statements.append(f"SELECT {counts_select} FROM {m} WHERE {where} {group}")
    statements += [
        f"SELECT COUNT(DISTINCT({ident(sp)})) AS n FROM {m} WHERE {where} {group}" for sp in setpoints
    ]
    results = await client.query("; ".join(statements)) if keys else []
    results += [[]] * (len(statements) - len(results))
    elapsed, per_day = results[0], results[1]
    count_series = results[2] if counted else []
    setpoint_results = results[3:] if counted else results[2:]
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for s in count_series:
        row = next(s.rows(), {})
        counts[(s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))] = {
            k: int(v or 0) for k, v in row.items() if k != "time"
        }
    intervals: dict[tuple[str, str], float] = {}
    for s in elapsed:
        gaps = [row[1] / 1000.0 for row in s.values if row[1]]
        if gaps:
            intervals[(s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))] = statistics.median(gaps)
    data_days = sum(1 for s in per_day for row in s.values if any(v for v in row[1:] if v))
    sp_changes: dict[tuple[str, str], int] = {}
    for stmt in setpoint_results:
        for s in stmt:
            key = (s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))
            distinct = int(next(s.rows(), {}).get("n") or 0)
            sp_changes[key] = sp_changes.get(key, 0) + max(0, distinct - 1)
    out = []
    for machine in factory.machines:
        key = (machine.line_id, machine.id)
        c = counts.get(key, {})
        out.append(
            MachineEvidence(
                machine_id=machine.id,
                has_data=any(c.values()),
                has_state_signal=c.get("state", 0) > 0,
                state_interval_s=intervals.get(key),
                has_counters=c.get("count_total", 0) > 0 or c.get("count_good", 0) > 0,
                has_reject_counts=c.get("count_reject", 0) > 0,
                has_downtime_reasons=c.get("downtime_reason", 0) > 0,
                has_order_or_lot=c.get("order_id", 0) > 0 or c.get("lot_id", 0) > 0,
                has_energy=c.get("energy_kwh", 0) > 0,
                has_process_values=any(c.get(p, 0) > 0 for p in process),
                setpoint_changes=sp_changes.get(key, 0),
            )
        )
    return out, data_days


async def factory_evidence(
    client: InfluxClient,
    factory: Factory,
    window_days: int,
    kpis_computable: bool,
    *,
    now: float | None = None,
    keys: list[str] | None = None,
) -> Evidence:
    machines, days = await machine_evidence(client, factory, window_days, now=now, keys=keys)
    return Evidence.from_machines(
        machines, kpis_computable=kpis_computable, data_days=days, window_days=window_days
    )
