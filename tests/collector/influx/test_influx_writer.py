"""Delivery + sinks against the real influxd 1.6.7: outages, 413 splits, partial writes,
Retry-After, the v2 API (the client against a 2.x-shaped front on the 1.x server, answering
as 2.x documents: 422, 400, 413, 401, 429/503 with Retry-After), TLS and auth.

Status codes influxd cannot be made to give (429, 503) come from a fault-injecting proxy in
front of the real server; everything written is checked in the real server's storage.
The tests near the end use a scripted sink and say so: they test the policy alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from collector.influx import Delivery, Quarantine, SinkResponse, make_sink, read_quarantine
from collector.influx.config import InfluxConfig
from collector.influx.sink import parse_retry_after
from collector.influx.sink_v1 import V1Sink
from collector.influx.sink_v2 import V2Sink
from localservices.influxd import InfluxServer, TlsFiles, free_port, make_tls_files
from tests.support.influxd_fixtures import InfluxFactory, unique_name
from tests.support.v2_forwarder import V2Forwarder

FAST = {"retry_min": 0.01, "retry_max": 0.05}


def make_points(n: int, start: int = 0, measurement: str = "m") -> list[bytes]:
    """Unique points (own series and timestamp each), values derived from the index."""
    return [
        b"%s,machine=m%d v=%di,x=%d.5 %d"
        % (measurement.encode(), i % 7, i, i, 1_700_000_000_000_000_000 + i * 1000)
        for i in range(start, start + n)
    ]


def stored_indexes(server: InfluxServer, db: str, measurement: str = "m") -> list[int]:
    return sorted(row["v"] for row in server.points(measurement, db))


@dataclass
class Recorder:
    written: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, str]] = field(default_factory=list)
    retries: list[tuple[int, str]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def delivery(self, sink: object, quarantine: Quarantine, **kw: object) -> Delivery:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            await asyncio.sleep(seconds)

        options: dict[str, object] = {**FAST, "sleep": sleep, "rng": random.Random(7)}
        options.update(kw)
        return Delivery(
            sink,  # type: ignore[arg-type]
            quarantine,
            on_written=self.written.append,
            on_quarantined=lambda n, r: self.quarantined.append((n, r)),
            on_retry=lambda s, r: self.retries.append((s, r)),
            **options,  # type: ignore[arg-type]
        )


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class CountingSink:
    """Passes writes to a real sink and keeps the number of points of each request."""

    def __init__(self, inner: V1Sink | V2Sink) -> None:
        self.inner = inner
        self.requests: list[int] = []

    async def write(self, body: bytes) -> SinkResponse:
        self.requests.append(body.count(b"\n") + 1)
        return await self.inner.write(body)

    async def close(self) -> None:
        await self.inner.close()


# -- v1 path ------------------------------------------------------------------------------


async def test_missing_database_is_created_then_written(influxd: InfluxServer, tmp_path: Path) -> None:
    db = unique_name("created")
    sink = make_sink(InfluxConfig(url=influxd.url, database=db))
    rec = Recorder()
    try:
        await rec.delivery(sink, Quarantine(tmp_path)).deliver(make_points(50))
    finally:
        await sink.close()
        assert db in influxd.databases()
    try:
        assert stored_indexes(influxd, db) == list(range(50))
        assert rec.retries == [] and sum(rec.written) == 50
    finally:
        influxd.drop_database(db)


async def test_outage_retried_until_restart_and_every_point_stored_once(
    influxd_private: InfluxServer, tmp_path: Path
) -> None:
    server = influxd_private
    server.create_database("plant")
    sink = make_sink(InfluxConfig(url=server.url, database="plant"))
    rec = Recorder()
    delivery = rec.delivery(sink, Quarantine(tmp_path))
    try:
        await delivery.deliver(make_points(500))
        # SIGKILL: what the server acknowledged must already be durable
        server.kill()
        task = asyncio.create_task(delivery.deliver(make_points(500, start=500)))
        await wait_for(lambda: len(rec.retries) >= 3)
        assert not task.done()
        server.start()
        await asyncio.wait_for(task, 10)
    finally:
        await sink.close()
    assert {status for status, _ in rec.retries} == {0}
    assert stored_indexes(server, "plant") == list(range(1000))
    assert server.count("m", "plant") == 1000
    assert rec.quarantined == [] and sum(rec.written) == 1000


async def test_413_splits_batches_and_quarantines_a_point_too_large_alone(
    influxd_factory: InfluxFactory, tmp_path: Path
) -> None:
    server = influxd_factory({"max-body-size": 4000})
    server.create_database("plant")
    huge = b'm,machine=big s="' + b"x" * 5000 + b'" 1'
    points = make_points(300)  # about 17 KB in one body
    points.insert(123, huge)
    sink = CountingSink(V1Sink(InfluxConfig(url=server.url, database="plant")))
    rec = Recorder()
    try:
        await rec.delivery(sink, Quarantine(tmp_path / "q")).deliver(points)
    finally:
        await sink.close()
    assert stored_indexes(server, "plant") == list(range(300))
    assert sum(rec.written) == 300
    assert max(sink.requests) == 301 and len(sink.requests) > 8
    assert rec.quarantined == [(1, "HTTP 413: Request Entity Too Large")]
    [batch] = list(read_quarantine(tmp_path / "q"))
    assert batch.status == 413 and batch.points == [huge]


async def test_type_conflict_quarantines_only_the_conflicting_points(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    assert influxd.write(b"m,machine=m0 v=-1i 1", influx_db) == (204, "")  # v is an integer
    points = make_points(1000)
    bad_at = [17, 400, 401, 999]
    for i in bad_at:
        # same series and time as the good point it replaces, v as a float: conflicts
        points[i] = points[i].replace(b" v=%di," % i, b" v=%d.25," % i)
    sink = CountingSink(V1Sink(InfluxConfig(url=influxd.url, database=influx_db)))
    rec = Recorder()
    quarantine = Quarantine(tmp_path)
    delivery = rec.delivery(sink, quarantine)
    try:
        await delivery.deliver(points)
        after = len(sink.requests)
        await delivery.deliver(make_points(100, start=1000))  # the next batch is not held up
    finally:
        await sink.close()
    good = sorted(set(range(1100)) - set(bad_at))
    assert [v for v in stored_indexes(influxd, influx_db) if v >= 0] == good
    assert sum(n for n, _ in rec.quarantined) == 4
    batches = list(read_quarantine(tmp_path))
    assert sorted(p for b in batches for p in b.points) == sorted(points[i] for i in bad_at)
    for b in batches:
        assert b.status == 400
        assert "field type conflict" in b.reason and 'input field "v"' in b.reason
        assert b.reason.startswith("HTTP 400: partial write:")
    # bisection costs a few requests per bad point, not one per point
    assert after <= 1 + 2 * len(bad_at) * 10
    assert len(sink.requests) == after + 1
    assert rec.retries == []


async def test_batch_refused_as_a_whole_is_quarantined_at_once(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    assert influxd.write(b"m v=1i 1", influx_db)[0] == 204
    points = [b"m,machine=a v=%d.5 %d" % (i, 10 + i) for i in range(200)]
    sink = CountingSink(V1Sink(InfluxConfig(url=influxd.url, database=influx_db)))
    rec = Recorder()
    try:
        await rec.delivery(sink, Quarantine(tmp_path)).deliver(points)
    finally:
        await sink.close()
    # "dropped=200" tells that nothing was written: no bisection needed
    assert sink.requests == [200]
    [batch] = list(read_quarantine(tmp_path))
    assert batch.points == points and batch.reason.endswith("dropped=200")


async def test_unparsable_line_is_quarantined_and_the_rest_written(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    points = make_points(64)
    points[10] = b"m,machine=x v=oops 5"
    sink = V1Sink(InfluxConfig(url=influxd.url, database=influx_db))
    rec = Recorder()
    try:
        await rec.delivery(sink, Quarantine(tmp_path)).deliver(points)
    finally:
        await sink.close()
    assert stored_indexes(influxd, influx_db) == [i for i in range(64) if i != 10]
    [batch] = list(read_quarantine(tmp_path))
    assert batch.points == [b"m,machine=x v=oops 5"]
    assert "unable to parse" in batch.reason


# -- status codes influxd cannot give: a fault-injecting proxy in front of it ----------------


class FaultProxy:
    """Answers the first requests from a script, then forwards to the real server."""

    def __init__(self, target: str, script: Sequence[tuple[int, dict[str, str]]]) -> None:
        self.target = target
        self.script = list(script)
        self.seen: list[float] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FaultProxy:
        app = web.Application(client_max_size=1 << 28)
        app.router.add_post("/write", self._write)
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    async def _write(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(time.monotonic())
        if len(self.seen) <= len(self.script):
            status, headers = self.script[len(self.seen) - 1]
            text = json.dumps({"error": f"injected {status}"})
            return web.Response(status=status, headers=headers, text=text)
        assert self._session is not None
        async with self._session.post(f"{self.target}/write", params=request.query, data=body) as upstream:
            return web.Response(status=upstream.status, body=await upstream.read())


async def test_429_retry_after_and_503_are_retried(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    script = [(429, {"Retry-After": "1"}), (503, {}), (500, {})]
    async with FaultProxy(influxd.url, script) as proxy:
        sink = make_sink(InfluxConfig(url=proxy.url, database=influx_db))
        rec = Recorder()
        try:
            await rec.delivery(sink, Quarantine(tmp_path)).deliver(make_points(200))
        finally:
            await sink.close()
    assert [s for s, _ in rec.retries] == [429, 503, 500]
    assert rec.retries[0][1] == "HTTP 429: injected 429"
    # Retry-After is a floor well above retry_max; the 5xx retries use the short backoff
    assert rec.sleeps[0] >= 1.0
    assert all(0.01 <= s <= 0.05 for s in rec.sleeps[1:])
    assert proxy.seen[1] - proxy.seen[0] >= 1.0
    assert len(proxy.seen) == 4
    assert stored_indexes(influxd, influx_db) == list(range(200))


# -- v2 path: influxdb-client through the forwarder into the real storage --------------------


def v2_config(forwarder: V2Forwarder, bucket: str, **kw: object) -> InfluxConfig:
    base: dict[str, object] = {
        "url": forwarder.url,
        "api": "v2",
        "org": forwarder.org,
        "token": forwarder.token,
        "database": bucket,
    }
    base.update(kw)
    return InfluxConfig(**base)  # type: ignore[arg-type]


async def test_v2_client_via_v2_front_writes_all_and_quarantines_a_422_conflict(
    influxd: InfluxServer, influx_db: str, v2_forwarder: V2Forwarder, tmp_path: Path
) -> None:
    """A field type conflict is 422 in 2.x (1.x: 400): only the conflicting point is set aside."""
    sink = make_sink(v2_config(v2_forwarder, influx_db))
    assert isinstance(sink, V2Sink)
    rec = Recorder()
    delivery = rec.delivery(sink, Quarantine(tmp_path))
    points = make_points(2000)
    points[5] = points[5].replace(b" v=5i,", b' v="five",')  # type conflict with v=0i before
    try:
        # a 422 taken for a transient error would be retried forever: a deadline shows it
        async with asyncio.timeout(60):
            await delivery.deliver(points[:5])
            await delivery.deliver(points[5:])
    finally:
        await sink.close()
    assert stored_indexes(influxd, influx_db) == [i for i in range(2000) if i != 5]
    [batch] = list(read_quarantine(tmp_path))
    assert batch.points == [points[5]] and batch.status == 422
    writes = v2_forwarder.writes
    assert 422 in {w.status for w in writes}
    assert all(w.bucket == influx_db and w.org == v2_forwarder.org for w in writes)
    assert {w.precision for w in writes} == {"ns"}
    assert rec.retries == []


async def test_v2_client_via_v2_front_400_malformed_line_quarantined_alone(
    influxd: InfluxServer, influx_db: str, v2_forwarder: V2Forwarder, tmp_path: Path
) -> None:
    points = make_points(64)
    points[10] = b"m,machine=x v=oops 5"
    sink = make_sink(v2_config(v2_forwarder, influx_db))
    rec = Recorder()
    try:
        await rec.delivery(sink, Quarantine(tmp_path)).deliver(points)
    finally:
        await sink.close()
    assert stored_indexes(influxd, influx_db) == [i for i in range(64) if i != 10]
    [batch] = list(read_quarantine(tmp_path))
    assert batch.points == [points[10]] and batch.status == 400
    assert rec.retries == []


async def test_v2_client_via_v2_front_413_splits_and_quarantines_a_point_too_large_alone(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    huge = b'm,machine=big s="' + b"x" * 5000 + b'" 1'
    points = make_points(300)
    points.insert(123, huge)
    with V2Forwarder(influxd.url, token="t", org="o", max_body_bytes=4000) as front:
        sink = CountingSink(V2Sink(v2_config(front, influx_db)))
        rec = Recorder()
        try:
            await rec.delivery(sink, Quarantine(tmp_path)).deliver(points)
        finally:
            await sink.close()
        assert 413 in {w.status for w in front.writes}
    assert stored_indexes(influxd, influx_db) == list(range(300))
    assert sum(rec.written) == 300 and rec.retries == []
    [batch] = list(read_quarantine(tmp_path))
    assert batch.status == 413 and batch.points == [huge]


async def test_v2_client_via_v2_front_429_and_503_with_retry_after_are_retried(
    influxd: InfluxServer, influx_db: str, v2_forwarder: V2Forwarder, tmp_path: Path
) -> None:
    v2_forwarder.fail_next(429, retry_after="1")
    v2_forwarder.fail_next(503, retry_after="1")
    sink = make_sink(v2_config(v2_forwarder, influx_db))
    rec = Recorder()
    try:
        await rec.delivery(sink, Quarantine(tmp_path)).deliver(make_points(200))
    finally:
        await sink.close()
    assert [s for s, _ in rec.retries] == [429, 503]
    # Retry-After is a floor far above retry_max (0.05 s): the collector honoured it
    assert rec.sleeps[:2] == [pytest.approx(1.0, abs=0.06)] * 2
    assert [w.status for w in v2_forwarder.writes] == [429, 503, 204]
    assert stored_indexes(influxd, influx_db) == list(range(200))
    assert list(read_quarantine(tmp_path)) == []


async def test_v2_client_via_v2_front_401_is_retried_not_quarantined(
    influxd: InfluxServer,
    influx_db: str,
    v2_forwarder: V2Forwarder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = make_sink(v2_config(v2_forwarder, influx_db, token="wrong"))
    rec = Recorder()
    task = asyncio.create_task(rec.delivery(sink, Quarantine(tmp_path)).deliver(make_points(3)))
    try:
        with caplog.at_level(logging.ERROR, logger="collector.influx.delivery"):
            await wait_for(lambda: len(rec.retries) >= 2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await sink.close()
    assert {s for s, _ in rec.retries} == {401}
    assert rec.quarantined == [] and list(read_quarantine(tmp_path)) == []
    assert rec.written == [] and influxd.points("m", influx_db) == []
    assert any("credentials" in r.getMessage() for r in caplog.records)


async def test_v2_client_sends_one_request_per_write_whatever_the_answer(
    influx_db: str, v2_forwarder: V2Forwarder
) -> None:
    """influxdb-client must not retry on its own: retrying is the delivery policy's job."""
    v2_forwarder.fail_next(503, retry_after="7")
    sink = V2Sink(v2_config(v2_forwarder, influx_db))
    bad_token = V2Sink(v2_config(v2_forwarder, influx_db, token="wrong"))
    try:
        # 503 is what its batching mode would retry; in SYNCHRONOUS mode it must not
        unavailable = await sink.write(b"m v=1i 1")
        refused = await bad_token.write(b"m v=1i 1")
    finally:
        await sink.close()
        await bad_token.close()
    assert (unavailable.status, unavailable.retry_after) == (503, 7.0)
    assert refused.status == 401
    assert [w.status for w in v2_forwarder.writes] == [503, 401]


