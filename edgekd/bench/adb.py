"""The adb runner: push the model and LiteRT's benchmark_model to an Android device and run it there.

The agent cannot run on a phone (no Python), so this runner drives the official
`benchmark_model` binary, pinned to the profile's CPUs with `taskset` (big.LITTLE scheduling
otherwise adds large variance), and parses its summary. Every word of the remote command
is quoted; the remote folder is always removed.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

from edgekd.bench.android import BATTERY, BatterySampler, parse_thermalservice
from edgekd.bench.benchmark_model import benchmark_command, parse_benchmark_model
from edgekd.bench.settings import MAX_MEASURED_SECONDS, BenchSettings
from edgekd.bench.thermal import SUSTAINED_WINDOWS, combine_summaries
from edgekd.errors import BenchmarkError
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.adb import AdbChannel
from edgekd.transport.channel import remote_command, removed_afterwards


class AdbRunner:
    """Benchmarks with LiteRT's benchmark_model in a temporary folder on the phone, which is removed after."""

    def __init__(self, executable: str = "adb"):
        self.executable = executable

    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict:
        if settings.inputs is not None:
            raise BenchmarkError(
                f"{profile.name}: on-device accuracy needs edgekd's agent, and the adb runner runs LiteRT's "
                "benchmark_model, which returns no outputs here; check accuracy on an SSH or local device"
            )
        binary = settings.benchmark_binary or profile.runtime.benchmark_binary
        if not binary:
            raise BenchmarkError(
                f"{profile.name}: no benchmark_model binary; set runtime.benchmark_binary in the profile or the "
                "benchmark_binary setting (LiteRT's Android build of tensorflow/lite/tools/benchmark)"
            )
        channel = AdbChannel.from_profile(profile, self.executable)
        folder = f"{channel.home}/edgekd-{secrets.token_hex(4)}"
        _shell(channel, "creating a temporary folder", "mkdir", "-p", folder)
        with removed_afterwards(channel, folder):
            binary = _installed_binary(channel, binary, folder)
            channel.send(Path(model_path), f"{folder}/model.tflite", Path(model_path).name)
            result = self._measure(channel, profile, settings, binary, f"{folder}/model.tflite")
            if settings.profile_ops:
                from edgekd.bench.op_profile import profile_ops

                result["op_profile"] = profile_ops(channel, binary, f"{folder}/model.tflite", profile, settings)
        result["environment"] = {
            "runtime": "benchmark_model",
            "runtime_version": None,
            "threads": settings.threads_for(profile),
            "affinity": profile.runtime.cpu_affinity,
            "delegate": profile.runtime.delegates[0].value if profile.runtime.delegates else None,
            "serial": profile.transport.serial,
        }
        return result

    def _measure(
        self, channel: AdbChannel, profile: DeviceProfile, settings: BenchSettings, binary: str, model: str
    ) -> dict:
        """benchmark_model's parsed summary, with the battery's power during the runs and the thermal state around them."""
        thermal_before = _thermal(channel)
        sampler = _battery_sampler(channel, profile)
        if sampler is not None:
            sampler.start()
        try:
            if settings.sustained_seconds is not None:
                result = self._sustained(channel, profile, settings, binary, model)
            else:
                command = benchmark_command(binary, model, profile, settings)
                output = _shell(channel, "running benchmark_model", *command, timeout=settings.timeout_seconds)
                result = parse_benchmark_model(output, profile.name)
        finally:
            power = sampler.stop() if sampler is not None else None
        if power is not None:
            result["power"] = power
        if thermal_before is not None:
            result["thermal"] = {"before": thermal_before, "after": _thermal(channel)}
        return result

    def _sustained(
        self, channel: AdbChannel, profile: DeviceProfile, settings: BenchSettings, binary: str, model: str
    ) -> dict:
        """A sustained run as back-to-back benchmark_model runs, one per window, the phone's temperature after each.

        benchmark_model reports one summary per run, so each window is a run of its own; the
        gap between them is a process start, short against a window.
        """
        window = settings.window_seconds
        windows, summaries, first = [], [], None
        for index in range(SUSTAINED_WINDOWS):
            # Warm-up once, before the first window; every later window continues the load.
            each = replace(
                settings, runs=1, min_seconds=min(window, MAX_MEASURED_SECONDS), warmup=0 if index else settings.warmup
            )
            command = [*benchmark_command(binary, model, profile, each), f"--max_secs={window}"]
            output = _shell(channel, "running benchmark_model", *command, timeout=window + 120)
            parsed = parse_benchmark_model(output, profile.name)
            first = first or parsed
            summary = parsed["summary_ms"]
            summaries.append(summary)
            thermal = _thermal(channel)
            windows.append(
                {
                    "start_s": round(index * window, 3),
                    "count": summary["count"],
                    "mean_ms": summary["mean"],
                    "p50_ms": summary.get("p50"),
                    "max_temp_c": thermal.get("max_temp_c") if thermal else None,
                }
            )
        return {**first, "summary_ms": combine_summaries(summaries), "windows": windows}

    def temperature(self, profile: DeviceProfile, settings: BenchSettings) -> float | None:
        reading = _thermal(AdbChannel.from_profile(profile, self.executable))
        return reading.get("max_temp_c") if reading else None

    def probe(self, profile: DeviceProfile) -> dict:
        """Reach the phone and report its model, Android release and ABI (`edgekd devices check`)."""
        channel = AdbChannel.from_profile(profile, self.executable)

        def prop(name: str) -> str:
            return _shell(channel, f"reading {name}", "getprop", name).strip()

        model, release, abi = prop("ro.product.model"), prop("ro.build.version.release"), prop("ro.product.cpu.abi")
        return {
            "ok": True,
            "environment": {
                "runtime": "benchmark_model",
                "runtime_version": None,
                "python": None,
                "numpy_version": None,
                "machine": abi,
                "system": f"Android {release}",
                "release": model,
                "cpu_count": None,
            },
        }


