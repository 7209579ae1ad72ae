"""Atomic artifacts: complete at the final path, or absent; earlier results untouched."""

import os

import pytest

from edgekd.artifacts import staged_output_folder, write_bytes_atomic
from edgekd.errors import OutputError


def test_failed_run_leaves_no_folder(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with staged_output_folder(target) as staging:
            (staging / "half.tflite").write_bytes(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_only_after_success(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("earlier result")
    with pytest.raises(KeyboardInterrupt):
        with staged_output_folder(target, force=True) as staging:
            (staging / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert (target / "old.txt").read_text() == "earlier result" and not (target / "new.txt").exists()
    with staged_output_folder(target, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_existing_folder_needs_force(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(OutputError, match="already exists.*--force"):
        with staged_output_folder(tmp_path / "run"):
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
