"""KPIs of a factory over a window, per machine, line, factory or product.

All reads of measured data go through ``day_totals``: complete local days come from the
materialised ``kpi_daily`` rows (computed and stored on first use), partial and recent
days are computed live from the raw signals.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo

from assessor.data.daily_rows import DayKey, DaySpan, day_start, materialise_days, raw_point_counts, read_days
from assessor.data.late_data import stale_days, stored_counts
from assessor.data.signals import ProductDays, measured_day_totals, measured_products
from assessor.data.timeline import state_timeline
from assessor.domain.downtime import Timeline
from assessor.domain.kpi.calendar import local_days, planned_intervals, total
from assessor.domain.kpi.formulas import kpis, rollup
from assessor.domain.kpi.losses import six_big_losses
from assessor.domain.kpi.model import KpiPolicy, Totals
from assessor.domain.models import Factory
from assessor.domain.operator_input import LineCounts, corrected_totals, line_counts
from assessor.registry.operator_store import OperatorStore
from assessor.services.core import ServiceCore

ONE_DAY = dt.timedelta(days=1)
Group = Literal["machine", "line", "factory"]
ProductGroup = Literal["product", "machine,product"]
#: longest window of per-product KPIs: they are computed from the raw data on every
#: request (docs/assessor.md), which costs about what materialising those days does
MAX_PRODUCT_WINDOW_DAYS = 31
Granularity = Literal["total", "day"]
#: how far back the refresher looks for days whose raw data changed after they were
#: materialised: a spool holds up to its size cap, typically days, rarely weeks
LATE_DATA_DAYS = 14

log = logging.getLogger(__name__)


class KpiQueries(ServiceCore):
    async def day_totals(self, factory: Factory, start: float, end: float) -> dict[DayKey, Totals]:
        """(line, machine, local day) -> Totals over [start, end)."""
        await self._ensure_rp()
        tz = factory.calendar.timezone
        segments = local_days(tz, start, end)
        settled_before = self.clock() - self.cfg.kpi.materialize_after_s
        whole = [
            s
            for s in segments
            if s[1] == day_start(factory, s[0])
            and s[2] == day_start(factory, s[0] + dt.timedelta(days=1))
            and s[2] <= settled_before
        ]
        whole_days = {s[0] for s in whole}
        out: dict[DayKey, Totals] = {}
        if whole:
            stored = await read_days(self.influx, factory, whole[0][1], whole[-1][2], self._rp)
            wanted = {(m.line_id, m.id) for m in factory.machines}
            missing = sorted(d for d in whole_days if any((ln, mc, d) not in stored for ln, mc in wanted))
            if missing:
                stored.update(await self._materialise(factory, [s for s in whole if s[0] in set(missing)]))
            out.update({k: v for k, v in stored.items() if k[2] in whole_days})
        for seg in segments:
            if seg[0] not in whole_days:
                out.update(
                    await measured_day_totals(
                        self.raw(factory),
                        factory,
                        seg[1],
                        seg[2],
                        self.cfg.kpi.hold_s,
                        small_stop_s=self.cfg.kpi.small_stop_for(factory),
                    )
                )
        return self._with_line_entries(factory, out, start, end)

    def line_counts(self, factory: Factory, start: float, end: float) -> dict[DayKey, LineCounts]:
        """Scrap and count corrections entered at the line for the days of ``[start, end)``.
        They are applied when totals are read, never stored with the materialised days, so
        an entry counts at once and a late edit needs no day computed again."""
        tz = ZoneInfo(factory.calendar.timezone)
        days = [d for d, _, _ in local_days(factory.calendar.timezone, start, end)]
        if not days:
            return {}
        store = OperatorStore(self.store)
        first, last = days[0], days[-1]
        scrap = [
            ((e.line, e.machine, dt.datetime.fromtimestamp(e.at, tz).date()), e.quantity)
            for e in store.scrap(factory.id, day_start(factory, first), day_start(factory, last + ONE_DAY))
        ]
        corrections = [
            ((c.line, c.machine, dt.date.fromisoformat(c.day)), c.shift, c.old_count, c.new_count)
            for c in store.count_corrections(factory.id, first.isoformat(), last.isoformat())
        ]
        return line_counts(scrap, corrections)

    def _with_line_entries(
        self, factory: Factory, totals: dict[DayKey, Totals], start: float, end: float
    ) -> dict[DayKey, Totals]:
        entered = self.line_counts(factory, start, end)
        if not entered:
            return totals
        cycle = {(m.line_id, m.id): m.ideal_cycle_time_s for m in factory.machines}
        out = dict(totals)
        for key, counts in entered.items():
            if key in out:
                out[key] = corrected_totals(out[key], counts, cycle.get(key[:2], 0.0))
        return out

    async def _materialise(self, factory: Factory, days: Sequence[DaySpan]) -> dict[DayKey, Totals]:
        return await materialise_days(
            self.influx,
            self.raw(factory),
            factory,
            days,
            self.cfg.kpi.hold_s,
            self._rp,
            small_stop_s=self.cfg.kpi.small_stop_for(factory),
        )

    async def refresh_late_days(
        self, factory: Factory, *, recent_days: int = LATE_DATA_DAYS
    ) -> list[dt.date]:
        """Compute again the recent materialised days whose raw data changed since (samples
        a spool delivered late); returns those days."""
        await self._ensure_rp()
        now = self.clock()
        settled_before = now - self.cfg.kpi.materialize_after_s
        whole = [
            s
            for s in local_days(factory.calendar.timezone, now - recent_days * 86400.0, settled_before)
            if s[1] == day_start(factory, s[0]) and s[2] == day_start(factory, s[0] + dt.timedelta(days=1))
        ]
        if not whole:
            return []
        counts = await raw_point_counts(self.raw(factory), factory, whole)
        tz = ZoneInfo(factory.calendar.timezone)
        stored = await stored_counts(self.influx, factory, whole[0][1], whole[-1][2], tz, self._rp)
        machines = {(m.line_id, m.id) for m in factory.machines}
        stale = stale_days(counts, stored, machines, [d for d, _, _ in whole])
        if stale:
            log.info("late data: computing %s again for %s", ", ".join(map(str, stale)), factory.id)
            await self._materialise(factory, [s for s in whole if s[0] in set(stale)])
        return stale

    def _calendar_seconds_by_day(self, factory: Factory, start: float, end: float) -> dict[dt.date, float]:
        return {
            day: total(planned_intervals(factory.calendar, s, e))
            for day, s, e in local_days(factory.calendar.timezone, start, end)
        }

    async def kpi_rows(
        self,
        factory: Factory,
        start: float,
        end: float,
        group: Group,
        granularity: Granularity,
        *,
        sources: bool = False,
    ) -> list[dict[str, Any]]:
        """``sources``: each row also says what of its counts the line entered
        (``line_scrap``: rejects from scrap entries; ``count_source``: ``measured``,
        ``line`` (every machine-day's count corrected) or ``measured+line``)."""
        totals = await self.day_totals(factory, start, end)
        rows = self._rows(factory, totals, start, end, group, granularity)
        if sources:
            entered = self.line_counts(factory, start, end)
            for row in rows:
                keys = [k for k in totals if _in_row(row, k)]
                mine = [entered[k] for k in keys if k in entered]
                corrected = sum(1 for e in mine if e.count is not None or e.shift_delta)
                row["line_scrap"] = sum(e.scrap for e in mine)
                row["count_source"] = (
                    "measured" if not corrected else "line" if corrected == len(keys) else "measured+line"
                )
        return rows

    def _rows(
        self,
        factory: Factory,
        totals: dict[DayKey, Totals],
        start: float,
        end: float,
        group: Group,
        granularity: Granularity,
    ) -> list[dict[str, Any]]:
        buckets: dict[tuple[tuple[str, ...], dt.date | None], list[Totals]] = defaultdict(list)
        for (line, machine, day), t in totals.items():
            key: tuple[str, ...] = {"machine": (line, machine), "line": (line,), "factory": ()}[group]
            buckets[(key, day if granularity == "day" else None)].append(t)
        calendar_s = self._calendar_seconds_by_day(factory, start, end) if group == "factory" else {}
        rows = []
        for (key, day), parts in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1] or dt.date.min)):
            t = rollup(parts)
            if group == "factory" and factory.employees:
                # labour: the whole headcount over the factory's planned time, counted once
                cal = calendar_s.get(day, 0.0) if day else sum(calendar_s.values())
                t = dataclasses.replace(t, labour_s=factory.employees * cal, staffed_count=t.total_count)
            row: dict[str, Any] = {"factory": factory.id}
            if group in ("machine", "line"):
                row["line"] = key[0]
            if group == "machine":
                row["machine"] = key[1]
            if day is not None:
                row["day"] = day.isoformat()
            row.update(kpi_row(t, self.kpi_policy))
            rows.append(row)
        return rows

    async def state_timeline(self, factory: Factory, start: float, end: float) -> Timeline:
        """Every machine's state episodes over ``[start, end)`` with the downtime reasons."""
        return await state_timeline(self.raw(factory), factory, start, end, self.cfg.kpi.hold_s)

    async def product_kpis(
        self, factory: Factory, start: float, end: float, group: ProductGroup, granularity: Granularity
    ) -> dict[str, Any]:
        """Rows per product (or machine and product), the product codes the registry does
        not know, and the changeovers; from the raw data of the window."""
        found = await measured_products(
            self.raw(factory),
            factory,
            start,
            end,
            self.cfg.kpi.hold_s,
            small_stop_s=self.cfg.kpi.small_stop_for(factory),
        )
        return product_report(factory, found, group, granularity, self.kpi_policy)

    async def factory_kpis(self, factory: Factory, start: float, end: float) -> dict[str, Any]:
        rows = await self.kpi_rows(factory, start, end, "factory", "total")
        return rows[0] if rows else {}

    async def factory_kpis_by_day(
        self, factory: Factory, start: float, end: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(a row per day, the whole window) from one read of the day totals."""
        totals = await self.day_totals(factory, start, end)
        whole = self._rows(factory, totals, start, end, "factory", "total")
        return self._rows(factory, totals, start, end, "factory", "day"), whole[0] if whole else {}


def product_report(
    factory: Factory, found: ProductDays, group: ProductGroup, granularity: Granularity, policy: KpiPolicy
) -> dict[str, Any]:
    """``rows``: KPIs per product (per machine and product with ``group="machine,product"``);
    ``product`` is null for units made before any product was seen, ``product_known``
    false for those and for codes the registry does not know (timed by the machine's ideal
    cycle time); ``ideal_time_s`` is the sum of ideal cycle time x units. ``unknown_products``
    lists those codes per machine with their units, so the registry can be fixed;
    ``changeovers`` counts the product changes and their setup time per machine and
    (from, to) pair."""
    known = {p.id for p in factory.products}
    buckets: dict[tuple[tuple[str, ...], dt.date | None], list[Totals]] = defaultdict(list)
    unknown: dict[tuple[str, str, str], int] = defaultdict(int)
    for (line, machine, day, product), t in found.totals.items():
        key = (line, machine, product) if group == "machine,product" else (product,)
        buckets[(key, day if granularity == "day" else None)].append(t)
        if product not in known and (t.total_count or t.run_s):
            unknown[(line, machine, product)] += t.total_count
    rows = []
    for (key, day), parts in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1] or dt.date.min)):
        t = rollup(parts)
        product = key[-1]
        row: dict[str, Any] = {"factory": factory.id}
        if group == "machine,product":
            row["line"], row["machine"] = key[0], key[1]
        row["product"] = product or None
        row["product_known"] = product in known
        if day is not None:
            row["day"] = day.isoformat()
        row["ideal_time_s"] = t.ideal_run_s
        row["standard_time_s"] = t.standard_s
        row.update(kpi_row(t, policy))
        rows.append(row)
    pairs: dict[tuple[str, str, str, str], list[float]] = {}
    for line, machine, c in found.changeovers:
        acc = pairs.setdefault((line, machine, c.from_product, c.to_product), [0, 0.0])
        acc[0] += 1
        acc[1] += c.setup_s
    return {
        "rows": rows,
        "unknown_products": [
            {"line": line, "machine": machine, "product": product or None, "units": units}
            for (line, machine, product), units in sorted(unknown.items())
        ],
        "changeovers": [
            {
                "line": line,
                "machine": machine,
                "from_product": a,
                "to_product": b,
                "count": int(n),
                "setup_s": setup_s,
            }
            for (line, machine, a, b), (n, setup_s) in sorted(pairs.items())
        ],
    }


def _in_row(row: dict[str, Any], key: DayKey) -> bool:
    """Whether a machine-day is one of those a KPI row sums."""
    line, machine, day = key
    return (
        row.get("line", line) == line
        and row.get("machine", machine) == machine
        and row.get("day", day.isoformat()) == day.isoformat()
    )


def kpi_row(t: Totals, policy: KpiPolicy) -> dict[str, Any]:
    """The KPI fields of an API row: the Kpis of ``t`` (flags as a list of
    {"kpi", "reason", "value"}) and its six big losses under ``losses``."""
    row = dataclasses.asdict(kpis(t, policy))
    row["flags"] = list(row["flags"])
    row["losses"] = dataclasses.asdict(six_big_losses(t))
    return row
