"""`edgekd deploy` against a real sshd on loopback: verified, atomic, reversible, and safe when the link drops."""

from __future__ import annotations

import json
import subprocess

import pytest

from edgekd.bench.ssh import remote_command
from edgekd.deploy import SshDeployer
from tests.conftest import assert_clean_failure, invoke
from tests.sshd import start_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd-deploy"))
    yield server
    server.stop()


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
    assert target.read_bytes() == first.read_bytes()
    metadata = json.loads((tmp_path / "board" / "models" / "model.tflite.json").read_text())
    assert metadata["model"] == "v1.tflite" and metadata["inputs"][0]["dtype"] == "int8"
    again = invoke("deploy", str(second), "--device", device, "--path", str(target))
    assert again.exit_code == 0, again.stderr
    assert target.read_bytes() == second.read_bytes()
    assert (target.parent / "model.tflite.previous").read_bytes() == first.read_bytes()
    assert not list(target.parent.glob("*edgekd-upload*")), "no upload is left behind"
    back = invoke("deploy", "--rollback", "--device", device, "--path", str(target))
    assert back.exit_code == 0, back.stderr
    assert target.read_bytes() == first.read_bytes()
    assert json.loads((target.parent / "model.tflite.json").read_text())["model"] == "v1.tflite"
    assert_clean_failure(
        invoke("deploy", "--rollback", "--device", device, "--path", str(target)), "no previous version"
    )


def test_a_connection_cut_mid_upload_leaves_the_installed_model_intact(device, versions, tmp_path, monkeypatch):
    first, second = versions
    target = tmp_path / "board" / "model.tflite"
    assert invoke("deploy", str(first), "--device", device, "--path", str(target)).exit_code == 0

    def cut_upload(self, local, remote):
        # Half the bytes, then the ssh client dies: a real dropped connection to the real sshd.
        argv = ["ssh", *self.target.options(), self.target.destination, "--", f"cat > {remote_command(remote)}"]
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = local.read_bytes()
        process.stdin.write(data[: len(data) // 2])
        process.stdin.flush()
        process.kill()
        process.wait()

    monkeypatch.setattr(SshDeployer, "upload", cut_upload)
    cut = invoke("deploy", str(second), "--device", device, "--path", str(target))
    assert_clean_failure(cut, "the upload did not arrive whole", "the installed model was not touched")
    assert target.read_bytes() == first.read_bytes(), "the old model is in place and intact"
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
