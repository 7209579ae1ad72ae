"""The results store: every run's results.json in a SQLite database, so runs can be listed and compared later.

One row per run (the whole document as JSON, plus the columns filters need), one per model
and one per benchmark, and the run's artifacts with their SHA-256. Every write is one
transaction: a run interrupted mid-write leaves the store as it was. WAL journaling and a
busy timeout let several edgekd processes (concurrent benchmarks) write to one store.

The schema is versioned in ``PRAGMA user_version``; opening an older store migrates it
step by step inside a transaction, and a store written by a newer edgekd is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import EdgekdError
from edgekd.outputs import OUTPUT_MARKER
from edgekd.results.document import parse_document

SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 10.0
# SQLite's LIMIT is a signed 64-bit integer.
MAX_LIMIT = 2**63 - 1


class StoreError(EdgekdError):
    """The results store cannot be read or written."""


def default_store_path() -> Path:
    """``$EDGEKD_DB``, or ``~/.edgekd/results.db``."""
    configured = os.environ.get("EDGEKD_DB", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".edgekd" / "results.db"


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


@dataclass(frozen=True)
class RunSummary:
    id: int
    kind: str
    created: str
    out_path: str | None
    models: int
    benchmarks: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_files(folder: Path) -> dict[str, Path]:
    """Every file of a run's output folder, by its path inside the folder."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != OUTPUT_MARKER}


