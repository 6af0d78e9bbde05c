"""Who may do what in the demo (docs/demo.md, "Logins").

- InfluxDB runs with authentication on. One admin login, made once and kept in
  ``<var>/influxdb/admin.json`` (0600), is what the assessor and the demo itself use.
- Each factory's raw data lives in its own database (``factory_<id>``), written with the
  factory's own write-only login, made by the assessor's ``edge provision`` code on every
  start (a restart rotates the passwords; they are handed to the writers and kept nowhere).
- The broker's ACL: the viewer only reads, the collector reads what it consumes and
  writes its own marker topic and Sparkplug rebirth requests, the packaging gateway
  writes its machines' topics.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assessor.config import AssessorConfig
from assessor.data.edge_provision import default_writer, provision
from assessor.data.influx_client import InfluxClient
from assessor.registry.store import RegistryStore
from collector.mqtt.config import DEFAULT_SYNC_TOPIC
from localservices.influxd import InfluxServer, InfluxServerError

ADMIN_FILE = Path("influxdb") / "admin.json"
ADMIN_USER = "demo-admin"
#: what a demo before per-factory databases left behind, all of it derived from the
#: data in its one shared database: removed so the demo starts afresh
_OLD_LAYOUT = (
    "influxdb",
    "history",
    "registry.sqlite",
    "registry.sqlite-wal",
    "registry.sqlite-shm",
    "demo-tokens.txt",
    "run",
    "spool",
)


@dataclass(frozen=True)
class Login:
    user: str
    password: str

    def pair(self) -> tuple[str, str]:
        return self.user, self.password


@dataclass(frozen=True)
class EdgeLogin:
    """A factory's raw database and the write-only login for it."""

    factory_id: str
    database: str
    login: Login


def write_secret(path: Path, data: Mapping[str, str]) -> None:
    """JSON readable by the owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(dict(data), f, indent=2)
    os.replace(tmp, path)


def admin_login(var: Path) -> Login:
    """The InfluxDB admin login of ``<var>/influxdb/admin.json``, made on first use."""
    path = var / ADMIN_FILE
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return Login(saved["user"], saved["password"])
    login = Login(ADMIN_USER, secrets.token_urlsafe(18))
    write_secret(path, {"user": login.user, "password": login.password})
    return login


def stale(var: Path) -> bool:
    """A var folder of a demo that kept every factory in one database without a login."""
    return (var / "influxdb").exists() and not (var / ADMIN_FILE).exists()


def clear_stale(var: Path) -> list[str]:
    """Remove what such a demo left (its data is synthetic; the next steps rebuild it);
    returns the names removed. Logs and the broker's folder stay."""
    removed = []
    for name in _OLD_LAYOUT:
        p = var / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
        else:
            continue
        removed.append(name)
    return removed


def ensure_admin(influx: InfluxServer, login: Login) -> None:
    """Log the helpers in as the admin, creating it on a server that has no user yet (the
    first start, or a deleted InfluxDB folder)."""
    influx.use_credentials(*login.pair())
    try:
        influx.query("SHOW USERS")
    except InfluxServerError as exc:
        if "create admin user first" not in str(exc):
            raise
        influx.create_user(login.user, login.password, admin=True)


async def _provision_all(
    cfg: AssessorConfig, store: RegistryStore, factory_ids: Iterable[str]
) -> dict[str, EdgeLogin]:
    client = InfluxClient(cfg.influx)
    out: dict[str, EdgeLogin] = {}
    try:
        for fid in factory_ids:
            # as `assessor edge provision --factory <fid>` does
            known = store.edge_storage(fid)
            database = known.database if known else cfg.influx.raw_database_for(fid)
            writer = known.writer if known and known.writer else default_writer(fid)
            done = await provision(client, fid, database, writer)
            store.set_edge_storage(done.storage)
            out[fid] = EdgeLogin(fid, done.storage.database, Login(done.storage.writer, done.secret))
    finally:
        await client.close()
    return out


def provision_edges(
    cfg: AssessorConfig, store: RegistryStore, factory_ids: Iterable[str]
) -> dict[str, EdgeLogin]:
    """Each factory's database and a fresh write-only login (the old password stops working)."""
    return asyncio.run(_provision_all(cfg, store, list(factory_ids)))


# -- the broker ---------------------------------------------------------------------------


def broker_acl(
    collector: Mapping[str, Any], packaging: Mapping[str, Any]
) -> dict[str, list[tuple[str, str]]]:
    """The demo broker's ACL (user -> (access, topic pattern)), derived from the
    collector's ``mqtt:`` block and the MQTT simulator's file so it follows their topics."""
    mqtt = collector["mqtt"]
    subscriptions: Sequence[Mapping[str, Any]] = mqtt["subscriptions"]
    sync = str(mqtt.get("sync_topic", DEFAULT_SYNC_TOPIC)).replace("{client_id}", str(mqtt["client_id"]))
    edge = [("read", str(s["topic"])) for s in subscriptions]
    # the marker it publishes and reads back (collector/mqtt/source.py)
    edge.append(("readwrite", sync))
    for s in subscriptions:
        if s.get("format") == "sparkplug_b":
            # rebirth requests to the nodes of the group it reads
            group = str(s["topic"]).split("/")[1]
            edge.append(("write", f"spBv1.0/{group}/NCMD/+"))
    gateway = [("write", re.sub(r"\{line\}|\{machine\}", "+", str(packaging["topic"])))]
    if sp := packaging.get("sparkplug"):
        # births, data and deaths (its will) as its own node only
        gateway.append(("write", f"spBv1.0/{sp['group']}/+/{sp['node']}/#"))
    return {"viewer": [("read", "#")], "edge-collector": edge, "packaging-gateway": gateway}
