"""What a factory's data shows about its digitalisation: the measured evidence behind
its level, read from InfluxDB with a few aggregate queries (no raw points)."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterable, Mapping
from typing import Any

from assessor.data.influx_client import InfluxClient, Series
from assessor.data.influxql import UnsafeIdentifier, check_id, ident, tag_equals, time_range
from assessor.domain.level import Evidence, MachineEvidence
from assessor.domain.models import Factory
from assessor.domain.operator_input import with_operator_reasons
from datacontract import (
    FIELD_ALIVE_S,
    MEASUREMENT_LIVENESS,
    MEASUREMENT_MACHINE,
    ROLES,
    SETPOINT_PREFIX,
    TAG_FACTORY,
    TAG_LINE,
    TAG_MACHINE,
)

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
#: fields stored at every poll, also where slowly changing ones are stored on change
POLLED_FIELDS = ("count_total", "count_good")


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


def _median_gaps(series: list[Series]) -> dict[tuple[str, str], float]:
    """(line, machine) -> median interval (s) of an ELAPSED(..., 1ms) result."""
    out: dict[tuple[str, str], float] = {}
    for s in series:
        gaps = [row[1] / 1000.0 for row in s.values if row[1]]
        if gaps:
            out[(s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))] = statistics.median(gaps)
    return out


def state_interval(
    state_s: float | None, polled_s: float | None, alive: bool, has_state: bool
) -> float | None:
    """Sampling interval of a machine's state, seconds.

    Without liveness, the median interval of its state samples. With liveness, a state
    stored only on change is still known at every poll, so the interval of the values
    stored at every poll (the counters) counts too; with neither interval (no counters,
    no change in the last day) there is none."""
    if not alive or not has_state:
        return state_s
    known = [v for v in (state_s, polled_s) if v is not None]
    return min(known) if known else None


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
    factories (the list spans the whole database).

    Alive records (``machine_liveness``) count as data: a machine whose values are stored
    only on change sends nothing while nothing changes, yet the collector vouches that
    it was reached."""
    now = time.time() if now is None else now
    start = now - window_days * 86400.0
    if keys is None:
        keys = await field_keys(client)
    present = [f for f in ROLE_FIELDS if f in keys]
    process = [k for k in keys if k not in ROLES and not k.startswith(SETPOINT_PREFIX)]
    setpoints = [k for k in keys if k.startswith(SETPOINT_PREFIX)]
    polled = next((c for c in POLLED_FIELDS if c in keys), None)
    m = ident(MEASUREMENT_MACHINE)
    live = ident(MEASUREMENT_LIVENESS)
    factory_is = tag_equals(TAG_FACTORY, factory.id)
    where = f"{factory_is} AND {time_range(start, now)}"
    recent = f"{factory_is} AND {time_range(max(start, now - 86400.0), now)}"
    group = f"GROUP BY {ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    counted = present + process
    counts_select = ", ".join(f"COUNT({ident(f)}) AS {ident(f)}" for f in counted)
    alive_s = ident(FIELD_ALIVE_S)
    named: dict[str, str] = {
        # sampling interval of the state signal over its most recent samples
        "elapsed": f"SELECT ELAPSED({ident('state')}, 1ms) FROM {m} WHERE {recent} {group} LIMIT 500",
        "per_day": f"SELECT COUNT(*) FROM {m} WHERE {where} GROUP BY time(1d)",
        "alive_per_day": f"SELECT COUNT({alive_s}) FROM {live} WHERE {where} GROUP BY time(1d)",
        "alive": f"SELECT COUNT({alive_s}) AS n FROM {live} WHERE {where} {group}",
    }
    if polled:
        named["polled"] = f"SELECT ELAPSED({ident(polled)}, 1ms) FROM {m} WHERE {recent} {group} LIMIT 500"
    if counted:
        named["counts"] = f"SELECT {counts_select} FROM {m} WHERE {where} {group}"
    statements = list(named.values()) + [
        f"SELECT COUNT(DISTINCT({ident(sp)})) AS n FROM {m} WHERE {where} {group}" for sp in setpoints
    ]
    results = await client.query("; ".join(statements))
    results += [[]] * (len(statements) - len(results))
    got = dict(zip(named, results, strict=False))
    setpoint_results = results[len(named) :]
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for s in got.get("counts", []):
        row = next(s.rows(), {})
        counts[(s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))] = {
            k: int(v or 0) for k, v in row.items() if k != "time"
        }
    alive = {
        (s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))
        for s in got["alive"]
        if int(next(s.rows(), {}).get("n") or 0) > 0
    }
    state_gaps, polled_gaps = _median_gaps(got["elapsed"]), _median_gaps(got.get("polled", []))
    data_days = len(_days_with_data(got["per_day"]) | _days_with_data(got["alive_per_day"]))
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
        has_state = c.get("state", 0) > 0
        out.append(
            MachineEvidence(
                machine_id=machine.id,
                has_data=any(c.values()) or key in alive,
                has_state_signal=has_state,
                state_interval_s=state_interval(
                    state_gaps.get(key), polled_gaps.get(key), key in alive, has_state
                ),
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


def _days_with_data(per_day: list[Series]) -> set[int]:
    """Start times of the GROUP BY time(1d) buckets with any count above 0."""
    return {row[0] for s in per_day for row in s.values if any(v for v in row[1:] if v)}


async def factory_evidence(
    client: InfluxClient,
    factory: Factory,
    window_days: int,
    kpis_computable: bool,
    *,
    now: float | None = None,
    keys: list[str] | None = None,
    kpis_row: Mapping[str, Any] | None = None,
    explained_machines: Iterable[str] = (),
) -> Evidence:
    """``kpis_row``: the factory KPI row behind ``kpis_computable`` (``flags``,
    ``coverage``); a flagged availability, performance or quality is left out, and the
    gate says why. ``explained_machines``: machines whose stops people at the line gave
    reasons for in the window; they record downtime reasons as a PLC that sends them."""
    machines, days = await machine_evidence(client, factory, window_days, now=now, keys=keys)
    machines = with_operator_reasons(machines, explained_machines)
    return Evidence.from_machines(
        machines,
        kpis_computable=kpis_computable,
        data_days=days,
        window_days=window_days,
        kpis_row=kpis_row,
    )
