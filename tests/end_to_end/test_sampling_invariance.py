"""The same machine history at different reporting paces gives the same KPIs.

Metamorphic, end to end: one history (tests/support/timelines.py) is sent as a source that
reports every second, one that reports every five minutes (a PLC gateway), a Sparkplug B
node that reports only on change, and, in real time, as Modbus registers the collector
polls. Everything goes through the real Mosquitto broker, the real collector (mapping,
liveness, spool), a real influxd and the assessor's API; the KPIs of every rendering must
equal the ones the history implies, computed independently of the product's code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from assessor.api.app import create_app
from assessor.config import AssessorConfig, InfluxSettings
from assessor.data.influx_client import InfluxClient
from assessor.domain.level import load_rules
from assessor.registry.importer import parse_registry
from assessor.registry.store import RegistryStore
from assessor.services import AssessorService
from assessor.services.auth import create_token
from localservices.influxd import InfluxServer
from localservices.mosquitto import MosquittoServer
from tests.support.modbus_server import RecordingModbusServer, encode_value, free_port
from tests.support.mqtt_publisher import CollectorThread, MqttPeer, mqtt_collector_yaml, wait_for
from tests.support.timelines import (
    JSON_FIELDS,
    MachineHistory,
    Slot,
    histories,
    json_messages,
    sparkplug_messages,
)

FACTORY = "pace-factory"
KST = dt.timezone(dt.timedelta(hours=9))
#: a past shift: 06:00-14:00 KST on a Monday
SHIFT_START = int(dt.datetime(2026, 11, 2, 6, 0, tzinfo=KST).timestamp())
RATIOS = ("availability", "performance", "quality", "oee")

SUBSCRIPTIONS = (
    "    - topic: pace/+/json\n"
    "      qos: 1\n"
    "      format: json\n"
    "      line: line-1\n"
    '      machine: "{1}"\n'
    f"{JSON_FIELDS}"
    # '#': the node's own NBIRTH and NDEATH have no device level
    "    - topic: spBv1.0/pace/#\n"
    "      qos: 1\n"
    "      format: sparkplug_b\n"
    "      line: line-1\n"
    "      fields:\n"
    "        state: {path: state, role: state, type: string}\n"
    "        count_total: {path: count_total, role: count_total}\n"
    "        count_reject: {path: count_reject, role: count_reject}\n"
)


def registry_yaml(machines: dict[str, float], small_stop: str = "2m") -> str:
    rows = "".join(f"          - {{id: {m}, ideal_cycle_time: {ict}s}}\n" for m, ict in machines.items())
    return (
        "factories:\n"
        f"  - id: {FACTORY}\n"
        "    name: 보고주기공장\n"
        "    timezone: Asia/Seoul\n"
        f"    small_stop: {small_stop}\n"
        "    lines:\n"
        "      - id: line-1\n"
        "        machines:\n"
        f"{rows}"
    )


class Assessor:
    """The assessor's API on its own event loop, callable from synchronous test code
    (hypothesis runs the examples synchronously)."""

    def __init__(self, influx: InfluxServer, db: str, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        cfg = AssessorConfig(
            influx=InfluxSettings(url=influx.url, database=db, raw_database=db), registry=tmp / "r.sqlite"
        )
        self.store = RegistryStore(cfg.registry)
        self.store.upsert_factories(parse_registry(registry_yaml({"placeholder": 1.0})))
        self.influx = InfluxClient(cfg.influx)
        self.service = AssessorService(cfg, self.store, self.influx, load_rules(None))
        self.token = create_token(self.store, "operator")
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.service)), base_url="http://assessor"
        )

    def register(self, machines: dict[str, float], small_stop: str = "2m") -> None:
        self.store.upsert_factories(parse_registry(registry_yaml(machines, small_stop)))

    def machine_rows(self, start: int, end: int) -> dict[str, dict[str, Any]]:
        async def get() -> httpx.Response:
            return await self.client.get(
                f"/api/v1/factories/{FACTORY}/kpis",
                params={
                    "start": dt.datetime.fromtimestamp(start, KST).isoformat(),
                    "end": dt.datetime.fromtimestamp(end, KST).isoformat(),
                    "group": "machine",
                },
                headers={"Authorization": f"Bearer {self.token}"},
            )

        r = self.loop.run_until_complete(get())
        assert r.status_code == 200, r.text
        return {row["machine"]: row for row in r.json()["rows"]}

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.influx.close())
        self.loop.close()
        self.store.close()


@pytest.fixture
def stack(
    influxd: InfluxServer, influx_db: str, mosquitto: MosquittoServer, tmp_path: Path
) -> Iterator[tuple[CollectorThread, int, Assessor, InfluxServer, str]]:
    yaml = mqtt_collector_yaml(
        influxd.url, influx_db, tmp_path / "spool", mosquitto.port, SUBSCRIPTIONS, factory=FACTORY
    )
    assessor = Assessor(influxd, influx_db, tmp_path)
    with CollectorThread.from_yaml(yaml) as collector:
        yield collector, mosquitto.port, assessor, influxd, influx_db
    assessor.close()


def stored_points(influx: InfluxServer, db: str, machine: str) -> int:
    rows = influx.query(f'SELECT COUNT("state") FROM machine_data WHERE "machine" = \'{machine}\'', db)
    series = rows[0].get("series") if rows else None
    return int(series[0]["values"][0][1]) if series else 0


def send_renderings(port: int, history: MachineHistory, name: str) -> dict[str, int]:
    """Publish the three MQTT renderings of ``history``; returns machine -> state reports sent."""
    every_1s = history.every(1)
    every_slot = history.every(history.slot_s)
    on_change = history.on_change()
    messages = itertools.chain(
        json_messages(f"pace/{name}-1s/json", every_1s),
        json_messages(f"pace/{name}-slow/json", every_slot),
        sparkplug_messages("pace", f"node-{name}", f"{name}-spb", on_change, end=history.end),
    )
    batch: list[tuple[str, bytes]] = []
    # a peer's packet ids must not repeat: a new client for every rendering set
    with MqttPeer(port, max_inflight=1000) as peer:
        for msg in messages:
            batch.append(msg)
            if len(batch) == 5000:
                peer.publish_all(batch, timeout=60)
                batch = []
        if batch:
            peer.publish_all(batch, timeout=60)
    states_on_change = 1 + sum(1 for a, b in itertools.pairwise(on_change) if a.state != b.state)
    return {f"{name}-1s": len(every_1s), f"{name}-slow": len(every_slot), f"{name}-spb": states_on_change}


def assert_matches(row: dict[str, Any], truth: dict[str, float], *, seconds: float, units: int) -> None:
    """``seconds``/``units``: how far one sample's rounding may move run time and counts."""
    assert row["flags"] == [], row["flags"]
    assert row["unattributed_count"] == 0
    assert row["run_time_s"] == pytest.approx(truth["run_time_s"], abs=seconds + 1e-6)
    assert row["total_count"] == pytest.approx(truth["total_count"], abs=units)
    assert row["reject_count"] == pytest.approx(truth["reject_count"], abs=units)
    assert row["unknown_time_s"] == pytest.approx(0.0, abs=seconds + 1e-6)
    rel = seconds / max(truth["run_time_s"], 1.0) + units / max(truth["total_count"], 1.0)
    for k in RATIOS:
        if truth[k] is None:
            assert row[k] is None
        else:
            assert row[k] == pytest.approx(truth[k], abs=2 * rel + 1e-9), k
    assert row["oee"] == pytest.approx(row["availability"] * row["performance"] * row["quality"])


