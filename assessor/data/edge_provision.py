"""``assessor edge provision``: a factory's own raw database and the edge credential that
may write there and nowhere else (docs/deployment.md, "Each factory's data is its own").

InfluxDB's own authorization enforces the isolation: on 1.x a user with WRITE on the
factory's database only; on 2.x/3.x a token with write permission on the factory's bucket
only, plus the DBRP mapping that lets the assessor query the bucket with InfluxQL. The
assessor's own login must be an admin (1.x) or hold an all-access or operator token
(2.x): it creates databases and credentials, and reads every factory's data.

The secret (password or token) is printed once, in the collector's ``site:``/``influx:``
block; the registry keeps only where the data lives and the credential's name (and the
2.x authorization id, to revoke it).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml

from assessor.data.influx_client import InfluxClient, InfluxError
from assessor.data.influxql import ident, literal
from assessor.domain.models import EdgeStorage


class ProvisionError(Exception):
    pass


@dataclass(frozen=True)
class Provisioned:
    storage: EdgeStorage
    #: 1.x: the writer's password; 2.x: the write token. Shown once, stored nowhere.
    secret: str


def default_writer(factory_id: str) -> str:
    return f"edge-{factory_id}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


async def provision(client: InfluxClient, factory_id: str, database: str, writer: str) -> Provisioned:
    """Create (or keep) the database or bucket and give the writer a fresh secret: a
    second run for the same factory rotates the credential."""
    if client.cfg.api == "v1":
        return await _provision_v1(client, factory_id, database, writer)
    return await _provision_v2(client, factory_id, database, writer)


async def revoke(client: InfluxClient, storage: EdgeStorage) -> EdgeStorage:
    """Take the credential away; the data stays."""
    if client.cfg.api == "v1":
        if storage.writer in await _v1_users(client):
            await client.query(f"DROP USER {ident(storage.writer)}")
    elif storage.writer_id:
        await _v2(client, "DELETE", f"/api/v2/authorizations/{storage.writer_id}", ok=(204, 404))
    return EdgeStorage(
        storage.factory_id,
        storage.database,
        storage.writer,
        storage.writer_id,
        storage.provisioned_at,
        _now(),
    )


async def _provision_v1(client: InfluxClient, factory_id: str, database: str, writer: str) -> Provisioned:
    password = secrets.token_urlsafe(24)
    await client.query(f"CREATE DATABASE {ident(database)}")
    if writer in await _v1_users(client):
        # rotate, and take back whatever else the user may have been given
        await client.query(f"SET PASSWORD FOR {ident(writer)} = {literal(password)}")
        await client.query(f"REVOKE ALL PRIVILEGES FROM {ident(writer)}")
    else:
        await client.query(f"CREATE USER {ident(writer)} WITH PASSWORD {literal(password)}")
    await client.query(f"GRANT WRITE ON {ident(database)} TO {ident(writer)}")
    return Provisioned(EdgeStorage(factory_id, database, writer, "", _now(), None), password)


async def _v1_users(client: InfluxClient) -> set[str]:
    result = await client.query("SHOW USERS")
    return {row["user"] for s in (result[0] if result else []) for row in s.rows()}


async def _provision_v2(client: InfluxClient, factory_id: str, bucket: str, writer: str) -> Provisioned:
    org = client.cfg.org
    if not org:
        raise ProvisionError("influx.org is required with api v2 (the organisation of the buckets)")
    orgs = await _v2(client, "GET", "/api/v2/orgs", params={"org": org})
    if not orgs.get("orgs"):
        raise ProvisionError(f"InfluxDB has no organisation {org!r}")
    org_id = orgs["orgs"][0]["id"]
    found = await _v2(client, "GET", "/api/v2/buckets", params={"orgID": org_id, "name": bucket})
    if found.get("buckets"):
        bucket_id = found["buckets"][0]["id"]
    else:
        made = await _v2(
            client, "POST", "/api/v2/buckets", json={"orgID": org_id, "name": bucket, "retentionRules": []}
        )
        bucket_id = made["id"]
    mappings = await _v2(client, "GET", "/api/v2/dbrps", params={"orgID": org_id, "db": bucket})
    if not mappings.get("content"):
        await _v2(
            client,
            "POST",
            "/api/v2/dbrps",
            json={
                "bucketID": bucket_id,
                "database": bucket,
                "retention_policy": "autogen",
                "default": True,
                "orgID": org_id,
            },
        )
    auth = await _v2(
        client,
        "POST",
        "/api/v2/authorizations",
        json={
            "orgID": org_id,
            "description": writer,
            "permissions": [
                {"action": "write", "resource": {"type": "buckets", "id": bucket_id, "orgID": org_id}}
            ],
        },
    )
    return Provisioned(EdgeStorage(factory_id, bucket, writer, auth["id"], _now(), None), auth["token"])


async def _v2(
    client: InfluxClient,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    json: dict[str, Any] | None = None,
    ok: tuple[int, ...] = (200, 201),
) -> dict[str, Any]:
    session = await client.session()
    try:
        async with session.request(method, f"{client.cfg.url}{path}", params=params, json=json) as r:
            if r.status not in ok:
                raise ProvisionError(
                    f"InfluxDB answered {r.status} to {method} {path}: {(await r.text())[:300]}"
                )
            return await r.json() if r.status != 204 and r.content_length != 0 else {}
    except aiohttp.ClientError as exc:
        raise InfluxError(f"InfluxDB unreachable: {exc}") from exc


def collector_block(
    factory_id: str, provisioned: Provisioned, *, url: str, api: str, org: str = "", line: str = "line-1"
) -> str:
    """The collector's ``site:`` and ``influx:`` keys for the factory's edge box."""
    influx: dict[str, Any] = {"url": url, "api": api, "database": provisioned.storage.database}
    if api == "v1":
        influx |= {"username": provisioned.storage.writer, "password": provisioned.secret}
    else:
        influx |= {"org": org, "token": provisioned.secret}
    doc = {"site": {"factory": factory_id, "line": line}, "influx": influx}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
