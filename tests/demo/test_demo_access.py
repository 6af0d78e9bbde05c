"""The demo's logins: the InfluxDB admin login kept once (0600), a var folder of the older
demo (one shared database, no logins) started afresh, the broker ACL derived from the
shipped configs."""

from __future__ import annotations

from pathlib import Path

import yaml

from demo.access import ADMIN_FILE, admin_login, broker_acl, clear_stale, stale

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_admin_login_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = admin_login(tmp_path)
    assert (tmp_path / ADMIN_FILE).stat().st_mode & 0o777 == 0o600
    assert admin_login(tmp_path) == first
    assert len(first.password) >= 20


def test_older_var_folder_is_cleared_but_logs_and_broker_stay(tmp_path: Path) -> None:
    for d in ("influxdb/data/factory", "history", "run", "spool", "logs", "mosquitto"):
        (tmp_path / d).mkdir(parents=True)
    for f in ("registry.sqlite", "demo-tokens.txt", "history/complete", "logs/collector.log"):
        (tmp_path / f).write_text("x")
    assert stale(tmp_path)
    removed = clear_stale(tmp_path)
    assert set(removed) == {"influxdb", "history", "run", "spool", "registry.sqlite", "demo-tokens.txt"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "mosquitto"]
    assert (tmp_path / "logs" / "collector.log").exists()
    assert not stale(tmp_path)


def test_current_var_folder_is_not_stale(tmp_path: Path) -> None:
    assert not stale(tmp_path)  # a first run
    admin_login(tmp_path)
    (tmp_path / "influxdb" / "data").mkdir(parents=True)
    assert not stale(tmp_path)


def _acl() -> dict[str, list[tuple[str, str]]]:
    def shipped(name: str) -> dict:
        return yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))

    return broker_acl(shipped("collector-demo.yaml"), shipped("simulated-packaging.yaml"))


def test_broker_acl_follows_the_shipped_topics() -> None:
    acl = _acl()
    assert acl["viewer"] == [("read", "#")]
    collector = acl["edge-collector"]
    assert ("read", "plant/+/+/telemetry") in collector and ("read", "spBv1.0/packaging/#") in collector
    assert ("readwrite", "factorylens/sync/demo-edge-1") in collector
    assert ("write", "spBv1.0/packaging/NCMD/+") in collector
    assert not [t for a, t in collector if a in ("write", "readwrite") and t.startswith("plant/")]
    assert sorted(acl["packaging-gateway"]) == [
        ("write", "plant/+/+/telemetry"),
        ("write", "spBv1.0/packaging/+/packaging-gateway/#"),
    ]
