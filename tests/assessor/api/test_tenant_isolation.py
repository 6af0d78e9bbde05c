"""Each factory's raw data is its own: ``assessor edge provision`` against a real influxd
with authentication on. A box's credential writes its factory's database and nothing
else; points a box tags with another factory never reach that factory's KPIs; revoking
and rotating take the old secret away."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from assessor.cli import main as assessor_main
from assessor.config import load_assessor_config
from assessor.data.influx_client import InfluxClient
from assessor.domain.level import load_rules
from assessor.registry.importer import parse_registry
from assessor.registry.store import RegistryStore
from assessor.services import AssessorService
from collector.influx import make_sink
from collector.influx.config import InfluxConfig
from tests.support.assessor_env import REGISTRY_YAML
from tests.support.influxd_fixtures import InfluxFactory

ADMIN, ADMIN_PW = "admin", "s3cret-admin"
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture
def secured(influxd_factory: InfluxFactory, tmp_path: Path):
    server = influxd_factory({"auth-enabled": True})
    server.create_user(ADMIN, ADMIN_PW)
    server.use_credentials(ADMIN, ADMIN_PW)
    config = tmp_path / "assessor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "influx": {
                    "url": server.url,
                    "database": "factorylens",
                    "username": ADMIN,
                    "password": ADMIN_PW,
                },
                "registry": str(tmp_path / "registry.sqlite"),
            }
        ),
        encoding="utf-8",
    )
    with RegistryStore(tmp_path / "registry.sqlite") as store:
        store.upsert_factories(parse_registry(REGISTRY_YAML))
    return server, config


async def provision(config: Path, factory: str, *extra: str) -> tuple[int, dict, str]:
    """The operator's command, as run from a shell (its own event loop: another thread)."""
    return await asyncio.to_thread(_provision, config, factory, *extra)


def _provision(config: Path, factory: str, *extra: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = assessor_main(["--config", str(config), "edge", "provision", "--factory", factory, *extra])
    return code, (yaml.safe_load(out.getvalue()) or {}), err.getvalue()


async def write_as(block: dict, lines: list[str], database: str | None = None) -> int:
    """Write through the collector's own InfluxDB sink with the printed credentials."""
    influx = dict(block["influx"])
    if database is not None:
        influx["database"] = database
    sink = make_sink(InfluxConfig(**influx))
    try:
        return (await sink.write("\n".join(lines).encode())).status
    finally:
        await sink.close()


def planned_morning() -> float:
    """09:00 in Seoul on last week's Monday: inside demo-factory's day shift."""
    today = dt.datetime.now(SEOUL).date()
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return dt.datetime.combine(monday, dt.time(9, 0), SEOUL).timestamp()


def shift_of(factory: str, machine: str, start: float, minutes: int) -> list[str]:
    """A machine running for ``minutes`` with a count every 10 s (one unit per second), its
    state stored once and the collector's alive record beside it."""
    tags = f"factory={factory},line=line-1,machine={machine}"
    out = [
        f'machine_data,{tags} state="running" {round(start * 1e9)}',
        f"machine_liveness,{tags} alive_s={minutes * 60 + 60} {round(start * 1e9)}",
    ]
    out += [
        f"machine_data,{tags} count_total={i * 10}i {round((start + i * 10) * 1e9)}"
        for i in range(minutes * 6 + 1)
    ]
    return out


async def test_a_box_writes_its_own_database_only_and_foreign_tags_never_reach_another_factory(
    secured, tmp_path: Path
) -> None:
    _, config = secured
    code, demo, err = await provision(config, "demo-factory")
    assert code == 0, err
    assert demo["site"]["factory"] == "demo-factory"
    assert (
        demo["influx"]["database"] == "factory_demo-factory"
        and demo["influx"]["username"] == "edge-demo-factory"
    )
    code, other, err = await provision(config, "other-factory")
    assert code == 0, err

    start = planned_morning()
    # the box's own database: accepted
    assert await write_as(demo, shift_of("demo-factory", "press-01", start, 30)) == 204
    # another factory's database: InfluxDB's own authorization refuses it
    assert (
        await write_as(demo, shift_of("other-factory", "m1", start, 30), other["influx"]["database"]) == 403
    )
    # tagged as the other factory, in its own database: stored there, and never read for it
    assert await write_as(demo, shift_of("other-factory", "m1", start, 30)) == 204
    # an edge credential cannot read either
    with pytest.raises(Exception, match=r"403|not authorized"):
        reader = InfluxClient(load_assessor_config(config).influx.model_copy(
            update={"username": demo["influx"]["username"], "password": demo["influx"]["password"],
                    "database": demo["influx"]["database"]}
        ))  # fmt: skip
        try:
            await reader.query('SELECT * FROM "machine_data" LIMIT 1')
        finally:
            await reader.close()

    cfg = load_assessor_config(config)
    store = RegistryStore(cfg.registry)
    client = InfluxClient(cfg.influx)
    try:
        service = AssessorService(cfg, store, client, load_rules(None))
        demo_f, other_f = store.factory("demo-factory"), store.factory("other-factory")
        assert demo_f.raw_database == "factory_demo-factory"
        window = (start - 60, start + 1800)
        (demo_row,) = await service.kpi_rows(demo_f, *window, "factory", "total")
        assert demo_row["total_count"] == 1800
        rows = await service.kpi_rows(other_f, *window, "factory", "total")
        assert not rows or not rows[0].get("total_count")
        # the other factory's data health sees nothing either
        health = await service.data_health([other_f])
        assert health["other-factory"] == {"m1": None}
    finally:
        await client.close()
        store.close()


async def test_revoke_and_rotate_take_the_old_secret_away(secured) -> None:
    server, config = secured
    code, first, err = await provision(config, "demo-factory")
    assert code == 0, err
    line = ["machine_data,factory=demo-factory,line=line-1,machine=press-01 count_total=1i"]
    assert await write_as(first, line) == 204
    code, second, err = await provision(config, "demo-factory")
    assert code == 0, err
    assert second["influx"]["password"] != first["influx"]["password"]
    assert await write_as(first, line) == 401
    assert await write_as(second, line) == 204
    code, _, err = await provision(config, "demo-factory", "--revoke")
    assert code == 0, err
    assert await write_as(second, line) == 401
    # the data stays
    assert server.count("machine_data", "factory_demo-factory") >= 1
    code, _, err = await provision(config, "demo-factory", "--revoke")
    assert code == 1 and "no credential" in err


async def test_an_unknown_factory_is_refused(secured) -> None:
    _, config = secured
    code, block, err = await provision(config, "nobody")
    assert code == 1 and "unknown factory 'nobody'" in err and block == {}
