"""Registry store: every field round-trips (Korean names included), writes are atomic,
the schema is versioned, and the store can be shared by threads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from assessor.domain.models import (
    BaselineDay,
    BaselineProduct,
    BreakRule,
    DateWindow,
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
from assessor.registry import RegistryStore, RegistryStoreError, UnknownFactoryError, parse_registry
from assessor.registry.schema import SCHEMA_VERSION
from assessor.services.auth import Role, TokenRecord
from tests.support.registry_samples import TWO_FACTORIES_YAML

KST = dt.timezone(dt.timedelta(hours=9))

FULL = Factory(
    id="한빛-정밀",
    name="한빛정밀 주식회사",
    region="충청남도 아산시",
    employees=17,
    calendar=ShiftCalendar(
        timezone="Asia/Seoul",
        shifts=(
            ShiftRule(frozenset({Weekday.MON, Weekday.WED, Weekday.FRI}), dt.time(8), dt.time(17), "주간"),
            ShiftRule(frozenset({Weekday.SAT}), dt.time(22), dt.time(6, 30), "야간"),
        ),
        breaks=(
            BreakRule(dt.time(12), dt.time(13), name="점심"),
            BreakRule(dt.time(2), dt.time(2, 15, 30), frozenset({Weekday.SAT, Weekday.SUN}), "휴식"),
        ),
        holidays=frozenset({dt.date(2023, 5, 5), dt.date(2023, 9, 29)}),
    ),
    lines=(
        Line(
            "라인-1",
            (
                Machine("프레스-01", "라인-1", 1.0, "1호기"),
                Machine("press-02", "라인-1", 0.125),
            ),
            "1라인",
        ),
        Line("line-2", (), ""),
        Line("line-3", (Machine("cnc", "line-3", 37.333333333333336, "CNC 선반"),), "3라인"),
    ),
    support_projects=(
        SupportProject(
            "sp-2022",
            Program.BASIC,
            dt.date(2022, 3, 1),
            dt.date(2022, 8, 31),
            DateWindow(dt.date(2021, 9, 1), dt.date(2022, 2, 28)),
        ),
        SupportProject(
            "sp-2023",
            Program.ADVANCED,
            dt.date(2023, 3, 1),
            dt.date(2023, 8, 31),
            DateWindow(dt.date(2022, 9, 1), dt.date(2023, 2, 28)),
            DateWindow(dt.date(2023, 9, 1), dt.date(2024, 2, 29)),
        ),
    ),
    products=(
        Product("Z-900", 2.5, "마지막 순서"),
        Product("브래킷-A", 37.333333333333336, "브래킷", {"press-02": 0.125, "프레스-01": 1.5, "cnc": 40.0}),
        Product("B-200", 45.0),
    ),
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
def store(path: Path):
    with RegistryStore(path) as s:
        yield s


def day(d: int, line: str = "line-1", **kw: object) -> BaselineDay:
    values: dict = {"hours_worked": 8.0, "workers": 3.0, "produced": 1000 + d, "defects": d} | kw
    return BaselineDay("demo-factory", dt.date(2022, 9, d), line, **values)


@pytest.fixture
def demo(store: RegistryStore) -> RegistryStore:
    store.upsert_factories(parse_registry(TWO_FACTORIES_YAML))
    return store


def test_schema_created_with_version_and_wal(store: RegistryStore, path: Path):
    assert store.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_every_field_round_trips_and_survives_reopening(store: RegistryStore, path: Path):
    store.upsert_factories([FULL])
    assert store.factory(FULL.id) == FULL
    store.close()
    with RegistryStore(path) as again:
        assert again.factory(FULL.id) == FULL
        assert again.factories() == [FULL]


def test_factory_with_nothing_but_a_name(store: RegistryStore):
    bare = Factory(id="f", name="공장")
    store.upsert_factories([bare])
    assert store.factory("f") == bare
    assert store.factory("nope") is None


def test_upsert_replaces_one_factory_and_keeps_the_others(demo: RegistryStore):
    other = demo.factory("천안-가공")
    smaller = dataclasses.replace(FULL, id="demo-factory", lines=FULL.lines[1:2], support_projects=())
    demo.upsert_factories([smaller])
    assert demo.factory("demo-factory") == smaller
    assert demo.factory("천안-가공") == other
    assert [f.id for f in demo.factories()] == ["demo-factory", "천안-가공"]


def test_failed_upsert_changes_nothing(demo: RegistryStore):
    before = demo.factories()
    good = dataclasses.replace(FULL, id="demo-factory")
    # a machine filed under the wrong line fails half-way through the second factory
    broken = Factory("천안-가공", "x", lines=(Line("a", (Machine("m", "b", 1.0),)),))
    with pytest.raises(ValueError, match="sits in"):
        demo.upsert_factories([good, broken])
    assert demo.factories() == before
    with pytest.raises(ValueError, match="repeat"):
        demo.upsert_factories([good, good])


def test_delete_factory_takes_its_data_along(demo: RegistryStore):
    demo.replace_baseline("demo-factory", [day(1)], "log.csv")
    demo.save_answers("demo-factory", {"q1": 3}, dt.datetime(2023, 1, 2, 9, tzinfo=KST))
    demo.add_token(
        TokenRecord("t1", Role.FACTORY, "demo-factory", "h" * 64, dt.datetime(2023, 1, 1, tzinfo=dt.UTC))
    )
    assert demo.delete_factory("demo-factory") is True
    assert demo.delete_factory("demo-factory") is False
    assert demo.factory("demo-factory") is None
    assert demo.baseline("demo-factory") == []
    assert demo.answers("demo-factory") is None
    assert demo.token("t1") is None
    assert demo.factory("천안-가공") is not None


def test_tokens_round_trip(demo: RegistryStore):
    created = dt.datetime(2023, 1, 1, 9, 30, tzinfo=KST)
    op = TokenRecord("a1", Role.OPERATOR, None, "1" * 64, created, "충남TP 담당자")
    fac = TokenRecord("b2", Role.FACTORY, "천안-가공", "2" * 64, created + dt.timedelta(hours=1))
    demo.add_token(op)
    demo.add_token(fac)
    assert demo.token("a1") == op
    assert demo.token_by_hash("2" * 64) == fac
    assert demo.token_by_hash("3" * 64) is None
    assert demo.tokens() == [op, fac]
    assert demo.revoke_token("a1", dt.datetime(2023, 2, 1, tzinfo=dt.UTC)) is True
    assert demo.revoke_token("a1") is False
    assert demo.revoke_token("zz") is False
    assert demo.token("a1").revoked_at == dt.datetime(2023, 2, 1, tzinfo=dt.UTC)


def test_token_checks(demo: RegistryStore):
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(UnknownFactoryError):
        demo.add_token(TokenRecord("c", Role.FACTORY, "ghost", "4" * 64, now))
    with pytest.raises(ValueError):
        demo.add_token(TokenRecord("d", Role.OPERATOR, "demo-factory", "5" * 64, now))
    with pytest.raises(ValueError, match="time zone"):
        demo.add_token(TokenRecord("e", Role.OPERATOR, None, "6" * 64, dt.datetime(2023, 1, 1)))
    assert demo.tokens() == []


def test_answers(demo: RegistryStore):
    when = dt.datetime(2023, 3, 2, 14, 0, tzinfo=KST)
    assert demo.answers("demo-factory") is None
    demo.save_answers("demo-factory", {"리더십.1": 2, "process.3": 4}, when)
    assert demo.answers("demo-factory") == {"리더십.1": 2, "process.3": 4}
    assert demo.answered_at("demo-factory") == when
    demo.save_answers("demo-factory", {"process.3": 5}, when + dt.timedelta(days=1))
    assert demo.answers("demo-factory") == {"process.3": 5}
    with pytest.raises(UnknownFactoryError):
        demo.save_answers("ghost", {}, when)
    with pytest.raises(ValueError):
        demo.save_answers("demo-factory", {"q": 1.5}, when)  # type: ignore[dict-item]


def test_baseline_round_trip_and_range(demo: RegistryStore):
    rows = [
        day(1, energy_kwh=55.5, orders_on_time=4, orders_total=5),
        day(1, "line-2", hours_worked=7.25, workers=2.5),
        day(2),
        day(3, produced=0, defects=0, hours_worked=0.0),
    ]
    demo.replace_baseline("demo-factory", rows, "생산일지.xlsx")
    assert demo.baseline("demo-factory") == rows
    assert demo.baseline("demo-factory", start=dt.date(2022, 9, 2)) == rows[2:]
    assert demo.baseline("demo-factory", end=dt.date(2022, 9, 2)) == rows[:3]
    assert demo.baseline("demo-factory", dt.date(2022, 9, 2), dt.date(2022, 9, 2)) == [rows[2]]
    assert demo.baseline("천안-가공") == []


def test_baseline_product_mix_round_trips(demo: RegistryStore):
    mix = (BaselineProduct("A-100", 600, 6), BaselineProduct("B-200", 401, 0))
    rows = [day(1, products=mix), day(2)]
    demo.replace_baseline("demo-factory", rows, "생산일지.csv")
    got = demo.baseline("demo-factory")
    assert got == rows
    assert got[0].products == mix and got[1].products == ()


def test_replace_baseline_replaces_the_days_and_lines_of_the_file(demo: RegistryStore):
    demo.replace_baseline(
        "demo-factory", [day(1), day(2), day(3), day(1, "line-2"), day(2, "line-2")], "a.csv"
    )
    # a corrected line-1 file for days 1-2: day 2 was dropped from it, day 1 changed
    removed = demo.replace_baseline("demo-factory", [day(1, produced=5, defects=0), day(4)], "b.csv")
    assert removed == 1
    assert demo.baseline("demo-factory") == [
        day(1, produced=5, defects=0),
        day(1, "line-2"),
        day(2),  # day 2 is not in the file: kept
        day(2, "line-2"),
        day(3),
        day(4),
    ]


def test_replace_baseline_is_atomic_and_checked(demo: RegistryStore):
    demo.replace_baseline("demo-factory", [day(1)], "a.csv")
    with pytest.raises(sqlite3.IntegrityError):
        # produced must be a number: the second row fails after the delete ran
        demo.replace_baseline("demo-factory", [day(1, produced=7), day(2, produced=None)], "b.csv")
    assert demo.baseline("demo-factory") == [day(1)]
    with pytest.raises(ValueError, match="belong"):
        demo.replace_baseline("천안-가공", [day(1)], "c.csv")
    with pytest.raises(ValueError, match="repeat"):
        demo.replace_baseline("demo-factory", [day(1), day(1)], "c.csv")
    with pytest.raises(UnknownFactoryError):
        demo.replace_baseline("ghost", [], "c.csv")


def test_a_year_of_days_fits_in_one_replace(demo: RegistryStore):
    start = dt.date(2022, 1, 1)
    rows = [
        BaselineDay("demo-factory", start + dt.timedelta(days=i), line, 8.0, 2.0, i, 0)
        for i in range(366)
        for line in ("line-1", "line-2")
    ]
    demo.replace_baseline("demo-factory", rows, "year.csv")
    assert demo.replace_baseline("demo-factory", rows, "year.csv") == len(rows)
    assert len(demo.baseline("demo-factory")) == len(rows)


def test_threads_share_one_store(demo: RegistryStore):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                demo.save_answers("demo-factory", {f"t{n}": i}, dt.datetime.now(dt.UTC))
                assert demo.factory("demo-factory") is not None
                demo.replace_baseline("demo-factory", [day(1 + n, produced=i, defects=0)], f"t{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.produced for r in demo.baseline("demo-factory")] == [19] * 6


def test_refuses_newer_schema_and_foreign_databases(path: Path, tmp_path: Path):
    RegistryStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(RegistryStoreError, match="newer"):
        RegistryStore(path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE notes (x)")
    with pytest.raises(RegistryStoreError, match="not a registry"):
        RegistryStore(other)


def test_a_version_1_database_gains_line_output_and_keeps_its_machines(path: Path):
    from assessor.registry.schema import DDL_V1

    with sqlite3.connect(path) as raw:
        raw.executescript(DDL_V1)
        raw.execute("INSERT INTO schema_version (version) VALUES (1)")
        raw.execute(
            "INSERT INTO factories (id, name, region, employees, timezone) "
            "VALUES ('f', 'F', '', 3, 'Asia/Seoul')"
        )
        raw.execute("INSERT INTO lines (factory_id, id, name, position) VALUES ('f', 'l', '', 0)")
        raw.execute(
            "INSERT INTO machines (factory_id, line_id, id, name, ideal_cycle_time_s, position) "
            "VALUES ('f', 'l', 'm', '', 2.0, 0)"
        )
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        f = store.factory("f")
        assert f is not None and [(m.id, m.line_output) for m in f.machines] == [("m", False)]


def test_line_output_round_trips(store: RegistryStore):
    text = """\
