"""The edge install (`pip install factorylens`, no extras) runs the collector.

pyproject.toml's base dependencies are the edge box's; the assessor, the simulator and the
demo are extras (docs/deployment.md). Every import in the edge packages, lazy ones inside
functions included, must therefore come from the standard library, the edge packages
themselves or a base dependency (with what it pulls in); an import of an extra's library
or of a non-edge package of this repository would break the edge box at run time.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "factorylens"
#: what the edge wheel needs of this repository (configkit: shared settings rules, when present)
EDGE_PACKAGES = ("collector", "datacontract", "configkit")
#: this repository's packages that are not edge code: never imported by it
NON_EDGE_PACKAGES = ("assessor", "simulator", "demo", "localservices")
#: what the edge must never need, named outright so that a change to the extras cannot
#: quietly allow them
NEVER_ON_THE_EDGE = ("fastapi", "jinja2", "plotly", "reportlab", "openpyxl", *NON_EDGE_PACKAGES)

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?")


def _normal(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


@cache
def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement(spec: str) -> tuple[str, list[str]]:
    """``name[extra,...] >=1 ; marker`` -> (normalised name, extras)."""
    m = _NAME.match(spec)
    assert m, f"pyproject.toml: cannot read the requirement {spec!r}"
    extras = [e.strip() for e in (m.group(3) or "").split(",") if e.strip()]
    return _normal(m.group(1)), extras


def _project_requirements(extras: Iterable[str] = ()) -> set[str]:
    """Distributions the project asks for with these extras (base dependencies always),
    following the project's references to its own extras."""
    project = _pyproject()["project"]
    specs = list(project["dependencies"])
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in project["optional-dependencies"][extra]:
            name, more = _requirement(spec)
            if name == PROJECT:
                todo.extend(more)
            else:
                specs.append(spec)
    return {_requirement(s)[0] for s in specs}


def _closure(dists: Iterable[str]) -> set[str]:
    """The distributions and what they require, transitively (their own extras left out).
    Markers other than extras count as true: a larger set only allows more."""
    out: set[str] = set()
    todo = list(dists)
    while todo:
        dist = todo.pop()
        if dist in out:
            continue
        out.add(dist)
        try:
            requires = md.requires(dist) or []
        except md.PackageNotFoundError:
            continue
        todo.extend(_requirement(r)[0] for r in requires if "extra ==" not in r.replace('"', "'"))
    return out


@cache
def _modules_of() -> dict[str, set[str]]:
    """Installed distribution (normalised) -> the top-level modules it provides."""
    out: dict[str, set[str]] = {}
    for module, dists in md.packages_distributions().items():
        for dist in dists:
            out.setdefault(_normal(dist), set()).add(module)
    return out


def _modules(dists: Iterable[str]) -> set[str]:
    return set().union(*(_modules_of().get(d, set()) for d in dists))


def imports_of(source: str, filename: str) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every absolute import in a module, at any depth."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def edge_imports() -> Iterator[tuple[str, str]]:
    """(module, "path:line") of every import in the edge packages."""
    for package in EDGE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT)
            for module, line in imports_of(path.read_text(), str(where)):
                yield module, f"{where}:{line}"


def unlisted(imports: Iterable[tuple[str, str]], allowed: set[str]) -> list[str]:
    return sorted(
        f"{where}: imports {module}"
        for module, where in imports
        if module not in allowed and module not in sys.stdlib_module_names
    )


def test_the_edge_packages_exist() -> None:
    # a renamed package would make the scans below pass over nothing
    for package in ("collector", "datacontract"):
        assert (ROOT / package / "__init__.py").is_file(), package


def test_edge_code_imports_only_base_dependencies() -> None:
    base = _closure(_project_requirements())
    allowed = _modules(base) | set(EDGE_PACKAGES)
    assert unlisted(edge_imports(), allowed) == [], (
        "the edge install (pyproject.toml dependencies) does not provide these imports"
    )


def test_edge_code_never_imports_the_extras() -> None:
    extras = set(_pyproject()["project"]["optional-dependencies"]) - {"test"}
    extra_only = _project_requirements(extras) - _project_requirements()
    forbidden = _modules(extra_only) | set(NEVER_ON_THE_EDGE)
    found = sorted(f"{where}: imports {module}" for module, where in edge_imports() if module in forbidden)
    assert found == [], "the edge code needs an extra"


def test_the_extras_are_what_the_roles_install() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {"assessor", "simulator", "demo", "test"} <= set(extras)
    assessor = _project_requirements(["assessor"]) - _project_requirements()
    assert {"fastapi", "uvicorn", "jinja2", "plotly", "reportlab", "openpyxl"} <= assessor
    # none of the assessor's web and report libraries is part of the edge install
    assert not {"fastapi", "jinja2", "plotly", "reportlab", "openpyxl"} & _project_requirements()
    assert _project_requirements(["assessor", "simulator"]) <= _project_requirements(["demo"])
    assert _project_requirements(["demo"]) <= _project_requirements(["test"])


def test_the_scan_sees_lazy_imports_and_flags_them() -> None:
    # the check itself: an import inside a function of an edge module counts
    source = "def report():\n    from reportlab.pdfgen import canvas\n    import orjson\n"
    found = list(imports_of(source, "collector/x.py"))
    assert found == [("reportlab", 2), ("orjson", 3)]
    allowed = _modules(_closure(_project_requirements())) | set(EDGE_PACKAGES)
    assert unlisted(((m, f"collector/x.py:{n}") for m, n in found), allowed) == [
        "collector/x.py:2: imports reportlab",
        "collector/x.py:3: imports orjson",
    ]


def test_the_image_installs_what_its_programs_need() -> None:
    """One image runs the collector, the assessor and the simulator (docker-compose.yml):
    it installs their extras and copies every package a console script lives in."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*?'?\.\[([a-z,]+)\]'?", dockerfile)
    assert installs, "Dockerfile: no `pip install '.[extras]'`"
    assert {"assessor", "simulator"} <= set(installs[0].split(","))
    copied = set(re.findall(r"^COPY (\S+) \./\1$", dockerfile, re.MULTILINE))
    for script, target in _pyproject()["project"]["scripts"].items():
        package = target.split(".")[0]
        assert package in copied, f"Dockerfile: `{script}` needs COPY {package} ./{package}"
