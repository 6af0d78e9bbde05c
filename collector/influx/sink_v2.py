"""InfluxDB 2.x API sink: POST /api/v2/write through the official influxdb-client (for 2.x,
3.x and 1.8+ with a token). Its client is synchronous, so each write runs in a worker thread.

influxdb-client 1.50 retries only in its batching mode; in SYNCHRONOUS mode a write is one
HTTP request, and ``retries=False`` keeps urllib3 from repeating it either, so every retry
is decided by the delivery policy, which also knows about splitting and quarantine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from collector.influx.sink import NO_RESPONSE, SinkResponse, parse_retry_after
from collector.influx.sink_v1 import describe_exception

if TYPE_CHECKING:
    from collector.influx.config import InfluxConfig

log = logging.getLogger(__name__)


class V2Sink:
    def __init__(self, cfg: InfluxConfig) -> None:
        self._cfg = cfg
        self._client = InfluxDBClient(
            url=cfg.url,
            token=cfg.token,
            org=cfg.org,
            timeout=int(cfg.timeout * 1000),
            verify_ssl=cfg.verify_tls,
            ssl_ca_cert=str(cfg.ca_bundle) if cfg.ca_bundle is not None else None,
            retries=False,
            enable_gzip=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def _write_blocking(self, body: bytes) -> None:
        self._write_api.write(
            bucket=self._cfg.database,
            org=self._cfg.org,
            record=body,
            write_precision=WritePrecision.NS,
        )

    async def write(self, body: bytes) -> SinkResponse:
        # Cancelling this await does not stop the thread: the request may still complete.
        # That is harmless, because a replayed point overwrites itself (same series and time).
        try:
            await asyncio.to_thread(self._write_blocking, body)
        except ApiException as exc:
            return self._from_api_exception(exc)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return SinkResponse(NO_RESPONSE, describe_exception(exc, self._cfg.timeout), None)
        return SinkResponse(204, "", None)

    def _from_api_exception(self, exc: ApiException) -> SinkResponse:
        status = int(exc.status or NO_RESPONSE)
        if status == NO_RESPONSE:
            # the client reports TLS failures this way, with the cause in ``reason``
            reason = str(exc.reason or "no response").replace("\n", ": ")
            if "CERTIFICATE_VERIFY_FAILED" in reason and self._cfg.ca_bundle is None:
                reason += (
                    " (set influx.ca_bundle to the PEM file of the CA that signed the server certificate)"
                )
            return SinkResponse(NO_RESPONSE, f"{self._cfg.url}: {reason}", None)
        message = getattr(exc, "message", None)
        if not isinstance(message, str) or not message:
            body = exc.body
            message = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is None and exc.headers is not None:
            retry_after = exc.headers.get("Retry-After")
        return SinkResponse(status, message or str(exc.reason or ""), parse_retry_after(retry_after))

    async def close(self) -> None:
        self._write_api.close()
        self._client.close()
