"""Registry storage of a support project's chosen KPIs and of the results entered by hand
with their evidence (schema step 8, docs/targets.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from typing import TYPE_CHECKING

from assessor.domain.targets import EnteredResult, ProjectKpi, ResultSource, Target

if TYPE_CHECKING:
    from assessor.domain.models import Factory
    from assessor.registry.store import RegistryStore

#: the largest evidence file kept in the registry (a scanned statement, a spreadsheet)
MAX_EVIDENCE_BYTES = 10 * 2**20


def write_project_kpis(db: sqlite3.Connection, f: Factory) -> None:
    """Store the KPIs of ``f``'s projects (their old rows went with the project rows)."""
    db.executemany(
        "INSERT INTO project_kpis (factory_id, project_id, kpi, baseline, target, target_relative, "
        "result_source, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                f.id,
                p.id,
                k.kpi,
                k.baseline,
                k.target.value,
                int(k.target.relative),
                k.result_source.value,
                pos,
            )
            for p in f.support_projects
            for pos, k in enumerate(p.kpis)
        ],
    )


def read_project_kpis(db: sqlite3.Connection, factory_id: str) -> dict[str, tuple[ProjectKpi, ...]]:
    out: dict[str, list[ProjectKpi]] = {}
    for project_id, kpi, baseline, target, relative, source in db.execute(
        "SELECT project_id, kpi, baseline, target, target_relative, result_source FROM project_kpis "
        "WHERE factory_id = ? ORDER BY project_id, position",
        (factory_id,),
    ):
        out.setdefault(project_id, []).append(
            ProjectKpi(kpi, Target(target, bool(relative)), baseline, ResultSource(source))
        )
    return {k: tuple(v) for k, v in out.items()}


_COLUMNS = (
    "id, factory_id, project_id, kpi, value, note, file_name, file_sha256, length(file_data), "
    "entered_by, token_id, entered_at"
)


def add_result(
    store: RegistryStore,
    factory_id: str,
    project_id: str,
    kpi: str,
    value: float,
    *,
    note: str,
    file_name: str,
    file_data: bytes,
    entered_by: str,
    token_id: str = "",
    entered_at: dt.datetime | None = None,
) -> EnteredResult:
    """Keep an entered result with its evidence; earlier entries stay (the newest counts)."""
    if not file_data:
        raise ValueError("the evidence file is empty")
    if len(file_data) > MAX_EVIDENCE_BYTES:
        raise ValueError(f"the evidence file is larger than {MAX_EVIDENCE_BYTES // 2**20} MiB")
    when = (entered_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()
    digest = hashlib.sha256(file_data).hexdigest()
    with store.transaction(write=True) as db:
        store.require_factory(db, factory_id)
        cur = db.execute(
            "INSERT INTO kpi_results (factory_id, project_id, kpi, value, note, file_name, file_sha256, "
            "file_data, entered_by, token_id, entered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                factory_id,
                project_id,
                kpi,
                value,
                note,
                file_name,
                digest,
                file_data,
                entered_by,
                token_id,
                when,
            ),
        )
        row = db.execute(f"SELECT {_COLUMNS} FROM kpi_results WHERE id = ?", (cur.lastrowid,)).fetchone()
    return EnteredResult(*row)


def results(store: RegistryStore, factory_id: str, project_id: str) -> list[EnteredResult]:
    """Every result entered for the project, oldest first."""
    with store.transaction() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM kpi_results WHERE factory_id = ? AND project_id = ? ORDER BY id",
            (factory_id, project_id),
        ).fetchall()
    return [EnteredResult(*r) for r in rows]


def result_file(store: RegistryStore, factory_id: str, result_id: int) -> tuple[str, bytes] | None:
    """(file name, bytes) of an entered result's evidence."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT file_name, file_data FROM kpi_results WHERE factory_id = ? AND id = ?",
            (factory_id, result_id),
        ).fetchone()
    return None if row is None else (row[0], bytes(row[1]))
