"""`edgekd deploy` against a real sshd on loopback: verified, atomic, reversible, and safe when the link drops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekd.deploy import install
from edgekd.errors import ConfigError, ProfileError
from edgekd.export.embedded import read_embedded_metadata
from edgekd.profiles.loader import get_profile
from tests.conftest import assert_clean_failure, invoke


@pytest.fixture
def device(sshd, tmp_path, monkeypatch):
    folder = tmp_path / "devices"
    folder.mkdir()
    (folder / "board.yaml").write_text(sshd.profile_yaml("board"))
    monkeypatch.setenv("EDGEKD_DEVICES", str(folder))
    return "board"


@pytest.fixture
def versions(int8_model_file, pipeline_run, tmp_path):
    """Two different int8 models to install one after the other."""
    out, _ = pipeline_run
    first, second = tmp_path / "v1.tflite", tmp_path / "v2.tflite"
    first.write_bytes(int8_model_file.read_bytes())
    second.write_bytes((out / "student_int8.tflite").read_bytes())
    assert first.read_bytes() != second.read_bytes()
    return first, second


def test_deploy_installs_keeps_the_previous_and_rolls_back(device, versions, tmp_path):
    first, second = versions
    target = tmp_path / "board" / "models" / "model.tflite"
    installed = invoke("deploy", str(first), "--device", device, "--path", str(target), "--json")
    assert installed.exit_code == 0, installed.stderr
    check_installed(target, "v1.tflite")
    metadata = json.loads((tmp_path / "board" / "models" / "model.tflite.json").read_text())
    assert metadata["inputs"][0]["dtype"] == "int8"
    v1 = target.read_bytes()
    again = invoke("deploy", str(second), "--device", device, "--path", str(target))
    assert again.exit_code == 0, again.stderr
    check_installed(target, "v2.tflite")
    assert (target.parent / "model.tflite.previous").read_bytes() == v1
    assert not list(target.parent.glob("*edgekd-upload*")), "no upload is left behind"
    back = invoke("deploy", "--rollback", "--device", device, "--path", str(target))
    assert back.exit_code == 0, back.stderr
    assert target.read_bytes() == v1
    assert json.loads((target.parent / "model.tflite.json").read_text())["model"] == "v1.tflite"
    assert_clean_failure(
        invoke("deploy", "--rollback", "--device", device, "--path", str(target)), "no previous version"
    )


def check_installed(target, model_name: str) -> None:
    """The installed file is the model with its metadata inside, and the sidecar's checksum is the file's."""
    import hashlib

    data = target.read_bytes()
    assert read_embedded_metadata(data)["model"] == model_name
    sidecar = json.loads(target.with_name(target.name + ".json").read_text())
    assert sidecar["model"] == model_name and sidecar["sha256"] == hashlib.sha256(data).hexdigest()


# The real ssh client, except that an upload (a remote `cat > FILE`) loses its connection halfway:
# half the bytes reach the real sshd, then the client is killed. It reports success, as a client
# that missed the cut would: the checksum on the device must catch it.
CUTTING_SSH = """#!{python}
import os, subprocess, sys
argv = [{real!r}, *sys.argv[1:]]
if not sys.argv[-1].startswith("cat > "):
    os.execv(argv[0], argv)
