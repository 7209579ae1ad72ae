"""Output folders and sets of files: built in a staging folder beside the target, published whole.

A command's output folder (or its set of output files) is built in a staging folder next to
the target and moved in at the end, so an interrupted or failed run leaves the user's earlier
results exactly as they were (see ``edgekd.artifacts`` for single files and the no-replace move).

With ``--force`` a folder is replaced only when edgekd wrote it for the same kind of command
(its ``.edgekd-output`` marker says which), never the folder the user works in or one above
it, and in one step (``RENAME_EXCHANGE`` swaps the new folder and the old one): there is no
moment at which the output is missing from its path.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from edgekd import interrupts
from edgekd.artifacts import (
    appeared_meanwhile,
    check_output_file,
    current_umask,
    exchange,
    move_without_replacing,
    refuse_special_file,
    refuse_unexpanded_home,
    refuse_unwritable,
    write_json_atomic,
)
from edgekd.errors import OutputError
from edgekd.inputs import open_regular_file

# Written into every output folder edgekd publishes: which command made it, so that `--force`
# replaces an earlier output of the same kind and nothing else (a run folder is not a report's).
OUTPUT_MARKER = ".edgekd-output"
# Commands whose output folders are the same kind of thing: any of them may replace the others.
_FOLDER_FAMILIES = {"demo": "run", "run": "run", "distill": "run"}
# Folders from before the marker existed, recognised by what only edgekd writes in them.
_REPORT_FILES = frozenset({"report.html", "report.md"})
_EXPORT_SUFFIXES = frozenset({".c", ".h", ".tflite", ".json"})
_LEGACY_RESULTS_LIMIT = 64 << 20
# Where edgekd's signature sits in a report or an exported source: its first lines (a long comment first).
_SIGNATURE_BYTES = 64 << 10


def _family(kind: str) -> str:
    return _FOLDER_FAMILIES.get(kind, kind)


def output_kind(folder: Path) -> str | None:
    """Which kind of edgekd output ``folder`` holds ("run", "report", "export" ...); None if edgekd did not write it."""
    folder = Path(folder)
    marker = _small_json(folder / OUTPUT_MARKER)
    if isinstance(marker, dict) and isinstance(marker.get("kind"), str):
        return _family(marker["kind"])
    try:
        names = {entry.name for entry in folder.iterdir()}
    except OSError:
        return None
    # Older folders count by what edgekd writes in its files, not by their names alone: a user's own
    # report.md, or model.c and model.h, are not edgekd's to replace.
    results = _small_json(folder / "results.json") if "results.json" in names else None
    if (
        isinstance(results, dict)
        and "schema_version" in results
        and isinstance(results.get("edgekd_version"), str)
        and isinstance(results.get("kind"), str)
    ):
        return _family(results["kind"])
    if names and names <= _REPORT_FILES and _holds(folder / "report.md", b"# edgekd "):
        return "report"
    suffixes = {Path(n).suffix for n in names}
    stems = {Path(n).stem for n in names}
    if {".c", ".h"} <= suffixes <= _EXPORT_SUFFIXES and len(stems) == 1:
        if _holds(folder / f"{stems.pop()}.c", b"EDGEKD_ALIGNED"):
            return "export"  # NAME.c, NAME.h, NAME.tflite, NAME.json
    return None


def _holds(path: Path, signature: bytes) -> bool:
    """Whether the first lines of a regular file ``path`` hold ``signature`` (what only edgekd writes there)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open_regular_file(path, "file", OutputError) as handle:  # swapped for a pipe meanwhile: refused
            return signature in handle.read(_SIGNATURE_BYTES)
    except (OSError, OutputError):
        return False


