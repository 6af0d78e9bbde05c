"""SQLite schema of the assessor's registry database.

Dates are ISO text (``2023-03-01``), clock times ``HH:MM:SS``, instants ISO 8601 with
an offset (UTC). ``position`` columns keep the order the registry file gave, so a factory
reads back exactly as it was imported.
"""

from __future__ import annotations

#: Bump when the DDL changes, and add the step to MIGRATIONS.
SCHEMA_VERSION = 9

DDL_V1 = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);

CREATE TABLE factories (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    region    TEXT NOT NULL DEFAULT '',
    employees INTEGER,
    timezone  TEXT NOT NULL
);

CREATE TABLE lines (
    factory_id TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    position   INTEGER NOT NULL,
    PRIMARY KEY (factory_id, id)
);

CREATE TABLE machines (
    factory_id          TEXT NOT NULL,
    line_id             TEXT NOT NULL,
    id                  TEXT NOT NULL,
    name                TEXT NOT NULL DEFAULT '',
    ideal_cycle_time_s  REAL NOT NULL CHECK (ideal_cycle_time_s > 0),
    position            INTEGER NOT NULL,
    PRIMARY KEY (factory_id, line_id, id),
    FOREIGN KEY (factory_id, line_id) REFERENCES lines(factory_id, id) ON DELETE CASCADE
);

-- days: comma-separated weekday names (mon,tue,...)
CREATE TABLE shift_rules (
    factory_id TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    days       TEXT NOT NULL,
    start      TEXT NOT NULL,
    "end"      TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (factory_id, position)
);

CREATE TABLE break_rules (
    factory_id TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    days       TEXT NOT NULL,
    start      TEXT NOT NULL,
    "end"      TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (factory_id, position)
);

CREATE TABLE holidays (
    factory_id TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
    day        TEXT NOT NULL,
    PRIMARY KEY (factory_id, day)
);

CREATE TABLE support_projects (
    factory_id     TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    program        TEXT NOT NULL,
    start          TEXT NOT NULL,
    "end"          TEXT NOT NULL,
    baseline_start TEXT NOT NULL,
    baseline_end   TEXT NOT NULL,
    after_start    TEXT,
    after_end      TEXT,
    position       INTEGER NOT NULL,
    PRIMARY KEY (factory_id, id)
);

-- factory_id NULL for operator tokens; a factory's tokens go with the factory
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('operator', 'factory')),
    factory_id  TEXT REFERENCES factories(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    revoked_at  TEXT,
    CHECK ((role = 'factory') = (factory_id IS NOT NULL))
);

-- the latest questionnaire answers of a factory, item id -> score, as JSON
CREATE TABLE answers (
    factory_id  TEXT PRIMARY KEY REFERENCES factories(id) ON DELETE CASCADE,
    answers     TEXT NOT NULL,
    answered_at TEXT NOT NULL
);

-- Manual daily logs. No foreign key to lines: the log is history and stays when a
-- later registry import retires a line.
CREATE TABLE baseline_days (
    factory_id     TEXT NOT NULL REFERENCES factories(id) ON DELETE CASCADE,
    day            TEXT NOT NULL,
    line_id        TEXT NOT NULL,
    hours_worked   REAL NOT NULL,
    workers        REAL NOT NULL,
    produced       INTEGER NOT NULL,
    defects        INTEGER NOT NULL,
    energy_kwh     REAL,
    orders_on_time INTEGER,
    orders_total   INTEGER,
    source_name    TEXT NOT NULL,
    imported_at    TEXT NOT NULL,
    PRIMARY KEY (factory_id, day, line_id)
);
"""

OPERATOR_DDL = """
CREATE TABLE tokens_v7 (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('operator', 'factory', 'line')),
    factory_id  TEXT REFERENCES factories(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    revoked_at  TEXT,
    CHECK ((role = 'operator') = (factory_id IS NULL))
);
INSERT INTO tokens_v7 SELECT id, role, factory_id, token_hash, created_at, label, revoked_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v7 RENAME TO tokens;

