"""Benchmark a .tflite on a device: runner → raw samples → statistics, energy and caveats."""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgekd.bench.accuracy import AccuracyData, DeviceAccuracy, compare_outputs, decode_outputs, host_outputs
from edgekd.bench.delegates import delegate_warnings
from edgekd.bench.energy import energy_per_inference
from edgekd.bench.meter import mean_power
from edgekd.bench.overhead import InvokeOverhead
from edgekd.bench.registry import get_runner
from edgekd.bench.settings import BenchSettings
from edgekd.bench.stats import LatencyStats, latency_stats, stability_warnings, stats_from_summary, thermal_warnings
from edgekd.bench.thermal import drift_warning, sustained_summary
from edgekd.errors import BenchmarkError
from edgekd.inputs import read_regular_file
from edgekd.modelfile.inspect import ModelReport
from edgekd.profiles.compatibility import check_device_can_run
from edgekd.profiles.loader import ProfileEntry
from edgekd.profiles.schema import Delegate, DeviceProfile


@dataclass
class BenchmarkResult:
    model: str
    device: str
    runner: str
    ok: bool
    path: str
    size_bytes: int
    requested_runs: int
    latency: LatencyStats | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    peak_memory_mb: float | None = None
    memory_delta_mb: float | None = None
    energy: dict | None = None
    environment: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    # On-device accuracy against the host's LiteRT, when accuracy inputs travelled with the model.
    accuracy: DeviceAccuracy | None = None
    # The board an emulated device stands for: its latency is the emulator's, never that board's.
    emulated_of: str | None = None
    # The per-invoke floor on this device, from a one-op model benchmarked in the same session.
    overhead: InvokeOverhead | None = None
    # Time by op type and what the delegate took (benchmark_model's op profiling), or why there is none.
    op_profile: dict | None = None
    # A sustained run's windows and drift (``--sustained``), and the cool-down waited before this model.
    sustained: dict | None = None
    cooldown: dict | None = None
    started: float | None = None  # unix time, for ordering and overlap across devices
    finished: float | None = None

    @property
    def latency_ms(self) -> dict | None:
        """The latency statistics in milliseconds, as results.json holds them (``latency_ms["p50"]``)."""
        return self.latency.as_dict() if self.latency is not None else None

    def as_dict(self) -> dict:
        document = {
            "model": self.model,
            "device": self.device,
            "runner": self.runner,
            "ok": self.ok,
            "path": self.path,
            "size_bytes": self.size_bytes,
            "requested_runs": self.requested_runs,
        }
        if self.latency is not None:
            document["runs"] = self.latency.count
            document["latency_ms"] = self.latency.as_dict()
            document["latency_source"] = _latency_source(self)
        document.update(
            init_ms=_round(self.init_ms),
            first_inference_ms=_round(self.first_inference_ms),
            peak_memory_mb=_round(self.peak_memory_mb),
            memory_delta_mb=_round(self.memory_delta_mb),
            energy=self.energy,
            environment=self.environment,
            warnings=self.warnings,
        )
        if self.accuracy is not None:
            document["accuracy"] = self.accuracy.as_dict()
        if self.emulated_of is not None:
            document["emulated_of"] = self.emulated_of
        if self.op_profile is not None:
            document["op_profile"] = self.op_profile
        if self.sustained is not None:
            document["sustained"] = self.sustained
        if self.cooldown is not None:
            document["cooldown"] = self.cooldown
        if self.overhead is not None:
            share = self.overhead.share_of(self.latency.p50 if self.latency is not None else None)
            document["invoke_overhead"] = {**self.overhead.as_dict(), "share_of_p50": share}
        if self.error:
            document["error"] = self.error
        document["started"], document["finished"] = self.started, self.finished
        return document


def _latency_source(result: BenchmarkResult) -> str:
    if result.emulated_of is not None:
        return EMULATED
    return "measured" if result.runner != "adb" else "measured (benchmark_model summary)"


# What an emulated device's latency is, wherever it is shown: never a measurement of the board.
EMULATED = "emulated"


def emulation_warning(board: str) -> str:
    return (
        f"emulated: this latency is qemu's, emulating {board}'s CPU on this host, and says nothing about a real "
        f"{board}'s speed; the outputs, accuracy, memory and failures are the ARM runtime's own"
    )


def _edgetpu_compiled(report: ModelReport) -> bool:
    return any(op.op == "CUSTOM:edgetpu-custom-op" for op in report.operators)


def _measured_power(power: dict | None, profile, started: float, finished: float) -> tuple[float | None, str | None]:
    """(mean watts during the measured runs, or None; why there is no reading, if there is a reason to give)."""
    if profile.power.reader == "external_csv":
        if not profile.power.csv:
            return None, "power.reader is external_csv but power.csv names no log file"
        return mean_power(Path(profile.power.csv), started, finished)
    if not power:
        if profile.power.reader != "none":
            return None, (
                f"{profile.power.reader} is not sampled by the {profile.transport.type.value} runner in this version"
            )
        return None, None
    if power.get("mean_w") is not None:
        return float(power["mean_w"]), None
    return (
        None,
        f"the reader failed: {power.get('error') or power.get('reader') + ': no samples during the measured runs'}",
    )


