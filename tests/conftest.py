"""Shared fixtures: real TensorFlow, real LiteRT, tiny generated data.

Expensive artifacts (a trained teacher, one small end-to-end pipeline run) are built once
per session and shared; tests that modify files copy them first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Subprocesses (``python -m edgekd``, agents, stand-in tools) import this checkout's code, never
# an installed copy that may be stale: the checkout leads their import path.
CHECKOUT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(CHECKOUT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)


@pytest.fixture(scope="session", autouse=True)
def results_store(tmp_path_factory) -> Path:
    """Every command in the tests records into a store of the session's own, never ~/.edgekd."""
    path = tmp_path_factory.mktemp("store") / "results.db"
    previous = os.environ.get("EDGEKD_DB")
    os.environ["EDGEKD_DB"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("EDGEKD_DB", None)
    else:
        os.environ["EDGEKD_DB"] = previous


TINY_DATA = "mnist1d:samples=1500,transfer=3000"

# `edgekd run` from a file, on the smallest budget that runs every stage (its figures mean
# nothing; the end-to-end claims are checked on the quick demo, see ``quick_demo``).
SMALL_CONFIG = """\
schema_version: 1
seed: 0
data: {spec: "mnist1d:samples=300,transfer=300"}
teacher: {epochs: 2}
student: {epochs: 1}
quantize: {representative_samples: 20}
bench: {runs: 5, min_seconds: 0.0, warmup: 1}
"""


def invoke(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run the edgekd CLI in-process; returns click's Result with separate stdout and stderr."""
    from edgekd.cli.main import cli

    runner = CliRunner()
    previous = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(previous)


def quantize_student(pipeline_run, *args: str):
    """`edgekd quantize` on the shared pipeline run's distilled student, with the tiny data."""
    out, _ = pipeline_run
    return invoke("quantize", str(out / "student_kd.keras"), "--data", TINY_DATA, *args)


def assert_clean_failure(result, *fragments: str) -> str:
    """Non-zero exit, one error line on stderr naming the problem (after any progress lines), no traceback."""
    assert result.exit_code != 0, f"expected failure, got exit 0; stdout={result.stdout!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in lines if line.startswith("edgekd: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one closing error line, got: {result.stderr!r}"
    progress = [line for line in lines[:-1] if not (line.startswith("[") or line.strip().startswith("done in"))]
    assert not progress, f"unexpected output before the error: {progress}"
    line = errors[0]
    assert line.startswith("edgekd: error: "), line
    for fragment in fragments:
        assert fragment.lower() in line.lower(), f"{fragment!r} not in {line!r}"
    return line


@pytest.fixture(scope="session")
def tiny_dataset():
    from edgekd.data.spec import load_dataset

    return load_dataset(TINY_DATA)


@pytest.fixture(scope="session")
def teacher_file(tmp_path_factory, tiny_dataset) -> Path:
    """A real Keras 3 teacher trained briefly on the tiny dataset, saved as .keras."""
    from edgekd.distill.trainer import TrainingBudget, fit, hard_label_objective
    from edgekd.models.builders import get_builder
    from edgekd.models.io import save_model

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, tiny_dataset.num_classes)
    x_fit, y_fit, x_val, y_val = tiny_dataset.validation_split(0)
    fit(
        teacher,
        x_fit,
        y_fit,
        hard_label_objective(),
        TrainingBudget(steps=120, batch_size=64, learning_rate=2e-3),
        (x_val, y_val),
        0,
    )
    path = tmp_path_factory.mktemp("teacher") / "teacher.keras"
    save_model(teacher, path)
    return path


@pytest.fixture(scope="session")
def int8_model_file(tmp_path_factory) -> Path:
    """A small int8 .tflite (the conv student for MNIST-1D inputs), converted for real once per session."""
    from edgekd.models.builders import get_builder
    from edgekd.quantize.convert import convert

    path = tmp_path_factory.mktemp("int8_model") / "student_int8.tflite"
    samples = np.random.default_rng(0).standard_normal((20, 40, 1)).astype(np.float32)
    path.write_bytes(convert(get_builder("conv").build((40, 1), 10), "int8", samples))
    return path


def with_custom_op(data: bytes, name: str) -> bytes:
    """``data`` with its first op code turned into the custom op ``name`` (as edgetpu_compiler's output holds one)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = name.encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory) -> tuple[Path, dict, str]:
    """One real `edgekd demo --quick`, the path a new user takes: (output folder, results document, printed output).

    Its budget (``QUICK_DEMO_OVERRIDES`` in edgekd/config.py: 3,000 samples, a 25-epoch teacher) is the cheapest
    found where the claims can be tested: the teacher reaches 85-87% and the distilled student
    73-75% against 66-70% for its scratch control (seeds 0-2, 2 CPU cores), in about 30 s.
    """
    out = tmp_path_factory.mktemp("pipeline") / "out"
    result = invoke("demo", "--quick", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out, json.loads((out / "results.json").read_text()), result.stdout


@pytest.fixture(scope="session")
def pipeline_run(quick_demo) -> tuple[Path, dict]:
    """The shared end-to-end run (the quick demo): (output folder, results document)."""
    out, document, _ = quick_demo
    return out, document


@pytest.fixture
def npz_factory(tmp_path):
    """Write an .npz dataset with overridable arrays."""

    def make(name: str = "data.npz", **overrides) -> Path:
        rng = np.random.default_rng(0)
        arrays = {
            "x_train": rng.standard_normal((40, 12, 1)).astype(np.float32),
            "y_train": rng.integers(0, 3, 40),
            "x_test": rng.standard_normal((10, 12, 1)).astype(np.float32),
            "y_test": rng.integers(0, 3, 10),
        }
        arrays.update(overrides)
        arrays = {k: v for k, v in arrays.items() if v is not None}
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    return make


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to prove nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def copy_of():
    def copy(src: Path, dst: Path) -> Path:
        shutil.copy(src, dst)
        return dst

    return copy


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 for one test module (see tests/sshd.py)."""
    from tests.sshd import start_sshd

    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@dataclass(frozen=True)
class StandInAdb:
    """The stand-in phone of ``stand_in_adb``: its ``/data/local/tmp`` here, and the log of adb calls."""

    scratch: Path
    log: Path

    def calls(self) -> list[list[str]]:
        """Every adb call's arguments, in order."""
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture
def stand_in_adb(tmp_path, monkeypatch) -> StandInAdb:
    """The suite's one stand-in `adb` (tests/stand_in_adb.py) first on PATH, with a fresh phone."""
    phone = StandInAdb(tmp_path / "phone-data-local-tmp", tmp_path / "adb-calls.jsonl")
    phone.scratch.mkdir()
    (phone.scratch / "benchmark_model").write_bytes(b"\x7fELF stands in for LiteRT's benchmark_model")
    launcher = tmp_path / "adb-bin" / "adb"
    launcher.parent.mkdir()
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(CHECKOUT)!r})\n"
        "from tests.stand_in_adb import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{launcher.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STAND_IN_ADB_ROOT", str(phone.scratch))
    monkeypatch.setenv("STAND_IN_ADB_LOG", str(phone.log))
    return phone


