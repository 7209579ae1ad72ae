"""How a benchmark measures (``BenchSettings``) and each setting's rule, checked wherever the numbers come from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

from edgekd.bench.thermal import DEFAULT_COOLDOWN_SECONDS, SUSTAINED_WINDOWS
from edgekd.errors import ConfigError
from edgekd.profiles.schema import DeviceProfile

# The agent stops measuring after this long (its --max-seconds) whatever the minimum asks,
# which keeps loading, warm-up and measuring inside the runners' 600 s limit.
MAX_MEASURED_SECONDS = 300.0
# A sustained run (--sustained) measures for a fixed time, cut into windows; its runner's limit grows with it.
MIN_SUSTAINED, MAX_SUSTAINED = 10.0, 3600.0
MAX_COOLDOWN = 1800.0
# Time a runner is given beyond a sustained run's measuring: upload, loading, warm-up, reading back.
SUSTAINED_MARGIN_SECONDS = 300.0


class BenchSettingError(ConfigError):
    """A benchmark setting outside its rule; ``setting`` is the library's name (the CLI shows its flag)."""

    def __init__(self, setting: str, value, rule: str):
        super().__init__(f"bench setting {setting}={value!r}: {rule}")
        self.setting, self.value, self.rule = setting, value, rule


def _whole(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) and int(value) == value


# Each setting's rule, where the numbers come from (flags, a config, a Python caller): (accepts, rule text).
BENCH_RULES = {
    "runs": (lambda v: _whole(v) and v >= 1, "must be a whole number of at least 1"),
    "min_seconds": (
        lambda v: isinstance(v, Real) and math.isfinite(v) and 0 <= v <= MAX_MEASURED_SECONDS,
        f"must be a number of seconds from 0 to {MAX_MEASURED_SECONDS:g} (the agent stops measuring after "
        f"{MAX_MEASURED_SECONDS:g} s)",
    ),
    "warmup": (lambda v: _whole(v) and v >= 0, "must be a whole number, 0 or more"),
    "threads": (
        lambda v: v is None or (_whole(v) and v >= 1),
        "must be a whole number of at least 1 (leave it unset for the profile's default)",
    ),
    "sustained_seconds": (
        lambda v: v is None or (isinstance(v, Real) and math.isfinite(v) and MIN_SUSTAINED <= v <= MAX_SUSTAINED),
        f"must be a number of seconds from {MIN_SUSTAINED:g} to {MAX_SUSTAINED:g}",
    ),
    "cooldown_seconds": (
        lambda v: isinstance(v, Real) and math.isfinite(v) and 0 <= v <= MAX_COOLDOWN,
        f"must be a number of seconds from 0 (no cool-down) to {MAX_COOLDOWN:g}",
    ),
}


def check_bench_setting(setting: str, value) -> None:
    """Raise ``BenchSettingError`` if ``value`` breaks the rule of ``setting`` (a key of ``BENCH_RULES``)."""
    accepts, rule = BENCH_RULES[setting]
    if not accepts(value):
        raise BenchSettingError(setting, value, rule)


@dataclass(frozen=True)
class BenchSettings:
    """How long and how to measure; the numbers are checked against ``BENCH_RULES`` when the object is made."""

    runs: int = 100
    min_seconds: float = 1.0
    warmup: int = 10
    threads: int | None = None  # None: the profile's default
    timeout_seconds: float = 600.0
    # Root of the sysfs tree the agent's power reader reads ("/" on a real device; tests use a fake tree).
    power_root: str = "/"
    # LiteRT's benchmark_model for adb devices (a local file to push, or a path on the device).
    benchmark_binary: str | None = None
    # An .npy of raw input samples (local): the agent returns the model's outputs for each (on-device accuracy).
    inputs: Path | None = None
    # A per-op profile from LiteRT's benchmark_model (--enable_op_profiling), in a separate short run.
    profile_ops: bool = False
    # Measure for this long instead (runs and min_seconds aside), in windows: latency drift under sustained load.
    sustained_seconds: float | None = None
    # Before each model after the first on a device, wait at most this long for it to cool (0: never wait).
    cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS

    def __post_init__(self) -> None:
        for setting in BENCH_RULES:
            check_bench_setting(setting, getattr(self, setting))
        if not (
            isinstance(self.timeout_seconds, Real) and math.isfinite(self.timeout_seconds) and self.timeout_seconds > 0
        ):
            raise BenchSettingError("timeout_seconds", self.timeout_seconds, "must be a positive number of seconds")
        if (
            self.sustained_seconds is not None
            and self.timeout_seconds < self.sustained_seconds + SUSTAINED_MARGIN_SECONDS
        ):
            object.__setattr__(self, "timeout_seconds", self.sustained_seconds + SUSTAINED_MARGIN_SECONDS)

    @property
    def window_seconds(self) -> float | None:
        """A sustained run's window length, or None for an ordinary run."""
        return None if self.sustained_seconds is None else self.sustained_seconds / SUSTAINED_WINDOWS

    def threads_for(self, profile: DeviceProfile) -> int:
        return self.threads or profile.runtime.default_threads
