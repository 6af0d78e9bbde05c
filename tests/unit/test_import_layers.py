"""The import contracts of pyproject.toml ([tool.importlinter]) hold: the assessor calls
one way (routes -> services -> data access -> pure domain), its routes reach data access
only through the services, and the collector and the assessor share only datacontract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = (
    "assessor layers: routes -> services -> data access -> domain",
    "routes reach data access only through services",
    "collector and assessor share only datacontract",
    "datacontract depends on neither program",
)


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # no cache: a cache written before a package gained its __init__.py hides its imports
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in done.stdout, done.stdout
