"""The per-invoke floor: a one-op model benchmarked on each device in the same session as the real models."""

from __future__ import annotations

import json

import numpy as np

from edgekd.bench.overhead import InvokeOverhead, one_op_model, overhead_sentence
from tests.conftest import invoke


def test_the_one_op_model_is_a_real_model_computing_x_plus_x():
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.quantize.evaluate import make_interpreter

    model = one_op_model()
    assert [op.op for op in inspect_tflite(model, "one-op").operators] == ["ADD"]
    interpreter = make_interpreter(model)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.array([[1.25]], np.float32))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).tolist() == [[2.5]]


def test_the_share_and_the_sentence_by_hand():
    floor = InvokeOverhead(p50_ms=0.0006, runs=1000)
    assert floor.share_of(0.001) == 0.6 and floor.share_of(0.0003) == 1.0 and floor.share_of(None) is None
    assert overhead_sentence("s", "host", 0.001, floor) == (
        "s on host: p50 1 µs, of which 0.6 µs (60%) is the per-invoke floor of a one-op model measured in the same "
        "session; overhead dominates: a smaller model would hardly run faster here"
    )
    assert "the arithmetic dominates" in overhead_sentence("t", "host", 0.01, floor)


def test_bench_measures_the_floor_on_each_device_and_says_its_share(int8_model_file):
    args = ["bench", str(int8_model_file), "--runs", "200", "--min-seconds", "0.1"]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    (bench,) = json.loads(result.stdout)
    floor = bench["invoke_overhead"]
    assert 0 < floor["p50_ms"] and floor["source"].startswith("measured: a one-op model")
    assert 0 < floor["share_of_p50"] <= 1
    shown = invoke(*args)
    assert "is the per-invoke floor of a one-op model measured in the same session" in shown.stdout
