"""What every API function shares: the default run folder, the results store, the lines said on stderr."""

from __future__ import annotations

import contextlib
import datetime as _dt
import sys
from pathlib import Path

from edgekd.untrusted import for_terminal


def default_run_folder(prefix: str) -> Path:
    """``runs/<prefix>-<timestamp>`` under the current folder."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{prefix}-{stamp}"


@contextlib.contextmanager
def opened_store(db: Path | str | None, record: bool, say):
    """The results store, opened (and its write lock checked) before any long work; None with ``record=False``."""
    if not record:
        yield None
        return
    from edgekd.results.store import ResultsStore

    store = ResultsStore(Path(db) if db is not None else None)
    try:
        store.check_writable()
        yield store
    finally:
        store.close()


def record_document(store, document: dict, out: Path | None, artifacts: dict, say) -> int | None:
    """Store ``document`` (saying where, unless ``say`` is None); the run's id, or None without a store."""
    if store is None:
        return None
    run_id = store.record(document, out, artifacts)
    if say is not None:
        say(f"stored as run {run_id} in {store.path}")
    return run_id


def say_on_stderr(line: str) -> None:
    # Lines name folders, devices and failures from files: a terminal shows them, never runs them.
    print(f"edgekd: {for_terminal(line)}", file=sys.stderr, flush=True)
