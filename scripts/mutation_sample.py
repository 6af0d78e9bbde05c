"""A small mutation sample: do the unit tests notice when the code is subtly wrong?

For each target module, the script lists simple mutation sites with ``ast`` (a comparison
made strict or loose, ``+`` for ``-``, ``and`` for ``or``, an integer constant plus one,
a ``not`` dropped), applies one at a time in a scratch copy of the repository, and runs the
named tests with ``pytest -x``. A mutant the tests fail on is killed; one they pass with
survived; one that runs past the timeout counts as killed (a hang is noticed too).

    python scripts/mutation_sample.py \\
        --target assessor/domain/kpi/formulas.py=tests/assessor/domain/kpi/test_formulas.py \\
        --target datacontract/lineprotocol.py=tests/datacontract/test_lineprotocol.py \\
        --max 30 --seed 1

The working tree is never changed: the copy lives in a temporary directory (or
``--scratch``). Paths in ``--target`` are relative to the repository; several test paths
are separated by commas. Mutants are rendered with ``ast.unparse``, so line numbers in the
report are those of the original file.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMPARE_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


@dataclass(frozen=True)
class Site:
    """One mutation: the ``index``-th node (in ast.walk order) gets ``kind``."""

    index: int
    kind: str
    line: int
    text: str


def _docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def sites(tree: ast.AST) -> Iterator[Site]:
    skip = _docstring_nodes(tree)
    for index, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_SWAPS:
            new = COMPARE_SWAPS[type(node.ops[0])].__name__
            yield Site(index, "compare", line, f"{type(node.ops[0]).__name__} -> {new}")
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
            new = BINOP_SWAPS[type(node.op)].__name__
            yield Site(index, "binop", line, f"{type(node.op).__name__} -> {new}")
        elif isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAPS:
            new = BINOP_SWAPS[type(node.op)].__name__
            yield Site(index, "augassign", line, f"{type(node.op).__name__}= -> {new}=")
        elif isinstance(node, ast.BoolOp):
            yield Site(index, "boolop", line, "and <-> or")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield Site(index, "not", line, "not dropped")
        elif isinstance(node, ast.Constant) and type(node.value) is int and id(node) not in skip:
            yield Site(index, "const", line, f"{node.value} -> {node.value + 1}")


def mutate(tree: ast.AST, site: Site) -> ast.AST:
    """A copy of ``tree`` with one operator or constant changed (``not`` is in _DropNot)."""
    tree = copy.deepcopy(tree)
    node = list(ast.walk(tree))[site.index]
    if site.kind == "compare":
        node.ops = [COMPARE_SWAPS[type(node.ops[0])]()]
    elif site.kind in ("binop", "augassign"):
        node.op = BINOP_SWAPS[type(node.op)]()
    elif site.kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif site.kind == "const":
        node.value = node.value + 1
    return tree


class _DropNot(ast.NodeTransformer):
    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if node is self.target:
            return self.generic_visit(node).operand  # type: ignore[attr-defined]
        return self.generic_visit(node)


def mutant_source(tree: ast.AST, site: Site) -> str:
    if site.kind == "not":
        tree = copy.deepcopy(tree)
        target = list(ast.walk(tree))[site.index]
        tree = _DropNot(target).visit(tree)
    else:
        tree = mutate(tree, site)
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(scratch: Path, tests: list[str], timeout: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if result.returncode == 0 else "killed"


def copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "node_modules", ".hypothesis", "*.pyc")
    shutil.copytree(ROOT, dest, ignore=ignore, dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", required=True, help="module.py=test1[,test2...]")
    ap.add_argument("--max", type=int, default=30, help="mutants per module (a random sample)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per test run")
    ap.add_argument("--scratch", type=Path, help="copy of the repository to mutate (made if missing)")
    args = ap.parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="mutation-"))
    if not (scratch / "pyproject.toml").exists():
        copy_repo(scratch)
    rng = random.Random(args.seed)
    summary = []
    for target in args.target:
        module, _, tests_text = target.partition("=")
        tests = [t for t in tests_text.split(",") if t]
        path = scratch / module
        original = path.read_text(encoding="utf-8")
        tree = ast.parse(original)
        found = list(sites(tree))
        chosen = sorted(rng.sample(found, min(args.max, len(found))), key=lambda s: (s.line, s.index))
        if run_tests(scratch, tests, args.timeout) != "survived":
            print(f"{module}: the tests fail without a mutation; skipped", flush=True)
            continue
        survivors = []
        killed = 0
        try:
            for site in chosen:
                path.write_text(mutant_source(tree, site), encoding="utf-8")
                outcome = run_tests(scratch, tests, args.timeout)
                print(f"{module}:{site.line}: {site.text}: {outcome}", flush=True)
                if outcome == "survived":
                    survivors.append(site)
                else:
                    killed += 1
        finally:
            path.write_text(original, encoding="utf-8")
        summary.append((module, len(found), len(chosen), killed, survivors))
    print("\nmodule | sites | mutants | killed | survived")
    for module, n_sites, n, killed, survivors in summary:
        print(f"{module} | {n_sites} | {n} | {killed} | {len(survivors)}")
        for s in survivors:
            print(f"    survived {module}:{s.line}: {s.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
