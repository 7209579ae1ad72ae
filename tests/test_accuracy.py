"""On-device accuracy: outputs computed where the model runs, compared with the host's LiteRT on the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekd.bench.accuracy import AccuracyData, compare_outputs, decode_outputs, encode_outputs, quantize
from edgekd.errors import BenchmarkError, ConfigError
from edgekd.modelfile.inspect import TensorInfo, inspect_tflite
from tests.conftest import assert_clean_failure, invoke

INT8_OUTPUT = TensorInfo("logits", "int8", (1, 3), (1, 3), scale=(0.5,), zero_point=(-2,))


def test_the_comparison_by_hand():
    host = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10], [5, 4, 0]], np.int8)
    device = np.array([[10, 0, 1], [0, 10, 0], [0, 12, 10], [3, 4, 0]], np.int8)
    labels = np.array([0, 1, 1, 0])
    result = compare_outputs(device, host, labels, INT8_OUTPUT, "ARM")
    # Host top-1: 0, 1, 2, 0 -> right on samples 0, 1, 3 (3 of 4); device: 0, 1, 1, 1 -> samples 0, 1, 2.
    assert result.accuracy == result.host_accuracy == 0.75
    assert result.agreement == 0.5, "they disagree on samples 2 and 3"
    assert result.largest_difference_steps == 12 and result.largest_difference == 6.0, "12 steps of 0.5"
    as_float = TensorInfo("p", "float32", (1, 3), (1, 3))
    float_result = compare_outputs(device.astype(np.float32) / 4, host.astype(np.float32) / 4, labels, as_float, "x")
    assert float_result.largest_difference_steps is None and float_result.largest_difference == 3.0


def test_inputs_are_quantized_with_the_model_own_parameters():
    tensor = TensorInfo("x", "int8", (1, 2), (1, 2), scale=(0.1,), zero_point=(3,))
    assert quantize(np.array([[0.0, 0.52], [-20.0, 20.0]]), tensor).tolist() == [[3, 8], [-128, 127]]


def test_outputs_travel_as_json_and_malformed_ones_are_refused():
    array = np.arange(12, dtype=np.int8).reshape(4, 3)
    assert np.array_equal(decode_outputs(json.loads(json.dumps(encode_outputs(array))), "d"), array)
    for broken in ({"dtype": "object", "shape": [1], "base64": ""}, {"dtype": "int8", "shape": [5], "base64": "AAA="}):
        with pytest.raises(BenchmarkError, match="outputs edgekd cannot read"):
            decode_outputs(broken, "d")


def test_data_shaped_for_another_model_is_named(int8_model_file, npz_factory):
    data = AccuracyData.load(f"npz:{npz_factory()}", 5)
    with pytest.raises(ConfigError, match=r"`accuracy` data .* shaped \(12, 1\); m.tflite expects \(40, 1\)"):
        data.raw_inputs(inspect_tflite(int8_model_file.read_bytes(), "m.tflite"), "m.tflite")


SMALL = "mnist1d:samples=1500,transfer=300"


def test_on_the_host_the_device_is_litert_itself(int8_model_file):
    result = invoke(
        "bench", str(int8_model_file), "--accuracy", SMALL, "--samples", "60", "--runs", "5", "--min-seconds", "0"
    )
    assert result.exit_code == 0, result.stderr
    assert "top-1 on device" in result.stdout and "0 steps" in result.stdout
    as_json = invoke(
        "bench", str(int8_model_file), "--accuracy", SMALL, "--samples", "60", "--runs", "5", "--min-seconds", "0",
        "--json",
    )  # fmt: skip
    (bench,) = json.loads(as_json.stdout)
    checked = bench["accuracy"]
    assert checked["samples"] == 60 and checked["agreement_with_host"] == 1.0
    assert checked["accuracy"] == checked["host_accuracy"] and checked["largest_difference_steps"] == 0
    assert bench["latency_ms"]["p50"] > 0, "latency is measured as well"


def test_a_microcontroller_runs_the_samples_through_tflite_micro(int8_model_file):
    result = invoke("bench", str(int8_model_file), "--device", "nano33ble", "--accuracy", SMALL, "--samples", "100")
    assert result.exit_code == 0, result.stderr
    assert "tflite-micro" in result.stdout and "the host (not the board)" in result.stdout
    as_json = invoke(
        "bench", str(int8_model_file), "--device", "nano33ble", "--accuracy", SMALL, "--samples", "100", "--json"
    )
    (bench,) = json.loads(as_json.stdout)
    assert bench["runner"] == "tflite-micro (host)" and "latency_ms" not in bench, "no latency from the host"
    checked = bench["accuracy"]
    # TFLM's reference kernels and LiteRT's optimized ones round the same int8 arithmetic, at most a step apart.
    assert checked["agreement_with_host"] >= 0.95 and checked["largest_difference_steps"] <= 1
    assert bench["environment"]["tensor_arena"]["source"] == "measured"


def test_bad_accuracy_settings_fail_before_anything_runs(int8_model_file, npz_factory):
    shaped = invoke("bench", str(int8_model_file), "--accuracy", f"npz:{npz_factory()}")
    assert_clean_failure(shaped, "--accuracy data", "shaped (12, 1)", "expects (40, 1)")
    alone = invoke("bench", str(int8_model_file), "--samples", "10")
    assert_clean_failure(alone, "--samples", "give --accuracy DATA too")
    latency = invoke("bench", str(int8_model_file), "--device", "stm32h7")
    assert_clean_failure(latency, "microcontroller", "--accuracy DATA", "edgekd export")


def test_the_python_api_checks_accuracy_on_a_microcontroller(int8_model_file):
    import edgekd

    (result,) = edgekd.benchmark(int8_model_file, devices=["stm32h7"], accuracy=SMALL, samples=20)
    assert result.ok and result.latency is None and result.accuracy.samples == 20
    assert result.environment["runtime"] == "tflite-micro"
    with pytest.raises(ConfigError, match="`samples` 0: must be at least 1"):
        edgekd.benchmark(int8_model_file, devices=["stm32h7"], accuracy=SMALL, samples=0)
