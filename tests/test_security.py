"""Security checks that run with the suite: the bandit rules over the package, and safe YAML loading."""

from __future__ import annotations

import re
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


def _tf_keras_safe_mode_holes(folder: Path) -> dict[str, tuple[dict, Path, str]]:
    """Layers tf_keras's safe mode rebuilt, each leaving a file behind (tf_keras 2.21, before the fix)."""
    from tests.conftest import called_on_a_constant, lambda_calling

    def function(module: str, name: str, registered_name=None) -> dict:
        return {"module": module, "class_name": "function", "config": name, "registered_name": registered_name}

    marker = {name: folder / f"{name}.ran" for name in ("system", "exec", "eval", "write", "getfile")}
    source = folder / "planted.txt"
    source.write_text("a file the model copies\n")
    return {
        # A dotted name is followed as an attribute: `os` imported by a tf_keras module, then `system`.
        "dotted_name": (
            lambda_calling(function("keras.src.utils.generic_utils", "os.system"), f"touch {marker['system']}"),
            marker["system"],
            "'os.system', which is not a plain Keras name",
        ),
        "builtin_attribute": (
            lambda_calling(function("builtins", "exec.__call__"), f"open({str(marker['exec'])!r}, 'w')"),
            marker["exec"],
            "'exec.__call__', which is not a plain Keras name",
        ),
        # registered_name is looked up in the module too, where the name the last fix checked is not.
        "registered_builtin": (
            lambda_calling(function("builtins", "not_a_builtin", "eval"), f"open({str(marker['eval'])!r}, 'w')"),
            marker["eval"],
            "Python's built-in 'eval'",
        ),
        "tf_function": (
            called_on_a_constant(
                "TFOpLambda",
                {"function": "io.write_file"},
                str(marker["write"]),
                module="tf_keras.src.layers.core.tf_op_layer",
                contents="ran",
            ),
            marker["write"],
            "TFOpLambda layer calling 'io.write_file'",
        ),
        "public_utility": (
            lambda_calling(
                function("keras.utils", "get_file"),
                "copied.txt",
                {"origin": source.as_uri(), "cache_dir": str(folder), "cache_subdir": "getfile.ran"},
            ),
            marker["getfile"],
            "'get_file' in 'keras.utils', not a Keras activation, loss or metric",
        ),
    }


@pytest.mark.parametrize(
    "hole", ["dotted_name", "builtin_attribute", "registered_builtin", "tf_function", "public_utility"]
)
def test_a_keras2_file_runs_nothing_through_what_tf_keras_safe_mode_lets_through(hole, tmp_path):
    from edgekd.errors import ModelError
    from edgekd.models.io import load_model
    from tests.conftest import keras2_file_with_layer

    layer, marker, fragment = _tf_keras_safe_mode_holes(tmp_path)[hole]
    path = keras2_file_with_layer(tmp_path / "evil.keras", layer)
    with pytest.raises(ModelError, match=re.escape(fragment)):
        load_model(path)
    assert not marker.exists(), f"{hole}: the model ran code while loading"


def test_a_keras2_file_reading_a_vocabulary_file_is_refused(tmp_path):
    from edgekd.errors import ModelError
    from edgekd.models.io import load_model
    from tests.conftest import keras2_file_with_layer

    secret = tmp_path / "secret.txt"
    secret.write_text("alpha\nbeta\n")
    lookup = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "config": {"name": "lookup", "vocabulary": str(secret), "dtype": "int64"},
        "registered_name": None,
        "name": "lookup",
        "inbound_nodes": [],
    }
    path = keras2_file_with_layer(tmp_path / "vocabulary.keras", lookup)
    with pytest.raises(ModelError, match="reading its vocabulary from the file"):
        load_model(path)  # tf_keras loaded it, the secret file's lines inside the model
    assert load_model(path, trust=True) is not None