data = sys.stdin.buffer.read()
process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
process.stdin.write(data[: len(data) // 2])
process.stdin.flush()
process.kill()
process.wait()
"""


def test_a_connection_cut_mid_upload_leaves_the_installed_model_intact(device, versions, tmp_path, monkeypatch):
    import os
    import shutil
    import sys

    first, second = versions
    target = tmp_path / "board" / "model.tflite"
    assert invoke("deploy", str(first), "--device", device, "--path", str(target)).exit_code == 0
    installed = target.read_bytes()

    ssh = tmp_path / "cutting-bin" / "ssh"
    ssh.parent.mkdir()
    ssh.write_text(CUTTING_SSH.format(python=sys.executable, real=shutil.which("ssh")))
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{ssh.parent}{os.pathsep}{os.environ['PATH']}")
    cut = invoke("deploy", str(second), "--device", device, "--path", str(target))
    assert_clean_failure(cut, "the upload did not arrive whole", "the installed model was not touched")
    assert target.read_bytes() == installed, "the old model is in place and intact"
    assert not list(target.parent.glob("*edgekd-upload*"))


def test_deploy_refuses_what_the_device_cannot_run_or_reach(device, pipeline_run, tmp_path, int8_model_file):
    out, _ = pipeline_run
    assert_clean_failure(
        invoke("deploy", str(out / "student_float32.tflite"), "--device", "coral-usb"),
        "is a float32 model and device coral-usb runs only int8",
    )
    assert_clean_failure(invoke("deploy", str(int8_model_file), "--device", "nano33ble"), "edgekd export")
    assert_clean_failure(invoke("deploy", str(int8_model_file), "--device", "nope"), "unknown device 'nope'")
    # A path the device cannot write (its parent is a file; chmod would not stop root, which CI is).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    result = invoke("deploy", str(int8_model_file), "--device", device, "--path", str(blocker / "m.tflite"))
    assert_clean_failure(result, "board: creating", "failed")
    assert blocker.read_text() == "a file"


def test_deploy_on_the_host_installs_replaces_and_rolls_back(versions, tmp_path, monkeypatch):
    first, second = versions
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    # No --path: under the home folder, as over SSH.
    assert invoke("deploy", str(first), "--device", "host").exit_code == 0
    default = tmp_path / "home" / "edgekd" / "models" / "v1.tflite"
    check_installed(default, "v1.tflite")
    # A relative --path is taken from the current folder, as every local tool does.
    monkeypatch.chdir(tmp_path)
    for model in (first, second):
        result = invoke("deploy", str(model), "--device", "host", "--path", "app/model.tflite")
        assert result.exit_code == 0, result.stderr
    target = tmp_path / "app" / "model.tflite"
    check_installed(target, "v2.tflite")
    assert read_embedded_metadata((target.parent / "model.tflite.previous").read_bytes())["model"] == "v1.tflite"
    assert invoke("deploy", "--rollback", "--device", "host", "--path", "app/model.tflite").exit_code == 0
    check_installed(target, "v1.tflite")
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.tflite", "model.tflite.json"]


def test_deploy_over_adb_is_verified_atomic_and_safe_when_the_cable_is_pulled(
    stand_in_adb, versions, tmp_path, monkeypatch
):
    first, second = versions
    target = tmp_path / "phone" / "files" / "model.tflite"
    result = invoke("deploy", str(first), "--device", "pixel4", "--path", str(target))
    assert result.exit_code == 0, result.stderr
    check_installed(target, "v1.tflite")
    installed = target.read_bytes()
    monkeypatch.setenv("STAND_IN_ADB_CUT", "1")
    cut = invoke("deploy", str(second), "--device", "pixel4", "--path", str(target))
    assert_clean_failure(cut, "pixel4: uploading v2.tflite failed", "connection reset")
    assert target.read_bytes() == installed and not list(target.parent.glob("*edgekd-upload*"))
    monkeypatch.delenv("STAND_IN_ADB_CUT")
    assert invoke("deploy", str(second), "--device", "pixel4", "--path", str(target)).exit_code == 0
    check_installed(target, "v2.tflite")
    assert invoke("deploy", "--rollback", "--device", "pixel4", "--path", str(target)).exit_code == 0
    assert target.read_bytes() == installed


def test_a_model_over_the_device_memory_budget_is_refused(tmp_path, monkeypatch):
    import keras
    import tensorflow as tf

    # 400 K float32 weights: 1.6 MB, over a 1 MB budget.
    inputs = keras.Input((1000,))
    model = keras.Model(inputs, keras.layers.Dense(400)(inputs))
    big = tmp_path / "big.tflite"
    big.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    folder = tmp_path / "devices"
    folder.mkdir()
    host = (Path(__file__).parents[1] / "devices" / "host.yaml").read_text()
    (folder / "kiosk.yaml").write_text(
        host.replace("name: host", "name: kiosk").replace("memory_mb: 24576", "memory_mb: 24576\n  memory_budget_mb: 1")
    )
    monkeypatch.setenv("EDGEKD_DEVICES", str(folder))
    target = tmp_path / "kiosk" / "model.tflite"
    result = invoke("deploy", str(big), "--device", "kiosk", "--path", str(target))
    assert_clean_failure(result, "more than kiosk's model budget of 1 MB", "of model")
    assert not target.parent.exists()
    # The rule lives in the library: a Python caller is refused the same way.
    with pytest.raises(ProfileError, match="more than kiosk's model budget of 1 MB"):
        install(big, get_profile("kiosk"), str(target))
    assert not target.parent.exists()


@pytest.fixture(params=["host", "ssh", "adb"])
def any_channel(request, tmp_path, monkeypatch):
    """A device of each transport whose file system is this machine's: the host, the loopback sshd, the stand-in adb."""
    if request.param == "ssh":
        return request.getfixturevalue("device")
    if request.param == "adb":
        request.getfixturevalue("stand_in_adb")
        return "pixel4"
    return "host"


def test_a_folder_path_installs_under_the_model_s_own_name(any_channel, int8_model_file, tmp_path):
    model = tmp_path / "v1.tflite"
    model.write_bytes(int8_model_file.read_bytes())
    folder = tmp_path / "device" / "models"
    folder.mkdir(parents=True)
    for path in (str(folder), f"{tmp_path}/device/new/"):
        result = invoke("deploy", str(model), "--device", any_channel, "--path", path)
        assert result.exit_code == 0, result.stderr
        installed = Path(path) / "v1.tflite"
        assert f"at {installed} " in result.stdout, result.stdout
        check_installed(installed, "v1.tflite")
    assert sorted(p.name for p in folder.iterdir()) == ["v1.tflite", "v1.tflite.json"]
    assert sorted(p.name for p in (tmp_path / "device").iterdir()) == ["models", "new"], "nothing beside the folder"
    back = invoke("deploy", "--rollback", "--device", any_channel, "--path", str(folder))
    assert_clean_failure(back, "is a folder", "give the installed model's path")
    # A name sha256sum would print escaped (one holding a backslash) is checked all the same.
    odd = tmp_path / "device" / "back\\slash.tflite"
    result = invoke("deploy", str(model), "--device", any_channel, "--path", str(odd))
    assert result.exit_code == 0, result.stderr
    check_installed(odd, "v1.tflite")


def test_an_empty_or_unprintable_path_is_refused(int8_model_file, tmp_path):
    assert_clean_failure(invoke("deploy", str(int8_model_file), "--device", "host", "--path", ""), "--path is empty")
    refused = invoke("deploy", str(int8_model_file), "--device", "host", "--path", f"{tmp_path}/a\nb.tflite")
    assert_clean_failure(refused, "holds a control character")
    assert list(tmp_path.iterdir()) == []
    # The library names its parameter; only the CLI speaks of --path.
    with pytest.raises(ConfigError, match="^path is empty"):
        install(int8_model_file, get_profile("host"), " ")
