"""The benchmark stage: every model on every device, devices concurrently, a failing device recorded, not fatal."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from edgekd.bench.accuracy import AccuracyData
from edgekd.bench.benchmark import BenchmarkResult, benchmark
from edgekd.bench.config import BenchConfig
from edgekd.bench.overhead import InvokeOverhead, one_op_model
from edgekd.bench.registry import get_runner
from edgekd.bench.settings import BenchSettings
from edgekd.bench.thermal import Cooldown, cool_down
from edgekd.errors import EdgekdError
from edgekd.profiles.loader import get_profile
from edgekd.progress import Reporter

# Short runs: enough to rank the conversion modes on the host, not a full benchmark.
# No cool-down there: the modes are ranked against each other on one host, seconds apart.
MODE_COMPARISON_BENCH = BenchSettings(runs=100, min_seconds=0.3, warmup=10, cooldown_seconds=0)


def time_on_host(files: list[tuple[str, Path]], reporter: Reporter) -> list[BenchmarkResult]:
    """Short host runs of each (role, .tflite) in ``files``: what ``quantize --mode all`` ranks the modes by."""
    return bench_stage(files, ["host"], MODE_COMPARISON_BENCH, reporter)


def bench_settings(config: BenchConfig) -> BenchSettings:
    return BenchSettings(
        runs=config.runs,
        min_seconds=config.min_seconds,
        warmup=config.warmup,
        threads=config.threads,
        cooldown_seconds=config.cooldown_seconds,
    )


def check_devices(names: list[str], outputs_only: bool = False) -> None:
    """Every device is known and has a runner; raises before anything is trained or measured.

    ``outputs_only``: only the models' outputs are asked for (accuracy), which a microcontroller gives.
    """
    from edgekd.bench.runners import LocalRunner, check_local_profile_files

    for name in names:
        profile = get_profile(name).profile
        if isinstance(get_runner(profile, outputs_only), LocalRunner):
            check_local_profile_files(profile)
        if profile.emulation is not None:
            from edgekd.profiles.emulated import emulated_python

            emulated_python(profile.emulation.of)


def check_benchmark_targets(models: list[Path], devices: list[str]) -> None:
    """At least one model and one device, none given twice; raises before anything is read or measured.

    A file given twice (or through a second path or link) would be measured twice under one
    name, two rows no reader could tell apart; the same for a device. It is refused rather
    than measured twice: a second measurement in the same call says nothing a longer one
    would not. Different files that share a name are told apart by ``model_names``.
    """
    from edgekd.errors import BenchmarkError

    if not models:
        raise BenchmarkError("no model to benchmark: give at least one .tflite file")
    if not devices:
        raise BenchmarkError("no device to benchmark on: give at least one device profile (see `edgekd devices list`)")
    if len(set(devices)) < len(devices):
        twice = next(name for name in devices if devices.count(name) > 1)
        raise BenchmarkError(f"device {twice!r} is given twice; give each device once (raise `runs` to measure longer)")
    seen: dict[tuple[int, int], Path] = {}
    for path in models:
        try:
            info = path.stat()
        except OSError:
            continue  # a missing file is reported, by name, when the models are read
        earlier = seen.setdefault((info.st_dev, info.st_ino), path)
        if earlier is not path:
            same = "" if str(earlier) == str(path) else f" (it is the same file as {earlier})"
            raise BenchmarkError(
                f"model {path} is given twice{same}; give each file once (raise `runs` or `min_seconds` to measure "
                "it longer)"
            )


def model_names(models: list[Path]) -> list[str]:
    """Each file's name in results: its stem, or as many of its last folders as tell files of one stem apart.

    >>> model_names([Path("runs/a/student_int8.tflite"), Path("runs/b/student_int8.tflite"), Path("t.tflite")])
    ['a/student_int8', 'b/student_int8', 't']
    """
    parts = [Path(path).absolute().with_suffix("").parts for path in models]
    names = []
    for path, mine in zip(models, parts, strict=True):
        unique = (mine[-d:] for d in range(1, len(mine) + 1) if sum(o[-d:] == mine[-d:] for o in parts) == 1)
        # Two paths that differ only in their suffix's case keep their whole path.
        names.append("/".join(next(unique, (str(path),))))
    return names


def invoke_overhead(entry, settings: BenchSettings) -> InvokeOverhead | None:
    """The p50 of a one-op model on ``entry``'s device with ``settings``; None where it cannot be timed there."""
    if entry.profile.is_microcontroller:
        return None
    with tempfile.TemporaryDirectory(prefix="edgekd-overhead-") as folder:
        path = Path(folder) / "one_op.tflite"
        path.write_bytes(one_op_model())
        try:
            # The floor is an ordinary short run, even when the models get a sustained one.
            floor_settings = replace(settings, inputs=None, profile_ops=False, sustained_seconds=None)
            result = benchmark(path, entry, floor_settings, label="one-op")
        except EdgekdError:
            return None  # the models' own benchmarks will say what is wrong with the device
    if result.latency is None or result.latency.p50 is None:
        return None
    return InvokeOverhead(p50_ms=result.latency.p50, runs=result.latency.count)


