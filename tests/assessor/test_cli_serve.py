"""The assessor command line and a real `assessor serve` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from localservices.influxd import free_port
from tests.support.assessor_env import REGISTRY_YAML

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "assessor.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def get(url: str, token: str | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_cli_and_serve(influxd, influx_db, tmp_path):
    port = free_port()
    (tmp_path / "assessor.yaml").write_text(
        f"influx: {{url: {influxd.url}, database: {influx_db}, raw_database: {influx_db}}}\n"
        f"registry: data/registry.sqlite\n"
        f"server: {{listen: 127.0.0.1:{port}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "factories.yaml").write_text(REGISTRY_YAML, encoding="utf-8")
    cfg = ["--config", "assessor.yaml"]
    r = run(*cfg, "registry", "import", "factories.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(REGISTRY_YAML.replace("program: basic", "program: premium"), encoding="utf-8")
    r = run(*cfg, "registry", "import", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 1 and "factories[0].support_projects[0].program" in r.stderr
    operator = run(*cfg, "token", "create", "--role", "operator", cwd=tmp_path).stdout.strip()
    factory = run(*cfg, "token", "create", "--role", "factory", "--factory", "demo-factory", cwd=tmp_path)
    assert factory.returncode == 0
    r = run(*cfg, "token", "create", "--role", "factory", "--factory", "nowhere", cwd=tmp_path)
    assert r.returncode != 0 and "nowhere" in r.stderr
    (tmp_path / "log.csv").write_text(
        "date,line,hours_worked,workers,produced,defects\n2022-09-01,line-1,8,3,1000,12\n", encoding="utf-8"
    )
    r = run(*cfg, "baseline", "import", "--factory", "demo-factory", "log.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "bad.csv").write_text(
        "date,line,hours_worked,workers,produced,defects\n2022-13-01,line-9,8,3,10,12\n", encoding="utf-8"
    )
    r = run(*cfg, "baseline", "import", "--factory", "demo-factory", "bad.csv", cwd=tmp_path)
    assert r.returncode == 1 and "row 2" in r.stderr

    proc = subprocess.Popen(
        [sys.executable, "-m", "assessor.cli", *cfg, "serve"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        status, body = get(f"{base}/api/v1/factories", operator)
        assert status == 200 and {f["id"] for f in body} == {"demo-factory", "other-factory"}
        status, body = get(f"{base}/api/v1/factories", factory.stdout.strip())
        assert status == 200 and [f["id"] for f in body] == ["demo-factory"]
        assert get(f"{base}/api/v1/factories")[0] == 401
        with urllib.request.urlopen(f"{base}/docs", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as r:
            assert "/api/v1/factories/{id}/kpis" in json.loads(r.read())["paths"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_cli_materialize_stores_days_the_refresher_then_leaves_alone(influxd, influx_db, tmp_path):
    """`assessor materialize` writes the same rows as the service, raw counts included, so
    the late-data pass finds nothing to redo."""
    import asyncio

    from assessor.config import load_assessor_config
    from assessor.data.influx_client import InfluxClient
    from assessor.domain.level import load_rules
    from assessor.registry.store import RegistryStore
    from assessor.services import AssessorService
    from tests.assessor.api.test_kpis_api import DAY, at, reference_points

    status, text = influxd.write(reference_points(), influx_db)
    assert status == 204, text
    (tmp_path / "assessor.yaml").write_text(
        f"influx: {{url: {influxd.url}, database: {influx_db}, raw_database: {influx_db}}}\n"
        "registry: r.sqlite\n",
        encoding="utf-8",
    )
    (tmp_path / "factories.yaml").write_text(REGISTRY_YAML, encoding="utf-8")
    cfg = ["--config", "assessor.yaml"]
    assert run(*cfg, "registry", "import", "factories.yaml", cwd=tmp_path).returncode == 0
    r = run(
        *cfg, "materialize", "--factory", "demo-factory", "--start", str(DAY), "--end", str(DAY), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    rows = influxd.points("kpi_daily", influx_db)
    assert len(rows) == 1 and rows[0]["raw_points"] > 0

    async def stale() -> list:
        conf = load_assessor_config(tmp_path / "assessor.yaml")
        with RegistryStore(conf.registry) as store:
            client = InfluxClient(conf.influx)
            try:
                service = AssessorService(conf, store, client, load_rules(None))
                service.clock = lambda: at(14, 0) + 2 * 86400
                factory = store.factory("demo-factory")
                assert factory is not None
                return await service.refresh_late_days(factory)
            finally:
                await client.close()

    assert asyncio.run(stale()) == []