def keras_file_naming(path: Path, module: str, class_name: str, metadata: str = "2.21.0") -> Path:
    """A tf_keras-written functional model whose top-level object names ``module``.``class_name``."""
    import json
    import zipfile

    import tf_keras

    inputs = tf_keras.Input((8,))
    model = tf_keras.Model(inputs, tf_keras.layers.Activation("relu")(tf_keras.layers.Dense(3)(inputs)))
    model.save(path.with_suffix(".plain.keras"))
    with zipfile.ZipFile(path.with_suffix(".plain.keras")) as plain:
        config = json.loads(plain.read("config.json"))
        weights = plain.read("model.weights.h5")
    config["module"], config["class_name"] = module, class_name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": metadata}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    return path


def keras2_file_with_layer(path: Path, layer: dict) -> Path:
    """A tf_keras functional model (Dense on 4 inputs) with ``layer``, a layer's config as tf_keras
    writes it, added to its layers; ``layer["inbound_nodes"]`` decides what it is called on."""
    import json
    import zipfile

    import tf_keras

    inputs = tf_keras.Input((4,))
    tf_keras.Model(inputs, tf_keras.layers.Dense(2)(inputs)).save(path.with_suffix(".plain.keras"))
    with zipfile.ZipFile(path.with_suffix(".plain.keras")) as plain:
        members = {name: plain.read(name) for name in plain.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"].insert(1, layer)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def called_on_a_constant(class_name: str, config: dict, constant, module: str = "keras.layers", **kwargs) -> dict:
    """A tf_keras layer config that the loader calls, while it rebuilds the model, on ``constant``
    (a functional node's `_CONSTANT_VALUE` input) with ``kwargs``."""
    name = f"hostile_{class_name.lower()}"
    return {
        "module": module,
        "class_name": class_name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": None,
        "name": name,
        "inbound_nodes": [["_CONSTANT_VALUE", -1, constant, kwargs]],
    }


def lambda_calling(function: dict, constant, arguments: dict | None = None) -> dict:
    """A tf_keras ``Lambda`` layer whose function is the object ``function`` names, called on ``constant``."""
    return called_on_a_constant(
        "Lambda",
        {
            "function": function,
            "function_type": "function",
            "module": "keras.layers",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": arguments or {},
        },
        constant,
    )


def on_read_only_media(folder: Path, *command: str) -> subprocess.CompletedProcess:
    """``command`` run with ``folder`` bind-mounted read-only in a private mount namespace (util-linux unshare).

    As root (which CI is) a plain chmod would not stop a write; a read-only mount stops root too.
    """
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    argv = [*namespace, "sh", "-c", script, str(folder), sys.executable, "-m", "edgekd", *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
