"""The local demo: a whole simulated plant on this machine, without Docker.

    python -m demo            (scripts/demo.sh does the setup first)

Debian's influxd (with logins: each factory's data in its own database, written with its
own write-only login) and mosquitto (with a password file and an ACL), the simulated
machines (four over Modbus, two over MQTT), the collector and the assessor, all with
their data under one folder (./var). The first run also builds the registry, two API
tokens and months of history for six factories; later runs reuse all of it. Ctrl-C or SIGTERM stops every
process, the collector first so it delivers what it holds. docs/demo.md has the details.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from assessor.config import load_assessor_config
from assessor.registry.store import RegistryStore
from demo import access, load, metrics_text
from demo.access import EdgeLogin
from demo.feed import EdgeBoxFeed, fed_plans
from demo.history import FactoryPlan
from demo.portfolio import LIVE_FACTORY, answers_of, build_plans
from demo.registry import DemoTokens, demo_tokens, prepare_registry
from localservices.influxd import InfluxServer, InfluxServerError, free_port, quote_ident, quote_string
from localservices.mosquitto import (
    MosquittoServer,
    MosquittoServerError,
    make_acl_file,
    make_password_file,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
#: the assessor's own database (materialised KPIs); each factory's raw data is in its own
#: (influx.raw_database, "factory_<id>"), made by provisioning its edge login
ASSESSOR_DATABASE = "factorylens"
#: how often the other factories' edge boxes send what they have (seconds)
FEED_EVERY_S = 10.0
MODBUS_PORTS = (5020, 5021, 5022, 5023)
#: what the ready check waits for: a sample from a Modbus and from an MQTT machine
LIVE_CHECK = {"modbus": "press-01", "mqtt": "filler-01"}


class Stop(BaseException):
    """Ctrl-C or SIGTERM: unwinds whatever the demo is doing to the shutdown."""


# -- ports and children ---------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # as the servers bind: a port whose last connection is in TIME_WAIT is free to them
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _pick(port: int) -> int:
    return port if port and _port_free(port) else free_port()


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Children:
    """The demo's Python child processes, stopped in the order given to ``stop_all``."""

    var: Path
    env: dict[str, str]
    running: list[Child] = field(default_factory=list)

    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Child:
        log = self.var / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # own session: the terminal's Ctrl-C reaches the demo only, which then stops
                # the children in order
                start_new_session=True,
            )
        child = Child(name, proc, log)
        self.running.append(child)
        return child

    def dead(self) -> Child | None:
        return next((c for c in self.running if c.proc.poll() is not None), None)

    def stop_all(self, order: list[str]) -> None:
        ranked = sorted(self.running, key=lambda c: order.index(c.name) if c.name in order else len(order))
        for child in ranked:
            _stop(child)
        self.running = []


def _stop(child: Child, timeout: float = 30.0) -> None:
    proc = child.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"demo: {child.name} did not stop in {timeout:.0f} s; killing it", flush=True)
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# -- signals ------------------------------------------------------------------------------


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """The first SIGINT/SIGTERM raises Stop wherever the demo is; later ones are ignored
    so that the shutdown itself is not cut short."""
    fired = False

    def handler(_sig: int, _frame: object) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Stop

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# -- runtime configuration ------------------------------------------------------------------


def _last_counters(influx: InfluxServer, database: str, machines: list[str]) -> dict[str, dict[str, float]]:
    """The live factory's last counter readings per machine (``database``: its own)."""
    fields = ("count_total", "count_reject", "energy_kwh")
    select = ", ".join(f"LAST({quote_ident(f)}) AS {quote_ident(f)}" for f in fields)
    where = f"{quote_ident('factory')} = {quote_string(LIVE_FACTORY)}"
    out: dict[str, dict[str, float]] = {}
    for result in influx.query(
        f"SELECT {select} FROM machine_data WHERE {where} GROUP BY {quote_ident('machine')}", database
    ):
        for series in result.get("series", []):
            machine = series.get("tags", {}).get("machine", "")
            row = dict(zip(series["columns"], series["values"][-1], strict=True))
            if machine in machines:
                out[machine] = {f: row[f] for f in fields if row.get(f) is not None}
    return out