CREATE TABLE downtime_reasons (
    factory_id TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    code       TEXT NOT NULL,
    planned    INTEGER NOT NULL CHECK (planned IN (0, 1)),
    category   TEXT NOT NULL CHECK (category IN ('man', 'machine', 'material', 'method', 'measurement')),
    name_ko    TEXT NOT NULL,
    name_en    TEXT NOT NULL DEFAULT '',
    position   INTEGER NOT NULL,
    PRIMARY KEY (factory_id, code)
);

-- times are epoch seconds (REAL), entered_at ISO 8601 UTC; segments: JSON
-- [[start, end, reason], ...] covering [stop_start, stop_end); client_id: made by the
-- tablet, so a resent entry is recognised
CREATE TABLE stop_reasons (
    id          INTEGER PRIMARY KEY,
    factory_id  TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    line_id     TEXT NOT NULL,
    machine_id  TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '',
    stop_start  REAL NOT NULL,
    stop_end    REAL NOT NULL CHECK (stop_end > stop_start),
    segments    TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    entered_by  TEXT NOT NULL,
    entered_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    client_id   TEXT NOT NULL,
    last_edit_client_id TEXT NOT NULL DEFAULT '',
    UNIQUE (factory_id, client_id)
);
CREATE INDEX stop_reasons_machine ON stop_reasons (factory_id, line_id, machine_id, stop_start);

CREATE TABLE scrap_entries (
    id          INTEGER PRIMARY KEY,
    factory_id  TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    line_id     TEXT NOT NULL,
    machine_id  TEXT NOT NULL,
    product_id  TEXT NOT NULL DEFAULT '',
    at          REAL NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    reason_code TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    entered_by  TEXT NOT NULL,
    entered_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    client_id   TEXT NOT NULL,
    last_edit_client_id TEXT NOT NULL DEFAULT '',
    UNIQUE (factory_id, client_id)
);

CREATE TABLE count_corrections (
    id          INTEGER PRIMARY KEY,
    factory_id  TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    line_id     TEXT NOT NULL,
    machine_id  TEXT NOT NULL,
    product_id  TEXT NOT NULL DEFAULT '',
    day         TEXT NOT NULL,
    shift       TEXT NOT NULL DEFAULT '',
    old_count   INTEGER,
    new_count   INTEGER NOT NULL CHECK (new_count >= 0),
    entered_by  TEXT NOT NULL,
    entered_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    client_id   TEXT NOT NULL,
    last_edit_client_id TEXT NOT NULL DEFAULT '',
    UNIQUE (factory_id, client_id)
);

