"""Edge TPU readiness: Coral's rules on real converted models and on hand-built graphs; the compiler's log."""

import json
import os
import stat

import numpy as np
import pytest

from edgekd.errors import ModelError
from edgekd.modelfile.edgetpu import edgetpu_verdict, parse_compiler_log
from edgekd.modelfile.inspect import ModelReport, OperatorInfo, TensorInfo
from tests.conftest import assert_clean_failure, invoke, quantize_student

# The summary printed by edgetpu_compiler (as posted in github.com/google-coral/edgetpu issues).
COMPILER_LOG = """\
Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 96 ms.

Input model: model.tflite
Input size: 7.02MiB
Output model: model_edgetpu.tflite
Output size: 7.14MiB
On-chip memory used for caching model parameters: 6.02MiB
On-chip memory remaining for caching model parameters: 1.00KiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 84
Operation log: model_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU.
Number of operations that will run on Edge TPU: 78
Number of operations that will run on CPU: 6

Operator                       Count      Status

CONV_2D                        70         Mapped to Edge TPU
QUANTIZE                       6          Operation is otherwise supported, but not mapped due to some unspecified limitation
DEPTHWISE_CONV_2D              8          Mapped to Edge TPU
"""


def converted(input_shape, mode, builder="conv"):
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.models.builders import get_builder
    from edgekd.quantize.convert import convert

    model = get_builder(builder).build(input_shape, 5)
    samples = np.random.default_rng(0).standard_normal((20, *input_shape)).astype(np.float32)
    return inspect_tflite(convert(model, mode, samples))


def test_int8_conv2d_student_maps_entirely():
    verdict = edgetpu_verdict(converted((12, 12, 1), "int8"))
    assert verdict.model_problems == [] and verdict.first_cpu_op is None
    assert "would map to the Edge TPU (one subgraph)" in verdict.summary()


