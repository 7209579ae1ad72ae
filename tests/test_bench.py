"""Latency statistics, energy labelling, and the real agent through the local runner."""

import ast
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from edgekd.bench.benchmark import benchmark
from edgekd.bench.energy import energy_per_inference
from edgekd.bench.registry import get_runner
from edgekd.bench.runners import AGENT, parse_agent_output
from edgekd.bench.settings import BenchSettings
from edgekd.bench.stats import latency_stats, stability_warnings
from edgekd.errors import BenchmarkError, ConfigError
from edgekd.profiles.loader import get_profile


@pytest.fixture
def tiny_tflite(int8_model_file):
    return int8_model_file


def test_latency_stats_on_known_samples():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats.count == 5 and stats.min == 1.0 and stats.max == 100.0
    assert stats.mean == pytest.approx(22.0)
    assert stats.p50 == pytest.approx(3.0)
    assert stats.std == pytest.approx(np.std([1, 2, 3, 4, 100], ddof=1))
    assert stats.p90 == pytest.approx(np.percentile([1, 2, 3, 4, 100], 90))
    # The tail is the tail: 96.16 ms, nowhere near the mean (22 ms) that a slow outlier inflates.
    assert stats.p99 == pytest.approx(96.16)
    assert stats.iqr == pytest.approx(4.0 - 2.0)


def test_stability_warnings():
    steady = latency_stats([1.0] * 98 + [1.01, 1.02])
    assert stability_warnings(steady, 100, False) == []
    spread = latency_stats(list(np.linspace(0.5, 2.0, 100)))
    assert any("wide spread" in w for w in stability_warnings(spread, 100, False))
    tail = latency_stats([1.0] * 95 + [10.0] * 5)
    assert any("long tail" in w for w in stability_warnings(tail, 100, False))
    assert any("only 100 of 500" in w for w in stability_warnings(steady, 500, True))


def test_empty_or_invalid_samples_are_refused():
    with pytest.raises(BenchmarkError, match="no latency samples"):
        latency_stats([])
    with pytest.raises(BenchmarkError, match="negative, NaN"):
        latency_stats([1.0, float("nan")])


