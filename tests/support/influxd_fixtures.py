"""pytest fixtures for a real InfluxDB 1.6.7 (``influxd``), loaded by tests/conftest.py.

- ``influxd``: one server for the whole session. Do not stop or reconfigure it; use
  ``influxd_private`` or ``influxd_factory`` for that.
- ``influx_db``: a fresh, uniquely named database on ``influxd``; dropped afterwards.
- ``influxd_private``: a server of the test's own (stop, kill, restart freely).
- ``influxd_factory``: ``influxd_factory(http={...})`` starts servers with extra ``[http]``
  settings (max-body-size, auth-enabled, https-enabled + certificate); all stopped after.
- ``v2_forwarder``: the InfluxDB 2.x write API in front of ``influxd`` (see v2_forwarder.py);
  its ``url``, ``token`` and ``org`` go into an ``api: v2`` config, the bucket is a database.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from localservices.influxd import HttpValue, InfluxServer, InfluxServerError
from tests.support.v2_forwarder import V2Forwarder

InfluxFactory = Callable[..., InfluxServer]


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    with InfluxServer(tmp_path_factory.mktemp("influxd-shared")) as server:
        yield server


@pytest.fixture
def influx_db(influxd: InfluxServer) -> Iterator[str]:
    if not influxd.running:
        # a test broke the shared server's contract; keep the rest of the session usable
        influxd.start()
    name = influxd.create_database(unique_name("db"))
    yield name
    with contextlib.suppress(InfluxServerError, OSError):
        influxd.drop_database(name)


@pytest.fixture
def influxd_private(tmp_path: Path) -> Iterator[InfluxServer]:
    with InfluxServer(tmp_path / "influxd") as server:
        yield server


@pytest.fixture
def influxd_factory(tmp_path: Path) -> Iterator[InfluxFactory]:
    servers: list[InfluxServer] = []

    def make(
        http: Mapping[str, HttpValue | Path] | None = None, *, start: bool = True
    ) -> InfluxServer:
        server = InfluxServer(tmp_path / f"influxd-{len(servers)}", http=http)
        servers.append(server)
        return server.start() if start else server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def v2_forwarder(influxd: InfluxServer) -> Iterator[V2Forwarder]:
    forwarder = V2Forwarder(influxd.url, token=unique_name("token"), org="factorylens")
    forwarder.start()
    try:
        yield forwarder
    finally:
        forwarder.stop()
