"""A search's output folder: new, empty, or an earlier edgekd search, which the search continues in place.

A search writes into its folder as it goes (the study, then search.json, report.html,
front.png, student.keras), so what counts as an earlier search is decided by what the files
hold, not their names: a web site's own search.json, or another program's study.db, are not a
search to continue (one took 13 Optuna tables into its database and had its report.html replaced).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from pathlib import Path

from edgekd.errors import OutputError
from edgekd.inputs import open_regular_file
from edgekd.outputs import check_output_folder
from edgekd.search.engine import SQLITE_TIMEOUT_S, STUDY_FILE

SEARCH_FILE = "search.json"
# search.json lists every trial; a large study's is a few MiB.
_SEARCH_FILE_LIMIT = 64 << 20
# The tables Optuna's RDB storage creates first (optuna/storages/_rdb/models.py).
_OPTUNA_TABLES = frozenset({"studies", "version_info"})


def check_search_folder(out: Path, storage: str | None) -> None:
    """``out`` is new, empty, or an earlier search's folder (which the search continues)."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()):
        if not (_holds_search(out) or (storage is None and _holds_study(out))):
            raise OutputError(
                f"output folder {out} exists and holds no edgekd search to continue; choose another `out`"
            )
        return
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} exists and is not a folder; choose another `out`")
    if not out.exists():
        check_output_folder(out, force=False)


def _holds_search(out: Path) -> bool:
    """Whether ``out`` holds the search.json an edgekd search wrote."""
    path = out / SEARCH_FILE
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open_regular_file(path, "search file", OutputError) as handle:
            document = json.loads(handle.read(_SEARCH_FILE_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError, OutputError):
        return False
    return isinstance(document, dict) and document.get("kind") == "search" and "schema_version" in document


def _holds_study(out: Path) -> bool:
    """Whether ``out`` holds an Optuna study database (a search stopped before its first search.json)."""
    path = out / STUDY_FILE
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False  # a pipe would block SQLite's open
        # mode=rw, never create; not ro: a study killed mid-write leaves a hot journal that only a writer rolls back.
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=SQLITE_TIMEOUT_S)
        ) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except (OSError, sqlite3.Error):
        return False
    return _OPTUNA_TABLES <= {name for (name,) in rows}
