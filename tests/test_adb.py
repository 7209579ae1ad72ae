"""The adb runner: command construction and the benchmark_model parser on its real recorded format.

No phone or emulator is reachable here, so the suite's stand-in `adb` (tests/stand_in_adb.py,
also used by the deploy tests) records its arguments and answers `benchmark_model` with the
output format LiteRT's tool prints (the LiteRT benchmark tool's README,
tensorflow/lite/tools/benchmark/README.md).
"""

import shlex

import pytest

from edgekd.bench.benchmark import benchmark
from edgekd.bench.benchmark_model import benchmark_command, parse_benchmark_model
from edgekd.bench.settings import BenchSettings
from edgekd.errors import BenchmarkError
from edgekd.profiles.loader import get_profile
from tests.conftest import assert_clean_failure, invoke
from tests.stand_in_adb import RECORDED_BENCHMARK, THERMALSERVICE


def test_thermalservice_parser_reads_status_and_the_hottest_cpu_gpu_or_skin():
    from edgekd.bench.android import parse_thermalservice

    reading = parse_thermalservice(THERMALSERVICE)
    # AP (CPU) 25.6 beats LRB (skin) 24.7; the battery (type 2) and PA (type 5) do not count.
    assert reading == {"max_temp_c": 25.6, "android_status": 0, "android_status_name": "none"}


def test_battery_parser_multiplies_microamps_by_microvolts():
    from edgekd.bench.android import parse_battery

    assert parse_battery("-412000\n3870000\n") == pytest.approx(0.412 * 3.87)
    assert parse_battery("412000\n3870000") == pytest.approx(0.412 * 3.87), "the sign differs by vendor"
    with pytest.raises(ValueError, match="expected current_now and voltage_now"):
        parse_battery("cat: current_now: No such file or directory")


def test_parser_reads_the_measured_runs_not_the_warmup():
    result = parse_benchmark_model(RECORDED_BENCHMARK, "pixel4")
    summary = result["summary_ms"]
    assert (
        summary["count"] == 1000
        and summary["mean"] == pytest.approx(63.7432)
        and summary["p50"] == pytest.approx(51.891)
    )
    assert summary["p95"] == pytest.approx(68.628) and summary["max"] == pytest.approx(686.105)
    assert result["init_ms"] == pytest.approx(119.515) and result["first_inference_ms"] == pytest.approx(87.112)
    assert result["peak_rss_mb"] == 12.4
    with pytest.raises(BenchmarkError, match="no timing statistics"):
        parse_benchmark_model("Segmentation fault", "pixel4")


def test_command_is_pinned_threaded_and_names_the_delegate():
    settings = BenchSettings(runs=200, min_seconds=2.0, warmup=5)
    words = benchmark_command(
        "/data/local/tmp/x/benchmark_model", "/data/local/tmp/x/model.tflite", get_profile("pixel4").profile, settings
    )
    assert words[:2] == ["taskset", "f0"]
    assert "--num_threads=4" in words and "--num_runs=200" in words and "--min_secs=2.0" in words
    assert "--use_xnnpack=true" in words and "--graph=/data/local/tmp/x/model.tflite" in words


@pytest.fixture
def model_file(int8_model_file, tmp_path):
    # A hostile name: the device must never see it, and nothing on this side may run it.
    path = tmp_path / "x'; touch pwned; '.tflite"
    path.write_bytes(int8_model_file.read_bytes())
    return path