factories:
  - id: f
    name: F
    lines:
      - id: assembly
        machines:
          - {id: cut, ideal_cycle_time: 2s}
          - {id: pack, ideal_cycle_time: 1s, line_output: true}
"""
    store.upsert_factories(parse_registry(text, "t.yaml"))
    f = store.factory("f")
    assert f is not None and [(m.id, m.line_output) for m in f.machines] == [("cut", False), ("pack", True)]


def test_a_version_2_database_gains_the_small_stop_limit_unset(path: Path):
    from assessor.registry.schema import MIGRATIONS

    with sqlite3.connect(path) as raw:
        for step in (1, 2):
            raw.executescript(MIGRATIONS[step])
        raw.execute("INSERT INTO schema_version (version) VALUES (2)")
        raw.execute(
            "INSERT INTO factories (id, name, region, employees, timezone) "
            "VALUES ('f', 'F', '', 3, 'Asia/Seoul')"
        )
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        f = store.factory("f")
        assert f is not None and f.small_stop_s is None


def test_small_stop_round_trips_and_a_reimport_without_it_clears_it(store: RegistryStore):
    text = "factories:\n  - id: f\n    name: F\n    small_stop: 90s\n"
    store.upsert_factories(parse_registry(text, "t.yaml"))
    f = store.factory("f")
    assert f is not None and f.small_stop_s == 90.0
    store.upsert_factories(parse_registry("factories:\n  - id: f\n    name: F\n", "t.yaml"))
    f = store.factory("f")
    assert f is not None and f.small_stop_s is None


def test_a_version_3_database_gains_edge_storage_and_its_factories_read_the_default(path: Path):
    from assessor.registry.schema import MIGRATIONS

    with sqlite3.connect(path) as raw:
        for step in (1, 2, 3):
            raw.executescript(MIGRATIONS[step])
        raw.execute("INSERT INTO schema_version (version) VALUES (3)")
        raw.execute(
            "INSERT INTO factories (id, name, region, employees, timezone) "
            "VALUES ('f', 'F', '', 3, 'Asia/Seoul')"
        )
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        f = store.factory("f")
        assert f is not None and f.raw_database is None and store.edge_storage("f") is None


def test_edge_storage_survives_a_reimport_and_goes_with_its_factory(store: RegistryStore):
    from assessor.domain.models import EdgeStorage

    text = "factories:\n  - id: f\n    name: F\n"
    store.upsert_factories(parse_registry(text, "t.yaml"))
    with pytest.raises(UnknownFactoryError):
        store.set_edge_storage(EdgeStorage("nobody", "factory_nobody", "edge-nobody", "", "t0"))
    kept = EdgeStorage("f", "factory_f", "edge-f", "", "2026-12-01T00:00:00+00:00")
    store.set_edge_storage(kept)
    store.upsert_factories(parse_registry(text, "t.yaml"))  # the YAML says nothing about storage
    assert store.edge_storage("f") == kept
    assert store.factory("f").raw_database == "factory_f"
    revoked = dataclasses.replace(kept, revoked_at="2026-12-02T00:00:00+00:00")
    store.set_edge_storage(revoked)
    assert store.edge_storage("f") == revoked
    store.delete_factory("f")
    assert store.edge_storage("f") is None


def test_products_keep_their_order_and_their_machines_order(store: RegistryStore):
    store.upsert_factories([FULL])
    f = store.factory(FULL.id)
    assert f is not None
    assert [p.id for p in f.products] == ["Z-900", "브래킷-A", "B-200"]
    assert list(f.products[1].machine_times) == ["press-02", "프레스-01", "cnc"]


def test_a_reimport_replaces_the_products_and_a_delete_takes_them_along(store: RegistryStore, path: Path):
    store.upsert_factories([FULL])
    fewer = dataclasses.replace(FULL, products=(Product("B-200", 44.0, "", {"cnc": 41.0}),))
    store.upsert_factories([fewer])
    assert store.factory(FULL.id) == fewer
    store.upsert_factories([dataclasses.replace(FULL, products=())])
    assert store.factory(FULL.id).products == ()
    store.upsert_factories([FULL])
    store.delete_factory(FULL.id)
    with sqlite3.connect(path) as raw:
        for table in ("products", "product_machine_times"):
            assert raw.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_repeated_product_ids_change_nothing(demo: RegistryStore):
    before = demo.factories()
    twice = dataclasses.replace(FULL, id="demo-factory", products=(Product("A", 1.0), Product("A", 2.0)))
    with pytest.raises(ValueError, match="product ids repeat"):
        demo.upsert_factories([twice])
    assert demo.factories() == before


def test_a_version_4_database_gains_products_and_keeps_its_factories(path: Path):
    from assessor.registry.schema import MIGRATIONS

    with sqlite3.connect(path) as raw:
        for step in (1, 2, 3, 4):
            raw.executescript(MIGRATIONS[step])
        raw.execute("INSERT INTO schema_version (version) VALUES (4)")
        raw.execute(
            "INSERT INTO factories (id, name, region, employees, timezone) "
            "VALUES ('f', 'F', '', 3, 'Asia/Seoul')"
        )
        raw.execute("INSERT INTO lines (factory_id, id, name, position) VALUES ('f', 'l', '', 0)")
        raw.execute(
            "INSERT INTO machines (factory_id, line_id, id, name, ideal_cycle_time_s, position) "
            "VALUES ('f', 'l', 'm', '', 2.0, 0)"
        )
    with RegistryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        f = store.factory("f")
        assert f is not None and f.products == () and [m.id for m in f.machines] == ["m"]
        with_products = dataclasses.replace(f, products=(Product("A-100", 20.0, "브래킷", {"m": 18.0}),))
        store.upsert_factories([with_products])
        assert store.factory("f") == with_products