def _shell(channel: AdbChannel, what: str, *words: str, timeout: float = 60) -> str:
    """What the command of ``words`` printed (stdout, then stderr: benchmark_model reports on stderr)."""
    answer = channel.run_checked(remote_command(*words), what, timeout)
    return answer.stdout + answer.stderr


def _installed_binary(channel: AdbChannel, binary: str, folder: str) -> str:
    """benchmark_model's path on the phone: a local file is pushed into ``folder`` first, else it is already there."""
    if not Path(binary).is_file():
        return binary
    channel.send(Path(binary), f"{folder}/benchmark_model", "benchmark_model")
    _shell(channel, "making benchmark_model executable", "chmod", "755", f"{folder}/benchmark_model")
    return f"{folder}/benchmark_model"


def _thermal(channel: AdbChannel) -> dict | None:
    """``dumpsys thermalservice`` (Android 10+); None when the phone does not answer it."""
    try:
        reading = parse_thermalservice(
            _shell(channel, "reading the thermal state", "dumpsys", "thermalservice", timeout=20)
        )
    except BenchmarkError:
        return None
    return reading if reading.get("android_status") is not None or reading.get("max_temp_c") is not None else None


def _battery_sampler(channel: AdbChannel, profile: DeviceProfile) -> BatterySampler | _FailedSampler | None:
    """A sampler of the battery during the runs, or None when the profile reads power otherwise.

    A charging phone's battery current is net of the charger, so it measures nothing: the
    sampler is then replaced by the reason.
    """
    if profile.power.reader != "android_battery":
        return None
    try:
        status = _shell(channel, "reading the battery status", "cat", f"{BATTERY}/status", timeout=10).strip()
    except BenchmarkError as exc:
        return _FailedSampler(f"cannot read {BATTERY}/status: {exc}")
    if status.lower() in ("charging", "full"):
        return _FailedSampler(
            f"the phone is {status.lower()}, so its battery current is not its power draw; "
            "use adb over Wi-Fi (adb tcpip) and unplug USB power to measure"
        )
    return BatterySampler(
        lambda: _shell(
            channel, "reading the battery", "cat", f"{BATTERY}/current_now", f"{BATTERY}/voltage_now", timeout=10
        )
    )


class _FailedSampler:
    """Stands in for a sampler that could not start: reports why there is no measurement."""

    def __init__(self, reason: str):
        self.reason = reason

    def start(self) -> None:
        pass

    def stop(self) -> dict:
        return {"reader": "android_battery", "error": self.reason}
