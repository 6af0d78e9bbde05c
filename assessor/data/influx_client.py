"""A small InfluxDB client for the assessor: InfluxQL over ``/query`` (1.x, and 2.x/3.x
through their v1 compatibility API) and line protocol over ``/write``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from assessor.config import InfluxSettings
from assessor.data.influx_wire import (
    Columns,
    DatabaseNotFound,
    InfluxError,
    MergedRows,
    Series,
    StreamedColumns,
)
from assessor.domain.models import Factory

__all__ = ["Columns", "DatabaseNotFound", "InfluxClient", "InfluxError", "Series"]

log = logging.getLogger(__name__)


class _Sessions:
    """What the clients of one server and login share: the HTTP session, and the
    databases found missing (logged once)."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.missing: set[str] = set()


class InfluxClient:
    def __init__(
        self, cfg: InfluxSettings, *, _sessions: _Sessions | None = None, missing_is_empty: bool = False
    ) -> None:
        self.cfg = cfg
        self._sessions = _sessions or _Sessions()
        #: a query on a database that does not exist answers nothing instead of failing
        self.missing_is_empty = missing_is_empty

    def for_database(self, database: str) -> InfluxClient:
        """The same server and login on a factory's raw database, sharing this client's
        connections. A factory whose database does not exist yet has sent nothing yet:
        its queries answer nothing (logged once), so its pages show no data."""
        return InfluxClient(
            self.cfg.model_copy(update={"database": database}),
            _sessions=self._sessions,
            missing_is_empty=True,
        )

    def _headers(self) -> dict[str, str]:
        return {**self.cfg.auth_headers(), **({} if self.cfg.compress else {"Accept-Encoding": "identity"})}

    async def session(self) -> aiohttp.ClientSession:
        if self._sessions.session is None or self._sessions.session.closed:
            self._sessions.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=8, ssl=self.cfg.ssl_context()),
                timeout=aiohttp.ClientTimeout(total=self.cfg.timeout),
                headers=self._headers(),
            )
        return self._sessions.session

    async def close(self) -> None:
        if self._sessions.session is not None:
            await self._sessions.session.close()

    async def query(self, q: str) -> list[list[Series]]:
        """Run one or more statements (joined by ';'); one list of series per statement.
        Chunked responses are merged, so no row limit cuts a result short."""
        merged = MergedRows()
        await self._stream(q, merged.add)
        return merged.statements()

    async def stream_columns(self, q: str, done: Callable[[int, Columns], None]) -> None:
        """Run ``q`` and hand each series, by columns, to ``done(statement id, series)``
        as soon as it is complete, while the rest is still arriving."""
        streamed = StreamedColumns(done)
        await self._stream(q, streamed.add)
        streamed.finish()

    async def _stream(self, q: str, add: Callable[[bytes], None]) -> None:
        params = {"db": self.cfg.database, "q": q, "epoch": "ms", "chunked": "true", "chunk_size": "20000"}
        if self.cfg.retention_policy:
            params["rp"] = self.cfg.retention_policy
        s = await self.session()
        try:
            async with s.post(f"{self.cfg.url}/query", data=params) as r:
                if r.status != 200:
                    body = await r.read()
                    raise InfluxError(f"InfluxDB answered {r.status} to a query: {body[:300]!r}")
                # Each chunk is one JSON document on its own line: parsing them as they
                # arrive overlaps the parse with the server still encoding the rest.
                pending = bytearray()
                async for data in r.content.iter_any():
                    pending += data
                    while (i := pending.find(b"\n")) >= 0:
                        add(bytes(pending[:i]))
                        del pending[: i + 1]
                add(bytes(pending))
        except aiohttp.ClientError as exc:
            raise InfluxError(f"InfluxDB unreachable: {exc}") from exc
        except DatabaseNotFound:
            if not self.missing_is_empty:
                raise
            if self.cfg.database not in self._sessions.missing:
                self._sessions.missing.add(self.cfg.database)
                log.info("InfluxDB has no database %r yet: no data for it", self.cfg.database)

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


def factory_client(client: InfluxClient, factory: Factory) -> InfluxClient:
    """The client of the factory's own raw database: every query on raw samples goes there,
    so one factory's data never mixes with another's (docs/deployment.md)."""
    return client.for_database(factory.raw_database or client.cfg.raw_database_for(factory.id))