def check_models(paths: list[Path], devices: list[str], accuracy: AccuracyData | None = None) -> None:
    """Every model is one every device runs, and the accuracy data fits every model; raises before measuring."""
    from edgekd.errors import BenchmarkError
    from edgekd.inputs import read_regular_file
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.profiles.compatibility import check_device_can_run

    entries = [get_profile(name) for name in devices]
    for path in paths:
        data = read_regular_file(path, "model", BenchmarkError)
        for entry in entries:
            check_device_can_run(entry, data, str(path))
        if accuracy is not None:
            accuracy.raw_inputs(inspect_tflite(data, str(path)), str(path))


def bench_stage(
    files: list[tuple[str, Path]],
    devices: list[str],
    settings: BenchSettings,
    reporter: Reporter,
    accuracy: AccuracyData | None = None,
    measure_overhead: bool = False,
) -> list[BenchmarkResult]:
    """Benchmark every (role, .tflite) on every device; a device that fails yields failed results, not a crash.

    Devices run concurrently (each on its own hardware, one thread each: runners wait on
    subprocesses), models on one device one after another, so they never compete. Each
    result names its file as the run's folder holds it. With ``accuracy``, its test samples
    travel with each model and each result carries the device's accuracy. With
    ``measure_overhead``, a one-op model is benchmarked first on each device that times
    invokes, and each result carries that per-invoke floor.
    """
    entries = [get_profile(name) for name in devices]

    def on_device(position: int, entry) -> list[BenchmarkResult]:
        overhead = invoke_overhead(entry, settings) if measure_overhead else None
        results = []
        heat = HeatWatch(entry.profile, settings, reporter)
        with reporter.bar(len(files), f"benchmarking on {entry.profile.name}", unit="model", position=position) as bar:
            for index, (role, path) in enumerate(files):
                cooldown = heat.before_model(index)
                try:
                    result = benchmark(path, entry, settings, label=role, accuracy=accuracy)
                except EdgekdError as exc:
                    result = BenchmarkResult(
                        model=role,
                        device=entry.profile.name,
                        runner=entry.profile.transport.type.value,
                        ok=False,
                        path=str(path),
                        size_bytes=path.stat().st_size,
                        requested_runs=settings.runs,
                        error=str(exc),
                    )
                bar.update(1)
                results.append(
                    replace(
                        result,
                        path=Path(path).name,
                        overhead=overhead if result.ok else None,
                        cooldown=cooldown.as_dict() if cooldown is not None else None,
                        warnings=result.warnings + heat.warnings(cooldown),
                    )
                )
        return results

    with ThreadPoolExecutor(max_workers=max(1, len(entries))) as pool:
        per_device = list(pool.map(on_device, range(len(entries)), entries))
    return [result for results in per_device for result in results]


class HeatWatch:
    """Cool-down between the models on one device: the first model's starting temperature is the target for the rest."""

    def __init__(self, profile, settings: BenchSettings, reporter: Reporter):
        self.profile, self.settings, self.reporter = profile, settings, reporter
        self.baseline: float | None = None

    def _read(self) -> float | None:
        try:
            return get_runner(self.profile).temperature(self.profile, self.settings)
        except EdgekdError:
            return None

    def before_model(self, index: int) -> Cooldown | None:
        """None before the first model (its temperature becomes the baseline) or when nothing can be read."""
        if self.settings.cooldown_seconds <= 0 or self.profile.is_microcontroller:
            return None
        if index == 0:
            self.baseline = self._read()
            return None
        if self.baseline is None:
            return None
        cooldown = cool_down(self._read, self.baseline, self.settings.cooldown_seconds)
        if cooldown.waited_s >= 1:
            state = "reached" if cooldown.reached else "not reached"
            self.reporter.say(
                f"{self.profile.name}: waited {cooldown.waited_s:.0f} s to cool to {cooldown.target_c:.1f} °C "
                f"({state}; {cooldown.end_c} °C now)"
            )
        return cooldown

    def warnings(self, cooldown: Cooldown | None) -> list[str]:
        warning = cooldown.warning(self.settings.cooldown_seconds) if cooldown is not None else None
        return [warning] if warning else []
