"""Atomic writes: an artifact is either complete at its final path or absent.

Files are written to a temporary sibling and moved into place in one step, so an
interrupted or failed write leaves the user's earlier results exactly as they were.

Without ``--force`` the move itself refuses to replace anything (``renameat2`` with
``RENAME_NOREPLACE``, or a hard link, which fails when the name exists): a check made when
the command started is not enough, because two commands with the same ``--out`` both pass
it, and the later one would silently replace the earlier one's result. With ``--force``
only what an output can be is replaced: a regular file, a folder for a folder, or a
symbolic link itself (never the file it points to); a FIFO, a device or a socket never.

Whole output folders and sets of files are published by ``edgekd.outputs``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from edgekd.errors import OutputError

# Linux's renameat2(2): AT_FDCWD makes both paths relative to the working folder, as rename(2) does.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def write_bytes_atomic(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    ``replace=False`` is for outputs the user named without ``--force``: the file appears
    only if nothing is at ``path`` at that moment (else ``OutputError``, and nothing changed).
    """
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise OutputError(f"cannot write {path}: folder {directory} does not exist; create it first")
    refuse_special_file(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}; choose a writable location") from exc
    try:
        # mkstemp creates 0600; give the artifact the permissions a plain open() would.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp_name, path)
        else:
            move_without_replacing(Path(tmp_name), path)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise OutputError(appeared_meanwhile(path)) from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; nothing was written") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def current_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: Path, text: str, *, replace: bool = True) -> None:
    """Write UTF-8 text atomically (``replace`` as for :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"), replace=replace)


def write_json_atomic(path: Path, document: Any, *, replace: bool = True) -> None:
    """Write a JSON document atomically, pretty-printed with a trailing newline."""
    text = json.dumps(document, indent=2, sort_keys=False, default=_json_default) + "\n"
    write_text_atomic(path, text, replace=replace)


def _json_default(value: Any) -> Any:
    # numpy scalars and paths reach the results documents; everything else is a bug.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


@functools.cache
def _renameat2():
    """glibc's renameat2 (2.28+), or None where the C library has none (then links stand in)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def move_without_replacing(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` in one step that fails (``FileExistsError``) if anything is at ``target``."""
    rename = _renameat2()
    if rename is not None:
        if rename(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(target))
        # EINVAL/ENOSYS/EOPNOTSUPP: a kernel or file system without the flag; anything else is a real failure.
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(target))
    if source.is_dir():
        # No portable no-replace rename for folders; rename(2) at least refuses a file or a non-empty folder.
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        os.rename(source, target)
        return
    os.link(source, target)  # fails with EEXIST whatever is at target, a dangling link included
    os.unlink(source)


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (``RENAME_EXCHANGE``); False where the kernel or file system cannot."""
    rename = _renameat2()
    if rename is None:
        return False
    if rename(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def appeared_meanwhile(path: Path) -> str:
    return (
        f"{path} was created by another process while this command ran (another edgekd with the same `out`?); "
        "it was left as it is and nothing was written; choose another `out` or pass `force` to replace it"
    )


def _kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is, in words; None for what an output may replace."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def refuse_special_file(path: Path) -> None:
    """A FIFO, device or socket is never an output's to replace, with or without ``force``."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    kind = _kind(mode)
    if kind is not None:
        raise OutputError(f"{path} is {kind}, not a file edgekd may replace; choose another path")


def refuse_unexpanded_home(path: Path) -> None:
    """A path starting with ``~`` that no shell expanded (quoted, or from a file) would make a folder named ``~``
    in the working folder, which a later ``rm -rf ~`` meant for it would take the home folder with."""
    first = Path(path).parts[0] if Path(path).parts else ""
    if first.startswith("~") and not os.path.lexists(first):
        raise OutputError(
            f"{path} starts with {first!r}, which no shell expanded (it was quoted or read from a file): edgekd "
            f"would create a folder named {first!r} here; write the full path, e.g. {os.path.expanduser(path)}"
        )


def refuse_unwritable(folder: Path, what: str = "choose another path") -> None:
    """The nearest existing folder at or above ``folder`` must take new files; fail before any work.

    A read-only mount (which stops root as well) or a folder without write permission is one
    error naming it, not an OSError after the model and the data have loaded.
    """
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.is_dir()), None)
    if existing is None or os.access(existing, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    reason = "it is on a read-only file system" if read_only else "permission denied"
    raise OutputError(f"cannot write into {existing}: {reason}; {what}")


def check_output_file(path: Path, force: bool, reads: tuple[Path, ...] = ()) -> None:
    """Refuse an existing output file (a link or dangling link included) unless ``force``; fail before any work.

    ``reads``: files the command reads, which its output may never replace, even with ``force``.
    """
    path = Path(path)
    refuse_unexpanded_home(path)
    refuse_special_file(path)
    for read in reads:
        if os.path.exists(path) and os.path.exists(read) and os.path.samefile(path, read):
            raise OutputError(f"{path} is {read}, which this command reads; choose another path for the output")
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"{path} is a folder; give a file path")
    if os.path.lexists(path) and not force:
        what = "a symbolic link" if path.is_symlink() else "a file"
        raise OutputError(f"{path} already exists ({what}); choose another path or pass `force` to replace it")
    parent = path.parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"{blocking} is a file, not a folder; choose another path")
    if not parent.is_dir():
        raise OutputError(f"folder {parent} does not exist; create it or choose another path")
    refuse_unwritable(parent)