def test_keras2_files_keras_writes_still_load_in_safe_mode(tmp_path):
    import tensorflow as tf
    import tf_keras

    from edgekd.models.io import load_model

    sequential = tf_keras.Sequential(
        [
            tf_keras.layers.Input((8, 8, 3)),
            tf_keras.layers.Conv2D(
                4, 3, kernel_regularizer=tf_keras.regularizers.L1L2(0.1, 0.1), kernel_constraint="max_norm"
            ),
            tf_keras.layers.GlobalMaxPooling2D(),
            tf_keras.layers.Dense(3, activation=tf_keras.activations.swish),
        ]
    )
    sequential.compile(optimizer=tf_keras.optimizers.Adam(tf_keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)))
    sequential.save(tmp_path / "sequential.keras")
    inputs = tf_keras.Input((4,))
    dense = tf_keras.layers.Dense(3)(inputs)
    functional = tf_keras.Model(inputs, tf.nn.relu6(dense + 1.0)[:, :2])  # TFOpLambda, SlicingOpLambda
    functional.save(tmp_path / "functional.keras")
    assert load_model(tmp_path / "sequential.keras").count_params() == sequential.count_params()
    assert [type(layer).__name__ for layer in load_model(tmp_path / "functional.keras").layers][-3:] == [
        "TFOpLambda",
        "TFOpLambda",
        "SlicingOpLambda",
    ]


def test_a_savedmodel_runs_only_with_the_opt_in(tmp_path):
    """A SavedModel's resource initializer runs as it loads: `tf.io.write_file` wrote a file."""
    import tensorflow as tf

    from edgekd.errors import ModelError
    from edgekd.models.io import load_model

    marker = tmp_path / "initializer.ran"

    class Writes(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[])

        def _initialize(self):
            tf.io.write_file(str(marker), "ran")

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.ones([4, 3]))
            self.writes = Writes()

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.kernel)

    module = Model()
    tf.saved_model.save(module, str(tmp_path / "model"), signatures={"serving_default": module.__call__})
    assert not marker.exists()
    with pytest.raises(ModelError, match="SavedModel, whose graphs run TensorFlow ops .* `trust_model`"):
        load_model(tmp_path / "model")
    assert not marker.exists()
    load_model(tmp_path / "model", trust=True)
    assert marker.exists(), "the opt-in runs the graph, as TensorFlow does"


def test_a_trusted_keras2_lambda_loads_its_own_module_key_is_no_import(tmp_path):
    # tf_keras writes `"module": "__main__"` inside a Lambda's config: globals it borrows if loaded,
    # never an import; the module check refused the file even with trust_model.
    import tf_keras

    from edgekd.models.io import load_model

    inputs = tf_keras.Input((4,))
    tf_keras.Model(inputs, tf_keras.layers.Lambda(lambda t: t * 2.0)(inputs)).save(tmp_path / "lambda.keras")
    assert [type(layer).__name__ for layer in load_model(tmp_path / "lambda.keras", trust=True).layers] == [
        "InputLayer",
        "Lambda",
    ]


def test_a_local_profile_loads_no_library_or_program_file_of_its_own(tmp_path, monkeypatch):
    # `runtime.delegate_library: ./evil.so` in a host profile: the agent dlopen'ed it, and its constructor ran
    # on this machine (a profile's code, no opt-in); likewise `benchmark_binary` with `--profile-ops`.
    import shutil

    from edgekd.bench.benchmark import benchmark
    from edgekd.bench.settings import BenchSettings
    from edgekd.errors import ConfigError
    from edgekd.profiles.loader import get_profile

    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the library a hostile profile names")
    marker = tmp_path / "constructor.ran"
    (tmp_path / "evil.c").write_text(
        "#include <stdio.h>\n__attribute__((constructor)) static void ran(void) "
        f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n'
    )
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "evil.so"), str(tmp_path / "evil.c")], check=True)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    text = get_profile("host").path.read_text().replace("name: host", "name: hostile")
    text = text.replace("delegates: [xnnpack]", f"delegates: [gpu]\n  delegate_library: {tmp_path / 'evil.so'}")
    (profiles / "hostile.yaml").write_text(text.replace("allow_cpu_fallback: false", "allow_cpu_fallback: true"))
    monkeypatch.setenv("EDGEKD_DEVICES", str(profiles))
    model = _tiny_tflite(tmp_path)
    with pytest.raises(ConfigError, match=r"runtime.delegate_library .*evil.so' is a file path"):
        benchmark(model, get_profile("hostile"), BenchSettings(runs=5, min_seconds=0.0, warmup=1))
    assert not marker.exists()


def _tiny_tflite(folder: Path) -> Path:
    from edgekd.models.builders import get_builder
    from edgekd.quantize.convert import convert

    path = folder / "tiny.tflite"
    path.write_bytes(convert(get_builder("mlp").build((6, 1), 3), "float32"))
    return path