def _warnings(
    raw: dict, stats: LatencyStats, report: ModelReport, profile: DeviceProfile, settings: BenchSettings
) -> list[str]:
    """What may make the figures misleading: unstable timings, heat, the delegate, cut warm-up, a CPU fallback."""
    warnings = [emulation_warning(profile.emulation.of)] if profile.emulation is not None else []
    warnings += stability_warnings(stats, settings.runs, bool(raw.get("stopped_by_max_seconds")))
    warnings += thermal_warnings(raw.get("thermal"))
    warnings += delegate_warnings(report, profile.runtime.delegates[0]) if profile.runtime.delegates else []
    if raw.get("warmup_runs") is not None and raw["warmup_runs"] < settings.warmup:
        warnings.append(f"only {raw['warmup_runs']} of {settings.warmup} warm-up runs fit in the time limit")
    if raw.get("delegate_fallback"):
        warnings.append(f"ran on the CPU, not the requested delegate: {raw['delegate_fallback']}")
    if profile.runtime.delegates[:1] == [Delegate.EDGETPU] and not _edgetpu_compiled(report):
        warnings.append(
            "the model was not compiled by edgetpu_compiler, so the Edge TPU runs none of it; "
            "benchmark the *_edgetpu.tflite from `edgekd quantize --edgetpu`"
        )
    return warnings


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def benchmark(
    model_path: Path,
    entry: ProfileEntry,
    settings: BenchSettings,
    label: str | None = None,
    accuracy: AccuracyData | None = None,
) -> BenchmarkResult:
    """Benchmark ``model_path`` on the device of ``entry``; failures raise ``BenchmarkError``.

    With ``accuracy``, its test samples travel with the model and the device's outputs are
    compared with the host's LiteRT (:mod:`edgekd.bench.accuracy`); a microcontroller then
    runs them through TensorFlow Lite Micro on the host, and measures no latency.
    """
    profile = entry.profile
    model_path = Path(model_path)
    data = read_regular_file(model_path, "model", BenchmarkError)
    report = check_device_can_run(entry, data, str(model_path))
    runner = get_runner(profile, outputs_only=accuracy is not None)
    with _accuracy_inputs(accuracy, report, str(model_path)) as (inputs, raw_inputs):
        started = time.time()
        raw = runner.run(model_path, profile, replace(settings, inputs=inputs))
        finished = time.time()
    checked = _device_accuracy(raw, data, raw_inputs, accuracy, report, profile) if accuracy is not None else None
    environment = {**raw.get("environment", {}), "measured_seconds": raw.get("measured_seconds")}
    environment["thermal"] = raw.get("thermal")
    if raw.get("tensor_arena"):
        environment["tensor_arena"] = raw["tensor_arena"]
    result = BenchmarkResult(
        model=label or model_path.stem,
        device=profile.name,
        runner=profile.transport.type.value if not profile.is_microcontroller else "tflite-micro (host)",
        ok=True,
        path=str(model_path),
        size_bytes=len(data),
        requested_runs=settings.runs,
        environment=environment,
        accuracy=checked,
        op_profile=raw.get("op_profile"),
        emulated_of=profile.emulation.of if profile.emulation is not None else None,
        started=started,
        finished=finished,
    )
    if "latencies_ms" not in raw and "summary_ms" not in raw:
        return result
    if "latencies_ms" in raw:
        stats = latency_stats(raw["latencies_ms"], raw.get("latency_summary"))
    else:
        stats = stats_from_summary(raw["summary_ms"])
    before, after = raw.get("rss_before_load_mb"), raw.get("rss_after_mb")
    warnings = _warnings(raw, stats, report, profile, settings)
    sustained = None
    if settings.sustained_seconds is not None and raw.get("windows") is not None:
        sustained = sustained_summary(raw["windows"], settings.sustained_seconds)
        warnings += [w for w in (drift_warning(sustained),) if w]
    return replace(
        result,
        latency=stats,
        init_ms=raw.get("init_ms"),
        first_inference_ms=raw.get("first_inference_ms"),
        peak_memory_mb=raw.get("peak_rss_mb"),
        memory_delta_mb=(after - before) if before is not None and after is not None else None,
        energy=energy_per_inference(
            profile, stats.mean, *_measured_power(raw.get("power"), profile, started, finished)
        ),
        warnings=warnings,
        sustained=sustained,
    )


@contextlib.contextmanager
def _accuracy_inputs(accuracy: AccuracyData | None, report: ModelReport, source: str):
    """(the .npy file of raw inputs the runner sends with the model, the raw inputs), or (None, None)."""
    if accuracy is None:
        yield None, None
        return
    raw_inputs = accuracy.raw_inputs(report, source)
    with tempfile.TemporaryDirectory(prefix="edgekd-accuracy-") as folder:
        path = Path(folder) / "inputs.npy"
        np.save(path, raw_inputs)
        yield path, raw_inputs


def _device_accuracy(
    raw: dict, data: bytes, raw_inputs, accuracy: AccuracyData, report: ModelReport, profile: DeviceProfile
) -> DeviceAccuracy:
    if "outputs" not in raw:
        raise BenchmarkError(f"{profile.name}: the runner returned no outputs for the accuracy inputs")
    environment = raw.get("environment") or {}
    runtime = f"{environment.get('runtime', 'unknown')} {environment.get('runtime_version', '')}".strip()
    runtime += f", {environment.get('machine', 'machine unknown')}"
    return compare_outputs(
        decode_outputs(raw["outputs"], profile.name),
        host_outputs(data, raw_inputs),
        accuracy.y,
        report.outputs[0],
        runtime,
    )