def _initial(last: dict[str, float]) -> dict[str, int]:
    """Counters a simulated machine starts from: where the stored data left off, so the
    assessor sees the counters carry on instead of a jump it would count as production."""
    out = {}
    if "count_total" in last:
        out["total"] = int(last["count_total"]) % (1 << 32)
    if "count_reject" in last:
        out["rejects"] = int(last["count_reject"]) % (1 << 32)
    if "energy_kwh" in last:
        out["energy_wh"] = round(last["energy_kwh"] * 1000) % (1 << 32)
    return out


@dataclass(frozen=True)
class RuntimeConfigs:
    line: Path
    packaging: Path
    collector: Path
    modbus_ports: tuple[int, ...]


def runtime_configs(var: Path, influx: InfluxServer, live: EdgeLogin) -> RuntimeConfigs:
    """Copies of the shipped simulator and collector files in <var>/run: counters carried on
    from the stored data, and other Modbus ports when the shipped ones are taken."""
    run = var / "run"
    run.mkdir(parents=True, exist_ok=True)
    line = yaml.safe_load((CONFIGS / "simulated-line.yaml").read_text(encoding="utf-8"))
    packaging = yaml.safe_load((CONFIGS / "simulated-packaging.yaml").read_text(encoding="utf-8"))
    collector = yaml.safe_load((CONFIGS / "collector-demo.yaml").read_text(encoding="utf-8"))
    names = [m["name"] for m in line["machines"] + packaging["machines"]]
    last = _last_counters(influx, live.database, names)
    ports = {p: p for p in MODBUS_PORTS}
    if not all(_port_free(p) for p in MODBUS_PORTS):
        ports = {p: free_port() for p in MODBUS_PORTS}
        print(
            f"demo: Modbus ports {MODBUS_PORTS[0]}-{MODBUS_PORTS[-1]} are taken; using {list(ports.values())}"
        )
    for m in line["machines"] + packaging["machines"]:
        if m["name"] in last:
            m["initial"] = _initial(last[m["name"]])
    for m in line["machines"]:
        m["port"] = ports.get(m["port"], m["port"])
    for dev in collector["modbus"]["devices"]:
        dev["port"] = ports.get(dev["port"], dev["port"])
    out = RuntimeConfigs(
        run / "simulated-line.yaml",
        run / "simulated-packaging.yaml",
        run / "collector-demo.yaml",
        tuple(ports.values()),
    )
    header = "# written by python -m demo from configs/; edit those instead\n"
    for path, data in ((out.line, line), (out.packaging, packaging), (out.collector, collector)):
        path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


# -- services ---------------------------------------------------------------------------------


def start_influx(var: Path, port: int) -> InfluxServer:
    """influxd with authentication on, the helpers logged in as the demo's admin."""
    if access.stale(var):
        removed = access.clear_stale(var)
        print(
            f"demo: {var} holds data of an older demo (every factory in one database, no logins); "
            f"starting afresh, the demo data is synthetic (removed: {', '.join(removed)})",
            flush=True,
        )
    admin = access.admin_login(var)
    influx = InfluxServer(var / "influxdb", http={"auth-enabled": True})
    influx.http_port = _pick(port)
    # influxd's own default layout (HTTP 8086, RPC 8088) when the HTTP port is fixed
    influx.rpc_port = _pick(port + 2) if port else free_port()
    while influx.rpc_port == influx.http_port:
        influx.rpc_port = free_port()
    print(f"demo: InfluxDB 1.6 on {influx.http_port} (data in {influx.base_dir})", flush=True)
    influx.start()
    access.ensure_admin(influx, admin)
    return influx


def mqtt_credentials(var: Path) -> dict[str, str]:
    """Broker accounts (user -> password), made once and kept in <var>/mosquitto (0600)."""
    path = var / "mosquitto" / "credentials.json"
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    users = {name: secrets.token_urlsafe(12) for name in ("edge-collector", "packaging-gateway", "viewer")}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(users, f, indent=2)
    return users


