"""Heat between and during benchmarks: cooling down between models, and a sustained run's drift.

A phone or a fanless board that has just run one model starts the next one hotter, and a
hot SoC lowers its clocks; the second model then looks slower than it is. So before each
model after the first, a device is left to cool until its hottest zone is back within
``COOLDOWN_MARGIN_C`` of where the first model started, for at most the cool-down limit;
the wait and whether it was reached are recorded with the result. A device whose temperature
cannot be read is not waited for, and the result says so.

A sustained run measures for a long, fixed time and reports how the latency moved from its
first window to its last, with the temperature beside it: throttling shows as drift.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

COOLDOWN_MARGIN_C = 2.0
DEFAULT_COOLDOWN_SECONDS = 120.0
POLL_SECONDS = 5.0
# A sustained run is cut into this many windows; the drift compares the first with the last.
SUSTAINED_WINDOWS = 10
# Drift beyond this (in either direction) gets a warning: the run did not hold a steady state.
DRIFT_WARNING_PCT = 10.0


def parse_thermal_zones(text: str) -> float | None:
    """The hottest of the millidegree readings ``cat /sys/class/thermal/thermal_zone*/temp`` printed, in °C."""
    readings = []
    for word in text.split():
        try:
            readings.append(int(word) / 1000.0)
        except ValueError:
            continue
    return max(readings) if readings else None


# Reads every zone through the device's own shell; "$0" is the sysfs root (tests point it at a fake tree).
THERMAL_ZONES_SCRIPT = 'cat "$0"/sys/class/thermal/thermal_zone*/temp 2>/dev/null; true'


@dataclass(frozen=True)
class Cooldown:
    """One wait before a model: the target, the temperatures at the start and end of it, how long, and whether reached."""

    target_c: float
    start_c: float | None
    end_c: float | None
    waited_s: float
    reached: bool

    def as_dict(self) -> dict:
        return {
            "target_c": round(self.target_c, 2),
            "start_c": self.start_c,
            "end_c": self.end_c,
            "waited_s": round(self.waited_s, 1),
            "reached": self.reached,
            "margin_c": COOLDOWN_MARGIN_C,
        }

    def warning(self, limit_seconds: float) -> str | None:
        if self.reached:
            return None
        if self.end_c is None:
            return "the device's temperature could not be read during the cool-down, so this model may have run hot"
        return (
            f"the device did not cool to within {COOLDOWN_MARGIN_C:g} °C of where the first model started "
            f"({self.target_c - COOLDOWN_MARGIN_C:.1f} °C) in {limit_seconds:g} s: it ran this model at "
            f"{self.end_c:.1f} °C, so its latency may be throttled (raise --cooldown or let it rest)"
        )


def cool_down(
    read: Callable[[], float | None],
    baseline_c: float,
    limit_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Cooldown:
    """Wait (polling ``read``) until the temperature is within the margin of ``baseline_c``, or ``limit_seconds`` pass."""
    target = baseline_c + COOLDOWN_MARGIN_C
    began = clock()
    start = current = read()
    while current is not None and current > target and clock() - began < limit_seconds:
        sleep(min(poll_seconds, max(0.0, limit_seconds - (clock() - began))))
        current = read()
    reached = current is not None and current <= target
    return Cooldown(target, start, current, clock() - began, reached)


def sustained_summary(windows: list[dict], seconds: float) -> dict:
    """A sustained run's windows, with the drift of latency (first to last window) and the temperature rise."""
    summary: dict = {"seconds": seconds, "windows": windows, "drift_pct": None, "temperature_rise_c": None}
    if len(windows) < 2:
        return summary
    first, last = windows[0], windows[-1]
    key = "p50_ms" if first.get("p50_ms") is not None and last.get("p50_ms") is not None else "mean_ms"
    if first.get(key):
        summary["drift_pct"] = round(100.0 * (last[key] / first[key] - 1.0), 2)
        summary["drift_of"] = key
    if first.get("max_temp_c") is not None and last.get("max_temp_c") is not None:
        summary["temperature_rise_c"] = round(last["max_temp_c"] - first["max_temp_c"], 2)
    return summary


def drift_warning(summary: dict) -> str | None:
    drift = summary.get("drift_pct")
    if drift is None:
        return None
    rise = summary.get("temperature_rise_c")
    heat = f" while the hottest zone rose {rise:+.1f} °C" if rise is not None else ""
    moved = (
        f"latency drifted {drift:+.1f}% from the first to the last window of the {summary['seconds']:g} s sustained run"
    )
    slowed = _slowdown_from_fastest(summary)
    if drift > DRIFT_WARNING_PCT or (slowed is not None and slowed > DRIFT_WARNING_PCT):
        # A slow first window (warm-up) hides throttling from first-to-last: the fastest window shows it.
        since = (
            f", and the last window is {slowed:+.1f}% on the fastest" if slowed is not None and slowed > drift else ""
        )
        return f"{moved}{since}{heat}: the device does not hold its first-minute speed (throttling or background load)"
    if drift < -DRIFT_WARNING_PCT:
        # Faster at the end, and as fast as it ever was: the first windows were the slow ones.
        return (
            f"{moved}{heat}: the first windows were slower (a cold cache, a CPU governor raising its clock, or "
            "background load early on), not throttling; quote the later windows, and warm up longer (`warmup`)"
        )
    return None


def _slowdown_from_fastest(summary: dict) -> float | None:
    """How much slower (%) the last window is than the fastest one, by the key the drift was read on."""
    key = summary.get("drift_of")
    values = [w.get(key) for w in summary.get("windows") or [] if isinstance(w, dict)]
    if not key or len(values) < 2 or not all(isinstance(v, int | float) and v > 0 for v in values):
        return None
    return round(100.0 * (values[-1] / min(values) - 1.0), 2)


def combine_summaries(summaries: list[dict]) -> dict:
    """One latency summary (count, mean, std, min, max) from consecutive runs' summaries; percentiles are not pooled."""
    count = sum(s["count"] for s in summaries)
    mean = sum(s["count"] * s["mean"] for s in summaries) / count
    # Pooled variance: each run's own spread plus how far its mean sits from the overall one.
    squares = sum(
        (s["count"] - 1) * (s.get("std") or 0.0) ** 2 + s["count"] * (s["mean"] - mean) ** 2 for s in summaries
    )
    return {
        "count": count,
        "mean": mean,
        "std": (squares / (count - 1)) ** 0.5 if count > 1 else 0.0,
        "min": min(s["min"] for s in summaries),
        "max": max(s["max"] for s in summaries),
        "p50": None,
        "p5": None,
        "p95": None,
    }
