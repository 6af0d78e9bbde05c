"""InfluxDB 1.x HTTP API sink: POST /write. 2.x and 3.x answer this endpoint too (through
their v1 compatibility API, with the token as password)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

import aiohttp

from collector.influx.sink import NO_RESPONSE, SinkResponse, parse_retry_after

if TYPE_CHECKING:
    from collector.influx.config import InfluxConfig

log = logging.getLogger(__name__)

_WRITE_HEADERS = {"Content-Type": "text/plain; charset=utf-8"}

#: concurrent connections to the server; writes are few and large
DEFAULT_CONNECTIONS = 4


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def error_text(raw: bytes) -> str:
    """The ``error`` of a 1.x JSON error body, else the body as text."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if isinstance(parsed, dict):
        for key in ("error", "message"):
            if isinstance(parsed.get(key), str):
                return parsed[key]
    return text


class V1Sink:
    """One reused aiohttp session; every call is exactly one write request, plus, when the
    database is missing, one CREATE DATABASE and one more write (as Telegraf does)."""

    def __init__(
        self,
        cfg: InfluxConfig,
        *,
        connections: int = DEFAULT_CONNECTIONS,
        create_database: bool = True,
    ) -> None:
        self._cfg = cfg
        self._connections = connections
        self._create_database = create_database
        self._write_url = f"{cfg.url}/write"
        self._params = {"db": cfg.database, "precision": "ns"}
        if cfg.retention_policy:
            self._params["rp"] = cfg.retention_policy
        self._headers = cfg.auth_headers()
        self._ssl = cfg.ssl_context()
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # created on first use: a ClientSession belongs to the running event loop
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._cfg.timeout),
            )
        return self._session

    async def write(self, body: bytes) -> SinkResponse:
        response = await self._post_write(body)
        if response.status == 404 and self._create_database and "database not found" in response.message:
            created = await self._create()
            if created is not None:
                return SinkResponse(404, f"{response.message}; CREATE DATABASE failed: {created}", None)
            log.warning("created missing InfluxDB database %r", self._cfg.database)
            response = await self._post_write(body)
        return response

    async def _post_write(self, body: bytes) -> SinkResponse:
        session = self._get_session()
        try:
            async with session.post(
                self._write_url, params=self._params, data=body, headers=_WRITE_HEADERS
            ) as resp:
                if 200 <= resp.status < 300:
                    return SinkResponse(resp.status, "", None)
                raw = await resp.read()
                return SinkResponse(
                    resp.status,
                    error_text(raw) or (resp.reason or ""),
                    parse_retry_after(resp.headers.get("Retry-After")),
                )
        except aiohttp.ClientConnectorCertificateError as exc:
            return SinkResponse(NO_RESPONSE, self._tls_hint(exc), None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return SinkResponse(NO_RESPONSE, describe_exception(exc, self._cfg.timeout), None)

    async def _create(self) -> str | None:
        """CREATE DATABASE; None on success, else why not."""
        session = self._get_session()
        q = f"CREATE DATABASE {quote_ident(self._cfg.database)}"
        try:
            async with session.post(f"{self._cfg.url}/query", data={"q": q}) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    return f"HTTP {resp.status}: {error_text(raw)}"
                parsed = json.loads(raw or b"{}")
                for result in parsed.get("results", []):
                    if "error" in result:
                        return str(result["error"])
                return None
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return describe_exception(exc, self._cfg.timeout)

    def _tls_hint(self, exc: Exception) -> str:
        hint = (
            "set influx.ca_bundle to the PEM file of the CA that signed the server certificate"
            if self._cfg.ca_bundle is None
            else f"the server certificate does not verify against {self._cfg.ca_bundle}"
        )
        return f"TLS certificate verification failed for {self._cfg.url}: {exc} ({hint})"

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def describe_exception(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"no answer within {timeout:g}s (timeout)"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