# -- TLS and auth --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


async def test_https_with_ca_bundle(
    influxd_factory: InfluxFactory, tls_files: TlsFiles, tmp_path: Path
) -> None:
    server = influxd_factory(tls_files.https_settings())
    assert server.url.startswith("https://")
    server.create_database("plant")
    good = V1Sink(InfluxConfig(url=server.url, database="plant", ca_bundle=tls_files.ca))
    system_store = V1Sink(InfluxConfig(url=server.url, database="plant"))
    unverified = V1Sink(InfluxConfig(url=server.url, database="plant", verify_tls=False))
    try:
        assert (await good.write(b"m v=1i 1")).status == 204
        refused = await system_store.write(b"m v=2i 2")
        assert (await unverified.write(b"m v=3i 3")).status == 204
    finally:
        for sink in (good, system_store, unverified):
            await sink.close()
    assert refused.status == 0
    assert "certificate verif" in refused.message.lower()
    assert "ca_bundle" in refused.message
    assert stored_indexes(server, "plant") == [1, 3]


async def test_v2_over_https_with_ca_bundle(
    influxd: InfluxServer, influx_db: str, tls_files: TlsFiles
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    with V2Forwarder(influxd.url, token="t", org="o", ssl_context=context) as forwarder:
        assert forwarder.url.startswith("https://")
        good = V2Sink(v2_config(forwarder, influx_db, ca_bundle=tls_files.ca))
        bad = V2Sink(v2_config(forwarder, influx_db))
        try:
            assert (await good.write(b"m v=1i 1")).status == 204
            refused = await bad.write(b"m v=2i 2")
        finally:
            await good.close()
            await bad.close()
    assert refused.status == 0 and "CERTIFICATE_VERIFY_FAILED" in refused.message
    assert "ca_bundle" in refused.message
    assert stored_indexes(influxd, influx_db) == [1]


async def test_auth_wrong_password_retried_right_password_written(
    influxd_factory: InfluxFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = influxd_factory({"auth-enabled": True})
    server.create_user("admin", "s3cret")
    server.use_credentials("admin", "s3cret")
    wrong = make_sink(InfluxConfig(url=server.url, database="plant", username="admin", password="nope"))
    rec = Recorder()
    task = asyncio.create_task(rec.delivery(wrong, Quarantine(tmp_path)).deliver(make_points(5)))
    try:
        with caplog.at_level(logging.ERROR, logger="collector.influx.delivery"):
            await wait_for(lambda: len(rec.retries) >= 2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wrong.close()
    assert {s for s, _ in rec.retries} == {401}
    assert any("credentials" in r.getMessage() for r in caplog.records)
    right = make_sink(InfluxConfig(url=server.url, database="plant", username="admin", password="s3cret"))
    try:
        # the database does not exist yet: created with the admin's rights
        await Recorder().delivery(right, Quarantine(tmp_path)).deliver(make_points(5))
    finally:
        await right.close()
    assert stored_indexes(server, "plant") == list(range(5))


async def test_cancel_during_backoff_is_prompt(tmp_path: Path) -> None:
    sink = make_sink(InfluxConfig(url=f"http://127.0.0.1:{free_port()}", database="x"))
    sleeping = asyncio.Event()
    cancelled = []

    async def endless_backoff(seconds: float) -> None:
        # a backoff that only a cancellation ends; a delivery that swallowed the
        # cancellation and went on to retry again is stopped here
        if cancelled:
            raise RuntimeError("delivery went on after it was cancelled")
        sleeping.set()
        await asyncio.Event().wait()

    delivery = Delivery(sink, Quarantine(tmp_path), retry_min=60, retry_max=60, sleep=endless_backoff)
    task = asyncio.create_task(delivery.deliver(make_points(3)))
    try:
        await asyncio.wait_for(sleeping.wait(), 30)
        cancelled.append(True)
        task.cancel()
        # the deadline only turns a hang into a failure (asyncio.wait does not cancel again)
        await asyncio.wait({task}, timeout=30)
        assert task.cancelled(), "the cancellation did not end the delivery"
    finally:
        await sink.close()


# -- the policy alone, with a scripted sink (no InfluxDB involved) ----------------------------


class ScriptedSink:
    def __init__(self, answer: Callable[[list[bytes]], SinkResponse]) -> None:
        self.answer = answer
        self.requests: list[list[bytes]] = []

    async def write(self, body: bytes) -> SinkResponse:
        points = body.split(b"\n")
        self.requests.append(points)
        return self.answer(points)

    async def close(self) -> None:
        return None


def refuse(bad: set[bytes]) -> Callable[[list[bytes]], SinkResponse]:
    def answer(points: list[bytes]) -> SinkResponse:
        n = sum(p in bad for p in points)
        if n:
            return SinkResponse(400, f"partial write: conflict dropped={n}", None)
        return SinkResponse(204, "", None)

    return answer


async def test_policy_bisection_is_bounded(tmp_path: Path) -> None:
    points = make_points(5000)
    bad = {points[3], points[2500], points[4999]}
    sink = ScriptedSink(refuse(bad))
    rec = Recorder()
    await rec.delivery(sink, Quarantine(tmp_path)).deliver(points)
    assert sum(rec.written) == 4997
    assert sorted(p for b in read_quarantine(tmp_path) for p in b.points) == sorted(bad)
    assert len(sink.requests) <= 1 + 2 * 3 * 13
    # no more than one pass over the batch per bisection level
    assert sum(map(len, sink.requests)) <= 5000 * 14


async def test_policy_backoff_and_retry_after_cap() -> None:
    delivery = Delivery(
        ScriptedSink(refuse(set())),
        Quarantine("/nonexistent"),
        retry_min=0.5,
        retry_max=30,
        rng=random.Random(1),
    )
    for attempt in range(1, 40):
        delay = delivery.backoff(attempt)
        assert 0.5 <= delay <= min(30, 0.5 * 2 ** (attempt - 1))
    assert delivery.backoff(1, retry_after=12) == 12
    assert delivery.backoff(1, retry_after=10_000) == 300  # odd dates do not stall for hours
    assert delivery.backoff(2000) <= 30


def test_retry_after_parsing() -> None:
    now = time.time()
    in_90s = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 1.5 ") == 1.5
    assert abs(parse_retry_after(in_90s, now=now) - 90) < 1.01  # type: ignore[operator]
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0


async def test_policy_keeps_trying_when_the_quarantine_disk_fails(tmp_path: Path) -> None:
    class FlakyQuarantine(Quarantine):
        failures = 2

        async def put(self, points: Sequence[bytes], status: int, reason: str) -> Path:
            if self.failures:
                self.failures -= 1
                raise OSError(28, "No space left on device")
            return await super().put(points, status, reason)

    quarantine = FlakyQuarantine(tmp_path)
    rec = Recorder()
    point = make_points(1)
    await rec.delivery(ScriptedSink(refuse(set(point))), quarantine).deliver(point)
    assert [b.points for b in read_quarantine(tmp_path)] == [point]
    assert len(rec.sleeps) == 2


def test_quarantine_file_format_and_exact_bytes(tmp_path: Path) -> None:
    when = datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC)
    quarantine = Quarantine(tmp_path, clock=lambda: when)
    points = [b'm s="\xec\x84\xa4\xeb\xb9\x84\nnext" 1', b"m v=\xff 2"]  # Korean; invalid UTF-8
    path = quarantine.put_blocking(points, 400, "HTTP 400: bad")
    assert path.name == "quarantine-20240501.jsonl"
    record = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert record["status"] == 400 and record["reason"] == "HTTP 400: bad"
    assert record["quarantined_at"] == "2024-05-01T23:59:59+00:00"
    quarantine.put_blocking([b"m v=1i 3"], 413, "HTTP 413: too large")
    with path.open("ab") as f:
        f.write(b'{"quarantined_at": "2024-05-01T2')  # torn by a crash mid-append
    batches = list(read_quarantine(tmp_path))
    assert [b.points for b in batches] == [points, [b"m v=1i 3"]]
    assert [b.line for b in batches] == [1, 2]
