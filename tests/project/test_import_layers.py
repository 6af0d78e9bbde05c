"""The import contracts of pyproject.toml ([tool.importlinter]) hold: the assessor calls
one way (routes -> services -> data access -> pure domain), its routes reach data access
only through the services, the collector and the assessor share only datacontract and
configkit, and the edge package imports neither the simulator nor the demo. And the import
graph has no cycles between packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = (
    "assessor layers: routes -> services -> data access -> domain",
    "routes reach data access only through services",
    "collector and assessor share only datacontract and configkit",
    "the shared rules depend on neither program",
    "the edge package holds only edge code",
    "the assessor runs without the simulator and the demo",
)
PACKAGES = ("assessor", "collector", "datacontract", "configkit", "simulator", "demo", "localservices")


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


def _unit(module: str) -> str:
    """The unit a cycle is looked for between: a module inside a subpackage counts as that
    subpackage (``collector.modbus.poller`` -> ``collector.modbus``), a top-level module as
    itself (``collector.runtime``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else module


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_packages() -> None:
    import grimp

    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = _unit(module), _unit(imported)
            if a != b:
                edges.setdefault(a, set()).add(b)
    assert _cycles(edges) == []
