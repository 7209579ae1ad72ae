"""`edgekd quantize`: every mode side by side, and the checks that warn or, with --strict, refuse."""

import json

import numpy as np
import pytest

from edgekd.quantize.modes import mode_names
from tests.conftest import assert_clean_failure, invoke, on_read_only_media, quantize_student
from tests.test_quantize import MIN_AGREEMENT


@pytest.fixture(scope="module")
def fragile_model(tmp_path_factory):
    """A model int8 must damage: both logits share a huge offset and differ by a tiny amount.

    The label is the sign of feature 0; logits are +-0.01*x0 + 500*x1. Keras is exact, but an
    int8 output's scale covers the 500*x1 range, so the 0.02*x0 difference vanishes.
    """
    from edgekd.frameworks import user_keras

    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("fragile")
    x = rng.standard_normal((300, 2, 1)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64)
    np.savez(folder / "data.npz", x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:])
    keras = user_keras()
    model = keras.Sequential([keras.Input((2, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.layers[-1].set_weights([np.array([[-0.01, 0.01], [500.0, 500.0]], np.float32), np.zeros(2, np.float32)])
    model.save(folder / "fragile.keras")
    return folder


def test_mode_all_writes_every_mode_and_compares_them(pipeline_run, tmp_path):
    out, _ = pipeline_run
    target = tmp_path / "modes"
    result = quantize_student(pipeline_run, "--mode", "all", "--out", str(target), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {p.name for p in target.glob("*.tflite")} == {f"student_kd_{mode}.tflite" for mode in mode_names()}
    assert (target / "results.json").is_file()
    sizes = {m["mode"]: m["size_bytes"] for m in document["models"].values()}
    assert sizes["int8"] * 1.5 < sizes["float32"] and sizes["float16"] < sizes["float32"]
    for record in document["models"].values():
        assert record["detected_mode"] == record["mode"]
        assert record["agreement_with_keras"] >= MIN_AGREEMENT[record["mode"]], record["mode"]
    assert {b["model"] for b in document["benchmarks"] if b["ok"]} == set(document["models"])
    table = quantize_student(pipeline_run, "--mode", "all", "--out", str(target))
    assert_clean_failure(table, "already exists")


def test_accuracy_drop_warns_and_strict_refuses(fragile_model):
    model, data = fragile_model / "fragile.keras", f"npz:{fragile_model / 'data.npz'}"
    strict = invoke("quantize", str(model), "--data", data, "--out", str(fragile_model / "s.tflite"), "--strict")
    assert_clean_failure(strict, "--strict", "lost", "points", "int16x8")
    assert not (fragile_model / "s.tflite").exists() and not (fragile_model / "s.results.json").exists()
    lenient = invoke("quantize", str(model), "--data", data, "--out", str(fragile_model / "w.tflite"), "--json")
    assert lenient.exit_code == 0
    assert "edgekd: warning:" in lenient.stderr and "more than --max-drop 1" in lenient.stderr
    record = json.loads(lenient.stdout)["models"]["w"]
    assert record["accuracy_drop_points"] > 1 and record["warnings"]


def test_float_modes_keep_the_fragile_model_exact(fragile_model):
    model, data = fragile_model / "fragile.keras", f"npz:{fragile_model / 'data.npz'}"
    result = invoke(
        "quantize",
        str(model),
        "--data",
        data,
        "--mode",
        "float32",
        "--out",
        str(fragile_model / "f.tflite"),
        "--strict",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"]["f"]["accuracy_drop_points"] == 0


def test_debug_ranks_layers_by_quantization_error(pipeline_run, tmp_path):
    out, _ = pipeline_run
    result = quantize_student(
        pipeline_run,
        "--debug",
        "--out",
        str(tmp_path / "d.tflite"),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    errors = json.loads(result.stdout)["layer_errors"]
    assert {e["op"] for e in errors} >= {"CONV_2D", "FULLY_CONNECTED"}
    steps = [e["rmse_per_scale"] for e in errors]
    assert steps == sorted(steps, reverse=True) and all(s >= 0 for s in steps)


def test_debug_needs_an_integer_mode(pipeline_run, tmp_path):
    out, _ = pipeline_run
    result = quantize_student(
        pipeline_run,
        "--debug",
        "--mode",
        "float16",
        "--out",
        str(tmp_path / "d.tflite"),
    )
    assert_clean_failure(result, "--debug", "int8")
    assert list(tmp_path.iterdir()) == []


def test_out_in_a_folder_that_does_not_exist_yet_is_made_like_every_commands_output(pipeline_run, tmp_path):
    target = tmp_path / "runs" / "x" / "student_int8.tflite"
    result = quantize_student(pipeline_run, "--out", str(target))
    assert result.exit_code == 0, result.stderr
    assert target.is_file() and target.with_suffix(".results.json").is_file()
    # A run that fails leaves no folder it made behind.
    failed = invoke("quantize", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "new" / "deep" / "m.tflite"))
    assert failed.exit_code != 0 and not (tmp_path / "new").exists()


def test_an_output_on_read_only_media_is_refused_before_any_work(pipeline_run, tmp_path):
    # quantize --out into a read-only folder loaded the model and the data, then failed with an
    # internal OSError (EROFS); a read-only mount stops root as well, so CI sees it too.
    out, _ = pipeline_run
    folder = tmp_path / "readonly"
    folder.mkdir()
    student = str(out / "student.keras")
    for command in (
        ("quantize", student, "--data", "mnist1d:samples=600", "--out", str(folder / "s.tflite")),
        ("quantize", student, "--data", "mnist1d:samples=600", "--out", str(folder / "new" / "s.tflite")),
        ("quantize", student, "--data", "mnist1d:samples=600", "--mode", "all", "--out", str(folder / "all")),
        ("distill", "--train-teacher", "--data", "mnist1d:samples=600", "--out", str(folder / "kd")),
    ):
        result = on_read_only_media(folder, *command, "--db", str(tmp_path / "store.db"))
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines == [
            f"edgekd: error: cannot write into {folder}: it is on a read-only file system; choose another --out"
        ]
    assert not list(folder.iterdir())