class ResultsStore:
    """A connection to one store; use as a context manager or call ``close``."""

    def __init__(self, path: Path | None = None, timeout: float = BUSY_TIMEOUT_S, create: bool = True):
        self.path = Path(path) if path is not None else default_store_path()
        self._check_file(create)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of results store {self.path}: {exc.strerror}") from None
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            self._check_version()  # before anything writes to the file, WAL mode included
            self.db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise StoreError(
                    f"{self.path} is not a SQLite database; point `db` (or EDGEKD_DB) at an edgekd results store"
                ) from None
            raise StoreError(f"{self.path} is not a usable SQLite database ({exc}); use another `db`") from None

    def _check_file(self, create: bool) -> None:
        # The file's header is left to SQLite to judge: opening and closing the file here would
        # release the POSIX locks this process's other connections hold on it (a documented
        # way to corrupt a SQLite database).
        if self.path.is_dir():
            raise StoreError(f"results store {self.path} is a folder; give a file path with `db` or EDGEKD_DB")
        blocking = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise StoreError(
                f"results store {self.path}: {blocking} is a file, not a folder; give `db` (or EDGEKD_DB) a path in a folder"
            )
        if not self.path.exists() and not create:
            raise StoreError(f"no results store at {self.path}; run a command first or give `db`")

    def _explain(self, exc: sqlite3.OperationalError) -> StoreError:
        if "locked" in str(exc) or "busy" in str(exc):
            return StoreError(f"results store {self.path} is locked by another process; retry when it has finished")
        return StoreError(f"results store {self.path}: {exc}")

    def _check_version(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self.db.close()
            raise StoreError(
                f"results store {self.path} has schema version {version}, newer than this edgekd reads "
                f"({SCHEMA_VERSION}); upgrade edgekd or use another `db`"
            )

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](self.db)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def check_writable(self) -> None:
        """Fail now, not after an hour of work, if another process holds the store's write lock (or it is read-only).

        Takes the write lock and lets it go, waiting up to the busy timeout as every write does.
        """
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None

    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, document: dict, out_path: Path | None = None, artifacts: dict[str, Path] | None = None) -> int:
        """Store one run (document, models, benchmarks, artifact hashes) in a single transaction; its id.

        ``artifacts`` maps the names to record (relative to ``out_path``) to the files to hash,
        which may still be in a staging folder.
        """
        hashed = [(name, sha256_file(p), p.stat().st_size) for name, p in (artifacts or {}).items()]
        base = Path(out_path) if out_path is not None else None
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                run_id = self._insert(document, base, hashed)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None
        return run_id

    def _insert(self, document: dict, base: Path | None, hashed: list) -> int:
        cursor = self.db.execute(
            "INSERT INTO runs (kind, created, edgekd_version, results_schema, out_path, document) VALUES (?, ?, ?, ?, ?, ?)",
            (
                document.get("kind", "unknown"),
                document.get("created", ""),
                document.get("edgekd_version"),
                int(document.get("schema_version", 0)),
                str(base.resolve()) if base is not None else None,
                json.dumps(document, sort_keys=True),
            ),
        )
        run_id = int(cursor.lastrowid)
        for role, record in (document.get("models") or {}).items():
            self.db.execute(
                "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    role,
                    record.get("format"),
                    record.get("accuracy"),
                    record.get("size_bytes"),
                    record.get("macs"),
                    record.get("params"),
                ),
            )
        for bench in document.get("benchmarks") or []:
            latency = bench.get("latency_ms") or {}
            energy = bench.get("energy") or {}
            self.db.execute(
                "INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    bench.get("model", "?"),
                    bench.get("device", "?"),
                    int(bool(bench.get("ok"))),
                    latency.get("p50"),
                    latency.get("p90"),
                    energy.get("value_mj"),
                    energy.get("source"),
                ),
            )
        for name, digest, size in hashed:
            self.db.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?)", (run_id, name, digest, size))
        return run_id

    def runs(
        self,
        kind: str | None = None,
        device: str | None = None,
        model: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[RunSummary]:
        """Runs, newest first, filtered by kind, a benchmarked device, a model role, or a creation time."""
        clauses, values = [], []
        if kind:
            clauses.append("r.kind = ?")
            values.append(kind)
        if device:
            clauses.append("EXISTS (SELECT 1 FROM benchmarks b WHERE b.run_id = r.id AND b.device = ?)")
            values.append(device)
        if model:
            clauses.append(
                "(EXISTS (SELECT 1 FROM models m WHERE m.run_id = r.id AND m.role = ?)"
                " OR EXISTS (SELECT 1 FROM benchmarks b WHERE b.run_id = r.id AND b.model = ?))"
            )
            values += [model, model]
        if since:
            clauses.append("r.created >= ?")
            values.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            "SELECT r.id, r.kind, r.created, r.out_path,"  # noqa: S608 - fixed clause strings; every value is a ? parameter
            " (SELECT COUNT(*) FROM models m WHERE m.run_id = r.id) AS models,"
            " (SELECT COUNT(*) FROM benchmarks b WHERE b.run_id = r.id) AS benchmarks"
            f" FROM runs r {where} ORDER BY r.id DESC"
        )
        if limit is not None:
            if not 1 <= limit <= MAX_LIMIT:
                raise StoreError(f"limit {limit} is outside 1..{MAX_LIMIT}; give a positive count of runs")
            query += " LIMIT ?"
            values.append(limit)
        return [RunSummary(**dict(row)) for row in self.db.execute(query, values)]

    def document(self, run_id: int) -> dict:
        """Run ``run_id``'s results document, checked like a results.json (a store file may come from anywhere)."""
        row = self.db.execute("SELECT document, results_schema FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(self._missing(run_id))
        try:
            document = json.loads(row["document"])
        except (ValueError, RecursionError):
            raise StoreError(f"run {run_id} in {self.path} holds no readable results document") from None
        if isinstance(document, dict) and "schema_version" not in document:
            # Early runs kept their schema version only in the row.
            parse_document({**document, "schema_version": row["results_schema"]}, f"run {run_id} in {self.path}")
            return document
        return parse_document(document, f"run {run_id} in {self.path}")

    def artifacts(self, run_id: int) -> list[dict]:
        rows = self.db.execute(
            "SELECT path, sha256, size_bytes FROM artifacts WHERE run_id = ? ORDER BY path", (run_id,)
        )
        return [dict(row) for row in rows]

    def _missing(self, run_id: int) -> str:
        ids = [row[0] for row in self.db.execute("SELECT id FROM runs")]
        if not ids:
            return f"no run {run_id}: the results store {self.path} is empty"
        nearest = sorted(ids, key=lambda i: (abs(i - run_id), i))[:3]
        return f"no run {run_id} in {self.path}; nearest: {', '.join(str(i) for i in sorted(nearest))} (edgekd results list)"

    def latest_id(self) -> int:
        row = self.db.execute("SELECT MAX(id) FROM runs").fetchone()
        if row[0] is None:
            raise StoreError(
                f"the results store {self.path} is empty: run edgekd demo, distill, quantize or bench first"
            )
        return int(row[0])
