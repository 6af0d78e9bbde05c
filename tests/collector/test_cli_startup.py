"""`collector run` refuses what it cannot start with as `collector check` does: one clear
message naming the key path, exit status 2, never a traceback. The commands run as
subprocesses; nothing here needs a PLC or InfluxDB, since run stops before polling."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def write_config(tmp: Path, **sections: dict[str, Any]) -> Path:
    doc: dict[str, Any] = {
        "site": {"factory": "f1"},
        "influx": {"url": "http://127.0.0.1:1", "database": "db", "flush_timeout": "1s"},
        "spool": {"path": str(tmp / "spool"), "max_bytes": "8MiB"},
        "metrics": {"listen": ""},
        "log": {"level": "warning"},
        "modbus": {
            "devices": [
                {"machine": "m1", "host": "127.0.0.1", "port": 1, "registers": [{"name": "t", "address": 0}]}
            ]
        },
    }
    for key, values in sections.items():
        doc[key] = {**doc[key], **values}
    path = tmp / "collector.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("spool", {"path": "spool\x00dir"}, "spool.path"),
        ("spool", {"quarantine_path": "q\x00dir"}, "spool.quarantine_path"),
        ("influx", {"retention_policy": "rp\x00"}, "influx.retention_policy"),
    ],
    ids=["spool-path-nul", "quarantine-path-nul", "retention-policy-nul"],
)
def test_what_run_cannot_use_is_refused_by_check_and_run_alike(
    tmp_path: Path, section: str, values: dict[str, Any], key: str
) -> None:
    path = write_config(tmp_path, **{section: values})
    for args in (("check",), ("run", "--once")):
        result = cli(*args, "--config", str(path))
        assert result.returncode == 2, (args, result.stdout, result.stderr[-2000:])
        assert_no_traceback(result)
        assert f"\n  {key}: " in result.stderr, result.stderr


def test_run_with_its_metrics_port_taken_names_metrics_listen_and_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(tmp_path, metrics={"listen": f"127.0.0.1:{port}"})
        result = cli("run", "--once", "--config", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "metrics.listen" in lines[0] and str(port) in lines[0], lines[0]


def test_run_with_a_spool_folder_it_cannot_create_names_spool_path_and_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    path = write_config(tmp_path, spool={"path": str(blocker / "spool")})
    result = cli("run", "--once", "--config", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert_no_traceback(result)
    assert "spool.path" in result.stderr, result.stderr
