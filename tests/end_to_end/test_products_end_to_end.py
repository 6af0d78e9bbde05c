"""Products end to end: a shift of two products with a changeover between them, through the
real collector (Modbus with a program-number register, polled in real time; Sparkplug B
with a string metric through the real broker), a real influxd and the assessor's API.

The history's KPIs are computed here by hand from the history itself: performance is
the sum over products of the product's ideal time x its units, over run time; with the
machine's own ideal time (no products) it would exceed 100 % and be flagged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assessor.registry.importer import parse_registry
from localservices.influxd import InfluxServer
from localservices.mosquitto import MosquittoServer
from simulator.sparkplug_node import OnChangeEdgeNode
from tests.end_to_end.test_sampling_invariance import KST, Assessor, covered, stored_points
from tests.support.modbus_server import RecordingModbusServer, encode_value, free_port
from tests.support.mqtt_publisher import CollectorThread, MqttPeer, mqtt_collector_yaml, wait_for

FACTORY = "pace-factory"
SLOT_S = 4
#: (state, product, seconds per unit while running): product A-100 for two slots, a
#: changeover (setup, B-200 already current) and B-200 for two slots, then a stop
SLOTS = (
    ("running", "A-100", 1),
    ("running", "A-100", 1),
    ("setup", "B-200", 0),
    ("running", "B-200", 2),
    ("running", "B-200", 2),
    ("idle", "B-200", 0),
)
IDEAL = {"A-100": 0.8, "B-200": 1.5}
MACHINE_IDEAL_S = 3.0  # the machine's own: would put performance at 150 %
REJECT_EVERY = 4
STATE_CODES = {"running": 1, "idle": 2, "fault": 3, "setup": 4, "stopped": 0}
PROGRAMS = {"A-100": 1, "B-200": 2}

REGISTRY = f"""\
factories:
  - id: {FACTORY}
    name: 품목공장
    timezone: Asia/Seoul
    small_stop: 1s
    products:
      - {{id: A-100, name: 브래킷, ideal_cycle_time: 800ms}}
      - {{id: B-200, name: 하우징, ideal_cycle_time: 1.5s}}
    lines:
      - id: line-1
        machines:
          - {{id: polled, ideal_cycle_time: {MACHINE_IDEAL_S}s}}
          - {{id: spb-m, ideal_cycle_time: {MACHINE_IDEAL_S}s}}
