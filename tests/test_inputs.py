"""Reading the user's files: regular files only, and archive sizes checked before anything is inflated."""

import os
import time
import zipfile

import pytest

from edgekd.bench.meter import mean_power
from edgekd.errors import DataError, ModelError
from edgekd.inputs import (
    check_archive_sizes,
    check_folder_files,
    describe_size,
    open_regular_file,
    read_regular_file,
)


@pytest.fixture
def pipe(tmp_path):
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    return path


@pytest.mark.timeout(60)
def test_a_named_pipe_is_refused_at_once_without_waiting_for_a_writer(pipe):
    started = time.monotonic()
    with pytest.raises(DataError, match=r"npz file .*pipe\.npz is a named pipe \(FIFO\), not a regular file"):
        open_regular_file(pipe, "npz file", DataError)
    assert time.monotonic() - started < 5


@pytest.mark.timeout(60)
def test_a_symbolic_link_to_a_pipe_is_refused_too(pipe, tmp_path):
    link = tmp_path / "data.npz"
    link.symlink_to(pipe)
    with pytest.raises(DataError, match="named pipe"):
        read_regular_file(link, "npz file", DataError)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp, "is a folder, not a regular file"),
        (lambda tmp: "/dev/zero", "is a device, not a regular file"),
        (lambda tmp: tmp / "missing.keras", "does not exist; check the path"),
    ],
    ids=["folder", "device", "missing"],
)
def test_folders_devices_and_missing_paths_are_refused_with_what_they_are(tmp_path, make, message):
    with pytest.raises(ModelError, match=message):
        read_regular_file(make(tmp_path), "model", ModelError)


def test_a_regular_file_and_a_link_to_one_read_normally(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"0123456789")
    (tmp_path / "link.tflite").symlink_to(path)
    assert read_regular_file(tmp_path / "link.tflite", "model", ModelError) == b"0123456789"
    with open_regular_file(path, "model", ModelError) as handle:
        assert handle.read(4) == b"0123"


@pytest.mark.timeout(60)
def test_a_folder_with_a_pipe_inside_is_refused_naming_the_pipe(tmp_path):
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"x")
    os.mkfifo(tmp_path / "variables" / "variables.index")
    with pytest.raises(ModelError, match=r"variables\.index in SavedModel .* is a named pipe"):
        check_folder_files(tmp_path, "SavedModel", ModelError)
    (tmp_path / "variables" / "variables.index").unlink()
    check_folder_files(tmp_path, "SavedModel", ModelError)


def test_archive_limits_use_the_declared_sizes_before_anything_is_inflated(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * (3 << 20))
        archive.writestr("weights", b"\0" * (1 << 20))
    with zipfile.ZipFile(path) as archive:
        check_archive_sizes(archive, "a.zip", ModelError, 8 << 20, {"config.json": (4 << 20, "plenty")})
        with pytest.raises(
            ModelError, match=r"config\.json inflates to 3\.0 MiB .*more than the 2\.0 MiB allowed \(why\)"
        ):
            check_archive_sizes(archive, "a.zip", ModelError, 8 << 20, {"config.json": (2 << 20, "why")})
        with pytest.raises(ModelError, match=r"a\.zip inflates to 4\.0 MiB .*more than the 3\.0 MiB"):
            check_archive_sizes(archive, "a.zip", ModelError, 3 << 20)


def test_sizes_read_as_people_write_them():
    assert describe_size(64) == "64 bytes"
    assert describe_size(65 << 20) == "65.0 MiB"
    assert describe_size(14 << 40) == "14.0 TiB"


@pytest.mark.timeout(60)
def test_a_power_log_that_is_a_pipe_gives_a_reason_not_a_hang(tmp_path):
    log = tmp_path / "meter.csv"
    os.mkfifo(log)
    watts, reason = mean_power(log, 0.0, time.time())
    assert watts is None and "named pipe" in reason
