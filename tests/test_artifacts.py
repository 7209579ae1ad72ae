"""Atomic artifacts: complete at the final path, or absent; earlier results untouched."""

import os
from pathlib import Path

import pytest

from edgekd.artifacts import check_output_file, write_bytes_atomic
from edgekd.errors import OutputError
from edgekd.outputs import OUTPUT_MARKER, check_output_folder, staged_output_folder


def test_failed_run_leaves_no_folder(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with staged_output_folder(target, kind="run") as staging:
            (staging / "half.tflite").write_bytes(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_only_after_success(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("earlier result")
    (target / OUTPUT_MARKER).write_text('{"kind": "run"}')
    with pytest.raises(KeyboardInterrupt):
        with staged_output_folder(target, force=True, kind="run") as staging:
            (staging / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert (target / "old.txt").read_text() == "earlier result" and not (target / "new.txt").exists()
    with staged_output_folder(target, force=True, kind="demo") as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARKER, "new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_existing_folder_needs_force(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(OutputError, match="already exists.*`force`"):
        with staged_output_folder(tmp_path / "run", kind="run"):
            pass


def test_atomic_file_write_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match="No space left"):
        write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_a_write_that_fails_before_it_is_on_disk_keeps_the_old_file(tmp_path, monkeypatch):
    # The data is written and flushed, then fsync fails (a full disk can report it there): the
    # file must not have been moved into place yet.
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OutputError, match="No space left on device; nothing was written"):
        write_bytes_atomic(path, b"new model")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"], "no temporary file is left"


def test_atomic_write_respects_umask(tmp_path):
    path = tmp_path / "a.bin"
    write_bytes_atomic(path, b"1")
    expected = 0o666 & ~_current_umask()
    assert path.stat().st_mode & 0o777 == expected


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_bytes_atomic(tmp_path / "no" / "a.bin", b"1")


def _write_then_wait(args) -> str:
    """One writer: pass the check, wait until the other writer has passed it too, then publish."""
    target, content, barrier, kind = args
    from edgekd.outputs import staged_output_files, staged_output_folder

    try:
        if kind == "file":
            with staged_output_files([target], force=False) as staging:
                (staging / target.name).write_text(content)
                barrier.wait(timeout=30)
        else:
            with staged_output_folder(target, force=False, kind="run") as staging:
                (staging / "model.txt").write_text(content)
                barrier.wait(timeout=30)
    except OutputError as exc:
        return f"refused: {exc}"
    return "written"


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_two_concurrent_writers_of_one_output_never_both_succeed(tmp_path, kind):
    import multiprocessing

    target = tmp_path / ("model.tflite" if kind == "file" else "run")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with context.Pool(2) as pool:
            outcomes = pool.map(_write_then_wait, [(target, "int8", barrier, kind), (target, "float16", barrier, kind)])
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "written"], outcomes
    winner = ["int8", "float16"][outcomes.index("written")]
    loser = next(o for o in outcomes if o != "written")
    assert "was created by another process while this command ran" in loser and "`force`" in loser
    written = target.read_text() if kind == "file" else (target / "model.txt").read_text()
    assert written == winner, "the file holds what the successful writer wrote"
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "no staging folder is left"


def test_an_output_never_replaces_a_link_fifo_or_device(tmp_path):
    import stat

    from edgekd.artifacts import check_output_file

    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    link, dangling, fifo = tmp_path / "link.csv", tmp_path / "dangling.csv", tmp_path / "fifo.csv"
    link.symlink_to(victim)
    dangling.symlink_to(tmp_path / "nowhere")
    os.mkfifo(fifo)
    for path in (link, dangling):
        with pytest.raises(OutputError, match="already exists \\(a symbolic link\\).*`force`"):
            check_output_file(path, force=False)
        with pytest.raises(OutputError, match="created by another process"):
            write_bytes_atomic(path, b"new", replace=False)
        assert path.is_symlink()
    with pytest.raises(OutputError, match="is a FIFO"):
        check_output_file(fifo, force=True)
    with pytest.raises(OutputError, match="is a FIFO"):
        write_bytes_atomic(fifo, b"new")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # --force replaces the link itself, never the file it points to.
    write_bytes_atomic(link, b"new", replace=True)
    assert not link.is_symlink() and link.read_bytes() == b"new" and victim.read_text() == "the user's file"
    if os.geteuid() == 0:  # creating a device node needs root; the refusal does not
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        with pytest.raises(OutputError, match="is a device"):
            write_bytes_atomic(device, b"new", replace=True)
        assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_set_of_files_appears_whole_or_not_at_all(tmp_path):
    from edgekd.outputs import staged_output_files

    model, sidecar = tmp_path / "m.tflite", tmp_path / "m.results.json"
    with pytest.raises(OutputError, match="m.results.json was created by another process"):
        with staged_output_files([model, sidecar]) as staging:
            (staging / model.name).write_bytes(b"model")
            (staging / sidecar.name).write_text("{}")
            sidecar.write_text("made by someone else meanwhile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.results.json"], "the model was taken back out"
    assert sidecar.read_text() == "made by someone else meanwhile"
    with staged_output_files([model, sidecar], force=True) as staging:
        (staging / model.name).write_bytes(b"model")
        (staging / sidecar.name).write_text("{}")
    assert model.read_bytes() == b"model" and sidecar.read_text() == "{}"


def test_two_quantize_commands_with_one_out_never_both_report_success(teacher_file, tmp_path):
    """Two real `edgekd quantize` processes at once, int8 and float16, into one file: one wins, whole."""
    import json
    import subprocess
    import sys

    from tests.conftest import TINY_DATA

    out = tmp_path / "model.tflite"
    store = tmp_path.parent / f"{tmp_path.name}-store.db"
    common = ["--data", TINY_DATA, "--representative-samples", "50", "--out", str(out), "--json", "--db", str(store)]
    processes = {
        mode: subprocess.Popen(
            [sys.executable, "-m", "edgekd", "quantize", str(teacher_file), "--mode", mode, *common],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for mode in ("int8", "float16")
    }
    finished = {mode: (process.wait(timeout=400), *process.communicate()) for mode, process in processes.items()}
    winners = [mode for mode, (code, _, _) in finished.items() if code == 0]
    assert len(winners) == 1, {mode: (code, err[-300:]) for mode, (code, _, err) in finished.items()}
    (loser,) = set(finished) - set(winners)
    error = finished[loser][2].strip().splitlines()[-1]
    assert error.startswith("edgekd: error: ") and "Traceback" not in finished[loser][2]
    assert "already exists" in error or "was created by another process while this command ran" in error, error
    inspected = subprocess.run(
        [sys.executable, "-m", "edgekd", "inspect", str(out), "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(inspected.stdout)["detected_mode"] == winners[0], "the file holds the model its command reported"
    sidecar = json.loads(out.with_suffix(".results.json").read_text())
    assert sidecar["config"]["mode"] == winners[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.results.json", "model.tflite"]
    from edgekd.results.store import ResultsStore

    with ResultsStore(store) as results:
        assert len(results.runs(kind="quantize")) == 1, "only the command whose file is there recorded a run"


def test_an_output_path_starting_with_an_unexpanded_tilde_is_refused(tmp_path, monkeypatch):
    # `--out '~/runs'` (quoted, or from a file) made a folder named `~` in the working folder.
    monkeypatch.chdir(tmp_path)
    for check in (
        lambda: check_output_folder(Path("~/runs"), force=False),
        lambda: check_output_file(Path("~/r.csv"), False),
    ):
        with pytest.raises(OutputError, match="starts with '~', which no shell expanded"):
            check()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "~").mkdir()  # a folder really named so: the user's to write into
    check_output_folder(Path("~/runs"), force=False)


def test_an_output_file_is_never_one_of_the_files_the_command_reads(tmp_path):
    # `results export --csv --out <the store> --force` replaced every stored run with their CSV.
    store = tmp_path / "results.db"
    store.write_bytes(b"SQLite format 3\x00")
    (tmp_path / "link.db").symlink_to(store)
    for out in (store, tmp_path / "link.db"):
        with pytest.raises(OutputError, match="which this command reads"):
            check_output_file(out, True, reads=(store,))
    check_output_file(tmp_path / "runs.csv", True, reads=(store,))
    assert store.read_bytes() == b"SQLite format 3\x00"