def test_adb_benchmark_pushes_runs_parses_and_cleans_up(stand_in_adb, model_file, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF fake")
    result = benchmark(
        model_file, get_profile("pixel4"), BenchSettings(runs=1000, benchmark_binary=str(binary))
    ).as_dict()
    assert result["ok"] and result["runner"] == "adb" and result["runs"] == 1000
    assert result["latency_ms"]["mean"] == pytest.approx(63.7432) and result["latency_ms"]["p99"] is None
    assert result["latency_source"] == "measured (benchmark_model summary)"
    calls = stand_in_adb.calls()
    pushes = [c for c in calls if c[0] == "push"]
    assert pushes[0][1] == str(binary) and pushes[1][1] == str(model_file)
    assert pushes[1][2].endswith("/model.tflite"), "the device never sees the local file name"
    run = next(c for c in calls if c[0] == "shell" and "--graph" in c[1])
    assert shlex.split(run[1])[:2] == ["taskset", "f0"]
    assert calls[-1][0] == "shell" and shlex.split(calls[-1][1])[:2] == ["rm", "-rf"]
    assert list(stand_in_adb.scratch.glob("edgekd-*")) == [], "the remote folder is removed"
    assert not (tmp_path / "pwned").exists()


def test_adb_without_a_benchmark_binary_says_what_to_set(stand_in_adb, model_file):
    with pytest.raises(BenchmarkError, match="no benchmark_model binary"):
        benchmark(model_file, get_profile("pixel4"), BenchSettings())


def test_adb_missing_says_how_to_install(model_file, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BenchmarkError, match="adb is not installed"):
        benchmark(model_file, get_profile("pixel4"), BenchSettings(benchmark_binary="/data/local/tmp/benchmark_model"))


def test_devices_check_over_adb(stand_in_adb):
    result = invoke("devices", "check", "pixel4")
    assert result.exit_code == 0, result.stderr
    assert "Pixel 4" in result.stdout and "Android 13" in result.stdout


def test_bench_cli_passes_the_binary(stand_in_adb, model_file, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"fake")
    ok = invoke("bench", str(model_file), "--device", "pixel4", "--benchmark-binary", str(binary), "--json")
    assert ok.exit_code == 0, ok.stderr
    missing = invoke("bench", str(model_file), "--device", "pixel4")
    assert_clean_failure(missing, "no benchmark_model binary")


def test_adb_samples_the_battery_and_reads_thermal_status(stand_in_adb, model_file, tmp_path):
    result = benchmark(
        model_file, get_profile("pixel4"), BenchSettings(benchmark_binary="/data/local/tmp/benchmark_model")
    ).as_dict()
    energy = result["energy"]
    assert energy["source"] == "measured" and energy["power_w"] == pytest.approx(0.412 * 3.87)
    assert energy["value_mj"] == pytest.approx(0.412 * 3.87 * result["latency_ms"]["mean"], rel=1e-6)
    thermal = result["environment"]["thermal"]
    assert thermal["before"]["android_status"] == 0 and thermal["after"]["android_status"] == 2
    assert any(
        "Android thermal status moderate (2 of 6) after the run (it rose during the run)" in w
        for w in result["warnings"]
    )


def test_a_charging_phone_gives_no_energy_measurement_and_says_why(stand_in_adb, model_file, monkeypatch):
    monkeypatch.setenv("STAND_IN_BATTERY_STATUS", "Charging")
    result = benchmark(
        model_file, get_profile("pixel4"), BenchSettings(benchmark_binary="/data/local/tmp/benchmark_model")
    ).as_dict()
    assert result["energy"]["value_mj"] is None
    assert "the phone is charging" in result["energy"]["reason"] and "adb tcpip" in result["energy"]["reason"]


def test_the_gpu_profile_says_what_the_delegate_will_do_with_the_model(stand_in_adb, model_file, cumsum_model_report):
    from edgekd.bench.delegates import delegate_warnings
    from edgekd.profiles.schema import Delegate

    result = benchmark(
        model_file, get_profile("galaxy-a52-gpu"), BenchSettings(benchmark_binary="/data/local/tmp/benchmark_model")
    ).as_dict()
    assert result["environment"]["delegate"] == "gpu" and result["environment"]["affinity"] == "c0"
    assert any("this int8 model is dequantized there" in w for w in result["warnings"])
    # The conv student's ops are all in the delegate's list; a CUMSUM is not.
    assert not any("documented op list lacks" in w for w in result["warnings"])
    (outside,) = [w for w in delegate_warnings(cumsum_model_report, Delegate.GPU) if "op list lacks" in w]
    assert "CUMSUM" in outside and "CONV_2D" not in outside
    assert delegate_warnings(cumsum_model_report, Delegate.XNNPACK) == []


@pytest.fixture
def cumsum_model_report():
    import keras
    import tensorflow as tf

    from edgekd.modelfile.inspect import inspect_tflite

    inputs = keras.Input((8,))
    outputs = keras.layers.Dense(4)(keras.ops.cumsum(inputs, axis=1))
    return inspect_tflite(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())
