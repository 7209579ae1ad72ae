"""The adb runner: push the model and LiteRT's benchmark_model to an Android device and run it there.

The agent cannot run on a phone (no Python), so this runner drives the official
`benchmark_model` binary, pinned to the profile's CPUs with `taskset` (big.LITTLE scheduling
otherwise adds large variance), and parses its summary. Every word of the remote command
is quoted; the remote folder is always removed.
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import subprocess
from pathlib import Path

from edgekd.bench.android import BATTERY, BatterySampler, parse_thermalservice
from edgekd.bench.benchmark_model import parse_benchmark_model
from edgekd.bench.runners import BenchSettings
from edgekd.errors import BenchmarkError
from edgekd.profiles.schema import Delegate, DeviceProfile

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


def run_adb(
    executable: str, device: str, serial: str | None, args: list[str], timeout: float
) -> subprocess.CompletedProcess:
    """One adb call on the device with ``serial``; a missing adb or a silent device is a BenchmarkError."""
    if shutil.which(executable) is None:
        raise BenchmarkError("adb is not installed; install it (Debian: apt-get install adb) and enable USB debugging")
    prefix = ["-s", serial] if serial else []
    try:
        return subprocess.run(  # noqa: S603 - argv list, no shell; remote commands are quoted word by word
            [executable, *prefix, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{device}: adb {args[0]} gave no answer within {timeout:.0f} s") from None


class AdbRunner:
    def __init__(self, executable: str = "adb"):
        self.executable = executable

    def _adb(self, profile: DeviceProfile, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        completed = run_adb(self.executable, profile.name, profile.transport.serial, list(args), timeout)
        text = (completed.stdout + completed.stderr).lower()
        if (
            completed.returncode != 0
            or "no devices/emulators found" in text
            or "not found" in text
            and "device" in text
        ):
            detail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BenchmarkError(f"{profile.name}: adb {args[0]} failed: {detail[0][:200]}")
        return completed

    def _shell(self, profile: DeviceProfile, *words: str, timeout: float = 60) -> str:
        completed = self._adb(profile, "shell", " ".join(shlex.quote(w) for w in words), timeout=timeout)
        return completed.stdout + completed.stderr

    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict:
        binary = settings.benchmark_binary or profile.runtime.benchmark_binary
        if not binary:
            raise BenchmarkError(
                f"{profile.name}: no benchmark_model binary; set runtime.benchmark_binary in the profile or pass "
                "--benchmark-binary (LiteRT's Android build of tensorflow/lite/tools/benchmark)"
            )
        folder = f"/data/local/tmp/edgekd-{secrets.token_hex(4)}"
        self._shell(profile, "mkdir", "-p", folder)
        try:
            # Local files go by absolute path: a name starting with '-' is never read as an adb option.
            if Path(binary).is_file():
                self._adb(profile, "push", str(Path(binary).absolute()), f"{folder}/benchmark_model", timeout=300)
                self._shell(profile, "chmod", "755", f"{folder}/benchmark_model")
                binary = f"{folder}/benchmark_model"
            self._adb(profile, "push", str(Path(model_path).absolute()), f"{folder}/model.tflite", timeout=300)
            thermal_before = self._thermal(profile)
            sampler = self._battery_sampler(profile)
            if sampler is not None:
                sampler.start()
            try:
                output = self._shell(
                    profile,
                    *benchmark_command(binary, f"{folder}/model.tflite", profile, settings),
                    timeout=settings.timeout_seconds,
                )
            finally:
                power = sampler.stop() if sampler is not None else None
            result = parse_benchmark_model(output, profile.name)
            if power is not None:
                result["power"] = power
            if thermal_before is not None:
                result["thermal"] = {"before": thermal_before, "after": self._thermal(profile)}
            result["environment"] = {
                "runtime": "benchmark_model",
                "runtime_version": None,
                "threads": settings.threads_for(profile),
                "affinity": profile.runtime.cpu_affinity,
                "delegate": profile.runtime.delegates[0].value if profile.runtime.delegates else None,
                "serial": profile.transport.serial,
            }
            return result
        finally:
            try:
                self._shell(profile, "rm", "-rf", folder)
            except BenchmarkError:
                pass

    def _battery_sampler(self, profile: DeviceProfile) -> BatterySampler | None:
        """A sampler of the battery during the runs, or None when the profile reads power otherwise.

        A charging phone's battery current is net of the charger, so it measures nothing: the
        sampler is then replaced by the reason.
        """
        if profile.power.reader != "android_battery":
            return None
        try:
            status = self._shell(profile, "cat", f"{BATTERY}/status", timeout=10).strip()
        except BenchmarkError as exc:
            return _FailedSampler(f"cannot read {BATTERY}/status: {exc}")
        if status.lower() in ("charging", "full"):
            return _FailedSampler(
                f"the phone is {status.lower()}, so its battery current is not its power draw; "
                "use adb over Wi-Fi (adb tcpip) and unplug USB power to measure"
            )
        return BatterySampler(
            lambda: self._shell(profile, "cat", f"{BATTERY}/current_now", f"{BATTERY}/voltage_now", timeout=10)
        )

    def _thermal(self, profile: DeviceProfile) -> dict | None:
        """``dumpsys thermalservice`` (Android 10+); None when the phone does not answer it."""
        try:
            reading = parse_thermalservice(self._shell(profile, "dumpsys", "thermalservice", timeout=20))
        except BenchmarkError:
            return None
        return reading if reading.get("android_status") is not None or reading.get("max_temp_c") is not None else None

    def probe(self, profile: DeviceProfile) -> dict:
        model = self._shell(profile, "getprop", "ro.product.model").strip()
        release = self._shell(profile, "getprop", "ro.build.version.release").strip()
        abi = self._shell(profile, "getprop", "ro.product.cpu.abi").strip()
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


class _FailedSampler:
    """Stands in for a sampler that could not start: reports why there is no measurement."""

    def __init__(self, reason: str):
        self.reason = reason

    def start(self) -> None:
        pass

    def stop(self) -> dict:
        return {"reader": "android_battery", "error": self.reason}