def _shipped(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8")))


def start_mosquitto(var: Path, port: int, users: dict[str, str]) -> MosquittoServer:
    base = var / "mosquitto"
    password_file = make_password_file(base / "passwd", users)
    rules = access.broker_acl(_shipped("collector-demo.yaml"), _shipped("simulated-packaging.yaml"))
    acl_file = make_acl_file(base / "acl", rules)
    broker = MosquittoServer(base, port=_pick(port), password_file=password_file, acl_file=acl_file)
    print(f"demo: Mosquitto on {broker.port} (login and ACL; data in {base})", flush=True)
    broker.start()
    return broker


def _get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def _wait(check: Callable[[], bool], timeout: float, children: Children) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if (dead := children.dead()) is not None:
            raise ChildDied(dead)
        time.sleep(0.5)
    return False


class ChildDied(Exception):
    def __init__(self, child: Child):
        self.child = child
        super().__init__(child.name)


def live_data_seen(influx: InfluxServer, database: str, since_s: float) -> dict[str, bool]:
    """Whether a Modbus and an MQTT machine of the live factory have stored a sample in its
    ``database`` since ``since_s``."""
    seen = {}
    for source, machine in LIVE_CHECK.items():
        q = (
            f"SELECT COUNT({quote_ident('state')}) FROM machine_data WHERE "
            f"{quote_ident('factory')} = {quote_string(LIVE_FACTORY)} AND "
            f"{quote_ident('machine')} = {quote_string(machine)} AND time >= {int(since_s * 1e9)}"
        )
        try:
            rows = [v for r in influx.query(q, database) for s in r.get("series", []) for v in s["values"]]
        except InfluxServerError:
            rows = []
        seen[source] = bool(rows and rows[0][1])
    return seen


def _metric(url: str, name: str) -> float:
    status, body = _get(url, timeout=2)
    if status != 200:
        return float("nan")
    return metrics_text.totals(body.decode()).get(name, 0.0)


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    var: Path
    history_days: int
    factories: int
    exit_when_ready: bool
    influx_port: int
    mqtt_port: int
    metrics_port: int
    assessor_port: int


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Seoul")).date()


def _assessor_env(influx: InfluxServer, var: Path) -> dict[str, str]:
    """What configs/assessor-demo.yaml reads: the server, the admin login, the registry."""
    admin = access.admin_login(var)
    return {
        "INFLUX_URL": influx.url,
        "INFLUX_USER": admin.user,
        "INFLUX_PASSWORD": admin.password,
        "ASSESSOR_REGISTRY": str(var / "registry.sqlite"),
    }


@dataclass(frozen=True)
class Prepared:
    tokens: DemoTokens
    plans: list[FactoryPlan]
    #: factory id -> its database and write-only login (new on every start)
    edges: dict[str, EdgeLogin]


def prepare_data(opts: Options, influx: InfluxServer) -> Prepared:
    """Registry, each factory's database and edge login, tokens and (on the first run)
    history."""
    var = opts.var
    cfg = load_assessor_config(
        CONFIGS / "assessor-demo.yaml", env={**os.environ, **_assessor_env(influx, var)}
    )
    plan, reused = load.settings(var, _today(), opts.history_days, opts.factories)
    if reused and (plan.history_days, plan.factories) != (opts.history_days, opts.factories):
        print(
            f"demo: keeping the history of the first run ({plan.history_days} days, {plan.factories} "
            f"factories, from {plan.anchor}); delete {var} to build another",
            flush=True,
        )
    plans = build_plans(plan.anchor, plan.history_days, plan.factories)
    with RegistryStore(cfg.registry) as store:
        prepare_registry(
            store, [p.factory for p in plans], {p.factory.id: answers_of(p.factory.id) for p in plans}
        )
        # the real `assessor edge provision` path, on every start: rotates the passwords
        edges = access.provision_edges(cfg, store, [p.factory.id for p in plans])
        print(
            f"demo: {len(edges)} factories, each with its own database (factory_<id>) and write-only "
            "login (new passwords on every start)",
            flush=True,
        )
        tokens = demo_tokens(store, var, LIVE_FACTORY)
        if load.complete(var):
            print(f"demo: 이력 재사용 / reusing the history in {var} (loaded on {plan.anchor})", flush=True)
            return Prepared(tokens, plans, edges)
        t0 = time.monotonic()
        print(
            f"demo: 이력 생성 / loading history: {len(plans)} factories, {plan.history_days} measured days "
            "each, a manual baseline before the project",
            flush=True,
        )

        load.load_history(plans, var, store, _post_lines(influx, edges))
    load.materialise(cfg, plans)
    load.mark_complete(var)
    print(f"demo: history ready in {time.monotonic() - t0:.0f} s", flush=True)
    return Prepared(tokens, plans, edges)


def _post_lines(influx: InfluxServer, edges: dict[str, EdgeLogin]) -> load.Post:
    """Each factory's points into its own database, written with its own login, as its
    edge box would."""

    def post(factory_id: str, body: bytes) -> None:
        edge = edges[factory_id]
        status, text = influx.write(body, edge.database, precision="s", auth=edge.login.pair())
        if status != 204:
            raise InfluxServerError(
                f"InfluxDB refused a batch of {factory_id}'s demo points: HTTP {status} {text}"
            )

    return post


def newest_stored(
    influx: InfluxServer, edges: dict[str, EdgeLogin], factory_ids: list[str]
) -> dict[str, float]:
    """Time (epoch seconds) of each factory's newest stored state sample."""
    newest: dict[str, float] = {}
    for fid in factory_ids:
        q = (
            f"SELECT LAST({quote_ident('state')}) FROM machine_data "
            f"WHERE {quote_ident('factory')} = {quote_string(fid)}"
        )
        results = influx.query(q, edges[fid].database, epoch="s")
        rows = [v for r in results for series in r.get("series", []) for v in series["values"]]
        if rows:
            newest[fid] = float(rows[0][0])
    return newest


def start_feed(influx: InfluxServer, prepared: Prepared) -> EdgeBoxFeed:
    """The other factories' edge boxes, caught up to now (docs/demo.md)."""
    fed = fed_plans(prepared.plans, LIVE_FACTORY)
    edges = prepared.edges
    feed = EdgeBoxFeed(
        fed, _post_lines(influx, edges), newest_stored(influx, edges, [p.factory.id for p in fed])
    )
    t0 = time.monotonic()
    n = feed.feed(time.time())
    print(
        f"demo: {len(fed)} other factories' edge boxes caught up to now ({n:,} points, "
        f"{time.monotonic() - t0:.1f} s); they keep sending while the demo runs",
        flush=True,
    )
    return feed


def start_live(
    opts: Options,
    influx: InfluxServer,
    broker: MosquittoServer,
    users: dict[str, str],
    live: EdgeLogin,
    children: Children,
) -> tuple[str, str]:
    """Simulators, collector and assessor; returns (metrics address, assessor address)."""
    cfgs = runtime_configs(opts.var, influx, live)
    metrics = f"127.0.0.1:{_pick(opts.metrics_port)}"
    assessor = f"127.0.0.1:{_pick(opts.assessor_port)}"
    children.env.update(
        INFLUX_URL=influx.url,
        SPOOL_PATH=str(opts.var / "spool"),
        METRICS_LISTEN=metrics,
        MQTT_PORT=str(broker.port),
        ASSESSOR_REGISTRY=str(opts.var / "registry.sqlite"),
        ASSESSOR_LISTEN=assessor,
        PYTHONUNBUFFERED="1",
    )
    print("demo: starting the simulated machines (Modbus line, MQTT packaging line)", flush=True)
    children.start("simulator-modbus", ["-m", "simulator", "--config", str(cfgs.line)])
    children.start(
        "simulator-mqtt",
        [
            "-m",
            "simulator.mqtt_publisher",
            "--config",
            str(cfgs.packaging),
            "--url",
            f"mqtt://127.0.0.1:{broker.port}",
        ],
        {"MQTT_USER": "packaging-gateway", "MQTT_PASSWORD": users["packaging-gateway"]},
    )
    # the collector would only log failed connects until the simulator listens
    _wait(lambda: all(_listening(p) for p in cfgs.modbus_ports), 15, children)
    print("demo: starting the collector", flush=True)
    children.start(
        "collector",
        ["-m", "collector.cli", "run", "--config", str(cfgs.collector)],
        {
            "MQTT_USER": "edge-collector",
            "MQTT_PASSWORD": users["edge-collector"],
            # its factory's own database and write-only login, only in its environment
            "INFLUX_DATABASE": live.database,
            "INFLUX_USER": live.login.user,
            "INFLUX_PASSWORD": live.login.password,
        },
    )
    print(f"demo: starting the assessor on {assessor}", flush=True)
    children.start(
        "assessor",
        ["-m", "assessor.cli", "serve", "--config", str(CONFIGS / "assessor-demo.yaml")],
        _assessor_env(influx, opts.var),
    )
    return metrics, assessor


def banner(
    opts: Options,
    influx: InfluxServer,
    broker: MosquittoServer,
    users: dict[str, str],
    prepared: Prepared,
    metrics: str,
    assessor: str,
) -> str:
    url = f"http://{assessor}/"
    tokens = prepared.tokens
    live = prepared.edges[LIVE_FACTORY]
    rule = "=" * 78
    return "\n".join(
        [
            rule,
            " factorylens 데모 준비 완료 / demo ready",
            f"  대시보드 / Dashboard:            {url}",
            f"  API 문서 / API docs:             {url}docs",
            f"  운영자 토큰 / Operator token:    {tokens.operator}",
            f"  공장 토큰 / Factory token ({tokens.factory_id}): {tokens.factory}",
            f"  현장 태블릿 토큰 / Line tablet token ({tokens.factory_id}): {tokens.line}  "
            f"({url}factories/{tokens.factory_id}/operator)",
            f"  InfluxDB:                        {influx.url}  "
            f"(관리자 / admin login: {opts.var / access.ADMIN_FILE})",
            "  공장별 DB / Per-factory databases: factory_<id>, each written only by the factory's own "
            f"write-only login (new passwords on every start); the assessor's own: {ASSESSOR_DATABASE}",
            f"  엣지 로그인 / Edge login ({LIVE_FACTORY}): {live.login.user} / {live.login.password}  "
            f"(쓰기 전용 / write-only, {live.database})",
            f"  수집기 지표 / Collector metrics: http://{metrics}/metrics",
            f"  MQTT:                            mqtt://127.0.0.1:{broker.port}  "
            f"(viewer 읽기 전용 / reads only: mosquitto_sub -p {broker.port} -u viewer "
            f"-P {users['viewer']} -t 'plant/#' -v)",
            f"  데이터 / Data: {opts.var}  (토큰 / tokens: {opts.var / 'demo-tokens.txt'})",
            f"  예 / e.g.: curl -H 'Authorization: Bearer {tokens.operator}' {url}api/v1/portfolio",
            "  Ctrl-C로 종료 / Ctrl-C to stop",
            rule,
        ]
    )


def wait_ready(
    opts: Options, influx: InfluxServer, live: EdgeLogin, children: Children, assessor: str, since: float
) -> None:
    if not _wait(lambda: _get(f"http://{assessor}/healthz")[0] == 200, 90, children):
        raise RuntimeError(f"the assessor did not answer on {assessor} within 90 s; see {opts.var}/logs")
    print("demo: assessor is up; waiting for the first live samples", flush=True)
    seen: dict[str, bool] = {}

    def arrived() -> bool:
        seen.update(live_data_seen(influx, live.database, since))
        return all(seen.values())

    if not _wait(arrived, 45, children):
        missing = ", ".join(k for k, v in seen.items() if not v)
        raise RuntimeError(f"no live {missing} data reached InfluxDB within 45 s; see {opts.var}/logs")


def watch(opts: Options, children: Children, metrics: str, feed: EdgeBoxFeed) -> None:
    """Until a signal: keep the other edge boxes sending, report the collector's counters
    now and then, and stop if a child dies."""
    url = f"http://{metrics}/metrics"
    next_report = time.monotonic() + 30
    next_feed = time.monotonic() + FEED_EVERY_S
    while True:
        if (dead := children.dead()) is not None:
            raise ChildDied(dead)
        if time.monotonic() >= next_feed:
            next_feed += FEED_EVERY_S
            feed.feed(time.time())
        if time.monotonic() >= next_report:
            next_report += 30
            print(
                f"demo: {_metric(url, 'collector_values_read_total'):,.0f} values read, "
                f"{_metric(url, 'collector_points_written_total'):,.0f} points written, "
                f"{_metric(url, 'collector_spool_pending_points'):,.0f} pending",
                flush=True,
            )
        time.sleep(0.5)


#: shutdown order: the collector first so it delivers what it holds, then its sources
STOP_ORDER = ["collector", "simulator-modbus", "simulator-mqtt", "assessor"]


def run(opts: Options) -> int:
    opts.var.mkdir(parents=True, exist_ok=True)
    influx: InfluxServer | None = None
    broker: MosquittoServer | None = None
    children = Children(opts.var, dict(os.environ))
    code = 0
    with stop_on_signals():
        try:
            influx = start_influx(opts.var, opts.influx_port)
            prepared = prepare_data(opts, influx)
            live = prepared.edges[LIVE_FACTORY]
            feed = start_feed(influx, prepared)
            users = mqtt_credentials(opts.var)
            broker = start_mosquitto(opts.var, opts.mqtt_port, users)
            since = time.time()
            metrics, assessor = start_live(opts, influx, broker, users, live, children)
            wait_ready(opts, influx, live, children, assessor, since)
            print(banner(opts, influx, broker, users, prepared, metrics, assessor), flush=True)
            if not opts.exit_when_ready:
                watch(opts, children, metrics, feed)
        except Stop:
            print("\ndemo: 종료 중 / stopping", flush=True)
        except ChildDied as exc:
            c = exc.child
            print(
                f"demo: {c.name} exited unexpectedly with {c.proc.returncode}; stopping everything. "
                f"Last lines of {c.log}:\n{_tail(c.log)}",
                file=sys.stderr,
                flush=True,
            )
            code = 1
        except (InfluxServerError, MosquittoServerError, RuntimeError, OSError) as exc:
            print(f"demo: {exc}", file=sys.stderr, flush=True)
            code = 1
        finally:
            children.stop_all(STOP_ORDER)
            if broker is not None:
                broker.stop()
            if influx is not None:
                influx.stop()
            print("demo: 종료됨 / stopped", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--var", type=Path, default=ROOT / "var", help="folder for all demo data (default ./var)")
    ap.add_argument("--history-days", type=int, default=90, help="measured days after the support project")
    ap.add_argument("--factories", type=int, default=6, help="factories in the registry, 1-6 (first: live)")
    ap.add_argument(
        "--exit-when-ready", action="store_true", help="start, load, check the live data, print, stop"
    )
    ap.add_argument("--influx-port", type=int, default=8086)
    ap.add_argument("--mqtt-port", type=int, default=1883)
    ap.add_argument("--metrics-port", type=int, default=9273)
    ap.add_argument("--assessor-port", type=int, default=8080)
    args = ap.parse_args(argv)
    if args.history_days < 1:
        ap.error("--history-days must be at least 1")
    if not 1 <= args.factories <= 6:
        ap.error("--factories must be between 1 and 6")
    return run(
        Options(
            args.var.resolve(),
            args.history_days,
            args.factories,
            args.exit_when_ready,
            args.influx_port,
            args.mqtt_port,
            args.metrics_port,
            args.assessor_port,
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
