"""Heat: the cool-down between models and a sustained run's drift, on the real runners.

The cool-down reads a device's thermal zones through its own shell; here the local runner
reads a sysfs tree the test writes (``power_root``), so the temperature can be made to fall
while edgekd waits. The sustained run is real: the agent measures the model for the whole
time on this machine, and the adb runner runs the stand-in's recorded benchmark_model once
per window.
"""

import json
import threading
import time

import numpy as np
import pytest

from edgekd.bench.benchmark import benchmark
from edgekd.bench.runners import LocalRunner
from edgekd.bench.settings import BenchSettingError, BenchSettings
from edgekd.bench.stage import HeatWatch
from edgekd.bench.thermal import (
    COOLDOWN_MARGIN_C,
    combine_summaries,
    cool_down,
    drift_warning,
    parse_thermal_zones,
    sustained_summary,
)
from edgekd.profiles.loader import get_profile
from edgekd.progress import SILENT
from tests.conftest import assert_clean_failure, invoke


def write_zone(root, celsius: float, zone: int = 0) -> None:
    folder = root / "sys" / "class" / "thermal" / f"thermal_zone{zone}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "temp").write_text(f"{round(celsius * 1000)}\n")


class FakeClock:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def __call__(self):
        return self.now


def test_cool_down_waits_until_within_the_margin_of_the_baseline():
    clock = FakeClock()
    readings = iter([50.0, 47.0, 44.0, 41.5, 40.0])
    done = cool_down(lambda: next(readings), 40.0, 60, poll_seconds=5, sleep=clock.sleep, clock=clock)
    assert done.reached and done.end_c == 41.5 and done.start_c == 50.0
    assert done.target_c == 40.0 + COOLDOWN_MARGIN_C and done.waited_s == 15
    assert done.warning(60) is None


def test_cool_down_stops_at_its_limit_and_says_the_model_ran_hot():
    clock = FakeClock()
    done = cool_down(lambda: 55.0, 40.0, 12, poll_seconds=5, sleep=clock.sleep, clock=clock)
    assert not done.reached and done.waited_s == 12, "the last sleep is cut to the limit"
    warning = done.warning(12)
    assert "did not cool to within 2 °C" in warning and "55.0 °C" in warning


def test_cool_down_never_waits_for_a_temperature_it_cannot_read():
    clock = FakeClock()
    done = cool_down(lambda: None, 40.0, 60, sleep=clock.sleep, clock=clock)
    assert not done.reached and done.waited_s == 0
    assert "could not be read" in done.warning(60)
    readings = iter([50.0, None])  # the device stops answering mid-wait
    lost = cool_down(lambda: next(readings), 40.0, 60, poll_seconds=5, sleep=clock.sleep, clock=clock)
    assert not lost.reached and lost.end_c is None and "could not be read" in lost.warning(60)


def test_thermal_zones_are_read_in_millidegrees_and_the_hottest_wins():
    assert parse_thermal_zones("41234\n55000\n") == 55.0
    assert parse_thermal_zones("") is None
    assert parse_thermal_zones("garbage\n") is None