def test_the_agent_runs_standalone_and_meets_both_minimums(tiny_tflite):
    completed = subprocess.run(
        [sys.executable, str(AGENT), str(tiny_tflite), "--runs", "50", "--min-seconds", "0.2", "--warmup", "3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    document = json.loads(completed.stdout.strip().splitlines()[-1])
    assert document["ok"] and len(document["latencies_ms"]) >= 50
    assert document["measured_seconds"] >= 0.2
    assert document["environment"]["runtime"] in ("ai_edge_litert", "tflite_runtime")


def test_the_agent_imports_only_the_standard_library_numpy_and_a_tflite_runtime():
    tree = ast.parse(AGENT.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"numpy", "ai_edge_litert", "tflite_runtime"}
    assert imported <= allowed, imported - allowed


def test_local_benchmark_reports_distribution_memory_and_environment(tiny_tflite):
    result = benchmark(tiny_tflite, get_profile("host"), BenchSettings(runs=40, min_seconds=0.1, warmup=2))
    document = result.as_dict()
    assert document["ok"] and document["runs"] >= 40 and document["latency_source"] == "measured"
    for key in ("mean", "std", "min", "p50", "p90", "p99", "max"):
        assert document["latency_ms"][key] >= 0
    assert (
        document["latency_ms"]["min"]
        <= document["latency_ms"]["p50"]
        <= document["latency_ms"]["p99"]
        <= document["latency_ms"]["max"]
    )
    assert document["first_inference_ms"] > 0 and document["init_ms"] > 0 and document["peak_memory_mb"] > 0
    assert document["environment"]["threads"] == 1
    # The host profile has no power model and there is no reader here: energy is absent, with the reason.
    assert document["energy"]["value_mj"] is None and "no power reading" in document["energy"]["reason"]


def test_a_transport_without_a_runner_says_so(tiny_tflite, monkeypatch):
    from edgekd.bench import registry

    monkeypatch.setattr(registry, "_RUNNERS", {"local": registry._RUNNERS["local"]})
    with pytest.raises(BenchmarkError, match="reached over 'ssh'.*no ssh runner yet \\(runners: local\\)"):
        benchmark(tiny_tflite, get_profile("rpi4"), BenchSettings())
    assert get_runner(get_profile("host").profile) is not None


def test_agent_failures_become_clear_errors():
    with pytest.raises(BenchmarkError, match="produced no result: .*boom"):
        parse_agent_output("", "Traceback\nboom", 1, "host")
    with pytest.raises(BenchmarkError, match="cannot load model"):
        parse_agent_output(json.dumps({"ok": False, "error": "cannot load model: bad"}), "", 4, "host")
    # A device's answer is read like a file from outside: nested past the parser, or not an object, is one error.
    with pytest.raises(BenchmarkError, match="answer on host is nested more than 64 levels deep"):
        parse_agent_output('{"ok": true, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "", 0, "host")
    with pytest.raises(BenchmarkError, match="answer on host is not readable JSON"):
        parse_agent_output('{"ok": tru', "", 0, "host")


def test_energy_is_labelled_estimated_from_a_power_model():
    profile = get_profile("rpi4").profile
    energy = energy_per_inference(profile, mean_latency_ms=2.0)
    assert energy["source"] == "estimated"
    assert energy["value_mj"] == pytest.approx(5.4 * 2.0)
    assert energy["above_idle_mj"] == pytest.approx((5.4 - 2.3) * 2.0)
    measured = energy_per_inference(profile, 2.0, measured_power_w=4.0)
    assert measured["source"] == "measured" and measured["value_mj"] == pytest.approx(8.0)


def test_coral_refuses_a_float_model_with_the_profiles_reason(tmp_path):
    from edgekd.errors import ProfileError
    from edgekd.models.builders import get_builder
    from edgekd.profiles.compatibility import check_device_can_run
    from edgekd.quantize.convert import convert

    data = convert(get_builder("mlp").build((6, 1), 3), "float32")
    with pytest.raises(
        ProfileError, match="float32 model and device coral-usb runs only int8: The Edge TPU executes only"
    ):
        check_device_can_run(get_profile("coral-usb"), data, "model.tflite")
    check_device_can_run(get_profile("host"), data, "model.tflite")


@pytest.fixture
def tpu_profile(tmp_path, monkeypatch):
    """A local profile asking for the Edge TPU delegate (which cannot load here: no libedgetpu)."""

    def make(fallback: bool):
        text = get_profile("host").path.read_text().replace("name: host", "name: tpu")
        text = text.replace(
            "delegates: [xnnpack]", f"delegates: [edgetpu]\n  allow_cpu_fallback: {str(fallback).lower()}"
        )
        (tmp_path / "tpu.yaml").write_text(text)
        monkeypatch.setenv("EDGEKD_DEVICES", str(tmp_path))
        return get_profile("tpu")

    return make


def test_a_delegate_that_cannot_load_fails_with_its_library_named(tiny_tflite, tpu_profile):
    with pytest.raises(BenchmarkError, match=r"cannot load the edgetpu delegate \(libedgetpu.so.1\)"):
        benchmark(tiny_tflite, tpu_profile(False), BenchSettings(runs=5, min_seconds=0.0, warmup=1))


def test_allowed_fallback_runs_on_the_cpu_and_says_so(tiny_tflite, tpu_profile):
    result = benchmark(tiny_tflite, tpu_profile(True), BenchSettings(runs=5, min_seconds=0.0, warmup=1)).as_dict()
    assert result["ok"] and result["environment"]["delegate"] == "cpu (fallback)"
    assert any("ran on the CPU, not the requested delegate" in w for w in result["warnings"])
    assert any("not compiled by edgetpu_compiler" in w for w in result["warnings"])


def _rank(values: np.ndarray, estimate: float) -> float:
    """The share of ``values`` at or below ``estimate``: where an estimated percentile truly lies."""
    return float(np.mean(values <= estimate))


@pytest.mark.parametrize("order", ["shuffled", "rising"], ids=["random order", "rising over the run (throttling)"])
def test_a_reservoir_of_latencies_gives_percentiles_close_to_the_exact_ones(order):
    from edgekd.bench.agent import LatencyRecorder

    rng = np.random.default_rng(0)
    values = rng.lognormal(mean=0.0, sigma=0.5, size=400_000)
    if order == "rising":
        # Every late run slower than every early one: a sample kept from the start would miss the tail.
        values = np.sort(values)
    recorder = LatencyRecorder(capacity=20_000)
    for value in values.tolist():
        recorder.add(value)
    kept = np.asarray(recorder.kept)
    assert len(kept) == 20_000 and recorder.count == len(values)
    # Rank standard errors for 20,000 samples: 0.0035 at p50, 0.0007 at p99; allow about four of them.
    assert abs(_rank(values, np.percentile(kept, 50)) - 0.50) < 0.015
    assert abs(_rank(values, np.percentile(kept, 99)) - 0.99) < 0.003
    summary = recorder.summary()
    assert summary["count"] == len(values) and summary["kept"] == 20_000
    assert summary["mean"] == pytest.approx(values.mean(), rel=1e-9)
    assert summary["std"] == pytest.approx(values.std(ddof=1), rel=1e-6)
    assert (summary["min"], summary["max"]) == (values.min(), values.max())


def test_the_recorder_keeps_every_latency_below_its_capacity():
    from edgekd.bench.agent import LatencyRecorder

    recorder = LatencyRecorder(capacity=10)
    for value in (3.0, 1.0, 2.0):
        recorder.add(value)
    assert recorder.kept == [3.0, 1.0, 2.0] and recorder.summary()["count"] == 3


def test_stats_from_a_sample_say_so_and_keep_the_exact_figures():
    rng = np.random.default_rng(1)
    everything = rng.lognormal(0.0, 0.3, 50_000)
    sample = rng.choice(everything, 5_000, replace=False)
    summary = {
        "count": 50_000,
        "kept": 5_000,
        "mean": float(everything.mean()),
        "std": float(everything.std(ddof=1)),
        "min": float(everything.min()),
        "max": float(everything.max()),
    }
    stats = latency_stats(sample, summary)
    assert stats.count == 50_000 and stats.percentile_sample == 5_000
    assert (stats.min, stats.max, stats.mean) == (summary["min"], summary["max"], summary["mean"])
    assert stats.as_dict()["percentile_sample"] == 5_000
    assert any("uniform random sample of 5,000 of the 50,000 runs" in w for w in stability_warnings(stats, 100, False))
    # Every run kept: exact, and nothing to say about sampling.
    whole = latency_stats(everything[:100], {**summary, "count": 100})
    assert whole.percentile_sample is None and "percentile_sample" not in whole.as_dict()
    assert not any("sample" in w for w in stability_warnings(whole, 100, False))


@pytest.mark.parametrize(
    "change",
    [{"count": 10}, {"min": 5.0}, {"max": 0.5}, {"std": float("nan")}, {"mean": "fast"}],
    ids=["fewer runs than samples", "min above a sample", "max below a sample", "NaN std", "not a number"],
)
def test_a_summary_that_does_not_fit_its_samples_is_refused(change):
    summary = {"count": 1000, "mean": 1.0, "std": 0.1, "min": 0.5, "max": 2.0, **change}
    with pytest.raises(BenchmarkError, match="latency summary"):
        latency_stats(np.linspace(0.9, 1.1, 100), summary)


def test_the_agent_bounds_its_memory_past_max_samples(tiny_tflite):
    completed = subprocess.run(
        [sys.executable, str(AGENT), str(tiny_tflite), "--runs", "10", "--min-seconds", "0.5", "--max-samples", "500"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    document = json.loads(completed.stdout.strip().splitlines()[-1])
    summary = document["latency_summary"]
    assert len(document["latencies_ms"]) == summary["kept"] == 500 < summary["count"]
    stats = latency_stats(document["latencies_ms"], summary)
    assert stats.count == summary["count"] and stats.percentile_sample == 500
    assert stats.min <= stats.p50 <= stats.p99 <= stats.max


@pytest.mark.parametrize(
    "flag, value", [("--min-seconds", "nan"), ("--min-seconds", "inf"), ("--runs", "0"), ("--threads", "0")]
)
def test_the_agent_refuses_bad_numbers_itself(tiny_tflite, flag, value):
    completed = subprocess.run(
        [sys.executable, str(AGENT), str(tiny_tflite), flag, value], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2 and f"argument {flag}" in completed.stderr


def test_the_agent_stops_warming_up_at_its_time_limit(tiny_tflite):
    completed = subprocess.run(
        [sys.executable, str(AGENT), str(tiny_tflite), "--warmup", "100000000", "--max-seconds", "0.3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    document = json.loads(completed.stdout.strip().splitlines()[-1])
    assert 0 < document["warmup_runs"] < 100_000_000 and document["latency_summary"]["count"] > 0


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"runs": 0}, "runs=0: must be a whole number of at least 1"),
        ({"runs": 2.5}, "runs=2.5: must be a whole number"),
        ({"min_seconds": float("nan")}, "min_seconds=nan: must be a number of seconds from 0 to 300"),
        ({"min_seconds": float("inf")}, "min_seconds=inf"),
        ({"min_seconds": -1}, "min_seconds=-1"),
        ({"min_seconds": 301}, "the agent stops measuring after 300 s"),
        ({"warmup": -1}, "warmup=-1: must be a whole number, 0 or more"),
        ({"threads": 0}, "threads=0: must be a whole number of at least 1"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds=nan"),
    ],
)
def test_bench_settings_refuse_bad_numbers_for_every_caller(settings, message):
    from edgekd.bench.settings import BenchSettingError
    from edgekd.config import parse_config

    with pytest.raises(BenchSettingError, match=re.escape(message)):
        BenchSettings(**settings)
    # A config's bench section follows the same rules (timeout_seconds is not a config key).
    (key, value), *_ = settings.items()
    if key != "timeout_seconds":
        with pytest.raises(ConfigError, match=f"field 'bench.{key}'"):
            parse_config(f"bench: {{{key}: {'.nan' if value != value else value}}}")


def test_bench_settings_at_the_edges_of_their_rules_are_accepted():
    from edgekd.config import parse_config

    BenchSettings(runs=1, min_seconds=0, warmup=0, threads=1)
    BenchSettings(min_seconds=300)
    assert parse_config("bench: {runs: 1, min_seconds: 300, warmup: 0, threads: 4}").bench.min_seconds == 300


def test_the_python_api_takes_one_device_name_and_refuses_nothing_to_measure(int8_model_file, tmp_path):
    import sqlite3

    import edgekd
    from edgekd.results.store import ResultsStore

    store = tmp_path / "store.db"
    (result,) = edgekd.benchmark(int8_model_file, devices="host", runs=3, min_seconds=0, db=store, say=None)
    assert result.ok and result.device == "host" and result.model == "student_int8"
    for models, devices, message in (
        ([], "host", "no model to benchmark"),
        (int8_model_file, [], "no device to benchmark on"),
        ([int8_model_file, int8_model_file], "host", "student_int8.tflite is given twice"),
        (int8_model_file, ["host", "host"], "device 'host' is given twice"),
        (123, "host", "`model` 123: give the path of a .tflite file"),
    ):
        with pytest.raises((BenchmarkError, ConfigError), match=message):
            edgekd.benchmark(models, devices=devices, runs=3, min_seconds=0, db=store, say=None)
    with ResultsStore(store) as opened:
        assert len(opened.runs()) == 1, "a refused benchmark stores no (empty) run"
    with sqlite3.connect(store) as connection:
        assert connection.execute("SELECT COUNT(*) FROM benchmarks").fetchone()[0] == 1


def test_files_of_one_name_are_told_apart_by_their_folders(int8_model_file, tmp_path):
    import shutil

    import edgekd
    from edgekd.bench.stage import model_names

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(int8_model_file, tmp_path / folder / "student_int8.tflite")
    (tmp_path / "link.tflite").symlink_to(tmp_path / "a" / "student_int8.tflite")
    paths = [tmp_path / "a" / "student_int8.tflite", tmp_path / "b" / "student_int8.tflite"]
    results = edgekd.benchmark(paths, devices="host", runs=3, min_seconds=0, record=False, say=None)
    assert [r.model for r in results] == ["a/student_int8", "b/student_int8"]
    assert model_names([tmp_path / "x.tflite", tmp_path / "a" / "x.tflite"]) == [f"{tmp_path.name}/x", "a/x"]
    # The same file through a link is the same file: measured once, or refused.
    with pytest.raises(BenchmarkError, match=r"link.tflite is given twice \(it is the same file as"):
        edgekd.benchmark([paths[0], tmp_path / "link.tflite"], devices="host", record=False, say=None)


def test_a_library_that_is_no_delegate_fails_in_one_line_naming_it(tiny_tflite, tmp_path, monkeypatch):
    # libc loads but has no delegate entry points: LiteRT raised AttributeError, which the agent let out as
    # a traceback (its carets ended up in the error line).
    text = get_profile("host").path.read_text().replace("name: host", "name: libc")
    (tmp_path / "libc.yaml").write_text(
        text.replace("delegates: [xnnpack]", "delegates: [gpu]\n  delegate_library: libc.so.6")
    )
    monkeypatch.setenv("EDGEKD_DEVICES", str(tmp_path))
    with pytest.raises(BenchmarkError, match=r"cannot load the gpu delegate \(libc.so.6\): .*tflite_plugin") as error:
        benchmark(tiny_tflite, get_profile("libc"), BenchSettings(runs=5, min_seconds=0.0, warmup=1))
    assert "^^^" not in str(error.value) and "Traceback" not in str(error.value)


def test_the_python_api_refuses_an_empty_list_of_models_and_stores_nothing(tmp_path, monkeypatch):
    # `edgekd.benchmark([])` returned [] and stored an empty run (issue 26, silent wrong answers).
    import sqlite3

    import edgekd

    monkeypatch.setenv("EDGEKD_DB", str(tmp_path / "store.db"))
    with pytest.raises(BenchmarkError, match="no model to benchmark"):
        edgekd.benchmark([])
    if (tmp_path / "store.db").exists():
        with sqlite3.connect(tmp_path / "store.db") as connection:
            assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
