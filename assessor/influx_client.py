"""A small InfluxDB client for the assessor: InfluxQL over ``/query`` (1.x, and 2.x/3.x
through their v1 compatibility API) and line protocol over ``/write``."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from assessor.config import InfluxSettings


class InfluxError(Exception):
    pass


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> Iterator[dict[str, Any]]:
        cols = self.columns
        for v in self.values:
            yield dict(zip(cols, v, strict=True))


class InfluxClient:
    def __init__(self, cfg: InfluxSettings) -> None:
        self.cfg = cfg
        self._session: aiohttp.ClientSession | None = None

    def _headers(self) -> dict[str, str]:
        # A token is sent whenever one is configured, also with api v1: InfluxDB 2.x and 3.x
        # accept "Token" on their v1-compatible /query and /write, and a 2.x server handed
        # out only tokens. Basic auth (a username) takes precedence for v1, since 1.x before
        # 1.8 does not understand the Token scheme.
        if self.cfg.token and (self.cfg.api == "v2" or not self.cfg.username):
            return {"Authorization": f"Token {self.cfg.token}"}
        if self.cfg.api == "v1" and self.cfg.username:
            plain = f"{self.cfg.username}:{self.cfg.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(plain).decode("ascii")}
        return {}

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_ctx: ssl.SSLContext | bool | None = None
            if self.cfg.url.startswith("https://"):
                if not self.cfg.verify_tls:
                    ssl_ctx = False
                else:
                    ssl_ctx = ssl.create_default_context(
                        cafile=str(self.cfg.ca_bundle) if self.cfg.ca_bundle else None
                    )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=8, ssl=ssl_ctx),
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout),
                headers=self._headers(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def query(self, q: str) -> list[list[Series]]:
        """Run one or more statements (joined by ';'); one list of series per statement.
        Chunked responses are merged, so no row limit cuts a result short."""
        params = {"db": self.cfg.database, "q": q, "epoch": "ms", "chunked": "true", "chunk_size": "20000"}
        if self.cfg.retention_policy:
            params["rp"] = self.cfg.retention_policy
        s = await self.session()
        try:
            async with s.post(f"{self.cfg.url}/query", data=params) as r:
                body = await r.read()
                if r.status != 200:
                    raise InfluxError(f"InfluxDB answered {r.status} to a query: {body[:300]!r}")
        except aiohttp.ClientError as exc:
            raise InfluxError(f"InfluxDB unreachable: {exc}") from exc
        return _parse_chunks(body)

    async def write(self, lines: list[bytes], *, rp: str = "") -> None:
        if not lines:
            return
        params = {"db": self.cfg.database, "precision": "ns"}
        if rp or self.cfg.retention_policy:
            params["rp"] = rp or self.cfg.retention_policy
        s = await self.session()
        try:
            async with s.post(f"{self.cfg.url}/write", params=params, data=b"\n".join(lines)) as r:
                if r.status not in (200, 204):
                    raise InfluxError(f"InfluxDB answered {r.status} to a write: {(await r.text())[:300]}")
        except aiohttp.ClientError as exc:
            raise InfluxError(f"InfluxDB unreachable: {exc}") from exc


def _parse_chunks(body: bytes) -> list[list[Series]]:
    merged: dict[int, dict[tuple[str, tuple[tuple[str, str], ...]], Series]] = {}
    for raw in body.splitlines():
        if not raw.strip():
            continue
        doc = json.loads(raw)
        if "error" in doc:
            raise InfluxError(f"query failed: {doc['error']}")
        for result in doc.get("results", []):
            if "error" in result:
                raise InfluxError(f"query failed: {result['error']}")
            statement = merged.setdefault(result.get("statement_id", 0), {})
            for s in result.get("series", []):
                tags = s.get("tags") or {}
                key = (s.get("name", ""), tuple(sorted(tags.items())))
                if key in statement:
                    statement[key].values.extend(s.get("values", []))
                else:
                    statement[key] = Series(
                        s.get("name", ""), dict(tags), s["columns"], list(s.get("values", []))
                    )
    if not merged:
        return []
    return [list(merged.get(i, {}).values()) for i in range(max(merged) + 1)]
