"""`--force` replaces only what edgekd wrote for the same command, in one step, and the store names only published runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgekd.errors import OutputError
from edgekd.outputs import OUTPUT_MARKER, check_output_folder, output_kind, staged_output_folder
from tests.conftest import assert_clean_failure, invoke, snapshot


def _user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("months of work")
    (path / "data").mkdir()
    (path / "data" / "x.npz").write_bytes(b"arrays")
    return path


def _run_folder(path: Path, kind: str = "run") -> Path:
    path.mkdir(parents=True)
    (path / "student.keras").write_bytes(b"model")
    (path / OUTPUT_MARKER).write_text(f'{{"kind": "{kind}"}}')
    return path


def test_force_never_replaces_a_folder_edgekd_did_not_write_or_another_commands_output(tmp_path):
    user, run = _user_folder(tmp_path / "mine"), _run_folder(tmp_path / "run")
    before = snapshot(tmp_path)
    for target, kind, fragment in (
        (user, "run", "files edgekd did not write"),
        (run, "report", "an edgekd run output"),
    ):
        with pytest.raises(OutputError, match=fragment):
            with staged_output_folder(target, force=True, kind=kind) as staging:
                (staging / "report.html").write_text("new")
    assert snapshot(tmp_path) == before
    with staged_output_folder(run, force=True, kind="distill") as staging:  # demo, run and distill share a kind
        (staging / "student.keras").write_bytes(b"new model")
    assert (run / "student.keras").read_bytes() == b"new model" and output_kind(run) == "run"


def test_folders_from_before_the_marker_are_recognised_by_what_edgekd_writes(tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "results.json").write_text('{"schema_version": 1, "kind": "demo", "edgekd_version": "0.1.0"}')
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("<html>")
    (report / "report.md").write_text("# edgekd distill report\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.c").write_text('/* model.tflite */\n#include "model.h"\n#define EDGEKD_ALIGNED alignas(16)\n')
    (export / "model.h").write_text("#define MODEL_SIZE 4\n")
    fifo = tmp_path / "piped"
    fifo.mkdir()
    os.mkfifo(fifo / "results.json")
    assert [output_kind(f) for f in (legacy, report, export, fifo, tmp_path)] == ["run", "report", "export", None, None]


def test_a_users_own_files_named_like_edgekds_are_never_its_to_replace(
    tmp_path, int8_model_file, quick_demo, monkeypatch
):
    # Before: `export --out fw --force` deleted a hand-written model.c and model.h, and `report --out docs
    # --force` a team's own report.md, since older outputs were recognised by their file names alone.
    monkeypatch.chdir(tmp_path)
    firmware, docs, other = tmp_path / "fw", tmp_path / "docs", tmp_path / "other"
    for folder in (firmware, docs, other):
        folder.mkdir()
    (firmware / "model.c").write_text('#include "model.h"\nint model_run(void) { return 0; }\n')
    (firmware / "model.h").write_text("int model_run(void);\n")
    (docs / "report.md").write_text("# Our notes\n")
    (other / "results.json").write_text('{"schema_version": 2, "kind": "experiment"}')  # another tool's
    before = snapshot(tmp_path)
    exported = invoke("export", str(int8_model_file), "--out", "fw", "--force")
    assert_clean_failure(exported, "files edgekd did not write")
    for folder in ("docs", "other"):
        reported = invoke("report", str(quick_demo[0]), "--out", folder, "--force")
        assert reported.exit_code != 0 and "files edgekd did not write" in reported.stderr, reported.stderr
    assert snapshot(tmp_path) == before


def test_force_never_replaces_the_working_folder_or_one_above_it(tmp_path, monkeypatch):
    work = _run_folder(tmp_path / "runs" / "x")
    monkeypatch.chdir(work)
    for target in (".", "..", str(work), str(tmp_path)):
        with pytest.raises(OutputError, match="the folder you are working in"):
            with staged_output_folder(Path(target), force=True, kind="run"):
                pass
    assert (work / "student.keras").read_bytes() == b"model"


def test_a_forced_publish_leaves_no_moment_without_the_output_and_a_failed_commit_undoes_it(tmp_path):
    run = _run_folder(tmp_path / "run")
    seen = []

    def commit():
        seen.append(sorted(p.name for p in run.iterdir()))
        raise RuntimeError("the store is locked")

    with pytest.raises(RuntimeError, match="locked"):
        with staged_output_folder(run, force=True, kind="run", commit=commit) as staging:
            (staging / "student.keras").write_bytes(b"new")
    assert seen == [[OUTPUT_MARKER, "student.keras"]] and (run / "student.keras").read_bytes() == b"model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no staging or set-aside folder is left"


def test_an_earlier_output_set_aside_by_a_killed_publish_comes_back_on_the_next_run(tmp_path):
    # Where the file system cannot exchange two folders, the earlier output is renamed aside first; a
    # process killed between the two renames leaves only `.run.old-PID`: the next run puts it back.
    run = _run_folder(tmp_path / "run")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(run, tmp_path / f".run.old-{dead.stdout.strip()}")
    with pytest.raises(OutputError, match="already exists"):
        with staged_output_folder(run, force=False, kind="run"):
            pass
    assert (run / "student.keras").read_bytes() == b"model" and sorted(os.listdir(tmp_path)) == ["run"]


def test_report_into_its_own_run_folder_adds_the_report_and_keeps_the_run(quick_demo, tmp_path):
    import shutil

    out, _, _ = quick_demo
    run = tmp_path / "run"
    shutil.copytree(out, run)
    models = {name: data for name, data in snapshot(run).items() if not name.startswith("report.")}
    result = invoke("report", str(run), "--out", str(run), "--force")
    assert result.exit_code == 0, result.stderr
    after = snapshot(run)
    assert {name: after[name] for name in models} == models, "the run's models and results stay"
    assert "report.html" in after and "report.md" in after


def test_report_and_distill_refuse_the_working_folder_and_record_nothing(teacher_file, tmp_path):
    from tests.test_bad_inputs import store_runs

    work = _user_folder(tmp_path / "work")
    before, runs = snapshot(work), store_runs()
    for argv in (
        ["report", "latest", "--out", str(work), "--force"],
        ["report", "latest", "--out", ".", "--force"],
        ["distill", "--teacher", str(teacher_file), "--data", "mnist1d:samples=300", "--out", ".", "--force"],
    ):
        assert_clean_failure(invoke(*argv, cwd=work), "the folder you are working in")
    assert snapshot(work) == before and store_runs() == runs


def test_without_an_exchange_a_forced_publish_still_replaces_and_a_failed_commit_restores(tmp_path, monkeypatch):
    import edgekd.outputs

    monkeypatch.setattr(edgekd.outputs, "exchange", lambda first, second: False)
    run = _run_folder(tmp_path / "run")
    with pytest.raises(RuntimeError):
        with staged_output_folder(run, force=True, kind="run", commit=_fail) as staging:
            (staging / "student.keras").write_bytes(b"new")
    assert (run / "student.keras").read_bytes() == b"model"
    with staged_output_folder(run, force=True, kind="run") as staging:
        (staging / "student.keras").write_bytes(b"new")
    assert (run / "student.keras").read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["run"]


def _fail():
    raise RuntimeError("store failed")


def test_a_forced_run_never_deletes_the_teacher_it_reads_from_the_folder_it_replaces(teacher_file, tmp_path):
    # `distill --teacher runs/kd/teacher.keras --out runs/kd --force` trained, then deleted the earlier
    # folder with the teacher in it: a loaded teacher is not copied into the output.
    import shutil

    run = _run_folder(tmp_path / "kd", kind="distill")
    shutil.copy(teacher_file, run / "teacher.keras")
    before = snapshot(run)
    args = ["--student", "conv:width=1", "--data", "mnist1d:samples=1500", "--epochs", "1", "--out", str(run)]
    result = invoke("distill", "--teacher", str(run / "teacher.keras"), *args, "--force")
    assert_clean_failure(result, "teacher.keras, which this command reads", "choose another --out")
    assert snapshot(run) == before
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(run, elsewhere)  # the same folder, its teacher read from another: replaced
    result = invoke("distill", "--teacher", str(elsewhere / "teacher.keras"), *args, "--force")
    assert result.exit_code == 0, result.stderr
    assert not (run / "teacher.keras").exists() and (elsewhere / "teacher.keras").exists()


def test_an_out_name_with_glob_characters_touches_only_its_own_set_aside_folders(tmp_path):
    # `--out 'run[1]' --force` matched `.run1.old-PID` as a pattern and deleted run1's set-aside output,
    # which the next command writing run1 would have put back.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    set_aside = _run_folder(tmp_path / f".run1.old-{dead.stdout.strip()}")
    for name in ("run[1]", "*"):
        other = _run_folder(tmp_path / name)
        with staged_output_folder(other, force=True, kind="run") as staging:
            (staging / "student.keras").write_bytes(b"new")
        assert (other / "student.keras").read_bytes() == b"new"
    assert (set_aside / "student.keras").read_bytes() == b"model"
    with pytest.raises(OutputError, match="already exists"):
        check_output_folder(tmp_path / "run1", force=False)
    assert (tmp_path / "run1" / "student.keras").read_bytes() == b"model", "put back where it belongs"


def test_a_forced_publish_onto_a_symbolic_link_replaces_the_link_and_leaves_nothing_behind(tmp_path):
    real = _run_folder(tmp_path / "real")
    (tmp_path / "latest").symlink_to("real")
    with staged_output_folder(tmp_path / "latest", force=True, kind="run") as staging:
        (staging / "student.keras").write_bytes(b"new")
    assert not (tmp_path / "latest").is_symlink() and (tmp_path / "latest" / "student.keras").read_bytes() == b"new"
    assert (real / "student.keras").read_bytes() == b"model", "never what the link pointed to"
    assert sorted(os.listdir(tmp_path)) == ["latest", "real"], "no hidden link left (rmtree refuses links)"


def test_a_failed_record_never_undoes_another_commands_publish_made_meanwhile(tmp_path):
    # Two forced runs into one folder: B published while A was recording; A's record failed and its undo
    # swapped B's output out and deleted it, leaving the store's run B naming a folder of older files.
    run = _run_folder(tmp_path / "run")

    def record_after_another_publish():
        with staged_output_folder(run, force=True, kind="run") as other:
            (other / "student.keras").write_bytes(b"B")
        raise RuntimeError("the store is locked")

    with pytest.raises(RuntimeError, match="locked"):
        with staged_output_folder(run, force=True, kind="run", commit=record_after_another_publish) as staging:
            (staging / "student.keras").write_bytes(b"A")
    assert (run / "student.keras").read_bytes() == b"B"
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_a_forced_publish_never_replaces_a_folder_it_reads_or_one_holding_what_it_reads(tmp_path):
    run = _run_folder(tmp_path / "run")
    (run / "data").mkdir()
    for reads in ([run], [run / "data"], [run / "student.keras"]):
        with pytest.raises(OutputError, match="which this command reads"):
            with staged_output_folder(run, force=True, kind="run", reads=reads):
                pass
    with staged_output_folder(run, force=True, kind="run", reads=[tmp_path / "elsewhere.npz"]) as staging:
        (staging / "student.keras").write_bytes(b"new")
    assert (run / "student.keras").read_bytes() == b"new"


def test_record_false_stores_nothing_and_still_publishes(tmp_path, monkeypatch):
    # The publish's commit function was named `record`, shadowing the `record=False` option: the store
    # was opened and the run recorded anyway.
    import dataclasses

    from edgekd.api import runs
    from edgekd.config import PipelineConfig

    @dataclasses.dataclass(frozen=True)
    class Finished:
        out: Path | None = None

        def to_document(self) -> dict:
            return {"schema_version": 1, "kind": "distill", "edgekd_version": "test"}

    def stages(staging, reporter, checkpoints):
        (staging / "student.keras").write_bytes(b"model")
        return Finished()

    store = tmp_path / "store.db"
    result = runs._trained_run(PipelineConfig(), tmp_path / "run", "distill", stages, db=store, record=False)
    assert result.out == tmp_path / "run" and (tmp_path / "run" / "student.keras").read_bytes() == b"model"
    assert not store.exists(), "record=False opens no store"


def test_a_forced_run_never_replaces_the_folder_holding_the_results_store(tmp_path):
    # `distill --out kd --force --db kd/results.db`: the store went with the earlier folder, every run in it.
    from edgekd.api import runs
    from edgekd.config import PipelineConfig
    from edgekd.results.store import ResultsStore

    run = _run_folder(tmp_path / "kd", kind="distill")
    ResultsStore(run / "results.db").close()
    before = snapshot(run)
    with pytest.raises(OutputError, match="results.db, which this command reads"):
        runs._trained_run(PipelineConfig(), run, "distill", lambda *args: None, db=run / "results.db", force=True)
    assert snapshot(run) == before
