"""What people at the line enter, in the registry database (docs/registry.md, "Operator
input"): the reason tree of each factory, reasons for stops, scrap and count corrections,
and the append-only audit trail of every change to them.

Each method is one transaction of the registry store, so an entry and its audit rows are
written together or not at all. Edits are optimistic: the caller names the version it
read, and a stale version is refused with the current entry (never a silent overwrite).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assessor.domain.models import DowntimeReason
from assessor.domain.operator_input import OperatorStop, Segment
from assessor.registry.store import RegistryStore


class EntryConflict(Exception):
    """The entry changed since the caller read it (or another tablet explained the same
    stop first); ``current`` is what is stored now."""

    def __init__(self, message: str, current: StoredStop | ScrapEntry | CountCorrection):
        self.current = current
        super().__init__(message)


class EditWindowClosed(Exception):
    """The entry is older than the edit window."""


@dataclass(frozen=True)
class StoredStop:
    stop: OperatorStop
    state: str
    entered_by: str
    entered_at: str
    updated_by: str
    updated_at: str
    client_id: str


@dataclass(frozen=True)
class ScrapEntry:
    line: str
    machine: str
    product: str
    at: float
    quantity: int
    reason: str
    comment: str = ""
    id: int = 0
    entered_by: str = ""
    entered_at: str = ""
    updated_by: str = ""
    updated_at: str = ""
    version: int = 1


@dataclass(frozen=True)
class CountCorrection:
    line: str
    machine: str
    product: str
    day: str
    shift: str
    old_count: int | None
    new_count: int
    id: int = 0
    entered_by: str = ""
    entered_at: str = ""
    updated_by: str = ""
    updated_at: str = ""
    version: int = 1


@dataclass(frozen=True)
class AuditRow:
    entity: str
    entity_id: int
    field: str
    old_value: str | None
    new_value: str | None
    who: str
    at: str


@dataclass
class Saved:
    """The stored entry and whether this call stored it (False: a resend, already there)."""

    entry: object
    created: bool = True
    extra: dict[str, object] = field(default_factory=dict)


def _now_text(now: dt.datetime | None) -> str:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()


def _segments_json(segments: Sequence[Segment]) -> str:
    return json.dumps([[s.start, s.end, s.reason] for s in segments], ensure_ascii=False)


def _segments_of(text: str) -> tuple[Segment, ...]:
    return tuple(Segment(float(a), float(b), str(r)) for a, b, r in json.loads(text))


_STOP_COLUMNS = (
    "id, line_id, machine_id, state, stop_start, stop_end, segments, comment, version, "
    "entered_by, entered_at, updated_by, updated_at, client_id"
)


def _stop_of(row: tuple) -> StoredStop:
    sid, line, machine, state, start, end, segments, comment, version, eby, eat, uby, uat, cid = row
    stop = OperatorStop(line, machine, start, end, _segments_of(segments), comment, sid, version)
    return StoredStop(stop, state, eby, eat, uby, uat, cid)


def _audit(
    db: sqlite3.Connection,
    factory_id: str,
    entity: str,
    entity_id: int,
    changes: Sequence[tuple[str, object, object]],
    who: str,
    at: str,
) -> None:
    db.executemany(
        "INSERT INTO operator_audit (factory_id, entity, entity_id, field, old_value, new_value, who, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (factory_id, entity, entity_id, name, None if old is None else str(old), str(new), who, at)
            for name, old, new in changes
            if old != new
        ],
    )


class OperatorStore:
    """Operator input in the registry database of ``store``."""

    def __init__(self, store: RegistryStore):
        self.store = store

    # -- reason tree (written with the factory by the registry import) -----------------------

    @staticmethod
    def write_reason_tree(db: sqlite3.Connection, factory_id: str, reasons: Sequence[DowntimeReason]) -> None:
        db.execute("DELETE FROM downtime_reasons WHERE factory_id = ?", (factory_id,))
        db.executemany(
            "INSERT INTO downtime_reasons (factory_id, code, planned, category, name_ko, name_en, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (factory_id, r.code, int(r.planned), r.category, r.name_ko, r.name_en, pos)
                for pos, r in enumerate(reasons)
            ],
        )

    @staticmethod
    def read_reason_tree(db: sqlite3.Connection, factory_id: str) -> tuple[DowntimeReason, ...]:
        return tuple(
            DowntimeReason(code, name_ko, name_en, category, bool(planned))
            for code, planned, category, name_ko, name_en in db.execute(
                "SELECT code, planned, category, name_ko, name_en FROM downtime_reasons "
                "WHERE factory_id = ? ORDER BY position",
                (factory_id,),
            )
        )

    # -- stops -------------------------------------------------------------------------------

    def stops(self, factory_id: str, start: float, end: float) -> list[StoredStop]:
        """Entries for stops that overlap ``[start, end)``, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                f"SELECT {_STOP_COLUMNS} FROM stop_reasons WHERE factory_id = ? "
                "AND stop_start < ? AND stop_end > ? ORDER BY stop_start, id",
                (factory_id, end, start),
            ).fetchall()
        return [_stop_of(r) for r in rows]

    def stop(self, factory_id: str, stop_id: int) -> StoredStop | None:
        with self.store.transaction() as db:
            row = db.execute(
                f"SELECT {_STOP_COLUMNS} FROM stop_reasons WHERE factory_id = ? AND id = ?",
                (factory_id, stop_id),
            ).fetchone()
        return None if row is None else _stop_of(row)

    def machines_with_reasons(self, factory_id: str, start: float, end: float) -> set[str]:
        with self.store.transaction() as db:
            return {
                m
                for (m,) in db.execute(
                    "SELECT DISTINCT machine_id FROM stop_reasons WHERE factory_id = ? "
                    "AND stop_start < ? AND stop_end > ?",
                    (factory_id, end, start),
                )
            }

    def add_stop(
        self,
        factory_id: str,
        stop: OperatorStop,
        state: str,
        client_id: str,
        who: str,
        now: dt.datetime | None = None,
    ) -> Saved:
        """Store the reasons for a stop. A resend of the same ``client_id`` returns the
        stored entry (created False); another entry for an overlapping stop of the same
        machine raises EntryConflict with it."""
        at = _now_text(now)
        with self.store.transaction(write=True) as db:
            self.store.require_factory(db, factory_id)
            row = db.execute(
                f"SELECT {_STOP_COLUMNS} FROM stop_reasons WHERE factory_id = ? AND client_id = ?",
                (factory_id, client_id),
            ).fetchone()
            if row is not None:
                return Saved(_stop_of(row), created=False)
            row = db.execute(
                f"SELECT {_STOP_COLUMNS} FROM stop_reasons WHERE factory_id = ? AND line_id = ? "
                "AND machine_id = ? AND stop_start < ? AND stop_end > ? ORDER BY id LIMIT 1",
                (factory_id, stop.line, stop.machine, stop.end, stop.start),
            ).fetchone()
            if row is not None:
                raise EntryConflict("this stop already has a reason; edit that entry instead", _stop_of(row))
            cur = db.execute(
                "INSERT INTO stop_reasons (factory_id, line_id, machine_id, state, stop_start, stop_end, "
                "segments, reason_code, comment, entered_by, entered_at, updated_by, updated_at, version, "
                "client_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    factory_id,
                    stop.line,
                    stop.machine,
                    state,
                    stop.start,
                    stop.end,
                    _segments_json(stop.segments),
                    stop.segments[0].reason,
                    stop.comment,
                    who,
                    at,
                    who,
                    at,
                    client_id,
                ),
            )
            sid = int(cur.lastrowid or 0)
            _audit(
                db,
                factory_id,
                "stop",
                sid,
                [("segments", None, _segments_json(stop.segments)), ("comment", None, stop.comment or None)],
                who,
                at,
            )
            row = db.execute(f"SELECT {_STOP_COLUMNS} FROM stop_reasons WHERE id = ?", (sid,)).fetchone()
            return Saved(_stop_of(row))

    def edit_stop(
        self,
        factory_id: str,
        stop_id: int,
        version: int,
        segments: Sequence[Segment] | None,
        comment: str | None,
        edit_client_id: str,
        who: str,
        window_s: float,
        now: dt.datetime | None = None,
    ) -> Saved:
        """Change an entry's reasons or comment. ``version``: the one the caller read; a
        stale one raises EntryConflict with the current entry. An entry first made more
        than ``window_s`` ago raises EditWindowClosed. A resend of the same edit
        (``edit_client_id``) returns the entry as it is (created False)."""
        when = now or dt.datetime.now(dt.UTC)
        at = _now_text(when)
        with self.store.transaction(write=True) as db:
            row = db.execute(
                f"SELECT {_STOP_COLUMNS}, last_edit_client_id FROM stop_reasons "
                "WHERE factory_id = ? AND id = ?",
                (factory_id, stop_id),
            ).fetchone()
            if row is None:
                raise LookupError(f"no stop entry {stop_id}")
            current, last_edit = _stop_of(row[:-1]), row[-1]
            if edit_client_id and edit_client_id == last_edit:
                return Saved(current, created=False)
            age = when.timestamp() - dt.datetime.fromisoformat(current.entered_at).timestamp()
            if age > window_s:
                raise EditWindowClosed(
                    f"entries can be changed for {window_s / 3600:g} h after they are made; this one is "
                    f"{age / 3600:.1f} h old"
                )
            if version != current.stop.version:
                raise EntryConflict(
                    f"the entry was changed elsewhere (version {current.stop.version}, you had {version}); "
                    "here is the current one",
                    current,
                )
            new_segments = tuple(segments) if segments is not None else current.stop.segments
            new_comment = comment if comment is not None else current.stop.comment
            old_json, new_json = _segments_json(current.stop.segments), _segments_json(new_segments)
            db.execute(
                "UPDATE stop_reasons SET segments = ?, reason_code = ?, comment = ?, updated_by = ?, "
                "updated_at = ?, version = version + 1, last_edit_client_id = ? WHERE id = ?",
                (new_json, new_segments[0].reason, new_comment, who, at, edit_client_id, stop_id),
            )
            _audit(
                db,
                factory_id,
                "stop",
                stop_id,
                [("segments", old_json, new_json), ("comment", current.stop.comment, new_comment)],
                who,
                at,
            )
            row = db.execute(f"SELECT {_STOP_COLUMNS} FROM stop_reasons WHERE id = ?", (stop_id,)).fetchone()
            return Saved(_stop_of(row))

    # -- scrap and counts ----------------------------------------------------------------------

    def add_scrap(
        self, factory_id: str, e: ScrapEntry, client_id: str, who: str, now: dt.datetime | None = None
    ) -> Saved:
        at = _now_text(now)
        with self.store.transaction(write=True) as db:
            self.store.require_factory(db, factory_id)
            sid, created = _insert_once(
                db,
                "scrap_entries",
                factory_id,
                client_id,
                {
                    "line_id": e.line,
                    "machine_id": e.machine,
                    "product_id": e.product,
                    "at": e.at,
                    "quantity": e.quantity,
                    "reason_code": e.reason,
                    "comment": e.comment,
                },
                who,
                at,
            )
            if not created:
                return Saved(self._scrap(db, sid), created=False)
            _audit(
                db,
                factory_id,
                "scrap",
                sid,
                [("quantity", None, e.quantity), ("reason", None, e.reason)],
                who,
                at,
            )
            return Saved(self._scrap(db, sid))

    @staticmethod
    def _scrap(db: sqlite3.Connection, sid: int) -> ScrapEntry:
        line, machine, product, at, qty, reason, comment, eby, eat, uby, uat, version = db.execute(
            "SELECT line_id, machine_id, product_id, at, quantity, reason_code, comment, entered_by, "
            "entered_at, updated_by, updated_at, version FROM scrap_entries WHERE id = ?",
            (sid,),
        ).fetchone()
        return ScrapEntry(line, machine, product, at, qty, reason, comment, sid, eby, eat, uby, uat, version)

    def factories_with_line_counts(self) -> set[str]:
        """The factories with any scrap entry or count correction: one query, so that a view
        over hundreds of factories looks at the entries of only these."""
        with self.store.transaction() as db:
            return {
                fid
                for (fid,) in db.execute(
                    "SELECT factory_id FROM scrap_entries UNION SELECT factory_id FROM count_corrections"
                )
            }

    def scrap(self, factory_id: str, start: float, end: float) -> list[ScrapEntry]:
        with self.store.transaction() as db:
            ids = [
                i
                for (i,) in db.execute(
                    "SELECT id FROM scrap_entries WHERE factory_id = ? AND at >= ? AND at < ? "
                    "ORDER BY at, id",
                    (factory_id, start, end),
                )
            ]
            return [self._scrap(db, i) for i in ids]

    def add_count_correction(
        self, factory_id: str, c: CountCorrection, client_id: str, who: str, now: dt.datetime | None = None
    ) -> Saved:
        at = _now_text(now)
        with self.store.transaction(write=True) as db:
            self.store.require_factory(db, factory_id)
            cid, created = _insert_once(
                db,
                "count_corrections",
                factory_id,
                client_id,
                {
                    "line_id": c.line,
                    "machine_id": c.machine,
                    "product_id": c.product,
                    "day": c.day,
                    "shift": c.shift,
                    "old_count": c.old_count,
                    "new_count": c.new_count,
                },
                who,
                at,
            )
            if not created:
                return Saved(self._correction(db, cid), created=False)
            _audit(db, factory_id, "count", cid, [("produced", c.old_count, c.new_count)], who, at)
            return Saved(self._correction(db, cid))

    @staticmethod
    def _correction(db: sqlite3.Connection, cid: int) -> CountCorrection:
        line, machine, product, day, shift, old, new, eby, eat, uby, uat, version = db.execute(
            "SELECT line_id, machine_id, product_id, day, shift, old_count, new_count, entered_by, "
            "entered_at, updated_by, updated_at, version FROM count_corrections WHERE id = ?",
            (cid,),
        ).fetchone()
        return CountCorrection(line, machine, product, day, shift, old, new, cid, eby, eat, uby, uat, version)

    def count_corrections(self, factory_id: str, first_day: str, last_day: str) -> list[CountCorrection]:
        """The corrections of the days ``first_day`` .. ``last_day`` (ISO dates), oldest first."""
        with self.store.transaction() as db:
            ids = [
                i
                for (i,) in db.execute(
                    "SELECT id FROM count_corrections WHERE factory_id = ? AND day >= ? AND day <= ? "
                    "ORDER BY id",
                    (factory_id, first_day, last_day),
                )
            ]
            return [self._correction(db, i) for i in ids]

    def edit_scrap(
        self,
        factory_id: str,
        scrap_id: int,
        version: int,
        changes: dict[str, object],
        edit_client_id: str,
        who: str,
        window_s: float,
        now: dt.datetime | None = None,
    ) -> Saved:
        """Change a scrap entry's ``quantity``, ``reason`` or ``comment``, by the rules of
        ``edit_stop`` (version, edit window, a resent edit)."""
        columns = {"quantity": "quantity", "reason": "reason_code", "comment": "comment"}
        return self._edit(
            "scrap_entries",
            "scrap",
            self._scrap,
            columns,
            factory_id,
            scrap_id,
            version,
            changes,
            edit_client_id,
            who,
            window_s,
            now,
        )

    def edit_count_correction(
        self,
        factory_id: str,
        correction_id: int,
        version: int,
        changes: dict[str, object],
        edit_client_id: str,
        who: str,
        window_s: float,
        now: dt.datetime | None = None,
    ) -> Saved:
        """Change a correction's ``new_count``, by the rules of ``edit_stop``."""
        columns = {"new_count": "new_count"}
        return self._edit(
            "count_corrections",
            "count",
            self._correction,
            columns,
            factory_id,
            correction_id,
            version,
            changes,
            edit_client_id,
            who,
            window_s,
            now,
        )

    def _edit(
        self,
        table: str,
        entity: str,
        read: Callable[[sqlite3.Connection, int], ScrapEntry | CountCorrection],
        columns: dict[str, str],
        factory_id: str,
        entry_id: int,
        version: int,
        changes: dict[str, object],
        edit_client_id: str,
        who: str,
        window_s: float,
        now: dt.datetime | None,
    ) -> Saved:
        when = now or dt.datetime.now(dt.UTC)
        at = _now_text(when)
        with self.store.transaction(write=True) as db:
            found = db.execute(
                f"SELECT last_edit_client_id FROM {table} WHERE factory_id = ? AND id = ?",
                (factory_id, entry_id),
            ).fetchone()
            if found is None:
                raise LookupError(f"no {entity} entry {entry_id}")
            current = read(db, entry_id)
            if edit_client_id and edit_client_id == found[0]:
                return Saved(current, created=False)
            age = when.timestamp() - dt.datetime.fromisoformat(current.entered_at).timestamp()
            if age > window_s:
                raise EditWindowClosed(
                    f"entries can be changed for {window_s / 3600:g} h after they are made; this one is "
                    f"{age / 3600:.1f} h old"
                )
            if version != current.version:
                raise EntryConflict(
                    f"the entry was changed elsewhere (version {current.version}, you had {version}); "
                    "here is the current one",
                    current,
                )
            wanted = {k: v for k, v in changes.items() if k in columns and v is not None}
            sets = "".join(f"{columns[k]} = ?, " for k in wanted)
            db.execute(
                f"UPDATE {table} SET {sets}updated_by = ?, updated_at = ?, version = version + 1, "
                "last_edit_client_id = ? WHERE id = ?",
                (*wanted.values(), who, at, edit_client_id, entry_id),
            )
            _audit(
                db,
                factory_id,
                entity,
                entry_id,
                [(k, getattr(current, k), v) for k, v in wanted.items()],
                who,
                at,
            )
            return Saved(read(db, entry_id))

    # -- audit --------------------------------------------------------------------------------

    def audit(
        self, factory_id: str, entity: str | None = None, entity_id: int | None = None
    ) -> list[AuditRow]:
        sql = (
            "SELECT entity, entity_id, field, old_value, new_value, who, at FROM operator_audit "
            "WHERE factory_id = ?"
        )
        params: list[object] = [factory_id]
        if entity is not None:
            sql += " AND entity = ?"
            params.append(entity)
        if entity_id is not None:
            sql += " AND entity_id = ?"
            params.append(entity_id)
        with self.store.transaction() as db:
            return [AuditRow(*r) for r in db.execute(sql + " ORDER BY id", params)]


def _insert_once(
    db: sqlite3.Connection,
    table: str,
    factory_id: str,
    client_id: str,
    values: dict[str, object],
    who: str,
    at: str,
) -> tuple[int, bool]:
    """Insert an entry made at the line unless its client id is already stored (a tablet
    resending after a dropped connection): the row's id, and whether it is new."""
    found = db.execute(
        f"SELECT id FROM {table} WHERE factory_id = ? AND client_id = ?", (factory_id, client_id)
    ).fetchone()
    if found is not None:
        return int(found[0]), False
    row = {
        "factory_id": factory_id,
        **values,
        "entered_by": who,
        "entered_at": at,
        "updated_by": who,
        "updated_at": at,
        "client_id": client_id,
    }
    cur = db.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
    )
    return int(cur.lastrowid or 0), True