def _small_json(path: Path):
    """The JSON in ``path`` if it is a small regular file (never a pipe someone put there), else None."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _LEGACY_RESULTS_LIMIT:
            return None
        with open_regular_file(path, "file", OutputError) as handle:
            return json.loads(handle.read(_LEGACY_RESULTS_LIMIT + 1).decode("utf-8"))
    except (OSError, ValueError, RecursionError, OutputError):
        return None


def _refuse_replacing(target: Path, kind: str | None, reads: Sequence[Path] = ()) -> None:
    """``force`` replaces an earlier output of the same kind; never the working folder, home, a folder edgekd
    did not write, or one holding a file the command reads (``reads``: it would go with the folder)."""
    absolute = Path(os.path.abspath(target))
    here = Path.cwd()
    if absolute in (here, *here.parents) or absolute in (Path.home(), Path(absolute.anchor)):
        raise OutputError(
            f"{target} is the folder you are working in, one above it, or your home folder; `force` never "
            "replaces it; choose a new `out`"
        )
    if kind is None:
        return
    found = output_kind(target)
    if found != _family(kind):
        holds = f"an edgekd {found} output" if found else "files edgekd did not write"
        raise OutputError(
            f"{target} holds {holds}, not an earlier {_family(kind)} output; `force` replaces only what the same "
            "command wrote; choose another `out`, or remove the folder yourself"
        )
    inside = Path(os.path.realpath(target))
    for read in reads:
        real = Path(os.path.realpath(read))
        if real == inside or inside in real.parents:
            raise OutputError(
                f"{target} holds {read}, which this command reads: `force` would delete it with the earlier output; "
                "choose another `out`, or move the file out of the folder first"
            )


def check_output_folder(target: Path, force: bool, kind: str | None = None, reads: Sequence[Path] = ()) -> None:
    """Refuse to reuse an existing output folder unless ``force`` is set; fail before any work.

    With ``force``, an existing folder must be an earlier output of ``kind`` (see :func:`output_kind`;
    ``None`` for edgekd's own folders outside the user's outputs), and never the working folder.
    """
    target = Path(target)
    refuse_unexpanded_home(target)
    _restore_set_aside(target)
    refuse_special_file(target)
    if os.path.lexists(target) and not force:
        raise OutputError(f"output folder {target} already exists; choose another `out` or pass `force` to replace it")
    if os.path.lexists(target) and not target.is_dir():
        raise OutputError(f"output path {target} exists and is not a folder; choose another `out`")
    if os.path.lexists(target):
        _refuse_replacing(target, kind, reads)
    parent = target.parent
    blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"{blocking} is a file, not a folder; choose another `out`")
    refuse_unwritable(parent, "choose another `out`")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {parent}: {exc.strerror}; choose another `out`") from exc


def _remove_abandoned_staging(target: Path) -> None:
    """Staging folders left by killed runs (SIGKILL skips every cleanup): their process no longer exists."""
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.partial-*-*"):
        pid = leftover.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            _discard(leftover)


def _restore_set_aside(target: Path) -> None:
    """An earlier output set aside by a publish that could not swap in one step (``.NAME.old-PID``), whose
    process died between its two renames, goes back to its path if nothing took its place; else it was
    replaced, and goes."""
    # Escaped: `--out 'run[1]'` (or `'*'`) would otherwise match, and delete, another output's set-aside folder.
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.old-*"):
        pid = leftover.name.rsplit(".old-", 1)[1]
        if not pid.isdigit() or _process_exists(int(pid)):
            continue
        if not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.rename(leftover, target)
        else:
            _discard(leftover)


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
    staging.chmod(0o777 & ~current_umask())
    return staging


@contextlib.contextmanager
def staged_output_folder(
    target: Path,
    force: bool = False,
    *,
    kind: str | None,
    commit: Callable[[], object] | None = None,
    reads: Sequence[Path] = (),
) -> Iterator[Path]:
    """Yield a staging folder that becomes ``target`` only if the block completes.

    On any exception (including Ctrl-C) the staging folder is removed and ``target`` is left
    untouched. With ``force``, an existing ``target`` that is an earlier output of ``kind``
    is swapped for the new one in one step; without it, a ``target`` that appeared while the
    block ran is left alone and the command fails. ``kind`` names the command's output in the
    folder's marker (``None``: edgekd's own folders, no marker). ``commit`` runs once the new
    folder is in place and before the old one is discarded (recording the run): if it fails,
    the publish is undone and the earlier output is back. ``reads``: the command's input files,
    which an earlier output being replaced must not hold.
    """
    target = Path(os.path.abspath(target)) if Path(target).name in ("", "..") else Path(target)
    check_output_folder(target, force, kind, reads)
    staging = _new_staging(target)
    try:
        yield staging
        interrupts.check()  # a Ctrl-C during the block never lets a half-made output in
        if kind is not None:
            write_json_atomic(staging / OUTPUT_MARKER, {"kind": kind})
        _publish_folder(staging, target, force, kind, commit, reads)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish_folder(
    staging: Path,
    target: Path,
    force: bool,
    kind: str | None,
    commit: Callable[[], object] | None,
    reads: Sequence[Path] = (),
) -> None:
    """Move ``staging`` to ``target``: in one rename if ``target`` is new, in one exchange if it is replaced."""
    swapped = backup = None
    published = os.lstat(staging)  # the folder keeps its inode as it moves: how an undo knows it is still ours
    try:
        if os.path.lexists(target) and force:
            refuse_special_file(target)
            _refuse_replacing(target, kind, reads)  # checked again: the folder may have changed meanwhile
            if exchange(staging, target):
                swapped = staging  # the earlier output now sits at the staging path
            else:
                # No exchange here: two renames, with the earlier output set aside under a name that
                # the next run puts back (see _remove_abandoned_staging) if this process dies between them.
                backup = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.rename(target, backup)
                os.rename(staging, target)
        else:
            move_without_replacing(staging, target)
    except FileExistsError:
        raise OutputError(appeared_meanwhile(target)) from None
    except OSError as exc:
        if backup is not None and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.rename(backup, target)  # the earlier result goes back where it was
        raise OutputError(f"cannot move the finished output into {target}: {exc.strerror or exc}") from exc
    earlier = swapped or backup
    if commit is not None:
        try:
            commit()
        except BaseException:
            _unpublish(staging, target, earlier, published)
            raise
    if earlier is not None:
        _discard(earlier)


def _discard(path: Path) -> None:
    """Remove a replaced output: a symbolic link that stood at the target goes, never what it points to
    (rmtree refuses a link, which stayed behind as a hidden `.NAME.partial-...` entry)."""
    if os.path.islink(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _unpublish(staging: Path, target: Path, earlier: Path | None, published: os.stat_result) -> None:
    """Undo a publish whose commit failed: the new output leaves ``target`` and the earlier one returns.

    Unless another command's forced publish has replaced it meanwhile: that output stays (undoing
    ours would have swapped it out and deleted it), and ours, already gone, has nothing to undo.
    """
    with contextlib.suppress(OSError):
        current = os.lstat(target)
        if (current.st_dev, current.st_ino) != (published.st_dev, published.st_ino):
            if earlier is not None and earlier != staging:
                _discard(earlier)  # the caller removes staging
            return
        if earlier is not None and earlier == staging:
            exchange(staging, target)  # the new output back at staging, which the caller removes
        elif earlier is not None:
            os.rename(target, staging)
            os.rename(earlier, target)
        else:
            os.rename(target, staging)


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
                raise OutputError(appeared_meanwhile(target)) from None
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
