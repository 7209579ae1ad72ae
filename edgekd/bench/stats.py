"""Latency statistics from raw samples: pure arithmetic, tested without a device."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgekd.errors import BenchmarkError

# A run whose spread or tail exceeds these is flagged: the numbers may not be repeatable.
WIDE_SPREAD_CV = 0.25
TAIL_RATIO = 5.0


@dataclass(frozen=True)
class LatencyStats:
    count: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float

    def as_dict(self) -> dict:
        return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def latency_stats(samples_ms) -> LatencyStats:
    """Summarise per-run latencies (milliseconds)."""
    samples = np.asarray(samples_ms, dtype=np.float64)
    if samples.size == 0:
        raise BenchmarkError("no latency samples were recorded")
    if not np.all(np.isfinite(samples)) or np.any(samples < 0):
        raise BenchmarkError("latency samples contain negative, NaN or infinite values")
    p50, p90, p99 = np.percentile(samples, [50, 90, 99])
    return LatencyStats(
        count=int(samples.size),
        mean=float(samples.mean()),
        std=float(samples.std(ddof=1)) if samples.size > 1 else 0.0,
        min=float(samples.min()),
        p50=float(p50),
        p90=float(p90),
        p99=float(p99),
        max=float(samples.max()),
    )


def stability_warnings(stats: LatencyStats, requested_runs: int, stopped_early: bool) -> list[str]:
    """Plain-language caveats about a latency distribution."""
    warnings = []
    if stats.mean > 0 and stats.std / stats.mean > WIDE_SPREAD_CV:
        warnings.append(
            f"wide spread: std is {100 * stats.std / stats.mean:.0f}% of the mean; close other programs or pin threads"
        )
    if stats.mean > 0 and stats.max > TAIL_RATIO * stats.mean:
        warnings.append(f"long tail: max {stats.max:.3f} ms is {stats.max / stats.mean:.1f}x the mean")
    if stopped_early or stats.count < requested_runs:
        warnings.append(f"only {stats.count} of {requested_runs} requested runs fit in the time limit")
    return warnings