def test_int8_signal_student_maps_entirely():
    # Signal students are Conv2D over a (1, length, channels) view with a static batch.
    report = converted((40, 1), "int8")
    assert [op.op for op in report.operators] == ["RESHAPE", "CONV_2D", "CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert edgetpu_verdict(report).first_cpu_op is None


def test_conv1d_model_splits_at_the_first_op_outside_the_table():
    verdict = edgetpu_verdict(converted((40, 1), "int8", builder="cnn"))
    first = verdict.first_cpu_op
    # Conv1D lowers to EXPAND_DIMS + CONV_2D + RESHAPE: in the later table (as Axis publishes it), so they map;
    # the dynamic batch's SHAPE op is in no table known to edgekd.
    assert verdict.ops[0].op == "EXPAND_DIMS" and verdict.ops[0].on_edgetpu and "ARTPEC-7" in verdict.ops[0].reason
    assert first.op == "SHAPE" and first.index == 9
    assert "edgetpu_compiler" in first.reason
    assert all(not v.on_edgetpu for v in verdict.ops[first.index :]), "everything after the split runs on the CPU"


def test_float_model_is_not_ready():
    verdict = edgetpu_verdict(converted((12, 12, 1), "float32"))
    assert "not fully 8-bit quantized" in verdict.summary() and verdict.mapped == 0


def tensor(name, shape, dtype="int8"):
    return TensorInfo(name, dtype, tuple(shape), tuple(shape))


def report(tensors, operators):
    return ModelReport(100, [tensors[0]], [tensors[-1]], operators, tensors, {}, 0, 1)


def test_more_than_three_innermost_dimensions_split_the_graph():
    tensors = [tensor("in", (1, 8, 8, 4)), tensor("mid", (2, 3, 4, 5)), tensor("out", (1, 120))]
    ops = [
        OperatorInfo("RELU", 0, (0,), (1,)),
        OperatorInfo("RESHAPE", 0, (1,), (2,)),
        OperatorInfo("RELU", 0, (2,), (2,)),
    ]
    verdict = edgetpu_verdict(report(tensors, ops))
    assert verdict.first_cpu_op.index == 0 and "3 innermost" in verdict.first_cpu_op.reason
    assert verdict.mapped == 0


def test_softmax_limit_and_mapping_before_the_split():
    tensors = [tensor("in", (1, 20_000)), tensor("relu", (1, 20_000)), tensor("out", (1, 20_000))]
    ops = [OperatorInfo("RELU", 0, (0,), (1,)), OperatorInfo("SOFTMAX", 0, (1,), (2,))]
    verdict = edgetpu_verdict(report(tensors, ops))
    assert verdict.ops[0].on_edgetpu and not verdict.ops[1].on_edgetpu
    assert "16,000" in verdict.ops[1].reason


def test_dynamic_inner_dimension_is_a_model_problem():
    dynamic = TensorInfo("in", "int8", (1, 8), (1, -1))
    verdict = edgetpu_verdict(report([dynamic, tensor("out", (1, 8))], [OperatorInfo("RELU", 0, (0,), (1,))]))
    assert "dynamic shapes" in verdict.summary()


def test_compiler_log_is_parsed():
    log = parse_compiler_log(COMPILER_LOG)
    assert (log.version, log.subgraphs, log.total_ops, log.edgetpu_ops, log.cpu_ops) == ("16.0.384591198", 1, 84, 78, 6)
    assert log.on_chip_memory == "6.02MiB" and log.off_chip_memory == "0.00B"
    assert log.op_status[1] == (
        "QUANTIZE",
        6,
        "Operation is otherwise supported, but not mapped due to some unspecified limitation",
    )
    with pytest.raises(ModelError, match="not an edgetpu_compiler log"):
        parse_compiler_log("hello")


def test_quantize_edgetpu_without_the_compiler_says_how_to_get_it(pipeline_run, tmp_path, monkeypatch):
    out, _ = pipeline_run
    monkeypatch.setenv("PATH", str(tmp_path))
    result = quantize_student(
        pipeline_run,
        "--out",
        str(tmp_path / "s.tflite"),
        "--edgetpu",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert "edgetpu_compiler is not on PATH" in result.stderr and "apt" in result.stderr
    document = json.loads(result.stdout)
    assert document["edgetpu"]["compiler"] is None and document["edgetpu"]["verdict"]["summary"]


def test_quantize_edgetpu_runs_the_compiler_when_present(pipeline_run, tmp_path, monkeypatch):
    # A stand-in for Coral's compiler (which cannot be installed here): it prints the real log
    # format and writes <stem>_edgetpu.tflite into the -o folder, as the real one does.
    out, _ = pipeline_run
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log_file = tmp_path / "log.txt"
    log_file.write_text(COMPILER_LOG)
    fake = bin_dir / "edgetpu_compiler"
    fake.write_text(
        "#!/bin/sh\n"
        'out=""; while [ $# -gt 1 ]; do case "$1" in -o) out="$2"; shift 2;; *) shift;; esac; done\n'
        f'cat "{log_file}"\n'
        'name=$(basename "$1" .tflite); cp "$1" "$out/${name}_edgetpu.tflite"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "s.tflite"
    result = quantize_student(pipeline_run, "--out", str(target), "--edgetpu")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "s_edgetpu.tflite").is_file()
    assert "78 of 84 ops on the Edge TPU" in result.stdout
    sidecar = json.loads((tmp_path / "s.results.json").read_text())
    assert sidecar["edgetpu"]["compiler"]["version"] == "16.0.384591198"


def test_edgetpu_needs_int8(pipeline_run, tmp_path):
    out, _ = pipeline_run
    result = quantize_student(
        pipeline_run,
        "--mode",
        "float32",
        "--out",
        str(tmp_path / "f.tflite"),
        "--edgetpu",
    )
    assert_clean_failure(result, "needs --mode int8")
    assert list(tmp_path.iterdir()) == []


def test_inspect_edgetpu_json(pipeline_run):
    out, _ = pipeline_run
    from edgekd.modelfile.inspect import inspect_tflite

    model = out / "student_int8.tflite"
    document = json.loads(invoke("inspect", str(model), "--edgetpu", "--json").stdout)
    assert document["detected_mode"] == "int8"
    edgetpu = document["edgetpu"]
    # The int8 conv student is all Edge TPU ops: every op of the file is judged, and every one maps.
    operators = [op.op for op in inspect_tflite(model.read_bytes()).operators]
    assert [v["op"] for v in edgetpu["ops"]] == operators and "CONV_2D" in operators
    assert all(v["on_edgetpu"] for v in edgetpu["ops"]), edgetpu["ops"]
    assert edgetpu["model_problems"] == []
    assert edgetpu["summary"] == f"all {len(operators)} compute ops would map to the Edge TPU (one subgraph)"
    assert "op_table" in edgetpu
