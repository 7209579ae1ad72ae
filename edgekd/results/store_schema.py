"""The results store's tables, by schema version, and the migrations from each version to the next.

The version lives in ``PRAGMA user_version``; ``MIGRATIONS[v]`` turns a version v-1 store
into version v, and ``EXPECTED_TABLES`` says which tables and columns a store of a version
must hold for edgekd to read it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 3


def _run_statements(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, which would break the migration's transaction.
    for statement in filter(None, (part.strip() for part in script.split(";"))):
        db.execute(statement)


def _create_v1(db: sqlite3.Connection) -> None:
    _run_statements(
        db,
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            created TEXT NOT NULL,
            edgekd_version TEXT,
            results_schema INTEGER NOT NULL,
            out_path TEXT,
            document TEXT NOT NULL
        );
        CREATE TABLE models (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            format TEXT,
            accuracy REAL,
            size_bytes INTEGER,
            macs INTEGER,
            params INTEGER,
            PRIMARY KEY (run_id, role)
        );
        CREATE TABLE benchmarks (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            device TEXT NOT NULL,
            ok INTEGER NOT NULL,
            p50_ms REAL,
            p90_ms REAL,
            energy_mj REAL,
            energy_source TEXT
        );
        CREATE INDEX runs_created ON runs(created);
        CREATE INDEX benchmarks_device ON benchmarks(device);
        """,
    )


def _add_artifacts_v2(db: sqlite3.Connection) -> None:
    """Version 2: the run's files with their SHA-256, so a result can be tied to the exact model it measured."""
    _run_statements(
        db,
        """
        CREATE TABLE artifacts (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            PRIMARY KEY (run_id, path)
        );
        """,
    )


def _index_benchmarks_by_run_v3(db: sqlite3.Connection) -> None:
    """Version 3: benchmarks indexed by run. ``results list`` counts each run's benchmarks; without the
    index every count scans the whole table, and listing a store of a few thousand runs took minutes."""
    _run_statements(db, "CREATE INDEX benchmarks_run ON benchmarks(run_id);")


# MIGRATIONS[v] turns a version v-1 store into version v.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _create_v1,
    2: _add_artifacts_v2,
    3: _index_benchmarks_by_run_v3,
}

# The tables (with the version that added each, and the columns the store reads) a store of a version has.
EXPECTED_TABLES: dict[str, tuple[int, set[str]]] = {
    "runs": (1, {"id", "kind", "created", "edgekd_version", "results_schema", "out_path", "document"}),
    "models": (1, {"run_id", "role", "format", "accuracy", "size_bytes", "macs", "params"}),
    "benchmarks": (1, {"run_id", "model", "device", "ok", "p50_ms", "p90_ms", "energy_mj", "energy_source"}),
    "artifacts": (2, {"run_id", "path", "sha256", "size_bytes"}),
}


def table_columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    """Every table of ``db`` with its columns."""
    names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: {row[0] for row in db.execute("SELECT name FROM pragma_table_info(?)", (name,))} for name in names}


def missing_tables(db: sqlite3.Connection, version: int) -> str | None:
    """What a store of ``version`` should hold and ``db`` lacks ("table artifacts"), or None."""
    tables = table_columns(db)
    for table, (since, columns) in EXPECTED_TABLES.items():
        if version < since:
            continue
        if table not in tables:
            return f"table {table}"
        if columns - tables[table]:
            return f"column(s) {', '.join(sorted(columns - tables[table]))} of table {table}"
    return None


def unreadable_because(db: sqlite3.Connection) -> str | None:
    """Why this edgekd cannot read the store ``db`` as it is ("has schema version -1, ..."), or None."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return (
            f"has schema version {version}, newer than this edgekd reads ({SCHEMA_VERSION}); upgrade edgekd or use "
            "another `db`"
        )
    if version < 0:
        return (
            f"has schema version {version}, which no edgekd writes: it is not an edgekd results store; use another `db`"
        )
    if version == 0 and table_columns(db):
        return (
            "is another program's SQLite database (it has tables but no edgekd schema version); point `db` (or "
            "EDGEKD_DB) at an edgekd results store or a new file"
        )
    missing = missing_tables(db, version)
    if missing:
        return (
            f"lacks {missing} though it says schema version {version}: it is damaged or not an edgekd results store; "
            "use another `db` (or restore it from a backup)"
        )
    return None
