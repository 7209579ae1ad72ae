"""The emulated Raspberry Pi 5: Debian arm64 Python and the aarch64 LiteRT under qemu, reached locally and over SSH.

scripts/setup-tests.sh builds it (`edgekd devices emulate rpi5`). Here the real agent runs on
the aarch64 interpreter: through the local runner (the `rpi5-emulated` profile) and through
the real SSH runner, `devices check` and `deploy` against a loopback sshd whose key forces
every command through the emulated userland's wrapper.
"""

from __future__ import annotations

import json
import platform

import pytest

from edgekd.profiles.emulated import built, emulation_folder
from tests.conftest import invoke

ACCURACY = ["--accuracy", "mnist1d:samples=1500,transfer=300", "--samples", "60"]
QUICK = ["--runs", "20", "--min-seconds", "0.1", "--warmup", "2"]


@pytest.fixture(scope="module")
def emulated_rpi5() -> dict:
    document = built("rpi5")
    if document is None:
        pytest.fail("the emulated rpi5 is not built: run scripts/setup-tests.sh (edgekd devices emulate rpi5)")
    return document


@pytest.fixture(scope="module")
def emulated_sshd(tmp_path_factory, emulated_rpi5):
    """A loopback sshd whose user key runs every command with the emulated python3 first on PATH."""
    from tests.sshd import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("emulated-sshd"), emulation_folder("rpi5") / "bin" / "ssh-command")
    yield server
    server.stop()


@pytest.fixture
def ssh_pi(emulated_sshd, tmp_path, monkeypatch) -> str:
    """A profile for the emulated Pi over SSH, as a user would write one for a board: python3 on the device."""
    folder = tmp_path / "devices"
    folder.mkdir()
    text = emulated_sshd.profile_yaml("emulated-pi", python="python3") + "emulation: {of: rpi5}\n"
    (folder / "emulated-pi.yaml").write_text(text)
    monkeypatch.setenv("EDGEKD_DEVICES", str(folder))
    return "emulated-pi"


def test_the_build_is_arm_and_building_again_keeps_it(emulated_rpi5):
    assert emulated_rpi5["emulated"]["machine"] == "aarch64" and emulated_rpi5["qemu_cpu"] == "cortex-a76"
    marker = emulation_folder("rpi5") / "edgekd-emulated.json"
    before = marker.stat().st_mtime_ns
    again = invoke("devices", "emulate", "rpi5")
    assert again.exit_code == 0 and "already built" in again.stderr
    assert marker.stat().st_mtime_ns == before, "a finished build is kept, not redone"


def test_the_local_profile_runs_the_agent_on_aarch64_and_marks_latency_emulated(int8_model_file):
    result = invoke("bench", str(int8_model_file), "--device", "rpi5-emulated", *QUICK, *ACCURACY, "--json")
    assert result.exit_code == 0, result.stderr
    (bench,) = json.loads(result.stdout)
    environment = bench["environment"]
    assert environment["machine"] == "aarch64" != platform.machine()
    assert environment["runtime"] == "ai_edge_litert" and environment["runtime_version"] == "2.3.0"
    assert bench["latency_source"] == "emulated" and bench["emulated_of"] == "rpi5"
    assert any(w.startswith("emulated: this latency is qemu's") for w in bench["warnings"])
    # ARM's int8 kernels against x86's on the same inputs.
    checked = bench["accuracy"]
    assert checked["runtime"].endswith("aarch64") and checked["samples"] == 60
    assert checked["agreement_with_host"] >= 0.95 and checked["largest_difference_steps"] <= 1
    table = invoke("bench", str(int8_model_file), "--device", "rpi5-emulated", *QUICK)
    assert "rpi5-emulated (emulated rpi5: latency not the board's)" in table.stdout


def test_compare_and_the_report_keep_emulated_latency_apart(int8_model_file, tmp_path):
    teacher = tmp_path / "teacher.tflite"
    teacher.write_bytes(int8_model_file.read_bytes())
    result = invoke("bench", str(teacher), str(int8_model_file), "--device", "rpi5-emulated", *QUICK)
    assert result.exit_code == 0, result.stderr
    compared = invoke("compare")
    assert "emulated" in compared.stdout and "says nothing about the real board" in compared.stdout
    assert "against teacher (emulated)" in compared.stdout
    report = invoke("report", "--out", str(tmp_path / "report"))
    assert report.exit_code == 0, report.stderr
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "latency is emulated, not measured" in markdown and "emulated rpi5: latency not the board's" in markdown


def test_ssh_runner_devices_check_and_deploy_reach_the_emulated_pi(ssh_pi, int8_model_file, tmp_path):
    checked = invoke("devices", "check", ssh_pi, "--json")
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["machine"] == "aarch64"
    bench = invoke("bench", str(int8_model_file), "--device", ssh_pi, *QUICK, *ACCURACY, "--json")
    assert bench.exit_code == 0, bench.stderr
    (result,) = json.loads(bench.stdout)
    assert result["runner"] == "ssh" and result["environment"]["machine"] == "aarch64"
    assert result["latency_source"] == "emulated" and result["accuracy"]["agreement_with_host"] >= 0.95
    target = tmp_path / "installed" / "student.tflite"
    deployed = invoke("deploy", str(int8_model_file), "--device", ssh_pi, "--path", str(target))
    assert deployed.exit_code == 0, deployed.stderr
    assert target.exists() and target.with_name(target.name + ".json").exists()
