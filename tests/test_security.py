"""Security checks that run with the suite: the bandit rules over the package, and safe YAML loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import keras_file_naming

ROOT = Path(__file__).parents[1]


def test_the_bandit_rules_pass_over_the_package():
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "S", "--output-format", "concise", "edgekd", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_yaml_is_only_ever_safe_loaded():
    unsafe = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "edgekd").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "yaml.load(" in line or "yaml.unsafe_load" in line or "Loader=yaml.Loader" in line
    ]
    assert not unsafe, f"YAML loaded without safe_load at {unsafe}"


def test_a_model_naming_a_module_beside_it_runs_nothing_even_through_tf_keras(tmp_path):
    # tf_keras's safe mode imports any module named in config.json: a .keras claiming Keras 2 next to
    # rt_pwnmod.py ran that file on `python -m edgekd quantize evil.keras` (cwd on sys.path).
    keras_file_naming(tmp_path / "evil.keras", "rt_pwnmod", "Pwn")
    (tmp_path / "rt_pwnmod.py").write_text("open('pwned', 'w').write('ran')\nfrom tf_keras import Model as Pwn\n")
    for argv in (
        ["quantize", "evil.keras", "--data", "mnist1d:samples=200", "--out", "q.tflite"],
        ["quantize", "evil.keras", "--data", "mnist1d:samples=200", "--out", "q.tflite", "--trust-model"],
    ):
        completed = subprocess.run(
            [sys.executable, "-m", "edgekd", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
        )
        assert completed.returncode == 1, completed.stderr
        assert "module 'rt_pwnmod', outside Keras's own" in completed.stderr.splitlines()[-1]
        assert "Traceback" not in completed.stderr
        assert not (tmp_path / "pwned").exists() and not (tmp_path / "q.tflite").exists()


def test_every_loader_refuses_foreign_modules_and_python_builtins_before_importing(tmp_path):
    from edgekd.errors import ModelError
    from edgekd.models.io import load_model

    cases = [
        ("this", "Pwn", "2.21.0", "module 'this'"),  # an installed module: importing it prints the Zen of Python
        ("this", "Pwn", "3.15.1", "module 'this'"),
        ("tf_kerasevil", "Pwn", "2.21.0", "module 'tf_kerasevil'"),  # tf_keras prefixes `keras*` with `tf_`
        ("kerasevil.layers", "Pwn", "3.15.1", "module 'kerasevil.layers'"),
    ]
    for i, (module, class_name, version, fragment) in enumerate(cases):
        path = keras_file_naming(tmp_path / f"m{i}.keras", module, class_name, version)
        with pytest.raises(ModelError, match=fragment):
            load_model(path)
        with pytest.raises(ModelError, match=fragment):
            load_model(path, trust=True)
    assert "this" not in sys.modules
    path = keras_file_naming(tmp_path / "eval.keras", "keras", "Functional")
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    config["config"]["layers"][2]["config"]["activation"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "eval",
        "registered_name": "eval",
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "2.21.0"}))
        archive.writestr("config.json", json.dumps(config))
    with pytest.raises(ModelError, match="Python's built-in 'eval'"):
        load_model(path, trust=True)
    # A model Keras wrote itself still loads, whichever Keras wrote it.
    plain = load_model(tmp_path / "m0.plain.keras")
    assert plain.count_params() == 27
