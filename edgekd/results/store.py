"""The results store: every run's results.json in a SQLite database, so runs can be listed and compared later.

One row per run (the whole document as JSON, plus the columns filters need), one per model
and one per benchmark, and the run's artifacts with their SHA-256. Every write is one
transaction: a run interrupted mid-write leaves the store as it was. WAL journaling and a
busy timeout let several edgekd processes (concurrent benchmarks) write to one store.

The schema is versioned in ``PRAGMA user_version`` (``edgekd.results.store_schema``); opening
an older store migrates it step by step inside a transaction, and a store written by a newer
edgekd, or one that lacks the tables its version has, is refused. A store that cannot be
written (read-only media) is opened read-only: it lists and shows, and refuses to record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import EdgekdError
from edgekd.inputs import special_file_kind
from edgekd.outputs import OUTPUT_MARKER
from edgekd.results.document import parse_document
from edgekd.results.store_schema import (  # noqa: F401 - SCHEMA_VERSION and _create_v1 are read from here
    EXPECTED_TABLES,
    MIGRATIONS,
    SCHEMA_VERSION,
    _create_v1,
    unreadable_because,
)
from edgekd.validation import parse_json

BUSY_TIMEOUT_S = 10.0
# SQLite's LIMIT is a signed 64-bit integer.
MAX_LIMIT = 2**63 - 1


class StoreError(EdgekdError):
    """The results store cannot be read or written."""


def default_store_path() -> Path:
    """``$EDGEKD_DB``, or ``~/.edgekd/results.db``."""
    configured = os.environ.get("EDGEKD_DB", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".edgekd" / "results.db"


def _why_unwritable(path: Path) -> str | None:
    """Why SQLite could not write ``path`` (and its journal beside it), or None when it can.

    ``os.access`` asks the kernel without opening the file (opening it here would release the
    locks this process's other connections hold), and it answers EROFS for read-only media
    even to root.
    """
    targets = [(path, "the file"), (path.parent, "its folder")] if path.exists() else [(path.parent, "its folder")]
    for target, what in targets:
        if not os.access(target, os.W_OK):
            with contextlib.suppress(OSError):
                if os.statvfs(target).f_flag & os.ST_RDONLY:
                    return "on read-only media"
            return f"{what} cannot be written"
    return None


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
        # Why runs cannot be recorded here (a store on read-only media), or None: it is then opened read-only.
        self.read_only: str | None = None
        self._check_file(create)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of results store {self.path}: {exc.strerror}") from None
        self.read_only = _why_unwritable(self.path)
        if self.read_only is not None and not self.path.exists():
            raise StoreError(
                f"no results store at {self.path}, and none can be created there ({self.read_only}); give `db` "
                "(or EDGEKD_DB) a writable path"
            )
        try:
            self.db = self._connect(timeout)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            self._check_readable()  # before anything writes to the file, WAL mode included
            if self.read_only is None:
                self.db.execute("PRAGMA journal_mode = WAL")
                self._migrate()
        except sqlite3.OperationalError as exc:
            self._close_quietly()
            raise self._explain(exc) from None
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            if "not a database" in str(exc):
                raise StoreError(
                    f"{self.path} is not a SQLite database; point `db` (or EDGEKD_DB) at an edgekd results store"
                ) from None
            raise StoreError(f"{self.path} is not a usable SQLite database ({exc}); use another `db`") from None
        except BaseException:
            self._close_quietly()
            raise

    def _connect(self, timeout: float) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        if self.read_only is None:
            return sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        # Read-only media: a WAL store cannot be opened even read-only without creating its -shm file
        # (sqlite.org/wal.html, "Read-Only Databases"), unless SQLite is told that nothing can change it.
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.OperationalError:
            return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=timeout, isolation_level=None)

    def _close_quietly(self) -> None:
        with contextlib.suppress(AttributeError, sqlite3.Error):
            self.db.close()

    def _check_file(self, create: bool) -> None:
        # The file's header is left to SQLite to judge: opening and closing the file here would
        # release the POSIX locks this process's other connections hold on it (a documented
        # way to corrupt a SQLite database).
        if self.path.is_dir():
            raise StoreError(f"results store {self.path} is a folder; give a file path with `db` or EDGEKD_DB")
        special = special_file_kind(self.path)
        if special is not None:
            raise StoreError(
                f"results store {self.path} is {special}, not a regular file; give `db` (or EDGEKD_DB) a file path"
            )
        blocking = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise StoreError(
                f"results store {self.path}: {blocking} is a file, not a folder; give `db` (or EDGEKD_DB) a path in a folder"
            )
        if not self.path.exists() and not create:
            raise StoreError(f"no results store at {self.path}; run a command first or give `db`")

    def _explain(self, exc: sqlite3.Error) -> StoreError:
        if "locked" in str(exc) or "busy" in str(exc):
            return StoreError(f"results store {self.path} is locked by another process; retry when it has finished")
        if "readonly" in str(exc) or "read-only" in str(exc):
            return self._unwritable(self.read_only or "the file or its folder cannot be written")
        if isinstance(exc, sqlite3.OperationalError):
            return StoreError(f"results store {self.path}: {exc}")
        return StoreError(f"results store {self.path} is damaged ({exc}); use another `db`")

    def _unwritable(self, reason: str) -> StoreError:
        return StoreError(
            f"results store {self.path} is read-only ({reason}): its runs can be listed and shown, but no run can be "
            "recorded there; give `db` (or EDGEKD_DB) a writable path"
        )

    def _check_readable(self) -> None:
        """Refuse, before anything is written to it, a store this edgekd cannot read as it is."""
        problem = unreadable_because(self.db)
        if problem is not None:
            raise StoreError(f"results store {self.path} {problem}")
        if self.read_only is not None and self.schema_version() == 0:
            raise self._unwritable(self.read_only)

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
        if self.read_only is not None:
            raise self._unwritable(self.read_only)
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
        if self.read_only is not None:
            raise self._unwritable(self.read_only)
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

    @contextlib.contextmanager
    def _reading(self):
        """A damaged store (a page unreadable, a table dropped) is one StoreError naming it, whichever query meets it."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._explain(exc) from None

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
        with self._reading():
            return [RunSummary(**dict(row)) for row in self.db.execute(query, values)]

    def document(self, run_id: int) -> dict:
        """Run ``run_id``'s results document, checked like a results.json (a store file may come from anywhere)."""
        if not 1 <= run_id <= MAX_LIMIT:
            raise StoreError(self._missing(run_id))
        with self._reading():
            row = self.db.execute("SELECT document, results_schema FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(self._missing(run_id))
        where = f"run {run_id} in {self.path}"
        document = parse_json(str(row["document"]), where, StoreError, "a results document edgekd stored")
        if isinstance(document, dict) and "schema_version" not in document:
            # Early runs kept their schema version only in the row.
            parse_document({**document, "schema_version": row["results_schema"]}, where)
            return document
        return parse_document(document, where)

    def artifacts(self, run_id: int) -> list[dict]:
        if self.schema_version() < EXPECTED_TABLES["artifacts"][0]:
            return []  # a read-only store too old to have been migrated: it kept no hashes
        with self._reading():
            rows = self.db.execute(
                "SELECT path, sha256, size_bytes FROM artifacts WHERE run_id = ? ORDER BY path", (run_id,)
            )
            return [dict(row) for row in rows]

    def _missing(self, run_id: int) -> str:
        with self._reading():
            ids = [row[0] for row in self.db.execute("SELECT id FROM runs")]
        if not ids:
            return f"no run {run_id}: the results store {self.path} is empty"
        nearest = sorted(ids, key=lambda i: (abs(i - run_id), i))[:3]
        return f"no run {run_id} in {self.path}; nearest: {', '.join(str(i) for i in sorted(nearest))} (edgekd results list)"

    def latest_id(self) -> int:
        with self._reading():
            row = self.db.execute("SELECT MAX(id) FROM runs").fetchone()
        if row[0] is None:
            raise StoreError(
                f"the results store {self.path} is empty: run edgekd demo, distill, quantize or bench first"
            )
        return int(row[0])