def covered(influx: InfluxServer, db: str, machine: str, start: int, end: int) -> bool:
    """Whether the machine's alive records cover [start, end] without a gap."""
    if "machine_liveness" not in influx.measurements(db):
        return False
    records = sorted(
        (r["time"] / 1e9, r["time"] / 1e9 + r["alive_s"])
        for r in influx.points("machine_liveness", db, f"\"machine\" = '{machine}'")
        if r.get("alive_s") is not None
    )
    reach = float(start)
    for lo, hi in records:
        if lo > reach + 1e-6:
            break
        reach = max(reach, hi)
    return bool(records) and records[0][0] <= start and reach >= end


def wait_stored(
    influx: InfluxServer, db: str, expected: dict[str, int], history: MachineHistory | None = None
) -> None:
    """Until every state sample is stored and, with ``history``, the alive records
    (written every flush interval) cover it."""
    wait_for(
        lambda: all(stored_points(influx, db, m) >= n for m, n in expected.items()),
        60,
        f"state samples of {sorted(expected)} in InfluxDB",
        step=0.2,
    )
    if history is not None:
        wait_for(
            lambda: all(covered(influx, db, m, history.start, history.end) for m in expected),
            60,
            f"alive records of {sorted(expected)} over the history",
            step=0.5,
        )


def test_one_history_at_three_reporting_paces_gives_its_true_kpis(
    stack: tuple[CollectorThread, int, Assessor, InfluxServer, str],
) -> None:
    collector, port, assessor, influx, db = stack
    counter = itertools.count()

    @settings(
        max_examples=2,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
        # every example costs seconds of real broker, collector and influxd time:
        # report the failing history as generated instead of shrinking it for minutes
        phases=[Phase.explicit, Phase.generate],
    )
    @given(histories(SHIFT_START))
    def check(history: MachineHistory) -> None:
        name = f"h{next(counter)}"
        expected = send_renderings(port, history, name)
        wait_stored(influx, db, expected, history)
        assessor.register(dict.fromkeys(expected, history.ideal_cycle_s))
        rows = assessor.machine_rows(history.start, history.end)
        truth = history.truth()
        for machine in expected:
            assert machine in rows, f"{machine}: no KPI row"
            assert_matches(rows[machine], truth, seconds=1e-3, units=0)

    check()
    collector.raise_error()


