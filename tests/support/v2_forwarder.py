"""InfluxDB 2.x's write API played in front of a real InfluxDB 1.x server.

Only InfluxDB 1.6.7 can run here; it has no /api/v2/write, and 1.8 would treat the bucket
as "database/retention policy". So the v2 sink is tested against this small HTTP server,
which speaks the 2.x write API to the client (Token auth, org, bucket, precision, 204 on
success, JSON errors ``{"code": ..., "message": ...}``) and stores through the real 1.x
/write into database ``bucket``. The client library, the HTTP exchange and the storage are
real; only the 2.x server's front door is stood in for.

Its answers follow InfluxDB OSS 2.x's documented write responses
(docs.influxdata.com/influxdb/v2/write-data/troubleshoot/, .../api/response-codes/), not
1.x's: points refused for their content (field type conflict, outside retention: 1.x's
400 "partial write ... dropped=N") come back as 422; malformed line protocol as 400;
a body over ``max_body_bytes`` as 413; a bad token as 401 with 2.x's JSON body. 429 and
503 with Retry-After, which 2.x sends when it is rate limited or not ready, are injected
with ``fail_next``. Every error body is 2.x's ``{"code": ..., "message": ...}``.

It runs its own event loop in a thread, so sync and async tests (and the blocking
influxdb-client) can use it alike.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

#: 2.x precision names -> 1.x names
PRECISIONS: Mapping[str, str] = {"ns": "ns", "us": "u", "ms": "ms", "s": "s"}

#: HTTP status -> the ``code`` 2.x puts in its error bodies
ERROR_CODES: Mapping[int, str] = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    413: "request too large",
    422: "unprocessable entity",
    429: "too many requests",
    500: "internal error",
    503: "unavailable",
}

VERSION = "2.7.0-forwarder"


@dataclass(frozen=True)
class ForwardedWrite:
    org: str
    bucket: str
    precision: str
    body_bytes: int
    status: int


class V2Forwarder:
    def __init__(
        self,
        target_url: str,
        *,
        token: str = "test-token",
        org: str = "factorylens",
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        target_ssl: ssl.SSLContext | bool = True,
        max_body_bytes: int | None = None,
    ) -> None:
        self.target_url = target_url.rstrip("/")
        self.token = token
        self.org = org
        self.host = host
        self.port = 0
        self._ssl_context = ssl_context
        self._target_ssl = target_ssl
        self.max_body_bytes = max_body_bytes
        self._writes: list[ForwardedWrite] = []
        self._faults: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def writes(self) -> list[ForwardedWrite]:
        """Write requests seen so far (also refused ones)."""
        with self._lock:
            return list(self._writes)

    def fail_next(self, status: int, retry_after: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` writes with ``status`` (and Retry-After) without storing."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        with self._lock:
            self._faults.extend([(status, headers)] * times)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> V2Forwarder:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # reported to start()'s caller below
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="v2-forwarder", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            self._thread.join(5)
            self._thread = None
            loop.close()
            raise RuntimeError(f"v2 forwarder did not start: {failure[0]!r}") from failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._teardown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> V2Forwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _setup(self) -> None:
        # large bodies are the 1.x server's business (its max-body-size gives the 413)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/api/v2/write", self._write)
        app.router.add_route("*", "/ping", self._ping)
        app.router.add_get("/health", self._health)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._target_ssl),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=self._ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _teardown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- handlers ----------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        body = {"code": ERROR_CODES.get(status, "internal error"), "message": message}
        return web.json_response(body, status=status, headers=headers)

    def _record(self, request: web.Request, body: bytes, status: int) -> None:
        q = request.query
        entry = ForwardedWrite(
            q.get("org", ""), q.get("bucket", ""), q.get("precision", "ns"), len(body), status
        )
        with self._lock:
            self._writes.append(entry)

    async def _write(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        response = await self._answer_write(request, body)
        self._record(request, body, response.status)
        return response

    async def _answer_write(self, request: web.Request, body: bytes) -> web.Response:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            status, fault_headers = fault
            return self._error(status, f"{ERROR_CODES.get(status, 'error')} (injected)", fault_headers)
        if self.max_body_bytes is not None and len(body) > self.max_body_bytes:
            return self._error(413, "unable to read data: http: request body too large")
        auth = request.headers.get("Authorization", "")
        scheme, _, credential = auth.partition(" ")
        if scheme not in ("Token", "Bearer") or credential != self.token:
            return self._error(401, "unauthorized access")
        org = request.query.get("org") or request.query.get("orgID")
        if not org:
            return self._error(400, "Please provide either orgID or org")
        if org != self.org:
            return self._error(404, f'organization name "{org}" not found')
        bucket = request.query.get("bucket")
        if not bucket:
            return self._error(400, "Please provide bucket")
        precision = request.query.get("precision", "ns")
        if precision not in PRECISIONS:
            return self._error(400, f"invalid precision {precision!r}; use ns, us, ms or s")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if "Content-Encoding" in request.headers:
            headers["Content-Encoding"] = request.headers["Content-Encoding"]
        assert self._session is not None
        try:
            async with self._session.post(
                f"{self.target_url}/write",
                params={"db": bucket, "precision": PRECISIONS[precision]},
                data=body,
                headers=headers,
            ) as upstream:
                raw = await upstream.read()
                if 200 <= upstream.status < 300:
                    return web.Response(status=204)
                relay = {}
                if "Retry-After" in upstream.headers:
                    relay["Retry-After"] = upstream.headers["Retry-After"]
                return self._error(_v2_status(upstream.status, text := _error_text(raw)), text, relay)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return self._error(503, f"storage unreachable: {exc}")

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"X-Influxdb-Version": VERSION})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": "influxdb",
                "message": "ready for queries and writes",
                "status": "pass",
                "checks": [],
                "version": VERSION,
                "commit": "forwarder",
            }
        )


def _v2_status(status: int, text: str) -> int:
    """2.x's status for a 1.x answer: a partial write (points refused for their content, the
    rest stored) is 422 Unprocessable Entity there; 1.x says 400."""
    if status == 400 and "partial write" in text and "unable to parse" not in text:
        return 422
    return status


def _error_text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed["error"]
    return text
