"""A collector task that fails is restarted with backoff, counted and shown in /healthz; it does
not end that part of the collector for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import collector.runtime as runtime
from collector.config import parse_config
from collector.runtime import Collector
from tests.support.collector_config import collector_yaml, device_yaml


def make_collector(tmp_path: Path) -> Collector:
    text = collector_yaml("http://127.0.0.1:1", "db", tmp_path / "spool", [device_yaml("m1", 1502)])
    return Collector(parse_config(text, env={}))


async def test_a_failing_task_is_restarted_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "RESTART_MIN", 0.001)
    collector = make_collector(tmp_path)
    calls = 0
    release = asyncio.Event()
    seen: list[dict[str, object]] = []

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise OSError(5, "Input/output error")
        seen.append(collector.health())
        await release.wait()

    task = asyncio.create_task(collector._supervise("forwarder", flaky))
    async with asyncio.timeout(10):
        while not seen:
            await asyncio.sleep(0.001)
    assert calls == 3
    assert (
        collector.metrics.registry.get_sample_value("collector_task_restarts_total", {"task": "forwarder"})
        == 2
    )
    # running again: no longer a problem
    assert seen[0]["status"] == "ok"
    release.set()
    await task


async def test_health_names_a_task_waiting_to_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "RESTART_MIN", 60.0)
    collector = make_collector(tmp_path)

    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(collector._supervise("liveness", broken))
    async with asyncio.timeout(10):
        while collector.health()["status"] == "ok":
            await asyncio.sleep(0.001)
    health = collector.health()
    assert health["status"] == "degraded"
    assert health["problems"] == ["task liveness failed (RuntimeError('boom')); restarting"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