def test_the_two_shifts_of_the_issue_give_their_true_figures(
    stack: tuple[CollectorThread, int, Assessor, InfluxServer, str],
) -> None:
    """A gateway that reports every five minutes and a Sparkplug node that reports by
    exception, over one 8-hour shift that is mostly running: before liveness, the first
    read 432 % performance and the second 4 minutes of run time."""
    collector, port, assessor, influx, db = stack
    # 07:00-09:00 running at 5 s a unit, a 40-minute fault, then running to the end with a
    # setup and an idle hour in between
    plan = [("running", 24), ("fault", 8), ("running", 30), ("setup", 6), ("running", 16), ("idle", 12)]
    slots = tuple(Slot(state, 5 if state == "running" else 0) for state, n in plan for _ in range(n))
    history = MachineHistory(SHIFT_START, 300, slots, reject_every=40, ideal_cycle_s=4.0)
    expected = send_renderings(port, history, "shift")
    wait_stored(influx, db, expected, history)
    assessor.register(dict.fromkeys(expected, history.ideal_cycle_s))
    rows = assessor.machine_rows(history.start, history.end)
    truth = history.truth()
    # 59 units of 4 s ideal time in every 300 s running slot
    assert truth["performance"] == pytest.approx(4 * 59 / 300)
    for machine in expected:
        assert_matches(rows[machine], truth, seconds=1e-3, units=0)
        assert rows[machine]["performance"] <= 1.0
    collector.raise_error()


STATE_CODES = {"running": 1, "idle": 2, "fault": 3, "setup": 4, "stopped": 0}


def test_modbus_polls_of_the_same_history_give_its_kpis(
    influxd: InfluxServer, influx_db: str, mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """The history played in real time by a Modbus server and polled every 0.25 s (states
    stored only on change), beside its MQTT renderings sent afterwards: every source
    gives the history's KPIs, the polled one within one poll per state change."""
    asyncio.run(_modbus_case(influxd, influx_db, mosquitto, tmp_path))


async def _modbus_case(influx: InfluxServer, db: str, broker: MosquittoServer, tmp: Path) -> None:
    port = free_port()
    server = RecordingModbusServer(port=port)
    await server.start()
    start = int(time.time()) + 3
    plan = ["running", "running", "fault", "running", "idle", "running", "setup", "running", "stopped"]
    slots = tuple(Slot(s, 3 if s == "running" else 0) for s in plan)
    history = MachineHistory(start, 6, slots, reject_every=7, ideal_cycle_s=2.0)
    server.set_holding(0, STATE_CODES[history.state_at(start)])
    server.set_holding(10, encode_value(0, "uint32"))
    server.set_holding(12, encode_value(0, "uint32"))
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
        set_at = await _play(server, history)
        await asyncio.sleep(1.5)  # the last polls after the end
        expected = send_renderings(broker.port, history, "rt")
        wait_stored(influx, db, expected, history)
        assessor = await asyncio.to_thread(Assessor, influx, db, tmp)
        machines = {**dict.fromkeys(expected, history.ideal_cycle_s), "polled": history.ideal_cycle_s}
        assessor.register(machines, small_stop="1s")
        rows = await asyncio.to_thread(assessor.machine_rows, history.start, history.end)
    finally:
        collector.stop()
        await server.stop()
        if assessor is not None:
            await asyncio.to_thread(assessor.close)
    truth = history.truth()
    for machine in expected:
        assert_matches(rows[machine], truth, seconds=1e-3, units=0)
    changes = sum(1 for a, b in itertools.pairwise(history.slots) if a.state != b.state)
    # a change is seen at the first poll that reads the register after it was set: the
    # allowance is how late those polls really came (about 0.25 s each on an idle machine,
    # more on a loaded one), from the times the server recorded, plus one poll to spare
    reads = sorted(r.at for r in server.requests if r.function_code == 3 and r.address == 0)
    late = 0.0
    for i, (a, b) in enumerate(itertools.pairwise(history.slots), 1):
        if a.state != b.state:
            due, done = set_at[history.start + i * history.slot_s]
            late += next((at for at in reads if at >= done), reads[-1]) - due
    assert_matches(rows["polled"], truth, seconds=late + 0.25 + 0.05 * changes, units=1)
    # the state was stored only when it changed, not at every poll
    states = stored_points(influx, db, "polled")
    assert states <= 3 * (changes + 2), f"{states} state samples for {changes} changes"


async def _play(server: RecordingModbusServer, history: MachineHistory) -> dict[float, tuple[float, float]]:
    """Set the registers as the history unfolds, in real time. Returns, for each slot
    start, when it was due and when the state register really took its value, both on
    the server's clock (time.monotonic())."""
    slot_starts = {history.start + i * history.slot_s for i in range(len(history.slots))}
    events = sorted(slot_starts | set(history.unit_times))
    set_at: dict[float, tuple[float, float]] = {}
    for t in events:
        await asyncio.sleep(max(0.0, t - time.time()))
        r = history.report(t)
        server.set_holding(0, STATE_CODES[r.state])
        if t in slot_starts:
            now, lateness = time.monotonic(), time.time() - t
            set_at[t] = (now - lateness, now)
        server.set_holding(10, encode_value(r.total, "uint32"))
        server.set_holding(12, encode_value(r.reject, "uint32"))
    await asyncio.sleep(max(0.0, history.end - time.time()))
    return set_at
