"""Role product end to end: a program number register on a real pymodbus server -> collector
-> real influxd, named through the register's ``products:`` map and stored on change."""

from __future__ import annotations

import asyncio

from collector.config import parse_config
from collector.runtime import Collector
from tests.support.collector_config import collector_yaml, device_yaml
from tests.support.modbus_server import RecordingModbusServer

#: one holding block, so one request per poll: the program number beside a counter that is
#: stored at every poll (proof of how many polls there were)
REGISTERS = """\
        - {name: total, address: 0, type: uint16, role: count_total}
        - {name: program, address: 2, type: uint16, role: product, products: {1: A-100, 2: B-200}}
"""


async def test_program_number_stores_the_product_only_when_it_changes(
    modbus_server, influxd, influx_db, tmp_path
):
    plc: RecordingModbusServer = await modbus_server(holding={0: 0, 2: 1})
    text = collector_yaml(
        influxd.url, influx_db, tmp_path / "spool", [device_yaml("cnc-01", plc.port, REGISTERS)]
    )
    collector = Collector(parse_config(text, env={}))
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        await plc.wait_for_requests(4)
        plc.set_holding(2, 2)  # the changeover to the next product
        await plc.wait_for_requests(len(plc.requests) + 4)
        plc.set_holding(2, 7)  # a program the map does not know
        await plc.wait_for_requests(len(plc.requests) + 4)
    finally:
        stop.set()
        await task

    rows = influxd.points("machine_data", influx_db, "machine = 'cnc-01'")
    products = [(r["time"], r["product"]) for r in rows if r.get("product") is not None]
    polls = [r["time"] for r in rows if r.get("count_total") is not None]
    assert [p for _, p in products] == ["A-100", "B-200", "7"], products
    assert len(polls) >= 12  # many polls, three stored products
    # each product is stored with the poll that first saw it
    assert {t for t, _ in products} <= set(polls)
    assert influxd.field_types("machine_data", influx_db)["product"] == "string"
