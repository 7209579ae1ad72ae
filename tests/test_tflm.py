"""TensorFlow Lite Micro on the host: the arena it measures, the ops it lacks, and the estimate only as a fallback."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import assert_clean_failure, invoke, with_custom_op

RECORDED = """\
[RecordingMicroAllocator] Arena allocation total 2768 bytes
[RecordingMicroAllocator] Arena allocation head 544 bytes
[RecordingMicroAllocator] Arena allocation tail 2224 bytes
[RecordingMicroAllocator] 'TfLiteEvalTensor data' used 336 bytes with alignment overhead (requested 336 bytes for 14 allocations)
[RecordingMicroAllocator] 'NodeAndRegistration struct' used 320 bytes with alignment overhead (requested 320 bytes for 5 NodeAndRegistration structs)
"""  # noqa: E501 - TFLM's own lines, as print_allocations writes them


def test_the_recorded_allocation_lines_are_parsed():
    from edgekd.bench.tflm import parse_allocations

    arena = parse_allocations(RECORDED, 3001)
    assert (arena.recorded, arena.head, arena.tail) == (2768, 544, 2224)
    assert arena.bytes == 3008, "the smallest arena that worked, rounded up to TFLM's 16-byte alignment"
    assert arena.parts == {"TfLiteEvalTensor data": 336, "NodeAndRegistration struct": 320}


ARENA_OF = r"""
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
interpreter = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=int(sys.argv[2]))
detail = interpreter.get_input_details(0)
interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
interpreter.invoke()
"""


def test_the_measured_arena_is_what_tflm_needs(int8_model_file):
    """An arena of the measured size runs the model; one 64 bytes smaller does not, nor one of the recorded total
    (kernels take temporary memory while they are prepared, which the recorder does not keep)."""
    from edgekd.bench.tflm import run_tflm

    arena = run_tflm(int8_model_file.read_bytes(), "m").arena
    assert arena.measured and arena.recorded == arena.head + arena.tail < arena.bytes
    assert arena.head >= 320, "at least the activations the estimate counts"

    def runs_with(size: int) -> bool:
        argv = [sys.executable, "-c", ARENA_OF, str(int8_model_file), str(size)]
        return subprocess.run(argv, capture_output=True).returncode == 0

    assert runs_with(arena.bytes) and not runs_with(arena.bytes - 64) and not runs_with(arena.recorded)


def test_an_arena_size_at_which_tflm_crashes_counts_as_too_small(int8_model_file, monkeypatch):
    """At some sizes just below what a model needs, TFLM crashes (SIGSEGV after "failed to prepare") instead of
    failing to allocate: an int8 MLP of the search's space hit one while its smallest arena was searched, so every
    trial on it failed. Here every size below the real one crashes; the search still finds the real one."""
    from edgekd.bench import tflm

    data = int8_model_file.read_bytes()
    needed = tflm.run_tflm(data, "m").arena.bytes
    crashing = tflm.CHILD.replace(
        "def build(arena):\n",
        f"def build(arena):\n    if arena < {needed}:\n        os.kill(os.getpid(), 11)\n",
    )
    assert crashing != tflm.CHILD
    monkeypatch.setattr(tflm, "CHILD", crashing)
    # The same size, to the search's 16-byte step (sizes just under it that worked now crash).
    assert needed <= tflm.run_tflm(data, "m").arena.bytes <= needed + tflm.ARENA_STEP_BYTES


def test_tflm_outputs_match_litert_on_the_int8_model(int8_model_file):
    from edgekd.bench.tflm import run_tflm
    from edgekd.quantize.evaluate import make_interpreter

    samples = np.random.default_rng(0).integers(-128, 128, size=(8, 40, 1)).astype(np.int8)
    outputs = run_tflm(int8_model_file.read_bytes(), "m", samples).outputs
    interpreter = make_interpreter(int8_model_file.read_bytes())
    interpreter.allocate_tensors()
    expected = []
    for sample in samples:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], sample[None])
        interpreter.invoke()
        expected.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    assert outputs.shape == (8, 10)
    assert np.abs(outputs.astype(int) - np.stack(expected).astype(int)).max() <= 1, "same int8 kernels, within a step"


@pytest.fixture(scope="module")
def topk_model(tmp_path_factory):
    """A float model whose one op (TOPK_V2) TFLM lacks, converted for real."""
    import tensorflow as tf

    function = tf.function(lambda x: tf.math.top_k(x, 2).values, input_signature=[tf.TensorSpec((1, 8), tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    path = tmp_path_factory.mktemp("topk") / "topk.tflite"
    path.write_bytes(converter.convert())
    return path


def test_an_op_tflm_lacks_is_named(topk_model, tmp_path, monkeypatch):
    document = json.loads(invoke("inspect", str(topk_model), "--device", "stm32h7", "--json").stdout)
    fit = document["fit"]
    assert fit["fits"] is False and any("uses TOPK_V2, an op TensorFlow Lite Micro lacks" in p for p in fit["problems"])
    assert fit["ram"]["source"] == "estimated" and "TOPK_V2" in fit["ram"]["not_measured_because"]
    # Without a device, export still writes the C array (a firmware may register its own kernels) and warns.
    result = invoke("export", str(topk_model), "--out", str(tmp_path / "c"))
    assert result.exit_code == 0 and "edgekd: warning:" in result.stderr and "TOPK_V2" in result.stderr
    header = (tmp_path / "c" / "topk.h").read_text()
    assert "#define TOPK_ARENA_MEASURED 0" in header and "ESTIMATED" in header


def test_export_for_a_board_refuses_a_custom_op_before_writing(int8_model_file, tmp_path):
    model = tmp_path / "custom.tflite"
    model.write_bytes(with_custom_op(int8_model_file.read_bytes(), "MyFancyOp"))
    result = invoke("export", str(model), "--out", str(tmp_path / "c"), "--device", "nano33ble")
    assert_clean_failure(result, "custom op MyFancyOp", "register its kernel in the firmware")
    assert not (tmp_path / "c").exists()


def test_an_edge_tpu_model_is_refused_by_tflm(int8_model_file):
    from edgekd.bench.tflm import TflmError, run_tflm

    with pytest.raises(TflmError, match=r"compiled for the Edge TPU \(edgetpu-custom-op\).*before edgetpu_compiler"):
        run_tflm(with_custom_op(int8_model_file.read_bytes(), "edgetpu-custom-op"), "m_edgetpu.tflite")


def test_without_tflm_the_estimate_is_used_and_labelled(int8_model_file, monkeypatch):
    from edgekd.bench import tflm

    monkeypatch.setattr(tflm, "available", lambda: False)
    fit = json.loads(invoke("inspect", str(int8_model_file), "--device", "esp32-s3", "--json").stdout)["fit"]
    assert fit["fits"] is True and fit["ram"]["needed"] == 320 and fit["ram"]["source"] == "estimated"
    assert "not installed" in fit["ram"]["not_measured_because"] and fit["ram"]["method"].startswith("estimated:")
    shown = invoke("inspect", str(int8_model_file), "--device", "esp32-s3")
    assert "tensor arena 320 bytes" in shown.stdout and "not measured: TensorFlow Lite Micro is not installed" in (
        shown.stdout
    )
