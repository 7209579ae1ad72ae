"""LiteRT's `benchmark_model` tool (tensorflow/lite/tools/benchmark): its command line and its output.

It prints summary statistics in microseconds, not per-run samples: the last ``count=``
line is the measured runs (earlier ones are warm-up). Percentiles it does not print (p90,
p99) stay absent rather than being guessed.
"""

from __future__ import annotations

import re

from edgekd.bench.settings import BenchSettings
from edgekd.errors import BenchmarkError
from edgekd.profiles.schema import Delegate, DeviceProfile

_STATS = re.compile(r"count=(\d+)(.*)")
_FIELD = re.compile(r"(\w+)=([\d.]+)")

DELEGATE_FLAGS = {
    Delegate.XNNPACK: ["--use_xnnpack=true"],
    Delegate.GPU: ["--use_gpu=true"],
    Delegate.NNAPI: ["--use_nnapi=true"],
    Delegate.NONE: ["--use_xnnpack=false"],
}


def benchmark_command(binary: str, model: str, profile: DeviceProfile, settings: BenchSettings) -> list[str]:
    """The words of the benchmark_model command line on the device (before quoting)."""
    words = ["taskset", profile.runtime.cpu_affinity] if profile.runtime.cpu_affinity else []
    if binary.startswith("-"):
        binary = f"./{binary}"  # the same file, and taskset never reads it as an option
    delegate = profile.runtime.delegates[0] if profile.runtime.delegates else Delegate.XNNPACK
    if delegate not in DELEGATE_FLAGS:
        raise BenchmarkError(f"{profile.name}: benchmark_model has no flag for the {delegate.value} delegate")
    return [
        *words,
        binary,
        f"--graph={model}",
        f"--num_threads={settings.threads_for(profile)}",
        f"--num_runs={settings.runs}",
        f"--min_secs={settings.min_seconds}",
        f"--warmup_runs={settings.warmup}",
        "--report_peak_memory_footprint=true",
        *DELEGATE_FLAGS[delegate],
    ]


def parse_benchmark_model(output: str, device: str) -> dict:
    """A raw result in the runners' format, with ``summary_ms`` instead of ``latencies_ms``."""
    stats_lines = [m for m in (_STATS.search(line) for line in output.splitlines()) if m]
    if not stats_lines:
        tail = " ".join(output.strip().splitlines()[-2:])[:300] or "no output"
        raise BenchmarkError(f"{device}: benchmark_model printed no timing statistics: {tail}")
    fields = dict(_FIELD.findall(stats_lines[-1].group(0)))
    summary = {
        "count": int(fields["count"]),
        "mean": float(fields["avg"]) / 1e3,
        "std": float(fields.get("std", 0.0)) / 1e3,
        "min": float(fields["min"]) / 1e3,
        "max": float(fields["max"]) / 1e3,
        "p50": float(fields["median"]) / 1e3 if "median" in fields else None,
        "p5": float(fields["p5"]) / 1e3 if "p5" in fields else None,
        "p95": float(fields["p95"]) / 1e3 if "p95" in fields else None,
    }
    result = {"ok": True, "summary_ms": summary}
    timings = re.search(r"Inference timings in us: (.*)", output)
    if timings:
        values = dict(re.findall(r"([A-Za-z ()]+): ([\d.]+)", timings.group(1)))
        values = {key.strip(): float(value) for key, value in values.items()}
        result["init_ms"] = values.get("Init", 0.0) / 1e3 or None
        result["first_inference_ms"] = values.get("First inference", 0.0) / 1e3 or None
    peak = re.search(r"Overall peak memory footprint \(MB\) via periodic monitoring: ([\d.]+)", output)
    if peak:
        result["peak_rss_mb"] = float(peak.group(1))
    delta = re.search(
        r"Memory footprint delta from the start of the tool \(MB\): init=([\d.]+) overall=([\d.]+)", output
    )
    if delta:
        result["rss_before_load_mb"], result["rss_after_mb"] = 0.0, float(delta.group(2))
    return result
