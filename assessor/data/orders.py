"""Production orders from the raw data: the machines' ``order_id`` samples and their
units per minute, for manufacturing lead time (assessor/domain/lead_time.py).

Units are read as the highest ``count_total`` of each minute, not sample by sample: a
month of a counter polled every second is millions of points, and lead time in hours
needs no finer grain than the minute. A unit counted in a minute is dated at that
minute's end, and belongs to the order in force then.
"""

from __future__ import annotations

from collections import defaultdict

from assessor.data.influx_client import InfluxClient
from assessor.data.influxql import ident, tag_equals, time_range
from assessor.domain.lead_time import OrderSpan, finished_in, machine_spans, merge_spans, unit_events
from assessor.domain.models import Factory
from datacontract import MEASUREMENT_MACHINE, TAG_FACTORY, TAG_LINE, TAG_MACHINE

#: how far before a window an order's first unit is looked for: an order finished in the
#: window that started longer ago than this is timed from this point
ORDER_LOOKBACK_S = 14 * 86400.0
_MINUTE = 60.0


async def finished_orders(
    client: InfluxClient, factory: Factory, start: float, end: float
) -> list[OrderSpan]:
    """The orders whose last unit falls in [start, end), each with its first unit (up to
    ``ORDER_LOOKBACK_S`` before the window) over all the factory's machines."""
    m = ident(MEASUREMENT_MACHINE)
    where = tag_equals(TAG_FACTORY, factory.id)
    group = f"{ident(TAG_LINE)}, {ident(TAG_MACHINE)}"
    # the units of an order finished near the window's end may run a little past it
    span = time_range(start - ORDER_LOOKBACK_S, end + 86400.0)
    answer = await client.query(
        f"SELECT {ident('order_id')} FROM {m} WHERE {where} AND {span} GROUP BY {group}; "
        f"SELECT MAX({ident('count_total')}) FROM {m} WHERE {where} AND {span} "
        f"GROUP BY time(1m), {group} fill(none)"
    )
    answer += [[]] * (2 - len(answer))
    orders: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for s in answer[0]:
        key = (s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))
        for t, order in s.values:
            if order is not None:
                orders[key].append((t / 1000.0, str(order)))
    per_machine = []
    for s in answer[1]:
        key = (s.tags.get(TAG_LINE, ""), s.tags.get(TAG_MACHINE, ""))
        if key not in orders:
            continue
        readings = [(t / 1000.0 + _MINUTE, float(v)) for t, v in s.values if v is not None]
        per_machine.append(machine_spans(sorted(orders[key]), unit_events(readings)))
    return finished_in(merge_spans(per_machine), start, end)
