"""Device profiles: every built-in validates; bad profiles name file, field and problem."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgekd.errors import ProfileError
from edgekd.profiles.loader import builtin_folder, discover, get_profile, load_profile_file

BUILTIN = sorted(p.stem for p in builtin_folder().glob("*.yaml"))
VALID = (builtin_folder() / "rpi4.yaml").read_text()
PHONE = (builtin_folder() / "pixel4.yaml").read_text()


def test_builtins_include_host_pi_android_and_coral():
    assert {"host", "rpi4", "pixel4", "coral-usb"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_profile_validates_and_cites_sources(name):
    profile = get_profile(name).profile
    assert profile.name == name
    assert profile.sources, "every profile says where its numbers come from"
    if profile.quantization.supported != ["float32", "float16", "dynamic", "int8", "int16x8"]:
        assert profile.quantization.reason, "limited modes need a reason"


def test_coral_runs_int8_only_with_reason():
    coral = get_profile("coral-usb").profile
    assert coral.supports("int8") and not coral.supports("float32")
    assert "int8" in coral.quantization.reason


@pytest.mark.parametrize(
    "text, message",
    [
        (VALID.replace("kind: sbc", "kind: sbc\ncolour: red"), "field 'colour': unknown field"),
        (VALID.replace("cores: 4", "cores: four"), "field 'hardware.cores'"),
        (VALID.replace("schema_version: 1", "schema_version: 9"), "schema_version 9 is not supported"),
        (VALID.replace("type: ssh", "type: bluetooth"), "field 'transport.type'"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: [unclosed", "not valid YAML"),
        ("!!python/object/apply:os.system ['touch pwned']\n", "not valid YAML"),
        # Values that reach a command line: never an option, never split by a space or a control character.
        (
            VALID.replace("host: raspberrypi.local", "host: -oProxyCommand=touch pwned"),
            "'transport.host'.*starts with '-'",
        ),
        (VALID.replace("host: raspberrypi.local", "host: pi.local -v"), "'transport.host'.*may hold only"),
        (VALID.replace("user: pi", "user: -oProxyCommand=touch pwned"), "'transport.user'.*starts with '-'"),
        (VALID.replace("user: pi", 'user: "pi\\n"'), "'transport.user'.*control character"),
        (VALID.replace("key_file: ~/.ssh/id_ed25519", "key_file: -oProxyCommand=x"), "'transport.key_file'"),
        (VALID.replace("known_hosts: ~/.ssh/known_hosts", 'known_hosts: "a\\x1b[2J"'), "'transport.known_hosts'"),
        (VALID.replace("python: python3", "python: -c"), "'runtime.python'.*starts with '-'"),
        (PHONE.replace("serial: null", "serial: -a"), "'transport.serial'.*starts with '-'"),
        (PHONE.replace("cpu_affinity: f0", "cpu_affinity: -p 1"), "'runtime.cpu_affinity'"),
        (PHONE.replace("cpu_affinity: f0", "cpu_affinity: f0 x"), "'runtime.cpu_affinity'.*hexadecimal CPU mask"),
        (PHONE.replace("benchmark_binary: null", "benchmark_binary: --graph=x"), "'runtime.benchmark_binary'"),
        # Names that refer to a registry are checked when the profile loads, not when a benchmark runs.
        (
            VALID.replace("reader: ina2xx", "reader: ina291"),
            "'power.reader'.*unknown power reader 'ina291'; known: .*ina2xx",
        ),
        (
            VALID.replace("interpreter: tflite_runtime", "interpreter: tflite"),
            "'runtime.interpreter'.*'tflite_runtime'",
        ),
    ],
)
def test_bad_profiles_name_file_and_field(tmp_path, text, message):
    path = tmp_path / "rpi4.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message) as info:
        load_profile_file(path)
    assert str(path) in str(info.value)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_user_profiles_from_edgekd_devices(tmp_path, monkeypatch):
    (tmp_path / "mybox.yaml").write_text(VALID.replace("name: rpi4", "name: mybox"))
    monkeypatch.setenv("EDGEKD_DEVICES", str(tmp_path))
    entries = discover()
    assert entries["mybox"].origin == "user" and "rpi4" in entries


def test_profile_name_must_match_file(tmp_path, monkeypatch):
    (tmp_path / "other.yaml").write_text(VALID)
    monkeypatch.setenv("EDGEKD_DEVICES", str(tmp_path))
    with pytest.raises(ProfileError, match="file is named 'other'"):
        discover()


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(ProfileError, match="unknown device 'rpi9'; known: .*rpi4"):
        get_profile("rpi9")


def test_builtin_profiles_are_found_from_a_non_editable_install(tmp_path):
    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "from edgekd.profiles.loader import builtin_folder, discover; print(builtin_folder()); print(sorted(discover()))"
        "; from edgekd.profiles.calibration import builtin_calibration; print(len(builtin_calibration().points))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, check=True
    )
    folder, names, points = completed.stdout.strip().splitlines()
    assert folder.startswith(str(target)), folder
    assert "rpi4" in names and "host" in names
    # The calibration data travels with the profiles: estimates work from an installed edgekd.
    assert int(points) >= 40


def test_a_profile_that_is_not_utf8_is_one_error_and_hides_no_other(tmp_path, monkeypatch):
    from tests.conftest import assert_clean_failure, invoke

    latin = VALID.replace("name: rpi4", "name: latin").replace("Raspberry Pi 4 Model B", "Carte \xe9lectronique")
    (tmp_path / "latin.yaml").write_bytes(latin.encode("latin-1"))
    (tmp_path / "mybox.yaml").write_text(VALID.replace("name: rpi4", "name: mybox"))
    monkeypatch.setenv("EDGEKD_DEVICES", str(tmp_path))
    listing = invoke("devices", "list")
    assert listing.exit_code == 0, listing.stderr
    assert "mybox" in listing.stdout and "rpi4" in listing.stdout
    assert "skipped a profile" in listing.stderr and "latin.yaml is not UTF-8 text (byte" in listing.stderr
    assert_clean_failure(invoke("devices", "show", "latin"), "latin.yaml is not UTF-8 text", "save it as UTF-8")


@pytest.mark.parametrize(
    "nesting",
    ["[" * 100_000 + "]" * 100_000, "{a: " * 60_000 + "1" + "}" * 60_000, "\n  " + "- " * 50_000 + "1"],
    ids=["lists", "mappings", "block sequences"],
)
def test_a_profile_nested_past_the_parser_is_skipped_like_a_syntax_error(tmp_path, monkeypatch, nesting):
    from tests.conftest import assert_clean_failure, invoke

    (tmp_path / "deep.yaml").write_text(VALID.replace("name: rpi4", "name: deep") + "extra: " + nesting + "\n")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    (tmp_path / "mybox.yaml").write_text(VALID.replace("name: rpi4", "name: mybox"))
    monkeypatch.setenv("EDGEKD_DEVICES", str(tmp_path))
    listing = invoke("devices", "list")
    assert listing.exit_code == 0, listing.stderr
    assert "mybox" in listing.stdout and "rpi4" in listing.stdout
    warnings = [line for line in listing.stderr.splitlines() if "skipped a profile" in line]
    assert len(warnings) == 2 and any("deep.yaml: nested more than 64 levels deep" in w for w in warnings), warnings
    assert_clean_failure(invoke("devices", "show", "deep"), "deep.yaml", "nested more than 64 levels deep")
