"""A support project's KPIs in the registry: the issue's YAML as written, errors with key
path and line, the browser editor's round trip, migration, and entered results."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from assessor.domain.targets import ProjectKpi, ResultSource, Target
from assessor.registry import targets as stored
from assessor.registry.importer import RegistryError, parse_registry
from assessor.registry.schema import MIGRATIONS, SCHEMA_VERSION
from assessor.registry.store import RegistryStore, _statements
from assessor.web.registry_yaml import factory_yaml

ISSUE_YAML = """\
factories:
  - id: f1
    name: 목표정밀
    lines:
      - id: l1
        machines: [{id: m1, ideal_cycle_time: 1s}]
    support_projects:
      - id: sp-2026
        program: basic
        start: 2026-03-10
        end: 2026-07-07
        baseline: {start: 2025-11-01, end: 2026-02-28}
        kpis:
          - {kpi: units_per_hour, target: "+20%"}
          - {kpi: defect_rate, baseline: 0.029, target: 0.018}
          - {kpi: manufacturing_lead_time, target: "-15%"}
          - {kpi: inventory_days, baseline: 21, target: 15, result_source: manual}
"""
AS_WRITTEN = (
    ProjectKpi("units_per_hour", Target(0.2, True), None, ResultSource.DATA),
    ProjectKpi("defect_rate", Target(0.018), 0.029, ResultSource.DATA),
    ProjectKpi("manufacturing_lead_time", Target(-0.15, True), None, ResultSource.DATA),
    ProjectKpi("inventory_days", Target(15.0), 21.0, ResultSource.MANUAL),
)


def test_the_issue_yaml_imports_as_written_and_reads_back(tmp_path: Path) -> None:
    (f,) = parse_registry(ISSUE_YAML)
    assert f.support_projects[0].kpis == AS_WRITTEN
    with RegistryStore(tmp_path / "r.sqlite") as store:
        store.upsert_factories([f])
        assert store.factory("f1") == f
        # importing again replaces the KPIs, it does not add to them
        store.upsert_factories([f])
        assert store.factory("f1").support_projects[0].kpis == AS_WRITTEN  # type: ignore[union-attr]


def test_the_browser_editor_keeps_the_kpis() -> None:
    (f,) = parse_registry(ISSUE_YAML)
    assert parse_registry(factory_yaml(f)) == [f]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'target: "+20%"}',
            'target: "-20%"}',
            "kpis[0].target: units_per_hour: higher is better, a target of -20% is a fall (line 14)",
        ),
        (
            'target: "-15%"}',
            'target: "+15%"}',
            "kpis[2].target: manufacturing_lead_time: lower is better, a target of +15% is a rise (line 16)",
        ),
        (
            "target: 0.018}",
            "target: 0.03}",
            "kpis[1].target: defect_rate: target 0.03 is no improvement on the baseline 0.029 (line 15)",
        ),
        ("target: 0.018}", 'target: "1.8%"}', "kpis[1].target: expected a change with its sign"),
        (
            "kpi: defect_rate,",
            "kpi: defect_rat,",
            "kpis[1].kpi: unknown KPI 'defect_rat'; did you mean 'defect_rate'? (line 15)",
        ),
        (
            "baseline: 21, target: 15, result_source: manual",
            "target: 15",
            "kpis[3].baseline: inventory_days cannot be measured over the baseline window; give the "
            "baseline value (line 17)",
        ),
        (
            "result_source: manual",
            "result_source: data",
            "kpis[3].result_source: inventory_days cannot be measured from the collector's data",
        ),
        (
            "- {kpi: units_per_hour,",
            "- {kpi: defect_rate,",
            "kpis[1].kpi: duplicate KPI 'defect_rate' (already at kpis[0]) (line 15)",
        ),
        ('target: "+20%"}', 'target: "+20%", goal: 3}', "kpis[0].goal: unknown key"),
    ],
)
def test_errors_name_the_key_path_and_line(old: str, new: str, message: str) -> None:
    assert old in ISSUE_YAML
    with pytest.raises(RegistryError) as caught:
        parse_registry(ISSUE_YAML.replace(old, new, 1))
    prefix = "factories[0].support_projects[0]."
    assert any(e.startswith(prefix + message) for e in caught.value.errors), caught.value.errors


def test_a_version_6_registry_gains_the_kpi_tables_and_keeps_its_factories(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for step in range(1, 7):
        for statement in _statements(MIGRATIONS[step]):
            db.execute(statement)
    db.execute("INSERT INTO schema_version (version) VALUES (6)")
    db.execute("INSERT INTO factories (id, name, timezone) VALUES ('old', 'Old', 'Asia/Seoul')")
    db.commit()
    db.close()
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.factory("old") is not None
        (f,) = parse_registry(ISSUE_YAML)
        store.upsert_factories([f])
        assert store.factory("f1").support_projects[0].kpis == AS_WRITTEN  # type: ignore[union-attr]


def test_entered_results_keep_who_when_and_the_file(tmp_path: Path) -> None:
    with RegistryStore(tmp_path / "r.sqlite") as store:
        store.upsert_factories(parse_registry(ISSUE_YAML))
        when = dt.datetime(2026, 7, 10, 9, 30, tzinfo=dt.UTC)
        first = stored.add_result(
            store, "f1", "sp-2026", "inventory_days", 16, note="실사", file_name="a.pdf",
            file_data=b"%PDF first", entered_by="김담당", token_id="tok1", entered_at=when,
        )  # fmt: skip
        second = stored.add_result(
            store, "f1", "sp-2026", "inventory_days", 14, note="재실사", file_name="b.xlsx",
            file_data=b"PK second", entered_by="이감리", token_id="tok2",
        )  # fmt: skip
        # a registry import replaces the project's definition, never its entered results
        store.upsert_factories(parse_registry(ISSUE_YAML))
        kept = stored.results(store, "f1", "sp-2026")
        assert [(r.value, r.entered_by, r.file_name, r.token_id) for r in kept] == [
            (16.0, "김담당", "a.pdf", "tok1"),
            (14.0, "이감리", "b.xlsx", "tok2"),
        ]
        assert kept[0].entered_at == "2026-07-10T09:30:00+00:00" and kept[0] == first
        assert kept[1].file_size == len(b"PK second") and kept[1] == second
        assert stored.result_file(store, "f1", first.id) == ("a.pdf", b"%PDF first")
        with pytest.raises(ValueError, match="empty"):
            stored.add_result(store, "f1", "sp-2026", "inventory_days", 1, note="", file_name="x",
                              file_data=b"", entered_by="x")  # fmt: skip