def test_drift_compares_the_first_and_last_window_and_warns_past_ten_percent():
    windows = [
        {"start_s": 0, "count": 10, "mean_ms": 1.0, "p50_ms": 1.0, "max_temp_c": 40.0},
        {"start_s": 6, "count": 10, "mean_ms": 1.1, "p50_ms": 1.05, "max_temp_c": 50.0},
        {"start_s": 12, "count": 8, "mean_ms": 1.3, "p50_ms": 1.25, "max_temp_c": 61.5},
    ]
    summary = sustained_summary(windows, 18)
    assert summary["drift_pct"] == 25.0 and summary["drift_of"] == "p50_ms"
    assert summary["temperature_rise_c"] == 21.5
    assert "+25.0%" in drift_warning(summary) and "+21.5 °C" in drift_warning(summary)
    steady = sustained_summary([{**w, "p50_ms": 1.0} for w in windows], 18)
    assert steady["drift_pct"] == 0.0 and drift_warning(steady) is None
    # A 33.6% speed-up is no sign of throttling: the warning says the first windows were the slow ones.
    faster = sustained_summary([{**windows[0], "p50_ms": 1.506}, windows[1], {**windows[2], "p50_ms": 1.0}], 18)
    assert faster["drift_pct"] == -33.6
    assert "first windows were slower" in drift_warning(faster) and "not throttling" in drift_warning(faster)
    assert "does not hold its first-minute speed" not in drift_warning(faster)
    # A slow warm-up window first, the fastest in the middle, then 60% slower: throttling, whatever first-to-last
    # says (-20% here, which was called "not throttling").
    throttled = sustained_summary(
        [{**windows[0], "p50_ms": 10.0}, {**windows[1], "p50_ms": 5.0}, {**windows[2], "p50_ms": 8.0}], 18
    )
    assert throttled["drift_pct"] == -20.0
    assert "does not hold its first-minute speed" in drift_warning(throttled)
    assert "+60.0% on the fastest" in drift_warning(throttled) and "not throttling" not in drift_warning(throttled)


def test_consecutive_summaries_pool_to_the_statistics_of_all_runs():
    rng = np.random.default_rng(0)
    parts = [rng.normal(loc, 0.1, size) for loc, size in ((1.0, 50), (1.4, 30), (0.9, 70))]
    summaries = [
        {"count": len(p), "mean": p.mean(), "std": p.std(ddof=1), "min": p.min(), "max": p.max()} for p in parts
    ]
    pooled, every = combine_summaries(summaries), np.concatenate(parts)
    assert pooled["count"] == every.size
    assert pooled["mean"] == pytest.approx(every.mean())
    assert pooled["std"] == pytest.approx(every.std(ddof=1))
    assert (pooled["min"], pooled["max"]) == (every.min(), every.max())


def test_the_local_runner_reads_the_hottest_zone_through_the_shell(tmp_path):
    write_zone(tmp_path, 47.5, zone=0)
    write_zone(tmp_path, 52.25, zone=1)
    settings = BenchSettings(power_root=str(tmp_path))
    assert LocalRunner().temperature(get_profile("host").profile, settings) == 52.25
    assert (
        LocalRunner().temperature(get_profile("host").profile, BenchSettings(power_root=str(tmp_path / "none"))) is None
    )


def test_a_hot_device_is_left_to_cool_before_the_next_model(tmp_path):
    write_zone(tmp_path, 40.0)
    settings = BenchSettings(power_root=str(tmp_path), cooldown_seconds=30)
    heat = HeatWatch(get_profile("host").profile, settings, SILENT)
    assert heat.before_model(0) is None and heat.baseline == 40.0
    write_zone(tmp_path, 55.0)  # the first model heated the device
    cooler = threading.Timer(1.0, write_zone, (tmp_path, 41.0))
    cooler.start()
    try:
        began = time.monotonic()
        cooldown = heat.before_model(1)
    finally:
        cooler.cancel()
    assert cooldown.reached and cooldown.start_c == 55.0 and cooldown.end_c == 41.0
    assert 1.0 <= cooldown.waited_s <= 15 and time.monotonic() - began >= 1.0
    assert heat.warnings(cooldown) == []


def test_a_device_that_stays_hot_is_waited_for_at_most_the_limit_and_the_result_says_so(tmp_path):
    write_zone(tmp_path, 40.0)
    heat = HeatWatch(get_profile("host").profile, BenchSettings(power_root=str(tmp_path), cooldown_seconds=1), SILENT)
    heat.before_model(0)
    write_zone(tmp_path, 60.0)
    cooldown = heat.before_model(1)
    assert not cooldown.reached and cooldown.waited_s == pytest.approx(1.0, abs=0.5)
    assert "may be throttled" in heat.warnings(cooldown)[0]
    no_cooldown = HeatWatch(
        get_profile("host").profile, BenchSettings(power_root=str(tmp_path), cooldown_seconds=0), SILENT
    )
    assert no_cooldown.before_model(0) is None and no_cooldown.before_model(1) is None


