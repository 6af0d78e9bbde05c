"""Loading the demo's history into the registry and InfluxDB, once, and resumably.

``<var>/history/plan.json`` fixes what the first run decided (the anchor day, the number
of days and factories), so every later run, and a run that resumes an interrupted load,
builds the same registry and the same points. Each factory's load ends with a marker
``<var>/history/<factory>.done``; an interrupted load restarts the factories without
one from their beginning. That is safe because the load is deterministic and
idempotent: a point rewritten with the same series and time replaces itself in
InfluxDB, and a baseline import replaces the days it covers. ``<var>/history/complete``
marks the whole load, materialisation included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

from assessor.config import AssessorConfig
from assessor.registry.store import RegistryStore
from assessor.services.inputs import import_baseline
from demo.history import BatchWriter, FactoryPlan, baseline_csv, manual_days, write_measured

PLAN_VERSION = 1

#: posts a batch of a factory's points: (factory id, line protocol); each factory's
#: points go to its own database with its own login
Post = Callable[[str, bytes], None]


@dataclass(frozen=True)
class HistorySettings:
    """What the first run decided; later runs reuse it whatever their flags say."""

    anchor: dt.date
    history_days: int
    factories: int
    version: int = PLAN_VERSION

    def to_json(self) -> str:
        d = asdict(self)
        d["anchor"] = self.anchor.isoformat()
        return json.dumps(d, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> HistorySettings:
        d = json.loads(text)
        return cls(
            dt.date.fromisoformat(d["anchor"]), int(d["history_days"]), int(d["factories"]), d["version"]
        )


def history_dir(var: Path) -> Path:
    return var / "history"


def settings(var: Path, today: dt.date, history_days: int, factories: int) -> tuple[HistorySettings, bool]:
    """The saved settings and True, or new ones (saved now) and False."""
    path = history_dir(var) / "plan.json"
    if path.exists():
        saved = HistorySettings.from_json(path.read_text(encoding="utf-8"))
        if saved.version == PLAN_VERSION:
            return saved, True
    new = HistorySettings(today, history_days, factories)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new.to_json(), encoding="utf-8")
    tmp.replace(path)
    return new, False


def complete(var: Path) -> bool:
    return (history_dir(var) / "complete").exists()


def _mark(path: Path, text: str = "") -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class Progress:
    """One line per factory with the share done: rewritten in place on a terminal, every
    quarter in a log."""

    def __init__(self, label: str, *, stream: TextIO = sys.stdout) -> None:
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self._shown = -1
        self._t0 = time.monotonic()

    def __call__(self, share: float) -> None:
        pct = max(0, min(100, int(share * 100)))
        if self.tty:
            if pct != self._shown:
                self.stream.write(f"\r{self.label}: {pct:3d}%")
                self.stream.flush()
        elif pct // 25 > self._shown // 25 and pct < 100:
            self.stream.write(f"{self.label}: {pct}%\n")
            self.stream.flush()
        self._shown = pct

    def done(self, note: str = "") -> None:
        took = time.monotonic() - self._t0
        end = "\r" if self.tty else ""
        self.stream.write(f"{end}{self.label}: 100% ({took:.1f} s{', ' + note if note else ''})\n")
        self.stream.flush()


def load_factory(
    plan: FactoryPlan,
    var: Path,
    store: RegistryStore,
    post: Post,
    progress: Callable[[float], None],
) -> int:
    """The factory's daily log (CSV under <var>/history, imported as the assessor's manual
    baseline) and its measured "after" window; returns the number of points written."""
    f = plan.factory
    rows = manual_days(plan, plan.project.baseline)
    # the log is written for the registry entry it is imported against
    data = baseline_csv(rows, store.factory(f.id) or f)
    name = f"{f.id}-생산일지.csv"
    (history_dir(var) / name).write_bytes(data)
    if rows:
        import_baseline(store, f.id, data, name)
    progress(0.05)
    writer = BatchWriter(partial(post, f.id))
    try:
        write_measured(plan, writer, progress=lambda share: progress(0.05 + 0.95 * share))
    finally:
        writer.close()
    return writer.points


def load_history(
    plans: Sequence[FactoryPlan],
    var: Path,
    store: RegistryStore,
    post: Post,
) -> None:
    """Every factory without its marker, from its beginning."""
    folder = history_dir(var)
    folder.mkdir(parents=True, exist_ok=True)
    for i, plan in enumerate(plans, start=1):
        f = plan.factory
        marker = folder / f"{f.id}.done"
        label = f"demo: [{i}/{len(plans)}] {f.name} ({f.id}) 이력/history"
        if marker.exists():
            print(f"{label}: already loaded", flush=True)
            continue
        progress = Progress(label)
        points = load_factory(plan, var, store, post, progress)
        progress.done(f"{points:,} points")
        _mark(marker, f"{points}\n")


async def _materialise(cfg: AssessorConfig, plans: Sequence[FactoryPlan]) -> None:
    from assessor.data.influx_client import InfluxClient
    from assessor.domain.level import load_rules
    from assessor.services import AssessorService

    store = RegistryStore(cfg.registry)
    influx = InfluxClient(cfg.influx)
    try:
        service = AssessorService(cfg, store, influx, load_rules(cfg.level_rules))
        for i, plan in enumerate(plans, start=1):
            f = store.factory(plan.factory.id)
            if f is None:
                continue
            label = f"demo: [{i}/{len(plans)}] {f.name} ({f.id}) 일별 KPI/daily KPIs"
            progress = Progress(label)
            progress(0.0)
            await service.backfill(f)
            progress.done()
    finally:
        await influx.close()
        store.close()


def materialise(cfg: AssessorConfig, plans: Sequence[FactoryPlan]) -> None:
    """Store the daily KPIs of every complete day, as the assessor's background refresher
    would on its first pass, so the first page view reads aggregates only."""
    asyncio.run(_materialise(cfg, plans))


def mark_complete(var: Path) -> None:
    _mark(history_dir(var) / "complete", dt.datetime.now(dt.UTC).isoformat() + "\n")
