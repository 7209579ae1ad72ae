"""Latency statistics from raw samples: pure arithmetic, tested without a device."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgekd.errors import BenchmarkError

# A run whose spread or tail exceeds these is flagged: the numbers may not be repeatable.
# Robust measures (quartiles, p99 against the median): at microsecond latencies a handful of
# scheduler hiccups dominate std and max without saying anything about the model.
WIDE_SPREAD_IQR_RATIO = 0.25
TAIL_P99_RATIO = 3.0


@dataclass(frozen=True)
class LatencyStats:
    count: int
    mean: float
    std: float
    min: float
    p50: float | None
    iqr: float | None
    p90: float | None
    p99: float | None
    max: float
    # Only from tools that report them instead of raw samples (LiteRT's benchmark_model).
    p5: float | None = None
    p95: float | None = None
    # Percentiles (and iqr) estimated from a uniform random sample of this many of the runs;
    # None when they rest on every run. count, mean, std, min and max are always over all runs.
    percentile_sample: int | None = None

    def as_dict(self) -> dict:
        return {
            key: (round(value, 6) if isinstance(value, float) else value)
            for key, value in asdict(self).items()
            if value is not None or key in ("p90", "p99")
        }


def latency_stats(samples_ms, summary: dict | None = None) -> LatencyStats:
    """Summarise per-run latencies (milliseconds).

    ``samples_ms`` holds every run's latency; or, when ``summary`` (the agent's exact count,
    mean, std, min and max over all runs) counts more runs than that, a uniform random sample
    of them. Then count, mean, std, min and max come from ``summary``, the percentiles are
    estimated from the sample, and ``percentile_sample`` says how many runs they rest on.
    """
    samples = np.asarray(samples_ms, dtype=np.float64)
    if samples.size == 0:
        raise BenchmarkError("no latency samples were recorded")
    if not np.all(np.isfinite(samples)) or np.any(samples < 0):
        raise BenchmarkError("latency samples contain negative, NaN or infinite values")
    p25, p50, p75, p90, p99 = np.percentile(samples, [25, 50, 75, 90, 99])
    exact = _over_all_runs(samples, summary)
    return LatencyStats(
        count=exact["count"],
        mean=exact["mean"],
        std=exact["std"],
        min=exact["min"],
        p50=float(p50),
        iqr=float(p75 - p25),
        p90=float(p90),
        p99=float(p99),
        max=exact["max"],
        percentile_sample=int(samples.size) if exact["count"] > samples.size else None,
    )


def _over_all_runs(samples: np.ndarray, summary: dict | None) -> dict:
    """Count, mean, std, min and max over all runs: from the samples when they are all of them, else the summary's."""
    if summary is None or summary.get("count") == samples.size:
        return {
            "count": int(samples.size),
            "mean": float(samples.mean()),
            "std": float(samples.std(ddof=1)) if samples.size > 1 else 0.0,
            "min": float(samples.min()),
            "max": float(samples.max()),
        }
    try:
        exact = {"count": int(summary["count"]), **{key: float(summary[key]) for key in ("mean", "std", "min", "max")}}
    except (KeyError, TypeError, ValueError):
        raise BenchmarkError(f"the agent's latency summary is malformed: {str(summary)[:200]}") from None
    consistent = (
        exact["count"] > samples.size
        and all(np.isfinite([exact["mean"], exact["std"], exact["min"], exact["max"]]))
        and exact["std"] >= 0
        and 0 <= exact["min"] <= samples.min()
        and exact["max"] >= samples.max()
    )
    if not consistent:
        raise BenchmarkError(
            f"the agent's latency summary ({exact['count']} runs, min {exact['min']}, max {exact['max']}) does not "
            f"fit its {samples.size} kept samples; rerun the benchmark"
        )
    return exact


def stats_from_summary(summary: dict) -> LatencyStats:
    """Statistics a tool reported itself (milliseconds); percentiles it did not report stay None."""
    if not summary.get("count"):
        raise BenchmarkError("the benchmark tool reported no measured runs")
    return LatencyStats(
        count=int(summary["count"]),
        mean=float(summary["mean"]),
        std=float(summary.get("std") or 0.0),
        min=float(summary["min"]),
        p50=summary.get("p50"),
        iqr=None,
        p90=None,
        p99=None,
        max=float(summary["max"]),
        p5=summary.get("p5"),
        p95=summary.get("p95"),
    )


def stability_warnings(stats: LatencyStats, requested_runs: int, stopped_early: bool) -> list[str]:
    """Plain-language caveats about a latency distribution."""
    warnings = []
    if stats.p50 and stats.iqr is not None and stats.iqr / stats.p50 > WIDE_SPREAD_IQR_RATIO:
        warnings.append(
            f"wide spread: the middle half of the runs spans {100 * stats.iqr / stats.p50:.0f}% of the median; "
            "close other programs or pin threads"
        )
    if stats.p50 and stats.p99 is not None and stats.p99 > TAIL_P99_RATIO * stats.p50:
        warnings.append(
            f"long tail: p99 {stats.p99:.4g} ms is {stats.p99 / stats.p50:.1f}x the median (max {stats.max:.4g} ms)"
        )
    if stopped_early or stats.count < requested_runs:
        warnings.append(f"only {stats.count} of {requested_runs} requested runs fit in the time limit")
    if stats.percentile_sample is not None:
        warnings.append(
            f"percentiles estimated from a uniform random sample of {stats.percentile_sample:,} of the "
            f"{stats.count:,} runs (count, mean, std, min and max are over all runs)"
        )
    return warnings


def thermal_warnings(thermal: dict | None) -> list[str]:
    """Throttling during or before the run, and a large temperature rise, as plain warnings."""
    if not thermal:
        return []
    warnings = []
    after = (thermal.get("after") or {}).get("throttled") or {}
    before = (thermal.get("before") or {}).get("throttled") or {}
    if after.get("now"):
        warnings.append(
            f"throttling now: {', '.join(after['now'])} (get_throttled {after.get('raw')}); results are slowed"
        )
    new = sorted(set(after.get("since_boot", [])) - set(before.get("since_boot", [])))
    if new:
        warnings.append(f"throttling occurred during the run: {', '.join(new)}")
    status_before = (thermal.get("before") or {}).get("android_status")
    status_after = (thermal.get("after") or {}).get("android_status")
    if status_after:
        name = (thermal.get("after") or {}).get("android_status_name", status_after)
        began = " (it rose during the run)" if status_before is not None and status_after > status_before else ""
        warnings.append(
            f"Android thermal status {name} ({status_after} of 6) after the run{began}; results may be throttled"
        )
    start, end = (thermal.get("before") or {}).get("max_temp_c"), (thermal.get("after") or {}).get("max_temp_c")
    if start is not None and end is not None and end - start > 10:
        warnings.append(
            f"the device heated from {start:.0f} to {end:.0f} C during the run; later runs may be throttled"
        )
    return warnings
