"""The demo's registry entries and its API tokens (operator, factory, line tablet).

Tokens are stored hashed in the registry, so the plaintext exists only once: in
``<var>/demo-tokens.txt`` (mode 0600), written when the demo first creates them. A later
run reads them from there and checks them against the registry; if the file or the
registry is gone, fresh tokens replace them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assessor.domain.models import DowntimeReason, Factory, Product
from assessor.registry.store import RegistryStore
from assessor.services.auth import Role, authenticate, create_token

TOKENS_FILE = "demo-tokens.txt"
_HEADER = (
    "# factorylens demo: API tokens. The registry keeps only their hashes, so this file is\n"
    "# the only copy. Delete it (and the registry) to get new ones.\n"
)


#: what every demo factory makes (docs/demo.md, "Products"): id, name, and the product's
#: ideal cycle time as a multiple of each machine's own ideal cycle time (the registry's
#: ``ideal_cycle_time`` of the machine), so one table fits a press at 5 s and an oven at 90 s
DEMO_PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("A-100", "브래킷", 0.8),
    ("B-200", "하우징", 1.0),
    ("C-300", "커버", 1.25),
)


def demo_products(factory: Factory) -> tuple[Product, ...]:
    """DEMO_PRODUCTS as registry products of ``factory``: each product's time on each
    machine is written out (``machines:`` in the YAML), its default is the factor times
    the factory's slowest machine."""
    slowest = max((m.ideal_cycle_time_s for m in factory.machines), default=1.0)
    return tuple(
        Product(
            pid,
            round(slowest * factor, 3),
            name,
            {m.id: round(m.ideal_cycle_time_s * factor, 3) for m in factory.machines},
        )
        for pid, name, factor in DEMO_PRODUCTS
    )


def with_demo_products(factory: Factory) -> Factory:
    """``factory`` with DEMO_PRODUCTS when its registry entry names no products; a YAML
    that lists its own products keeps them (and the history times units by them)."""
    if factory.products:
        return factory
    return dataclasses.replace(factory, products=demo_products(factory))


def demo_kpis(index: int) -> list[dict[str, object]]:
    """The KPIs of the ``index``-th demo factory's project (docs/targets.md): the two the
    programme's companies pick most, with targets some plants meet and some do not, and
    on every second plant inventory days, whose result is entered by hand (open until it is)."""
    kpis: list[dict[str, object]] = [
        {"kpi": "units_per_hour", "target": "+10%" if index % 2 == 0 else "+25%"},
        {"kpi": "defect_rate", "target": "-50%" if index % 3 != 2 else "-75%"},
    ]
    if index % 2 == 1:
        kpis.append({"kpi": "inventory_days", "baseline": 21, "target": 15, "result_source": "manual"})
    return kpis


#: the reasons the demo's line tablets offer (docs/registry.md, "downtime_reasons[]")
DEMO_REASONS: tuple[DowntimeReason, ...] = (
    DowntimeReason("breakdown", "설비 고장", "Breakdown", "machine"),
    DowntimeReason("jam", "자재 걸림", "Jam", "material"),
    DowntimeReason("material_wait", "자재 대기", "Waiting for material", "material"),
    DowntimeReason("no_operator", "작업자 부재", "No operator", "man"),
    DowntimeReason("changeover", "품종 교체", "Changeover", "method", planned=True),
    DowntimeReason("quality_check", "품질 확인", "Quality check", "measurement"),
)


@dataclass(frozen=True)
class DemoTokens:
    operator: str
    factory: str
    factory_id: str
    created: bool = False
    #: a line tablet's token of the same factory (docs/web.md, "At the line")
    line: str = ""


def prepare_registry(
    store: RegistryStore, factories: Sequence[Factory], answers: dict[str, dict[str, int]]
) -> None:
    """Store the factories (an upsert: each replaces its earlier definition) and give each
    factory questionnaire answers, unless someone has answered for it already."""
    # the line tablets' reason list, for a factory whose entry brings none
    store.upsert_factories(
        [
            f if f.downtime_reasons else dataclasses.replace(f, downtime_reasons=DEMO_REASONS)
            for f in factories
        ]
    )
    now = dt.datetime.now(dt.UTC)
    for f in factories:
        if not store.answers(f.id) and f.id in answers:
            store.save_answers(f.id, answers[f.id], now)


def _read(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            out[key.strip()] = value.strip()
    return out


def _valid(store: RegistryStore, token: str | None, role: Role, factory_id: str | None) -> bool:
    p = authenticate(store, token) if token else None
    return p is not None and p.role is role and p.factory_id == factory_id


def _write(path: Path, tokens: DemoTokens) -> None:
    text = f"{_HEADER}operator={tokens.operator}\nfactory:{tokens.factory_id}={tokens.factory}\n"
    text += f"line:{tokens.factory_id}={tokens.line}\n"
    # created with 0600 from the start: the tokens are never readable by others, not even briefly
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path.with_suffix(".tmp"), path)
    path.chmod(0o600)


def demo_tokens(store: RegistryStore, var: Path, factory_id: str) -> DemoTokens:
    """The tokens of ``<var>/demo-tokens.txt`` if the registry still accepts them, else new
    ones (an operator token and a factory token for ``factory_id``), saved there."""
    path = var / TOKENS_FILE
    saved = _read(path) if path.exists() else {}
    operator = saved.get("operator")
    factory = saved.get(f"factory:{factory_id}")
    line = saved.get(f"line:{factory_id}")
    if _valid(store, operator, Role.OPERATOR, None) and _valid(store, factory, Role.FACTORY, factory_id):
        assert operator is not None and factory is not None
        if _valid(store, line, Role.LINE, factory_id):
            assert line is not None
            return DemoTokens(operator, factory, factory_id, line=line)
        # a tokens file from before the line role: add the tablet's token, keep the others
        tokens = DemoTokens(operator, factory, factory_id, line=_line_token(store, factory_id))
        _write(path, tokens)
        return tokens
    tokens = DemoTokens(
        create_token(store, Role.OPERATOR, label="demo operator"),
        create_token(store, Role.FACTORY, factory_id, label="demo factory"),
        factory_id,
        created=True,
        line=_line_token(store, factory_id),
    )
    _write(path, tokens)
    return tokens


def _line_token(store: RegistryStore, factory_id: str) -> str:
    return create_token(store, Role.LINE, factory_id, label="demo line tablet")
