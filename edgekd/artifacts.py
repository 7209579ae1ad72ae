"""Atomic writes: an artifact is either complete at its final path or absent.

Files are written to a temporary sibling and moved into place in one step. Whole output
folders (and a command's set of output files) are built in a staging folder next to the
target and moved in at the end, so an interrupted or failed run leaves the user's earlier
results exactly as they were.

Without ``--force`` the move itself refuses to replace anything (``renameat2`` with
``RENAME_NOREPLACE``, or a hard link, which fails when the name exists): a check made when
the command started is not enough, because two commands with the same ``--out`` both pass
it, and the later one would silently replace the earlier one's result. With ``--force``
only what an output can be is replaced: a regular file, a folder for a folder, or a
symbolic link itself (never the file it points to); a FIFO, a device or a socket never.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edgekd import interrupts
from edgekd.errors import OutputError

# Linux's renameat2(2): AT_FDCWD makes both paths relative to the working folder, as rename(2) does.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


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
        os.fchmod(fd, 0o666 & ~_umask())
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
        raise OutputError(_appeared(path)) from None
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


def _appeared(path: Path) -> str:
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


def check_output_file(path: Path, force: bool) -> None:
    """Refuse an existing output file (a link or dangling link included) unless ``force``; fail before any work."""
    path = Path(path)
    refuse_special_file(path)
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


def check_output_folder(target: Path, force: bool) -> None:
    """Refuse to reuse an existing output folder unless ``force`` is set; fail before any work."""
    target = Path(target)
    refuse_special_file(target)
    if os.path.lexists(target) and not force:
        raise OutputError(f"output folder {target} already exists; choose another `out` or pass `force` to replace it")
    if os.path.lexists(target) and not target.is_dir():
        raise OutputError(f"output path {target} exists and is not a folder; choose another `out`")
    parent = target.parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"{blocking} is a file, not a folder; choose another `out`")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {parent}: {exc.strerror}; choose another `out`") from exc
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write into {parent}: permission denied; choose another `out`")


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


def _new_staging(target: Path) -> Path:
    _remove_abandoned_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent))
    # mkdtemp creates 0700; the finished folder should look like one made by mkdir.
    staging.chmod(0o777 & ~_umask())
    return staging


@contextlib.contextmanager
def staged_output_folder(target: Path, force: bool = False) -> Iterator[Path]:
    """Yield a staging folder that becomes ``target`` only if the block completes.

    On any exception (including Ctrl-C) the staging folder is removed and ``target`` is left
    untouched. With ``force``, an existing ``target`` is replaced only after the new one is
    complete; without it, a ``target`` that appeared while the block ran is left alone and
    the command fails.
    """
    target = Path(target)
    check_output_folder(target, force)
    staging = _new_staging(target)
    try:
        yield staging
        interrupts.check()  # a Ctrl-C during the block never lets a half-made output in
        _publish_folder(staging, target, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish_folder(staging: Path, target: Path, force: bool) -> None:
    backup = None
    try:
        if not force:
            move_without_replacing(staging, target)
            return
        refuse_special_file(target)
        if os.path.lexists(target):
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, backup)
        os.replace(staging, target)
    except FileExistsError:
        raise OutputError(_appeared(target)) from None
    except OSError as exc:
        if backup is not None and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.replace(backup, target)  # the earlier result goes back where it was
        raise OutputError(f"cannot move the finished output into {target}: {exc.strerror or exc}") from exc
    if backup is not None:
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            backup.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_output_files(targets: Sequence[Path], force: bool = False) -> Iterator[Path]:
    """Yield a staging folder in which the block writes files named like ``targets``; they appear together.

    ``targets`` share one folder. Each is checked before the block (see :func:`check_output_file`);
    afterwards every target the block wrote is moved into place, without replacing
    anything unless ``force``. If one cannot be (another process made it meanwhile), the
    ones already moved are taken back out, so the command leaves all of them or none.
    """
    targets = [Path(t) for t in targets]
    if len({t.parent for t in targets}) != 1:
        raise ValueError("staged_output_files: the targets must share one folder")
    for target in targets:
        check_output_file(target, force)
    staging = _new_staging(targets[0])
    try:
        yield staging
        interrupts.check()
        _publish_files([(staging / t.name, t) for t in targets if (staging / t.name).exists()], force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish_files(moves: list[tuple[Path, Path]], force: bool) -> None:
    moved: list[tuple[Path, os.stat_result]] = []
    for source, target in moves:
        try:
            refuse_special_file(target)
            identity = os.stat(source)
            if force:
                os.replace(source, target)
            else:
                move_without_replacing(source, target)
        except (OSError, OutputError) as exc:
            if not force:
                _take_back(moved)
            if isinstance(exc, FileExistsError):
                raise OutputError(_appeared(target)) from None
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"cannot move the finished {target.name} into place: {exc.strerror or exc}") from exc
        moved.append((target, identity))


def _take_back(moved: list[tuple[Path, os.stat_result]]) -> None:
    """Remove the files this command just moved in (checked by inode: never another process's file)."""
    for target, identity in moved:
        with contextlib.suppress(OSError):
            current = os.lstat(target)
            if (current.st_dev, current.st_ino) == (identity.st_dev, identity.st_ino):
                os.unlink(target)