def test_a_sustained_run_measures_for_its_time_in_ten_windows(int8_model_file, tmp_path):
    write_zone(tmp_path, 45.0)
    settings = BenchSettings(sustained_seconds=10, power_root=str(tmp_path))
    assert settings.timeout_seconds >= 310, "the runner's limit grows with the run"
    result = benchmark(int8_model_file, get_profile("host"), settings).as_dict()
    sustained = result["sustained"]
    assert sustained["seconds"] == 10 and len(sustained["windows"]) == 10
    assert [w["start_s"] for w in sustained["windows"]] == pytest.approx([float(i) for i in range(10)])
    assert all(w["count"] > 0 and w["p50_ms"] > 0 and w["max_temp_c"] == 45.0 for w in sustained["windows"])
    assert sum(w["count"] for w in sustained["windows"]) == result["runs"]
    assert result["environment"]["measured_seconds"] == pytest.approx(10, abs=0.5)
    assert sustained["drift_pct"] is not None and sustained["temperature_rise_c"] == 0.0


def test_a_sustained_run_over_adb_is_one_benchmark_model_run_per_window(stand_in_adb, int8_model_file):
    settings = BenchSettings(sustained_seconds=20, benchmark_binary="/data/local/tmp/benchmark_model")
    result = benchmark(int8_model_file, get_profile("pixel4"), settings).as_dict()
    runs = [c for c in stand_in_adb.calls() if c[0] == "shell" and "--graph" in c[1]]
    assert len(runs) == 10 and all("--min_secs=2.0" in c[1] and "--max_secs=2.0" in c[1] for c in runs)
    assert "--warmup_runs=10" in runs[0][1] and all("--warmup_runs=0" in c[1] for c in runs[1:])
    windows = result["sustained"]["windows"]
    assert len(windows) == 10 and all(w["max_temp_c"] == 25.6 for w in windows)
    assert result["runs"] == 10 * windows[0]["count"], "the summary pools every window's runs"


def test_bench_cli_sustained_prints_the_drift_and_rejects_bad_values(int8_model_file):
    ok = invoke("bench", str(int8_model_file), "--sustained", "10", "--json")
    assert ok.exit_code == 0, ok.stderr
    (result,) = json.loads(ok.stdout)
    assert len(result["sustained"]["windows"]) == 10
    for bad in ("5", "nan", "4000"):
        assert_clean_failure(invoke("bench", str(int8_model_file), "--sustained", bad), "--sustained")
    assert_clean_failure(invoke("bench", str(int8_model_file), "--cooldown", "-1"), "--cooldown")
    with pytest.raises(BenchSettingError):
        BenchSettings(cooldown_seconds=float("inf"))


def test_every_model_after_the_first_records_its_cool_down(int8_model_file, tmp_path):
    from edgekd.bench.stage import bench_stage

    write_zone(tmp_path, 40.0)
    settings = BenchSettings(runs=5, min_seconds=0, warmup=1, power_root=str(tmp_path), cooldown_seconds=5)
    first, second = bench_stage([("a", int8_model_file), ("b", int8_model_file)], ["host"], settings, SILENT)
    assert first.ok and first.cooldown is None, "the first model sets the baseline"
    assert second.ok and second.cooldown["reached"] and second.cooldown["target_c"] == 42.0
    assert second.as_dict()["cooldown"]["end_c"] == 40.0


def test_the_per_invoke_floor_is_an_ordinary_run_when_the_models_are_sustained(monkeypatch):
    from edgekd.bench import stage

    seen = []
    real = stage.benchmark

    def recording(path, entry, settings, **options):
        seen.append(settings)
        return real(path, entry, settings, **options)

    monkeypatch.setattr(stage, "benchmark", recording)
    floor = stage.invoke_overhead(get_profile("host"), BenchSettings(runs=5, min_seconds=0, sustained_seconds=600))
    assert floor is not None and seen[0].sustained_seconds is None
