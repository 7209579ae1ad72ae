"""What every runner shares: settings, the agent file, running it through a channel, its output; the local runner.

A runner moves a model to where it runs (through the device's channel, ``edgekd.transport``),
starts the agent, and returns its raw JSON; statistics and energy are computed elsewhere.
The registry is ``edgekd.bench.registry``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

from edgekd.bench.settings import BenchSettings
from edgekd.bench.thermal import THERMAL_ZONES_SCRIPT, parse_thermal_zones
from edgekd.errors import BenchmarkError, ConfigError
from edgekd.profiles.readers import AGENT_READERS
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import Channel, NoAnswer, TransportError, remote_command
from edgekd.transport.local import LocalChannel
from edgekd.validation import parse_json

AGENT = Path(__file__).with_name("agent.py")


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