"""

SUBSCRIPTIONS = (
    "    - topic: spBv1.0/items/#\n"
    "      qos: 1\n"
    "      format: sparkplug_b\n"
    "      line: line-1\n"
    "      fields:\n"
    "        state: {path: state, role: state, type: string}\n"
    "        product: {path: product, role: product, type: string}\n"
    "        count_total: {path: count_total, role: count_total}\n"
    "        count_reject: {path: count_reject, role: count_reject}\n"
)


@dataclass(frozen=True)
class Shift:
    start: int

    @property
    def end(self) -> int:
        return self.start + SLOT_S * len(SLOTS)

    def slot(self, t: int) -> tuple[str, str, int]:
        return SLOTS[min(max(0, (t - self.start) // SLOT_S), len(SLOTS) - 1)]

    def units(self) -> list[tuple[int, str]]:
        """(completion time, product) of every unit, strictly inside its running slot."""
        out = []
        for i, (state, product, cycle) in enumerate(SLOTS):
            if state == "running":
                a = self.start + i * SLOT_S
                out += [(t, product) for t in range(a + cycle, a + SLOT_S, cycle)]
        return out

    def report(self, t: int) -> dict[str, Any]:
        done = [u for u in self.units() if u[0] <= t]
        state, product, _ = self.slot(t)
        return {
            "state": state,
            "product": product,
            "count_total": len(done),
            "count_reject": len(done) // REJECT_EVERY,
        }

    def truth(self) -> dict[str, Any]:
        units = self.units()
        rejects = {n * REJECT_EVERY for n in range(1, len(units) // REJECT_EVERY + 1)}
        per_product: dict[str, dict[str, int]] = {}
        for n, (_, product) in enumerate(units, start=1):
            acc = per_product.setdefault(product, {"total": 0, "reject": 0})
            acc["total"] += 1
            acc["reject"] += n in rejects
        run = sum(SLOT_S for state, _, _ in SLOTS if state == "running")
        planned = SLOT_S * len(SLOTS)
        ideal = sum(IDEAL[p] * c["total"] for p, c in per_product.items())
        good = len(units) - len(rejects)
        availability, performance, quality = run / planned, ideal / run, good / len(units)
        return {
            "run_time_s": run,
            "total_count": len(units),
            "reject_count": len(rejects),
            "availability": availability,
            "performance": performance,
            "quality": quality,
            "oee": availability * performance * quality,
            "products": per_product,
        }


def test_a_shift_of_two_products_with_a_changeover_gives_its_kpis_per_product(
    influxd: InfluxServer, influx_db: str, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    asyncio.run(_run(influxd, influx_db, mosquitto, tmp_path))


async def _run(influx: InfluxServer, db: str, broker: MosquittoServer, tmp: Path) -> None:
    port = free_port()
    server = RecordingModbusServer(port=port)
    await server.start()
    shift = Shift(int(time.time()) + 3)
    set_registers(server, shift.report(shift.start))
    # a generous timeout: the server shares this test's event loop, and on a loaded machine
    # an answer can take longer than a real PLC's; a poll that times out makes its time
    # unknown (rightly), which is not what this test is about
    modbus = (
        "modbus:\n"
        "  devices:\n"
        "    - machine: polled\n"
        f"      host: 127.0.0.1\n      port: {port}\n      interval: 250ms\n      timeout: 3s\n"
        "      registers:\n"
        "        - {name: state, address: 0, type: uint16, role: state,"
        " states: {0: stopped, 1: running, 2: idle, 3: fault, 4: setup}}\n"
        "        - {name: program, address: 2, type: uint16, role: product, products: {1: A-100, 2: B-200}}\n"
        "        - {name: total, address: 10, type: uint32, role: count_total}\n"
        "        - {name: reject, address: 12, type: uint32, role: count_reject}\n"
    )
    yaml = (
        mqtt_collector_yaml(influx.url, db, tmp / "spool", broker.port, SUBSCRIPTIONS, factory=FACTORY)
        + modbus
    )
    assessor = None
    collector = CollectorThread.from_yaml(yaml).start()
    try:
        set_at = await play(server, shift)
        await asyncio.sleep(1.0)  # the last polls after the end
        send_sparkplug(broker.port, shift)
        wait_for(lambda: stored_points(influx, db, "spb-m") >= 4, 60, "the Sparkplug states", step=0.2)
        wait_for(
            lambda: all(covered(influx, db, m, shift.start, shift.end) for m in ("polled", "spb-m")),
            60,
            "alive records over the shift",
            step=0.5,
        )
        assessor = await asyncio.to_thread(Assessor, influx, db, tmp)
        assessor.store.upsert_factories(parse_registry(REGISTRY))
        machines = await asyncio.to_thread(rows, assessor, shift, "machine")
        by_product = await asyncio.to_thread(rows, assessor, shift, "machine,product")
    finally:
        collector.stop()
        await server.stop()
        if assessor is not None:
            await asyncio.to_thread(assessor.close)
    truth = shift.truth()
    # the Sparkplug node stamps every change exactly: the KPIs are the hand-computed ones
    check(machines["rows"], "spb-m", truth, seconds=1e-3)
    # polled every 250 ms: each state change is seen at the first poll after it, as late as
    # the server saw those polls come (plus one poll to spare), not a fixed guess
    changes = sum(1 for a, b in itertools.pairwise(SLOTS) if a[0] != b[0])
    check(machines["rows"], "polled", truth, seconds=poll_lateness(server, set_at) + 0.25 + 0.05 * changes)
    for machine in ("spb-m", "polled"):
        got = {
            r["product"]: r
            for r in by_product["rows"]
            if r["machine"] == machine and (r["total_count"] or r["run_time_s"])
        }
        assert set(got) == set(truth["products"]), (machine, got)
        for product, counts in truth["products"].items():
            assert got[product]["product_known"] is True
            assert got[product]["total_count"] == counts["total"], (machine, product)
            assert got[product]["reject_count"] == counts["reject"], (machine, product)
            assert got[product]["ideal_time_s"] == pytest.approx(IDEAL[product] * counts["total"])
        (change,) = [c for c in by_product["changeovers"] if c["machine"] == machine]
        assert (change["from_product"], change["to_product"], change["count"]) == ("A-100", "B-200", 1)
        assert change["setup_s"] == pytest.approx(SLOT_S, abs=0.6)
    assert by_product["unknown_products"] == []


def check(rows_: list[dict[str, Any]], machine: str, truth: dict[str, Any], *, seconds: float) -> None:
    (row,) = [r for r in rows_ if r["machine"] == machine]
    assert row["flags"] == [], row["flags"]
    assert row["total_count"] == truth["total_count"]
    assert row["reject_count"] == truth["reject_count"]
    assert row["run_time_s"] == pytest.approx(truth["run_time_s"], abs=seconds + 1e-6)
    rel = seconds / truth["run_time_s"]
    for k in ("availability", "performance", "quality", "oee"):
        assert row[k] == pytest.approx(truth[k], rel=2 * rel + 1e-9), (machine, k)


def rows(assessor: Assessor, shift: Shift, group: str) -> dict[str, Any]:
    async def get() -> Any:
        return await assessor.client.get(
            f"/api/v1/factories/{FACTORY}/kpis",
            params={
                "start": dt.datetime.fromtimestamp(shift.start, KST).isoformat(),
                "end": dt.datetime.fromtimestamp(shift.end, KST).isoformat(),
                "group": group,
            },
            headers={"Authorization": f"Bearer {assessor.token}"},
        )

    r = assessor.loop.run_until_complete(get())
    assert r.status_code == 200, r.text
    return r.json()


def set_registers(server: RecordingModbusServer, r: dict[str, Any]) -> None:
    server.set_holding(0, STATE_CODES[r["state"]])
    server.set_holding(2, PROGRAMS[r["product"]])
    server.set_holding(10, encode_value(r["count_total"], "uint32"))
    server.set_holding(12, encode_value(r["count_reject"], "uint32"))


async def play(server: RecordingModbusServer, shift: Shift) -> dict[int, tuple[float, float]]:
    """Set the registers as the shift unfolds, in real time. Returns, for each slot start,
    when it was due and when the registers really took its values, both on the server's
    clock (time.monotonic())."""
    slot_starts = {shift.start + i * SLOT_S for i in range(len(SLOTS))}
    events = sorted(slot_starts | {t for t, _ in shift.units()})
    set_at: dict[int, tuple[float, float]] = {}
    for t in events:
        await asyncio.sleep(max(0.0, t - time.time()))
        set_registers(server, shift.report(t))
        if t in slot_starts:
            now, lateness = time.monotonic(), time.time() - t
            set_at[t] = (now - lateness, now)
    await asyncio.sleep(max(0.0, shift.end - time.time()))
    return set_at


def poll_lateness(server: RecordingModbusServer, set_at: dict[int, tuple[float, float]]) -> float:
    """How late, in all, the polls that saw each state change came after it was due (the
    server recorded when every read arrived): the most the polled machine's run time can
    honestly be off, whatever the machine's load."""
    reads = sorted(r.at for r in server.requests if r.function_code == 3 and r.address == 0)
    late = 0.0
    for i, (a, b) in enumerate(itertools.pairwise(SLOTS), 1):
        if a[0] != b[0]:
            due, done = set_at[min(set_at) + i * SLOT_S]
            late += next((at for at in reads if at >= done), reads[-1]) - due
    return late


def send_sparkplug(port: int, shift: Shift) -> None:
    """The same shift from a Sparkplug B node that reports by exception, the product as a
    string metric; a last DDATA at the end says the device is still there."""
    edge = OnChangeEdgeNode("items", "node-1")
    times = sorted({shift.start + i * SLOT_S for i in range(len(SLOTS))} | {t for t, _ in shift.units()})
    messages = edge.birth(shift.start * 1000, {"spb-m": {**shift.report(shift.start), "uptime_s": 0}})
    for t in times[1:]:
        msg = edge.changes("spb-m", t * 1000, shift.report(t))
        if msg is not None:
            messages.append(msg)
    last = edge.changes("spb-m", shift.end * 1000, {"uptime_s": shift.end - shift.start})
    assert last is not None
    messages.append(last)
    with MqttPeer(port, max_inflight=1000) as peer:
        peer.publish_all(messages, timeout=60)
