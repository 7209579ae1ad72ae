"""Atomic writes: an artifact is either complete at its final path or absent.

Files are written to a temporary sibling and moved into place with ``os.replace``. Whole
output folders are built in a staging folder next to the target and renamed in at the end,
so an interrupted or failed run leaves the user's earlier results exactly as they were.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekd import interrupts
from edgekd.errors import OutputError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file."""
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise OutputError(f"cannot write {path}: folder {directory} does not exist; create it first")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
    try:
        # mkstemp creates 0600; give the artifact the permissions a plain open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; nothing was written") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, document: Any) -> None:
    """Write a JSON document atomically, pretty-printed with a trailing newline."""
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars and paths reach the results documents; everything else is a bug.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def check_output_folder(target: Path, force: bool) -> None:
    """Refuse to reuse an existing output folder unless ``force`` is set; fail before any work."""
    target = Path(target)
    if target.exists() and not force:
        raise OutputError(f"output folder {target} already exists; choose another --out or pass --force to replace it")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output path {target} exists and is not a folder; choose another --out")
    parent = target.parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"{blocking} is a file, not a folder; choose another --out")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {parent}: {exc.strerror}; choose another --out") from exc
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write into {parent}: permission denied; choose another --out")


def _remove_abandoned_staging(target: Path) -> None:
    """Staging folders left by killed runs (SIGKILL skips every cleanup): their process no longer exists."""
    for leftover in target.parent.glob(f".{target.name}.partial-*-*"):
        pid = leftover.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def staged_output_folder(target: Path, force: bool = False) -> Iterator[Path]:
    """Yield a staging folder that becomes ``target`` only if the block completes.

    On any exception (including Ctrl-C) the staging folder is removed and ``target`` is left
    untouched. With ``force``, an existing ``target`` is replaced only after the new one is
    complete.
    """
    target = Path(target)
    check_output_folder(target, force)
    _remove_abandoned_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent))
    # mkdtemp creates 0700; the finished folder should look like one made by mkdir.
    staging.chmod(0o777 & ~_umask())
    try:
        yield staging
        interrupts.check()  # a Ctrl-C during the block never lets a half-made output in
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, backup)
    os.replace(staging, target)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