-- no foreign key: the trail outlives what it describes
CREATE TABLE operator_audit (
    id         INTEGER PRIMARY KEY,
    factory_id TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  INTEGER NOT NULL,
    field      TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    who        TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE TRIGGER operator_audit_no_update BEFORE UPDATE ON operator_audit
BEGIN SELECT RAISE(ABORT, 'operator_audit is append-only'); END;
CREATE TRIGGER operator_audit_no_delete BEFORE DELETE ON operator_audit
BEGIN SELECT RAISE(ABORT, 'operator_audit is append-only'); END;
"""

#: version reached -> DDL that takes the database there from the version before
MIGRATIONS: dict[int, str] = {
    1: DDL_V1,
    # machines that count the line's finished units (docs/kpi-method.md, "Line output")
    2: "ALTER TABLE machines ADD COLUMN line_output INTEGER NOT NULL DEFAULT 0;",
    # a factory's own small-stop limit in seconds; NULL: the assessor's setting
    # (docs/kpi-method.md, "Small stops")
    3: "ALTER TABLE factories ADD COLUMN small_stop_s REAL CHECK (small_stop_s >= 0);",
    # where a factory's raw data lives and the edge credential that may write there
    # (docs/deployment.md, "Each factory's data is its own"); kept apart from the factory
    # row so that importing the registry YAML again never forgets it
    4: """CREATE TABLE edge_storage (
    factory_id TEXT PRIMARY KEY REFERENCES factories (id) ON DELETE CASCADE,
    database TEXT NOT NULL,
    writer TEXT NOT NULL DEFAULT '',
    writer_id TEXT NOT NULL DEFAULT '',
    provisioned_at TEXT NOT NULL,
    revoked_at TEXT
);""",
    # what a factory makes, with its ideal cycle time, and the machines where that product
    # has an ideal time of its own (docs/registry.md, "products[]"); machine_id names a
    # machine of the factory on any line, so it has no foreign key to machines
    5: """CREATE TABLE products (
    factory_id         TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    name               TEXT NOT NULL DEFAULT '',
    ideal_cycle_time_s REAL NOT NULL CHECK (ideal_cycle_time_s > 0),
    position           INTEGER NOT NULL,
    PRIMARY KEY (factory_id, id)
);
CREATE TABLE product_machine_times (
    factory_id         TEXT NOT NULL,
    product_id         TEXT NOT NULL,
    machine_id         TEXT NOT NULL,
    ideal_cycle_time_s REAL NOT NULL CHECK (ideal_cycle_time_s > 0),
    position           INTEGER NOT NULL,
    PRIMARY KEY (factory_id, product_id, machine_id),
    FOREIGN KEY (factory_id, product_id) REFERENCES products (factory_id, id) ON DELETE CASCADE
);""",
    # a manual log row's production per product, as JSON [[product, produced, defects], ...];
    # NULL: the log had no product column (docs/registry.md, "Baseline logs")
    6: "ALTER TABLE baseline_days ADD COLUMN products TEXT;",
    # what people at the line enter (docs/registry.md, "Operator input"): the reason tree,
    # reasons for stops, scrap, count corrections and their append-only audit trail; and
    # the per-factory line role (SQLite cannot change a CHECK: the tokens table is rebuilt)
    7: OPERATOR_DDL,
    # a support project's chosen KPIs with baseline and target, and the results entered by
    # hand with their evidence (docs/targets.md). The results have no foreign key to the
    # project: like the baseline logs they are history and stay through a registry import.
    8: """CREATE TABLE project_kpis (
    factory_id      TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    kpi             TEXT NOT NULL,
    baseline        REAL,
    target          REAL NOT NULL,
    target_relative INTEGER NOT NULL DEFAULT 0,
    result_source   TEXT NOT NULL CHECK (result_source IN ('data', 'manual')),
    position        INTEGER NOT NULL,
    PRIMARY KEY (factory_id, project_id, kpi),
    FOREIGN KEY (factory_id, project_id) REFERENCES support_projects (factory_id, id) ON DELETE CASCADE
);
CREATE TABLE kpi_results (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    factory_id  TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL,
    kpi         TEXT NOT NULL,
    value       REAL NOT NULL,
    note        TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_data   BLOB NOT NULL,
    entered_by  TEXT NOT NULL,
    token_id    TEXT NOT NULL DEFAULT '',
    entered_at  TEXT NOT NULL
);
CREATE INDEX kpi_results_by_project ON kpi_results (factory_id, project_id, kpi);""",
    # manual order logs: an order's start and finish, for the lead time of the "before"
    # period (docs/targets.md, "Lead time"); history like the daily logs, so no foreign key
    # to lines. start and finish are instants (UTC ISO 8601); an order may have several
    # rows (worked, stopped, taken up again), kept in file order by position.
    9: """CREATE TABLE baseline_orders (
    factory_id  TEXT NOT NULL REFERENCES factories (id) ON DELETE CASCADE,
    order_id    TEXT NOT NULL,
    position    INTEGER NOT NULL,
    start       TEXT NOT NULL,
    finish      TEXT NOT NULL,
    source_name TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (factory_id, order_id, position)
);""",
}
