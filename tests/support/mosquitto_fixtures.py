"""pytest fixtures for a real mosquitto 2.0 broker, loaded by tests/conftest.py.

- ``mosquitto``: a broker of the test's own, with persistence (stop, kill, restart freely);
  connect to ``mosquitto.host``, ``mosquitto.port``.
- ``mosquitto_factory``: ``mosquitto_factory(persistence=False, password_file=..., tls=...)``
  starts brokers with other settings (keywords of MosquittoServer; ``start=False`` to only
  configure one); all are stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localservices.mosquitto import MosquittoServer

MosquittoFactory = Callable[..., MosquittoServer]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    with MosquittoServer(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    servers: list[MosquittoServer] = []

    def make(*, start: bool = True, **kwargs: Any) -> MosquittoServer:
        server = MosquittoServer(tmp_path / f"mosquitto-{len(servers)}", **kwargs)
        servers.append(server)
        return server.start() if start else server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()
