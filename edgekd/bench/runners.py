"""What every runner shares: settings, the agent file, running it through a channel, its output; the local runner.

A runner moves a model to where it runs (through the device's channel, ``edgekd.transport``),
starts the agent, and returns its raw JSON; statistics and energy are computed elsewhere.
The registry is ``edgekd.bench.registry``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Protocol

from edgekd.bench.thermal import DEFAULT_COOLDOWN_SECONDS, SUSTAINED_WINDOWS, THERMAL_ZONES_SCRIPT, parse_thermal_zones
from edgekd.errors import BenchmarkError, ConfigError
from edgekd.profiles.readers import AGENT_READERS
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import Channel, NoAnswer, TransportError, remote_command
from edgekd.transport.local import LocalChannel
from edgekd.validation import parse_json

AGENT = Path(__file__).with_name("agent.py")

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


def agent_arguments(profile: DeviceProfile, settings: BenchSettings) -> list[str]:
    """The agent's options for a benchmark on ``profile`` (the model path goes before them)."""
    if settings.sustained_seconds is not None:
        seconds = str(settings.sustained_seconds)
        measuring = ["--runs", "1", "--min-seconds", seconds, "--max-seconds", seconds]
        measuring += ["--window-seconds", str(settings.window_seconds)]
    else:
        measuring = ["--runs", str(settings.runs), "--min-seconds", str(settings.min_seconds)]
    arguments = [
        *measuring,
        "--warmup",
        str(settings.warmup),
        "--threads",
        str(settings.threads_for(profile)),
    ]
    delegate = profile.runtime.delegates[0].value if profile.runtime.delegates else "xnnpack"
    arguments += ["--delegate", delegate]
    if profile.runtime.delegate_library:
        # One word with '=': the agent's parser never takes the profile's value for an option.
        arguments.append(f"--delegate-library={profile.runtime.delegate_library}")
    if profile.runtime.allow_cpu_fallback:
        arguments.append("--allow-fallback")
    if profile.power.reader in AGENT_READERS:
        arguments += ["--power-reader", profile.power.reader, "--power-root", settings.power_root]
    return arguments


class Runner(Protocol):
    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict: ...

    def probe(self, profile: DeviceProfile) -> dict: ...

    def temperature(self, profile: DeviceProfile, settings: BenchSettings) -> float | None:
        """The device's hottest thermal zone in °C now, or None when it cannot be read (no cool-down then)."""
        ...


def zone_temperature(channel: Channel, power_root: str) -> float | None:
    """The hottest ``/sys/class/thermal`` zone through the device's own shell; None if there is none or no answer."""
    try:
        answer = channel.run(remote_command("sh", "-c", THERMAL_ZONES_SCRIPT, power_root), 20)
    except (NoAnswer, TransportError, OSError):
        return None
    return parse_thermal_zones(answer.stdout)


class LocalRunner:
    """Runs the agent in a child process on this machine.

    A child process isolates the measurement from edgekd's own memory and threads (and a
    crash in the native interpreter from edgekd itself).
    """

    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict:
        binary = settings.benchmark_binary or profile.runtime.benchmark_binary
        check_local_profile_files(profile, binary if settings.profile_ops and not settings.benchmark_binary else None)
        # Absolute: a file named "-x.tflite" is never read as one of the agent's options.
        arguments = [str(Path(model_path).absolute()), *agent_arguments(profile, settings)]
        if settings.inputs is not None:
            arguments += ["--inputs", str(Path(settings.inputs).absolute())]
        channel = LocalChannel.from_profile(profile)
        result = run_agent(channel, local_python(profile), str(AGENT), arguments, settings.timeout_seconds)
        if settings.profile_ops:
            from edgekd.bench.op_profile import profile_ops

            result["op_profile"] = profile_ops(channel, binary, str(Path(model_path).absolute()), profile, settings)
        return result

    def probe(self, profile: DeviceProfile) -> dict:
        return run_agent(LocalChannel.from_profile(profile), local_python(profile), str(AGENT), ["--probe"], 60)

    def temperature(self, profile: DeviceProfile, settings: BenchSettings) -> float | None:
        return zone_temperature(LocalChannel.from_profile(profile), settings.power_root)


def check_local_profile_files(profile: DeviceProfile, binary: str | None = None) -> None:
    """On this machine a profile names only what is installed here (a library or program by its bare name,
    found on the system's paths), never a file path: dlopen runs a library's constructors, so a profile
    naming `./evil.so` beside it ran that code in the agent. A program of one's own is given on the command
    line (`benchmark_binary`), a library through the library path (LD_LIBRARY_PATH)."""
    for field, value in (
        ("runtime.delegate_library", profile.runtime.delegate_library),
        ("runtime.benchmark_binary", binary),
    ):
        if value and "/" in value:
            raise ConfigError(
                f"profile {profile.name}: {field} {value!r} is a file path, and on this machine edgekd runs only what "
                "is installed (a bare name found on the library path or PATH): a profile's own file would be its "
                "code; give the library's name (e.g. libedgetpu.so.1) with its folder on LD_LIBRARY_PATH, or the "
                "program with `benchmark_binary`"
            )


def local_python(profile: DeviceProfile) -> str:
    """The Python that runs the agent here: edgekd's own, or an emulated board's (``emulation``) once it is built."""
    if profile.emulation is not None:
        from edgekd.profiles.emulated import emulated_python

        return str(emulated_python(profile.emulation.of))
    return sys.executable


def run_agent(channel: Channel, python: str, agent: str, arguments: list[str], timeout: float) -> dict:
    """Run the agent (already at ``agent`` on the device) with ``python`` and return its JSON document."""
    try:
        answer = channel.run(remote_command(python, agent, *arguments), timeout)
    except NoAnswer:
        raise BenchmarkError(
            f"{channel.device}: the agent gave no answer within {timeout:.0f} s; the device may be hung or "
            "overloaded, or the settings ask for more than fits (lower runs or min_seconds)"
        ) from None
    if answer.returncode == 127 or "not found" in answer.stderr and not answer.stdout:
        raise BenchmarkError(
            f"{channel.device}: {python!r} was not found on the device; set runtime.python in its profile"
        )
    return parse_agent_output(answer.stdout, answer.stderr, answer.returncode, channel.device)


def parse_agent_output(stdout: str, stderr: str, returncode: int, device: str) -> dict:
    """The agent's JSON document (its last stdout line), or a ``BenchmarkError`` saying why not."""
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        tail = " ".join(stderr.strip().splitlines()[-2:])[:300] or f"exit status {returncode}"
        raise BenchmarkError(f"the benchmark agent on {device} produced no result: {tail}")
    # A device's answer is read like any file from outside: nested too deep or not an object, it is malformed.
    document = parse_json(lines[-1], f"the benchmark agent's answer on {device}", BenchmarkError, "a benchmark result")
    if not isinstance(document, dict):
        raise BenchmarkError(f"the benchmark agent on {device} printed malformed JSON (not an object)")
    if not document.get("ok"):
        raise BenchmarkError(f"{device}: {document.get('error', 'the agent failed without a reason')}")
    return document
