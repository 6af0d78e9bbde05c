"""Operator input in the registry database: the reason tree from the registry file,
idempotent resends, optimistic edits, the edit window and the append-only audit trail."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from assessor.domain.operator_input import OperatorStop, Segment
from assessor.registry.importer import RegistryError, parse_registry
from assessor.registry.operator_store import (
    CountCorrection,
    EditWindowClosed,
    EntryConflict,
    OperatorStore,
    ScrapEntry,
)
from assessor.registry.schema import MIGRATIONS, SCHEMA_VERSION
from assessor.registry.store import RegistryStore, _statements
from assessor.services.auth import Role, authenticate, create_token
from assessor.web.registry_yaml import factory_yaml

YAML = """\
factories:
  - id: f1
    name: 공장
    lines:
      - id: l1
        machines:
          - {id: m1, ideal_cycle_time: 1s}
    downtime_reasons:
      - {code: jam, category: 설비, name_ko: 걸림, name_en: Jam}
      - {code: changeover, category: method, name_ko: 품종 교체, planned: true}
"""
T0 = dt.datetime(2024, 3, 6, 3, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> RegistryStore:
    s = RegistryStore(tmp_path / "r.sqlite")
    s.upsert_factories(parse_registry(YAML))
    return s


def one(start: float = 100.0, end: float = 400.0, reason: str = "jam") -> OperatorStop:
    return OperatorStop("l1", "m1", start, end, (Segment(start, end, reason),), "note")


def test_reason_tree_comes_from_the_registry_file_and_survives_the_editor(store: RegistryStore) -> None:
    f = store.factory("f1")
    assert f is not None
    assert [(r.code, r.category, r.planned, r.name_en) for r in f.downtime_reasons] == [
        ("jam", "machine", False, "Jam"),
        ("changeover", "method", True, ""),
    ]
    # the registry page writes a factory back as YAML: the tree must come back unchanged
    assert parse_registry(factory_yaml(f))[0].downtime_reasons == f.downtime_reasons


def test_bad_reason_tree_is_refused_with_its_key_path() -> None:
    with pytest.raises(RegistryError) as exc:
        parse_registry(YAML.replace("category: method", "category: luck"))
    assert "factories[0].downtime_reasons[1].category" in exc.value.errors[0]
    with pytest.raises(RegistryError) as exc:
        parse_registry(YAML.replace("code: changeover", "code: jam"))
    assert "factories[0].downtime_reasons[1].code" in exc.value.errors[0]


def test_resend_with_the_same_client_id_stores_nothing_twice(store: RegistryStore) -> None:
    ops = OperatorStore(store)
    first = ops.add_stop("f1", one(), "fault", "c-1", "line:a", T0)
    again = ops.add_stop("f1", one(), "fault", "c-1", "line:a", T0)
    assert first.created and not again.created
    assert len(ops.stops("f1", 0, 1000)) == 1
    assert [(a.field, a.old_value) for a in ops.audit("f1", "stop")] == [
        ("segments", None),
        ("comment", None),
    ]


def test_a_second_tablet_explaining_the_same_stop_gets_the_stored_entry(store: RegistryStore) -> None:
    ops = OperatorStore(store)
    ops.add_stop("f1", one(), "fault", "c-1", "line:a", T0)
    with pytest.raises(EntryConflict) as exc:
        ops.add_stop("f1", one(150, 300, "changeover"), "fault", "c-2", "line:b", T0)
    assert exc.value.current.stop.segments[0].reason == "jam"


def test_stale_version_is_refused_and_nothing_is_lost(store: RegistryStore) -> None:
    ops = OperatorStore(store)
    sid = ops.add_stop("f1", one(), "fault", "c-1", "line:a", T0).entry.stop.id  # type: ignore[attr-defined]
    seg = (Segment(100.0, 400.0, "changeover"),)
    a = ops.edit_stop("f1", sid, 1, seg, None, "e-a", "line:a", 86400, T0)
    assert a.entry.stop.version == 2  # type: ignore[attr-defined]
    with pytest.raises(EntryConflict) as exc:
        ops.edit_stop("f1", sid, 1, None, "other", "e-b", "line:b", 86400, T0)
    assert exc.value.current.stop.segments == seg and exc.value.current.stop.comment == "note"
    # the same edit sent again (its answer was lost) is not a conflict
    assert not ops.edit_stop("f1", sid, 1, seg, None, "e-a", "line:a", 86400, T0).created
    changes = [(a.field, a.old_value is not None, a.who) for a in ops.audit("f1", "stop", sid)]
    assert changes[-1] == ("segments", True, "line:a")


def test_scrap_and_count_edits_follow_the_same_version_rules(store: RegistryStore) -> None:
    ops = OperatorStore(store)
    scrap = ops.add_scrap("f1", ScrapEntry("l1", "m1", "", 100.0, 4, "jam"), "s-1", "line:a", T0).entry
    edited = ops.edit_scrap("f1", scrap.id, 1, {"quantity": 6}, "se-a", "line:a", 86400, T0).entry
    assert (edited.quantity, edited.version, edited.updated_by) == (6, 2, "line:a")
    with pytest.raises(EntryConflict) as exc:
        ops.edit_scrap("f1", scrap.id, 1, {"quantity": 9}, "se-b", "line:b", 86400, T0)
    assert exc.value.current.quantity == 6
    assert not ops.edit_scrap("f1", scrap.id, 1, {"quantity": 6}, "se-a", "line:a", 86400, T0).created
    assert [(a.field, a.old_value, a.new_value) for a in ops.audit("f1", "scrap", scrap.id)][-1] == (
        "quantity",
        "4",
        "6",
    )
    c = CountCorrection("l1", "m1", "", "2024-03-06", "", None, 100)
    count = ops.add_count_correction("f1", c, "c-1", "line:a", T0).entry
    with pytest.raises(EditWindowClosed):
        ops.edit_count_correction(
            "f1", count.id, 1, {"new_count": 90}, "ce-1", "line:a", 86400, T0 + dt.timedelta(hours=25)
        )
    ops.edit_count_correction("f1", count.id, 1, {"new_count": 90}, "ce-2", "line:a", 86400, T0)
    with pytest.raises(EntryConflict):
        ops.edit_count_correction("f1", count.id, 1, {"new_count": 80}, "ce-3", "line:b", 86400, T0)
    assert [x.new_count for x in ops.count_corrections("f1", "2024-03-06", "2024-03-06")] == [90]


def test_edit_window(store: RegistryStore) -> None:
    ops = OperatorStore(store)
    sid = ops.add_stop("f1", one(), "fault", "c-1", "line:a", T0).entry.stop.id  # type: ignore[attr-defined]
    late = T0 + dt.timedelta(hours=25)
    with pytest.raises(EditWindowClosed, match="24 h"):
        ops.edit_stop("f1", sid, 1, None, "x", "e-1", "line:a", 86400, late)
    ops.edit_stop("f1", sid, 1, None, "x", "e-2", "line:a", 86400, T0 + dt.timedelta(hours=23))


def test_audit_is_append_only(store: RegistryStore) -> None:
    ops = OperatorStore(store)
    ops.add_stop("f1", one(), "fault", "c-1", "line:a", T0)
    db = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE operator_audit SET who = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM operator_audit")
    db.close()


def test_line_tokens_after_migrating_a_version_6_database(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for step in range(1, 7):
        for statement in _statements(MIGRATIONS[step]):
            db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (6)")
    db.execute("INSERT INTO factories (id, name, timezone) VALUES ('f1', 'x', 'Asia/Seoul')")
    db.execute(
        "INSERT INTO tokens VALUES "
        "('0123456789abcdef', 'factory', 'f1', 'h', '2024-01-01T00:00:00+00:00', '', NULL)"
    )
    db.close()
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.token("0123456789abcdef") is not None
        token = create_token(store, "line", "f1", "line 1 tablet")
        p = authenticate(store, token)
        assert p is not None and p.role is Role.LINE and p.factory_id == "f1"
        assert p.can_enter("f1") and not p.can_see("f1") and not p.can_enter("f2")
