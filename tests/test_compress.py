"""Pruning (unstructured and 2:4) and clustering before conversion, with file and gzip sizes."""

import json

import numpy as np
import pytest

from edgekd.errors import ConfigError
from edgekd.quantize.compress import Compression, gzip_size
from tests.conftest import TINY_DATA, assert_clean_failure, invoke, quantize_student


@pytest.mark.parametrize("prune, expected", [("0.5", 0.5), ("2:4", 0.5)])
def test_pruning_reaches_its_sparsity_and_shrinks_the_gzip_size(pipeline_run, tmp_path, prune, expected):
    out, document = pipeline_run
    target = tmp_path / "p.tflite"
    result = quantize_student(
        pipeline_run,
        "--prune",
        prune,
        "--compress-epochs",
        "1",
        "--mode",
        "float32",
        "--out",
        str(target),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)["models"]["p"]
    assert record["compression"]["kernel_sparsity"] == pytest.approx(expected, abs=0.03)
    dense_gzip = gzip_size((out / "student_float32.tflite").read_bytes())
    assert record["gzip_bytes"] < 0.8 * dense_gzip


def test_two_of_four_structure(pipeline_run, tmp_path):
    from edgekd.models.io import load_model
    from edgekd.quantize.compress import compress

    out, _ = pipeline_run
    from edgekd.data.spec import load_dataset

    pruned = compress(
        load_model(out / "student_kd.keras"), Compression(prune="2:4", epochs=1), load_dataset(TINY_DATA), 0
    )
    kernel = pruned.get_layer("logits").get_weights()[0]  # (in, out): groups of 4 along the input axis
    whole = kernel.shape[0] // 4 * 4
    groups = (kernel[:whole].T.reshape(kernel.shape[1], -1, 4) != 0).sum(axis=-1)
    assert np.all(groups <= 2)


def test_clustering_limits_distinct_weights(pipeline_run, tmp_path):
    out, _ = pipeline_run
    target = tmp_path / "c.tflite"
    result = quantize_student(
        pipeline_run,
        "--cluster",
        "8",
        "--compress-epochs",
        "1",
        "--mode",
        "float32",
        "--out",
        str(target),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)["models"]["c"]
    assert record["gzip_bytes"] < 0.5 * record["size_bytes"]
    # Every kernel in the file holds at most 8 distinct values (32 or 64 clusters would pass the
    # gzip ratio above); the unclustered student's kernels hold hundreds.
    clustered, dense = (
        weight_kernels(target.read_bytes()),
        weight_kernels((out / "student_float32.tflite").read_bytes()),
    )
    assert len(clustered) == len(dense) >= 3
    assert all(len(np.unique(kernel)) <= 8 for kernel in clustered.values()), {
        name: len(np.unique(kernel)) for name, kernel in clustered.items()
    }
    assert all(len(np.unique(kernel)) > 64 for kernel in dense.values())


def weight_kernels(tflite: bytes) -> dict[str, np.ndarray]:
    """The float weight tensors of rank 2 or more (conv and dense kernels) in a .tflite, by name."""
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.quantize.evaluate import make_interpreter

    interpreter = make_interpreter(tflite)
    interpreter.allocate_tensors()
    return {
        tensor.name: interpreter.get_tensor(index)
        for index, tensor in enumerate(inspect_tflite(tflite).tensors)
        if tensor.is_constant and tensor.dtype == "float32" and len(tensor.shape) >= 2
    }


@pytest.mark.parametrize(
    "prune, clusters, message", [("1.5", 0, "between 0 and 1"), ("half", 0, "sparsity"), (None, 1, "at least 2")]
)
def test_bad_compression_settings(prune, clusters, message):
    with pytest.raises(ConfigError, match=message):
        Compression(prune=prune, clusters=clusters)


def test_compression_refuses_keras3_and_qat(teacher_file, pipeline_run, tmp_path):
    result = invoke(
        "quantize", str(teacher_file), "--data", TINY_DATA, "--prune", "0.5", "--out", str(tmp_path / "x.tflite")
    )
    assert_clean_failure(result, "need a tf_keras model")
    out, _ = pipeline_run
    result = quantize_student(
        pipeline_run,
        "--prune",
        "0.5",
        "--mode",
        "qat",
        "--out",
        str(tmp_path / "y.tflite"),
    )
    assert_clean_failure(result, "undo the sparsity")
    assert list(tmp_path.iterdir()) == []
