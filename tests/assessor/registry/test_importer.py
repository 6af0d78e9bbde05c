"""Registry YAML: the issue's example imports as written; every bad input names its key path
and line; an import is an all-or-nothing upsert per factory."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from pathlib import Path

import pytest

from assessor.domain.models import (
    BaselineDay,
    DateWindow,
    Program,
    ShiftCalendar,
    Weekday,
)
from assessor.registry import RegistryError, RegistryStore, import_registry, parse_registry
from assessor.registry.importer import import_command
from configkit.units import parse_duration
from tests.support.registry_samples import ISSUE_YAML, TWO_FACTORIES_YAML

WEEKDAYS = frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI})


def errors_of(text: str) -> list[str]:
    with pytest.raises(RegistryError) as info:
        parse_registry(text)
    return info.value.errors


def replaced(old: str, new: str, text: str = ISSUE_YAML) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_issue_example_imports_as_written():
    (f,) = parse_registry(ISSUE_YAML)
    assert (f.id, f.name, f.region, f.employees) == ("demo-factory", "데모정밀", "충남", 23)
    cal = f.calendar
    assert cal.timezone == "Asia/Seoul"
    (shift,) = cal.shifts
    assert shift.days == WEEKDAYS
    assert (shift.start, shift.end, shift.name) == (dt.time(8), dt.time(17), "day")
    (lunch,) = cal.breaks
    assert (lunch.start, lunch.end, lunch.name) == (dt.time(12), dt.time(13), "lunch")
    assert lunch.days == frozenset(Weekday)
    assert cal.holidays == {dt.date(2023, 5, 5)}
    (line,) = f.lines
    (press,) = line.machines
    assert (line.id, press.id, press.line_id, press.ideal_cycle_time_s) == (
        "line-1",
        "press-01",
        "line-1",
        1.0,
    )
    (sp,) = f.support_projects
    assert sp.program is Program.BASIC
    assert (sp.start, sp.end) == (dt.date(2023, 3, 1), dt.date(2023, 8, 31))
    assert sp.baseline == DateWindow(dt.date(2022, 9, 1), dt.date(2023, 2, 28))
    assert sp.after is None


def test_optional_parts_default():
    (f,) = parse_registry("factories: [{id: f1, name: 한빛}]")
    assert f.calendar == ShiftCalendar()  # always planned, Asia/Seoul
    assert (f.region, f.employees, f.lines, f.support_projects) == ("", None, (), ())
    assert f.small_stop_s is None  # the assessor's kpi.small_stop applies


@pytest.mark.parametrize(("value", "seconds"), [("90s", 90.0), ("2m", 120.0), ("45", 45.0), ("0", 0.0)])
def test_a_factory_may_set_its_own_small_stop_limit(value: str, seconds: float):
    (f,) = parse_registry(replaced("    employees: 23\n", f"    employees: 23\n    small_stop: {value}\n"))
    assert f.small_stop_s == seconds


def test_after_window_names_and_durations():
    factories = parse_registry(TWO_FACTORIES_YAML)
    f = factories[0]
    assert f.support_projects[0].after == DateWindow(dt.date(2023, 9, 1), dt.date(2024, 2, 29))
    assert [m.ideal_cycle_time_s for m in f.machines] == [1.0, 1.5, 2.5]
    assert f.lines[0].machines[1].name == "2호기 프레스"
    # machine ids need only be unique within their line
    assert [(m.line_id, m.id) for m in f.machines][-1] == ("line-2", "press-01")
    assert factories[1].id == "천안-가공"


def test_unquoted_times_and_day_groups():
    text = replaced(
        '[{days: [mon, tue, wed, thu, fri], start: "08:00", end: "17:00", name: day}]',
        "[{days: weekdays, start: 8:00, end: 17:00}, {days: [sat], start: 22:00, end: 24:00},"
        " {days: daily, start: '06:00:30', end: '06:00:30'}]",
    )
    shifts = parse_registry(text)[0].calendar.shifts
    # YAML 1.1 would read an unquoted 17:00 as the base-60 number 1020
    assert (shifts[0].days, shifts[0].start, shifts[0].end) == (WEEKDAYS, dt.time(8), dt.time(17))
    assert (shifts[1].days, shifts[1].end) == ({Weekday.SAT}, dt.time(0))
    assert shifts[2].days == frozenset(Weekday)
    assert shifts[2].start == dt.time(6, 0, 30)


def test_issue_error_format_program():
    errors = errors_of(replaced("program: basic", "program: premium"))
    assert errors == [
        "factories[0].support_projects[0].program: unknown program 'premium'; "
        "expected basic, advanced (line 16)"
    ]


BAD = [
    pytest.param(
        ("ideal_cycle_time: 1s", "ideal_cycletime: 1s"),
        "factories[0].lines[0].machines[0].ideal_cycletime: unknown key; "
        "did you mean 'ideal_cycle_time'? (line 14)",
        id="unknown-key",
    ),
    pytest.param(
        ("    name: 데모정밀\n", ""),
        "factories[0].name: required key is missing (line 2)",
        id="missing-key",
    ),
    pytest.param(
        ("id: line-1", 'id: "line-1\\\\"'),
        "factories[0].lines[0].id: id must not contain a backslash: 'line-1\\\\' (line 12)",
        id="trailing-backslash",
    ),
    pytest.param(
        ("id: press-01", 'id: "press\\n01"'),
        "factories[0].lines[0].machines[0].id: id must not contain line breaks",
        id="newline-in-id",
    ),
    pytest.param(
        ("id: demo-factory", 'id: ""'), "factories[0].id: id must not be empty (line 2)", id="empty-id"
    ),
    pytest.param(
        ("id: demo-factory", "id: 0123"),
        "factories[0].id: expected an id as text, got 83; put it in quotes (line 2)",
        id="number-id",
    ),
    pytest.param(
        ("ideal_cycle_time: 1s", "ideal_cycle_time: 0s"),
        "factories[0].lines[0].machines[0].ideal_cycle_time: must be greater than zero, got '0s' (line 14)",
        id="zero-cycle-time",
    ),
    pytest.param(
        ("ideal_cycle_time: 1s", "ideal_cycle_time: fast"),
        "factories[0].lines[0].machines[0].ideal_cycle_time: expected a duration such as '1s' or '500ms'",
        id="bad-duration",
    ),
    pytest.param(
        ("end: 2023-02-28}", "end: 2023-02-30}"),
        "factories[0].support_projects[0].baseline.end: not a valid date: '2023-02-30' "
        "(day is out of range for month) (line 17)",
        id="impossible-date",
    ),
    pytest.param(
        ("start: 2023-03-01", "start: 01/03/2023"),
        "factories[0].support_projects[0].start: expected a date such as 2023-03-01, "
        "got '01/03/2023' (line 16)",
        id="date-format",
    ),
    pytest.param(
        ("holidays: [2023-05-05]", "holidays: [2023-05-05, soon]"),
        "factories[0].calendar.holidays[1]: expected a date such as 2023-03-01, got 'soon' (line 10)",
        id="holiday",
    ),
    pytest.param(
        ("end: 2023-08-31", "end: 2023-02-01"),
        "factories[0].support_projects[0].end: project ends (2023-02-01) "
        "before it starts (2023-03-01) (line 16)",
        id="end-before-start",
    ),
    pytest.param(
        ("end: 2023-02-28}", "end: 2023-03-01}"),
        "factories[0].support_projects[0].baseline.end: baseline window must end before the project starts "
        "(2023-03-01), got 2023-03-01 (line 17)",
        id="baseline-overlaps-project",
    ),
    pytest.param(
        ("baseline: {start: 2022-09-01,", "baseline: {start: 2023-09-01,"),
        "factories[0].support_projects[0].baseline.end: baseline window ends (2023-02-28) before it starts",
        id="baseline-reversed",
    ),
    pytest.param(
        ("end: 2023-02-28}}", "end: 2023-02-28}, after: {start: 2023-08-01, end: 2023-12-31}}"),
        "factories[0].support_projects[0].after.start: after window must start after the project ends "
        "(2023-08-31), got 2023-08-01 (line 17)",
        id="after-overlaps-project",
    ),
    pytest.param(
        ("days: [mon, tue", "days: [monday, tue"),
        "factories[0].calendar.shifts[0].days: unknown day 'monday'; "
        "expected mon, tue, wed, thu, fri, sat, sun, weekdays, daily (line 8)",
        id="day-name",
    ),
    pytest.param(
        ('end: "17:00"', 'end: "25:00"'),
        "factories[0].calendar.shifts[0].end: expected a time of day such as \"08:00\", got '25:00' (line 8)",
        id="clock",
    ),
    pytest.param(
        ('breaks: [{start: "12:00", end: "13:00"', 'breaks: [{start: "12:00", end: "12:00"'),
        "factories[0].calendar.breaks[0].end: break has no length (end = start) (line 9)",
        id="empty-break",
    ),
    pytest.param(
        ("timezone: Asia/Seoul", "timezone: Korea/Chungnam"),
        "factories[0].timezone: unknown time zone 'Korea/Chungnam'; "
        "expected an IANA name such as Asia/Seoul (line 6)",
        id="timezone",
    ),
    pytest.param(
        ("employees: 23", "employees: -3"),
        "factories[0].employees: must not be negative, got -3 (line 5)",
        id="negative-employees",
    ),
    pytest.param(
        ("employees: 23", "employees: 23\n    small_stop: soon"),
        "factories[0].small_stop: expected a duration such as '1s' or '500ms', got 'soon' (line 6)",
        id="small-stop",
    ),
    pytest.param(
        ("employees: 23", "employees: 23\n    small_stop: -30s"),
        "factories[0].small_stop: expected a duration such as '1s' or '500ms', got '-30s' (line 6)",
        id="negative-small-stop",
    ),
    pytest.param(
        ("employees: 23", "employees: many"),
        "factories[0].employees: Input should be a valid integer",
        id="employees-not-a-number",
    ),
    pytest.param(
        ("    lines:\n", "    lines:\n      - {id: line-1}\n"),
        "factories[0].lines[1].id: duplicate line id 'line-1' "
        "(already at factories[0].lines[0].id) (line 13)",
        id="duplicate-line",
    ),
    pytest.param(
        (
            "- {id: press-01, ideal_cycle_time: 1s}",
            "- {id: press-01, ideal_cycle_time: 1s}\n          - {id: press-01, ideal_cycle_time: 2s}",
        ),
        "factories[0].lines[0].machines[1].id: duplicate machine id 'press-01' "
        "(already at factories[0].lines[0].machines[0].id) (line 15)",
        id="duplicate-machine",
    ),
    pytest.param(
        (
            "    support_projects:\n",
            "    support_projects:\n"
            "      - {id: sp-2023, program: basic, start: 2024-03-01, end: 2024-08-31,\n"
            "         baseline: {start: 2023-09-01, end: 2024-02-28}}\n",
        ),
        "factories[0].support_projects[1].id: duplicate support project id 'sp-2023'",
        id="duplicate-project",
    ),
    pytest.param(
        ("factories:\n", "factories:\n  - {id: demo-factory, name: 다른공장}\n"),
        "factories[1].id: duplicate factory id 'demo-factory' (already at factories[0].id) (line 3)",
        id="duplicate-factory",
    ),
    pytest.param(
        ("    region: 충남\n", "    region: 충남\n    region: 경기\n"),
        "line 5, column 5: not valid YAML: found the key 'region' twice",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        ("      holidays: [2023-05-05]", "      holidays: [2023-05-05"),
        "line 11, column 10: not valid YAML: did not find expected ',' or ']'",
        id="yaml-syntax",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), BAD)
def test_bad_input_names_key_path_and_line(edit: tuple[str, str], expected: str):
    errors = errors_of(replaced(*edit))
    assert any(e.startswith(expected) for e in errors), errors


def test_every_error_is_reported_at_once():
    text = replaced("program: basic", "program: premium")
    text = replaced("ideal_cycle_time: 1s", "ideal_cycle_time: -1s", text)
    text = replaced("timezone: Asia/Seoul", "timezone: Mars/Olympus", text)
    errors = errors_of(text)
    assert [e.split(":")[0] for e in errors] == [
        "factories[0].timezone",
        "factories[0].lines[0].machines[0].ideal_cycle_time",
        "factories[0].support_projects[0].program",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "(top level): expected a mapping with a 'factories' list"),
        ("- a\n- b\n", "(top level): expected a mapping with a 'factories' list"),
        ("factories: []\n", "factories: the file lists no factories (line 1)"),
        ("factory: []\n", "factory: unknown key; did you mean 'factories'? (line 1)"),
    ],
)
def test_top_level(text: str, expected: str):
    assert expected in errors_of(text)


# -- import into the store: upsert per factory, all or nothing ---------------------------


@pytest.fixture
def store(tmp_path: Path):
    with RegistryStore(tmp_path / "registry.db") as s:
        yield s


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_upserts_per_factory(store: RegistryStore, tmp_path: Path):
    first = import_registry(store, write(tmp_path, "a.yaml", TWO_FACTORIES_YAML))
    assert [f.id for f in store.factories()] == sorted(f.id for f in first)
    row = BaselineDay("demo-factory", dt.date(2022, 9, 1), "line-2", 8, 3, 100, 1)
    store.replace_baseline("demo-factory", [row], "log.csv")

    # the new definition drops line-2 and renames the factory; 천안-가공 is not in the file
    (updated,) = import_registry(store, write(tmp_path, "b.yaml", ISSUE_YAML))
    assert store.factory("demo-factory") == updated
    assert [ln.id for ln in updated.lines] == ["line-1"]
    assert store.factory("천안-가공") == first[1]
    # history stays: the baseline log of the retired line is kept
    assert store.baseline("demo-factory") == [row]


def test_bad_file_changes_nothing(store: RegistryStore, tmp_path: Path):
    import_registry(store, write(tmp_path, "a.yaml", TWO_FACTORIES_YAML))
    before = store.factories()
    # the first factory is fine, the second is not: neither may be written
    bad = (
        ISSUE_YAML
        + "  - {id: 천안-가공, name: 새이름, lines: [{id: l1, machines: [{id: m, ideal_cycle_time: 0}]}]}\n"
    )
    with pytest.raises(RegistryError):
        import_registry(store, write(tmp_path, "bad.yaml", bad))
    assert store.factories() == before


def test_import_reads_utf8_with_bom_and_refuses_other_encodings(store: RegistryStore, tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(ISSUE_YAML.encode("utf-8-sig"))
    assert import_registry(store, path)[0].name == "데모정밀"
    path.write_bytes(ISSUE_YAML.encode("cp949"))
    with pytest.raises(RegistryError, match="not UTF-8"):
        import_registry(store, path)
    with pytest.raises(RegistryError, match="cannot read"):
        import_registry(store, tmp_path / "missing.yaml")


def test_import_command(tmp_path: Path):
    db = tmp_path / "registry.db"
    out, err = io.StringIO(), io.StringIO()
    assert import_command(write(tmp_path, "a.yaml", ISSUE_YAML), db, out, err) == 0
    assert "demo-factory (데모정밀): 1 line(s), 1 machine(s), 1 support project(s)" in out.getvalue()
    bad = write(tmp_path, "bad.yaml", replaced("program: basic", "program: premium"))
    assert import_command(bad, db, out, err) == 1
    assert "refused, nothing was changed" in err.getvalue()
    assert "support_projects[0].program: unknown program 'premium'" in err.getvalue()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as raw:
        raw.execute("CREATE TABLE notes (x)")
    assert import_command(write(tmp_path, "a.yaml", ISSUE_YAML), foreign, out, err) == 2
    assert "cannot use the registry database" in err.getvalue()


# -- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("500ms", 0.5),
        ("2.5s", 2.5),
        ("1m", 60.0),
        ("1 min", 60.0),
        ("250us", 250e-6),
        (3, 3.0),
        (0.2, 0.2),
    ],
)
def test_durations(value: object, seconds: float):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "fast", "1 parsec", "-1s", True, None, float("nan"), -2])
def test_bad_durations(value: object):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("fid", ["a/b", "q?x", "x#1", "100%"])
def test_factory_ids_that_would_break_a_web_address_are_refused(fid: str) -> None:
    text = f'factories:\n  - id: "{fid}"\n    name: x\n'
    with pytest.raises(RegistryError) as exc:
        parse_registry(text, "t.yaml")
    assert any("factories[0].id" in e and "web addresses" in e for e in exc.value.errors), exc.value.errors
