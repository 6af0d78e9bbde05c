"""The assessor's registry database: factories, access tokens, questionnaire answers and
manual baseline logs, in one SQLite file.

One connection per store, shared by the FastAPI worker threads behind a lock: SQLite
serialises writers anyway, and the registry is small, so a pool would buy nothing.
Every public method is one transaction; a failure leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from assessor.domain.lead_time import OrderLogRow
from assessor.domain.models import (
    BaselineDay,
    BaselineProduct,
    BreakRule,
    DateWindow,
    EdgeStorage,
    Factory,
    Line,
    Machine,
    Product,
    Program,
    ShiftCalendar,
    ShiftRule,
    SupportProject,
    Weekday,
)
from assessor.domain.tokens import Role, TokenRecord
from assessor.registry.schema import MIGRATIONS, SCHEMA_VERSION
from assessor.registry.targets import read_project_kpis, write_project_kpis


class RegistryStoreError(Exception):
    """The database cannot be used (written by a newer version, not a registry, ...)."""


class UnknownFactoryError(LookupError):
    """An operation names a factory the registry does not hold."""

    def __init__(self, factory_id: str):
        self.factory_id = factory_id
        super().__init__(f"unknown factory {factory_id!r}")


_WEEK = list(Weekday)


def _days_text(days: frozenset[Weekday]) -> str:
    return ",".join(d.value for d in _WEEK if d in days)


def _days_of(text: str) -> frozenset[Weekday]:
    return frozenset(Weekday(d) for d in text.split(",") if d)


def _instant_text(when: dt.datetime, what: str) -> str:
    # naive datetimes are ambiguous across the factory's zone and the server's
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got naive {when.isoformat()}")
    return when.astimezone(dt.UTC).isoformat()


def _statements(script: str) -> list[str]:
    """Split an SQL script into statements (semicolons inside comments do not count)."""
    out, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                out.append(buffer)
            buffer = ""
    return out


def _date_or_none(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


class RegistryStore:
    """Registry database at ``path``; created with its schema on first open."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.RLock()
        # isolation_level=None: no implicit transactions; every method opens its own
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL makes NORMAL durable against application crashes; only a power cut
            # may lose the last commits, never corrupt the file
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RegistryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction on the registry (the modules beside this one write through it)."""
        with self._lock:
            # IMMEDIATE takes the write lock up front, so a second process cannot make
            # this transaction fail half-way with SQLITE_BUSY on its first write
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction(write=True) as db:
            has_table = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
            if has_table is None:
                others = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                if others:
                    raise RegistryStoreError(f"{self.path}: an SQLite database, but not a registry")
                version = 0
            else:
                row = db.execute("SELECT max(version) FROM schema_version").fetchone()
                version = row[0] or 0
            if version > SCHEMA_VERSION:
                raise RegistryStoreError(
                    f"{self.path}: schema version {version} is newer than this program knows "
                    f"({SCHEMA_VERSION}); upgrade the assessor"
                )
            # the steps there are: a number may be held for a change that is not here yet
            for step in sorted(s for s in MIGRATIONS if version < s <= SCHEMA_VERSION):
                # executescript would commit the open transaction: run the statements one by one
                for statement in _statements(MIGRATIONS[step]):
                    db.execute(statement)
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (step,))

    def schema_version(self) -> int:
        with self.transaction() as db:
            return int(db.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    # -- factories -------------------------------------------------------------

    def upsert_factories(self, factories: Sequence[Factory]) -> None:
        """Store each factory, replacing the stored definition of a factory with the same
        id (lines, machines, calendar, projects); other factories stay as they are.
        Baseline logs, answers and tokens of a replaced factory are kept."""
        ids = [f.id for f in factories]
        if len(set(ids)) != len(ids):
            raise ValueError(f"factory ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        with self.transaction(write=True) as db:
            for factory in factories:
                self._write_factory(db, factory)

    @staticmethod
    def _write_factory(db: sqlite3.Connection, f: Factory) -> None:
        # an upsert, not INSERT OR REPLACE: replacing the row would cascade-delete the
        # factory's baseline logs, answers and tokens
        db.execute(
            "INSERT INTO factories (id, name, region, employees, timezone, small_stop_s) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, region = excluded.region, "
            "employees = excluded.employees, timezone = excluded.timezone, "
            "small_stop_s = excluded.small_stop_s",
            (f.id, f.name, f.region, f.employees, f.calendar.timezone, f.small_stop_s),
        )
        for table in (
            "product_machine_times",
            "products",
            "machines",
            "lines",
            "shift_rules",
            "break_rules",
            "holidays",
            "support_projects",
        ):
            db.execute(f"DELETE FROM {table} WHERE factory_id = ?", (f.id,))
        for lpos, line in enumerate(f.lines):
            db.execute(
                "INSERT INTO lines (factory_id, id, name, position) VALUES (?, ?, ?, ?)",
                (f.id, line.id, line.name, lpos),
            )
            for mpos, m in enumerate(line.machines):
                if m.line_id != line.id:
                    raise ValueError(f"machine {m.id!r} says line {m.line_id!r} but sits in {line.id!r}")
                db.execute(
                    "INSERT INTO machines "
                    "(factory_id, line_id, id, name, ideal_cycle_time_s, position, line_output) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (f.id, line.id, m.id, m.name, m.ideal_cycle_time_s, mpos, int(m.line_output)),
                )
        RegistryStore._write_products(db, f)
        from assessor.registry.operator_store import OperatorStore

        OperatorStore.write_reason_tree(db, f.id, f.downtime_reasons)
        cal = f.calendar
        for pos, s in enumerate(cal.shifts):
            db.execute(
                'INSERT INTO shift_rules (factory_id, position, days, start, "end", name) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                (f.id, pos, _days_text(s.days), s.start.isoformat(), s.end.isoformat(), s.name),
            )
        for pos, b in enumerate(cal.breaks):
            db.execute(
                'INSERT INTO break_rules (factory_id, position, days, start, "end", name) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                (f.id, pos, _days_text(b.days), b.start.isoformat(), b.end.isoformat(), b.name),
            )
        db.executemany(
            "INSERT INTO holidays (factory_id, day) VALUES (?, ?)",
            [(f.id, d.isoformat()) for d in sorted(cal.holidays)],
        )
        for pos, p in enumerate(f.support_projects):
            db.execute(
                'INSERT INTO support_projects (factory_id, id, program, start, "end", baseline_start, '
                "baseline_end, after_start, after_end, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f.id,
                    p.id,
                    p.program.value,
                    p.start.isoformat(),
                    p.end.isoformat(),
                    p.baseline.start.isoformat(),
                    p.baseline.end.isoformat(),
                    p.after.start.isoformat() if p.after else None,
                    p.after.end.isoformat() if p.after else None,
                    pos,
                ),
            )
        write_project_kpis(db, f)

    @staticmethod
    def _write_products(db: sqlite3.Connection, f: Factory) -> None:
        ids = [p.id for p in f.products]
        if len(set(ids)) != len(ids):
            repeats = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"product ids repeat in factory {f.id!r}: {repeats}")
        for pos, p in enumerate(f.products):
            db.execute(
                "INSERT INTO products (factory_id, id, name, ideal_cycle_time_s, position) "
                "VALUES (?, ?, ?, ?, ?)",
                (f.id, p.id, p.name, p.ideal_cycle_time_s, pos),
            )
            db.executemany(
                "INSERT INTO product_machine_times "
                "(factory_id, product_id, machine_id, ideal_cycle_time_s, position) VALUES (?, ?, ?, ?, ?)",
                [
                    (f.id, p.id, machine_id, seconds, mpos)
                    for mpos, (machine_id, seconds) in enumerate(p.machine_times.items())
                ],
            )

    @staticmethod
    def _read_products(db: sqlite3.Connection, factory_id: str) -> tuple[Product, ...]:
        times: dict[str, dict[str, float]] = {}
        for pid, mid, seconds in db.execute(
            "SELECT product_id, machine_id, ideal_cycle_time_s FROM product_machine_times "
            "WHERE factory_id = ? ORDER BY product_id, position",
            (factory_id,),
        ):
            times.setdefault(pid, {})[mid] = seconds
        return tuple(
            Product(pid, seconds, name, times.get(pid, {}))
            for pid, name, seconds in db.execute(
                "SELECT id, name, ideal_cycle_time_s FROM products WHERE factory_id = ? ORDER BY position",
                (factory_id,),
            )
        )

    def factory(self, factory_id: str) -> Factory | None:
        with self.transaction() as db:
            return self._read_factory(db, factory_id)

    def factories(self) -> list[Factory]:
        """Every factory, ordered by id."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM factories ORDER BY id")]
            return [f for i in ids if (f := self._read_factory(db, i)) is not None]

    def delete_factory(self, factory_id: str) -> bool:
        """Remove a factory with everything that belongs to it (baseline logs, answers,
        tokens). False when there was no such factory."""
        with self.transaction(write=True) as db:
            return db.execute("DELETE FROM factories WHERE id = ?", (factory_id,)).rowcount > 0

    @staticmethod
    def _read_factory(db: sqlite3.Connection, factory_id: str) -> Factory | None:
        row = db.execute(
            "SELECT id, name, region, employees, timezone, small_stop_s FROM factories WHERE id = ?",
            (factory_id,),
        ).fetchone()
        if row is None:
            return None
        machines: dict[str, list[Machine]] = {}
        for line_id, mid, name, ict, output in db.execute(
            "SELECT line_id, id, name, ideal_cycle_time_s, line_output FROM machines WHERE factory_id = ? "
            "ORDER BY line_id, position",
            (factory_id,),
        ):
            machines.setdefault(line_id, []).append(Machine(mid, line_id, ict, name, bool(output)))
        lines = tuple(
            Line(lid, tuple(machines.get(lid, ())), name)
            for lid, name in db.execute(
                "SELECT id, name FROM lines WHERE factory_id = ? ORDER BY position", (factory_id,)
            )
        )
        shifts = tuple(
            ShiftRule(_days_of(days), dt.time.fromisoformat(start), dt.time.fromisoformat(end), name)
            for days, start, end, name in db.execute(
                'SELECT days, start, "end", name FROM shift_rules WHERE factory_id = ? ORDER BY position',
                (factory_id,),
            )
        )
        breaks = tuple(
            BreakRule(dt.time.fromisoformat(start), dt.time.fromisoformat(end), _days_of(days), name)
            for days, start, end, name in db.execute(
                'SELECT days, start, "end", name FROM break_rules WHERE factory_id = ? ORDER BY position',
                (factory_id,),
            )
        )
        holidays = frozenset(
            dt.date.fromisoformat(d)
            for (d,) in db.execute("SELECT day FROM holidays WHERE factory_id = ?", (factory_id,))
        )
        projects = []
        kpis_of = read_project_kpis(db, factory_id)
        for pid, program, start, end, b_start, b_end, a_start, a_end in db.execute(
            'SELECT id, program, start, "end", baseline_start, baseline_end, after_start, after_end '
            "FROM support_projects WHERE factory_id = ? ORDER BY position",
            (factory_id,),
        ):
            after_start, after_end = _date_or_none(a_start), _date_or_none(a_end)
            projects.append(
                SupportProject(
                    id=pid,
                    program=Program(program),
                    start=dt.date.fromisoformat(start),
                    end=dt.date.fromisoformat(end),
                    baseline=DateWindow(dt.date.fromisoformat(b_start), dt.date.fromisoformat(b_end)),
                    after=DateWindow(after_start, after_end) if after_start and after_end else None,
                    kpis=kpis_of.get(pid, ()),
                )
            )
        fid, name, region, employees, timezone, small_stop_s = row
        storage = db.execute(
            "SELECT database FROM edge_storage WHERE factory_id = ?", (factory_id,)
        ).fetchone()
        from assessor.registry.operator_store import OperatorStore
        return Factory(
            id=fid,
            name=name,
            region=region,
            employees=employees,
            calendar=ShiftCalendar(timezone=timezone, shifts=shifts, breaks=breaks, holidays=holidays),
            lines=lines,
            support_projects=tuple(projects),
            small_stop_s=small_stop_s,
            products=RegistryStore._read_products(db, factory_id),
            raw_database=storage[0] if storage else None,
            downtime_reasons=OperatorStore.read_reason_tree(db, factory_id),
        )

    # -- edge storage ------------------------------------------------------------

    def edge_storage(self, factory_id: str) -> EdgeStorage | None:
        with self.transaction() as db:
            row = db.execute(
                "SELECT factory_id, database, writer, writer_id, provisioned_at, revoked_at "
                "FROM edge_storage WHERE factory_id = ?",
                (factory_id,),
            ).fetchone()
        return None if row is None else EdgeStorage(*row)

    def set_edge_storage(self, storage: EdgeStorage) -> None:
        """Record where a factory's raw data lives and which credential writes there."""
        with self.transaction(write=True) as db:
            self.require_factory(db, storage.factory_id)
            db.execute(
                "INSERT INTO edge_storage "
                "(factory_id, database, writer, writer_id, provisioned_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (factory_id) DO UPDATE SET "
                "database = excluded.database, writer = excluded.writer, writer_id = excluded.writer_id, "
                "provisioned_at = excluded.provisioned_at, revoked_at = excluded.revoked_at",
                (
                    storage.factory_id,
                    storage.database,
                    storage.writer,
                    storage.writer_id,
                    storage.provisioned_at,
                    storage.revoked_at,
                ),
            )

    @staticmethod
    def require_factory(db: sqlite3.Connection, factory_id: str) -> None:
        if db.execute("SELECT 1 FROM factories WHERE id = ?", (factory_id,)).fetchone() is None:
            raise UnknownFactoryError(factory_id)

    # -- tokens ----------------------------------------------------------------

    _TOKEN_COLUMNS = "id, role, factory_id, token_hash, created_at, label, revoked_at"

    @staticmethod
    def _token_of(row: tuple | None) -> TokenRecord | None:
        if row is None:
            return None
        tid, role, factory_id, token_hash, created_at, label, revoked_at = row
        return TokenRecord(
            id=tid,
            role=Role(role),
            factory_id=factory_id,
            token_hash=token_hash,
            created_at=dt.datetime.fromisoformat(created_at),
            label=label,
            revoked_at=dt.datetime.fromisoformat(revoked_at) if revoked_at else None,
        )

    def add_token(self, record: TokenRecord) -> None:
        if (record.role is not Role.OPERATOR) != (record.factory_id is not None):
            raise ValueError("a factory or line token needs a factory id; an operator token has none")
        with self.transaction(write=True) as db:
            if record.factory_id is not None:
                self.require_factory(db, record.factory_id)
            db.execute(
                f"INSERT INTO tokens ({self._TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.role.value,
                    record.factory_id,
                    record.token_hash,
                    _instant_text(record.created_at, "created_at"),
                    record.label,
                    _instant_text(record.revoked_at, "revoked_at") if record.revoked_at else None,
                ),
            )

    def token(self, token_id: str) -> TokenRecord | None:
        """The token with this id, revoked or not."""
        with self.transaction() as db:
            row = db.execute(f"SELECT {self._TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
            return self._token_of(row)

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token whose secret hashes to ``token_hash``, revoked or not."""
        with self.transaction() as db:
            row = db.execute(
                f"SELECT {self._TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return self._token_of(row)

    def revoke_token(self, token_id: str, when: dt.datetime | None = None) -> bool:
        """Mark a token revoked (kept for the record). False when no such active token."""
        when = when or dt.datetime.now(dt.UTC)
        with self.transaction(write=True) as db:
            cur = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_instant_text(when, "revocation time"), token_id),
            )
            return cur.rowcount > 0

    def tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, oldest first."""
        with self.transaction() as db:
            rows = db.execute(f"SELECT {self._TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id")
            return [t for row in rows if (t := self._token_of(row)) is not None]

    # -- questionnaire ---------------------------------------------------------

    def save_answers(self, factory_id: str, answers: dict[str, int], answered_at: dt.datetime) -> None:
        """Replace the factory's questionnaire answers (item id -> score)."""
        for key, value in answers.items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"answers map item ids to whole-number scores, got {key!r}: {value!r}")
        payload = json.dumps(answers, ensure_ascii=False, sort_keys=True)
        with self.transaction(write=True) as db:
            self.require_factory(db, factory_id)
            db.execute(
                "INSERT INTO answers (factory_id, answers, answered_at) VALUES (?, ?, ?) "
                "ON CONFLICT (factory_id) DO UPDATE SET answers = excluded.answers, "
                "answered_at = excluded.answered_at",
                (factory_id, payload, _instant_text(answered_at, "answered_at")),
            )

    def answers(self, factory_id: str) -> dict[str, int] | None:
        with self.transaction() as db:
            row = db.execute("SELECT answers FROM answers WHERE factory_id = ?", (factory_id,)).fetchone()
            return None if row is None else dict(json.loads(row[0]))

    def answered_at(self, factory_id: str) -> dt.datetime | None:
        with self.transaction() as db:
            row = db.execute("SELECT answered_at FROM answers WHERE factory_id = ?", (factory_id,)).fetchone()
            return None if row is None else dt.datetime.fromisoformat(row[0])

    # -- baseline logs ---------------------------------------------------------

    def replace_baseline(
        self,
        factory_id: str,
        rows: Sequence[BaselineDay],
        source_name: str,
        imported_at: dt.datetime | None = None,
    ) -> int:
        """Store a factory's manual daily log, the file being the truth for what it covers:
        for every day that appears in ``rows``, the stored rows of the lines that appear in
        ``rows`` are replaced (so a row deleted from a corrected file goes away); other days
        and lines stay. Returns the number of stored rows that were removed or overwritten."""
        if any(r.factory_id != factory_id for r in rows):
            raise ValueError(f"every baseline row must belong to factory {factory_id!r}")
        keys = [(r.day, r.line_id) for r in rows]
        if len(set(keys)) != len(keys):
            raise ValueError("baseline rows repeat a (day, line) pair")
        stamp = _instant_text(imported_at or dt.datetime.now(dt.UTC), "imported_at")
        days = sorted({r.day.isoformat() for r in rows})
        lines = sorted({r.line_id for r in rows})
        with self.transaction(write=True) as db:
            self.require_factory(db, factory_id)
            # json_each instead of IN (?, ?, ...): a year of days can exceed SQLite's limit
            # on bound parameters
            removed = db.execute(
                "DELETE FROM baseline_days WHERE factory_id = ? "
                "AND day IN (SELECT value FROM json_each(?)) AND line_id IN (SELECT value FROM json_each(?))",
                (factory_id, json.dumps(days), json.dumps(lines, ensure_ascii=False)),
            ).rowcount
            db.executemany(
                "INSERT INTO baseline_days (factory_id, day, line_id, hours_worked, workers, produced, "
                "defects, energy_kwh, orders_on_time, orders_total, source_name, imported_at, products) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        factory_id,
                        r.day.isoformat(),
                        r.line_id,
                        r.hours_worked,
                        r.workers,
                        r.produced,
                        r.defects,
                        r.energy_kwh,
                        r.orders_on_time,
                        r.orders_total,
                        source_name,
                        stamp,
                        _products_json(r.products),
                    )
                    for r in rows
                ],
            )
            return removed

    def baseline(
        self, factory_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[BaselineDay]:
        """The factory's manual daily log from ``start`` to ``end`` (both included), by day then line."""
        sql = (
            "SELECT day, line_id, hours_worked, workers, produced, defects, energy_kwh, orders_on_time, "
            "orders_total, products FROM baseline_days WHERE factory_id = ?"
        )
        params: list[object] = [factory_id]
        if start is not None:
            sql += " AND day >= ?"
            params.append(start.isoformat())
        if end is not None:
            sql += " AND day <= ?"
            params.append(end.isoformat())
        sql += " ORDER BY day, line_id"
        with self.transaction() as db:
            return [
                BaselineDay(
                    factory_id=factory_id,
                    day=dt.date.fromisoformat(day),
                    line_id=line_id,
                    hours_worked=hours,
                    workers=workers,
                    produced=produced,
                    defects=defects,
                    energy_kwh=energy,
                    orders_on_time=on_time,
                    orders_total=total,
                    products=_products_from_json(products),
                )
                for day, line_id, hours, workers, produced, defects, energy, on_time, total, products in (
                    db.execute(sql, params)
                )
            ]

    def replace_orders(
        self,
        factory_id: str,
        rows: Sequence[OrderLogRow],
        source_name: str,
        imported_at: dt.datetime | None = None,
    ) -> int:
        """Store a factory's manual order log, the file being the truth for the orders it
        names: every stored row of an order in ``rows`` is replaced (a corrected file
        fixes an order), other orders stay. Returns the number of stored rows removed."""
        stamp = _instant_text(imported_at or dt.datetime.now(dt.UTC), "imported_at")
        orders = sorted({r.order_id for r in rows})
        with self.transaction(write=True) as db:
            self.require_factory(db, factory_id)
            removed = db.execute(
                "DELETE FROM baseline_orders WHERE factory_id = ? "
                "AND order_id IN (SELECT value FROM json_each(?))",
                (factory_id, json.dumps(orders, ensure_ascii=False)),
            ).rowcount
            db.executemany(
                "INSERT INTO baseline_orders (factory_id, order_id, position, start, finish, source_name, "
                "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        factory_id,
                        r.order_id,
                        i,
                        _instant_text(r.start, "start"),
                        _instant_text(r.finish, "finish"),
                        source_name,
                        stamp,
                    )
                    for i, r in enumerate(rows)
                ],
            )
            return removed

    def baseline_orders(self, factory_id: str) -> list[OrderLogRow]:
        """The factory's manual order log, by order then file order; times in UTC."""
        with self.transaction() as db:
            return [
                OrderLogRow(order, dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(finish))
                for order, start, finish in db.execute(
                    "SELECT order_id, start, finish FROM baseline_orders WHERE factory_id = ? "
                    "ORDER BY order_id, position",
                    (factory_id,),
                )
            ]


def _products_json(products: Sequence[BaselineProduct]) -> str | None:
    if not products:
        return None
    return json.dumps([[p.product, p.produced, p.defects] for p in products], ensure_ascii=False)


def _products_from_json(text: str | None) -> tuple[BaselineProduct, ...]:
    if not text:
        return ()
    return tuple(BaselineProduct(str(p), int(n), int(d)) for p, n, d in json.loads(text))
