"""``benchmark``: .tflite files on devices, concurrently, one result per device and model."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from edgekd.api.store import opened_store, record_document, say_on_stderr
from edgekd.bench.thermal import DEFAULT_COOLDOWN_SECONDS
from edgekd.errors import ConfigError
from edgekd.progress import SILENT, Reporter


class BenchmarkResults(list):
    """``benchmark``'s results (one ``BenchmarkResult`` per device and model), with the id of the run that stores them."""

    def __init__(self, results, run_id: int | None):
        super().__init__(results)
        self.run_id = run_id


def benchmark(
    model: Path | str | list[Path | str] | tuple[Path | str, ...],
    *,
    devices: str | list[str] | tuple[str, ...] = ("host",),
    runs: int = 100,
    min_seconds: float = 1.0,
    warmup: int = 10,
    threads: int | None = None,
    db: Path | str | None = None,
    record: bool = True,
    accuracy: str | None = None,
    samples: int | str | None = None,
    benchmark_binary: str | None = None,
    profile_ops: bool = False,
    sustained_seconds: float | None = None,
    cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS,
    invoke_overhead: bool = True,
    reporter: Reporter = SILENT,
    say=say_on_stderr,
):
    """``edgekd bench``: benchmark .tflite files on each device (concurrently); one ``BenchmarkResult`` per pair.

    Returns a list (``BenchmarkResults``) whose ``run_id`` is the stored run (None with ``record=False``).
    ``devices`` is one profile name or a list of them.

    The files and every device are checked first (a missing file or a mode the device cannot
    run is an error before anything runs); a device that fails while measuring gives a
    result with ``ok`` False and its ``error``, recorded like the others. Results come
    device by device, each device's in the order of ``model``.

    ``accuracy``: a dataset spec whose test split (its first ``samples``: default 500, "all"
    for every one) travels with each model; each result's ``accuracy`` compares the device's
    outputs with the host's LiteRT. ``sustained_seconds``: measure that long in windows
    (latency drift); ``cooldown_seconds``: the longest wait for a device to cool between
    models (0: never). ``invoke_overhead``: time a one-op model first on each device (the
    per-invoke floor each result carries).
    """
    from edgekd.bench.accuracy import DEFAULT_SAMPLES, AccuracyData
    from edgekd.bench.settings import BenchSettings
    from edgekd.bench.stage import bench_stage, check_benchmark_targets, check_devices, check_models, model_names
    from edgekd.results.document import new_document

    given = model if isinstance(model, list | tuple) else [model]
    if not all(isinstance(m, str | os.PathLike) for m in given):
        raise ConfigError(f"`model` {model!r}: give the path of a .tflite file, or a list of them")
    models = [Path(m) for m in given]
    devices = [devices] if isinstance(devices, str) else list(devices)
    check_benchmark_targets(models, devices)
    settings = BenchSettings(
        runs=runs,
        min_seconds=min_seconds,
        warmup=warmup,
        threads=threads,
        benchmark_binary=benchmark_binary,
        profile_ops=profile_ops,
        sustained_seconds=sustained_seconds,
        cooldown_seconds=cooldown_seconds,
    )
    data = None
    if isinstance(samples, str) and samples != "all":
        raise ConfigError(f"`samples` {samples!r}: give a whole number of test samples, or 'all'")
    if accuracy is not None:
        data = AccuracyData.load(
            accuracy, DEFAULT_SAMPLES if samples is None else None if samples == "all" else samples
        )
    elif samples is not None:
        raise ConfigError("`samples` sets how many test samples `accuracy` sends; give `accuracy` DATA too")
    check_models(models, devices, data)
    check_devices(devices, outputs_only=data is not None)
    with opened_store(db, record, say) as store:
        measured = bench_stage(
            list(zip(model_names(models), models, strict=True)),
            devices,
            settings,
            reporter,
            data,
            measure_overhead=invoke_overhead,
        )
        # Files outside a run folder are recorded by the path the caller gave.
        results = [replace(r, path=str(p)) for r, p in zip(measured, models * len(devices), strict=True)]
        config = {"devices": devices, "runs": runs, "min_seconds": min_seconds}
        config.update(sustained_seconds=sustained_seconds, cooldown_seconds=cooldown_seconds)
        if data is not None:
            config["accuracy"] = {"data": data.data, "samples": len(data.y)}
        document = new_document("bench", config)
        document["benchmarks"] = [result.as_dict() for result in results]
        # A failed device is a result too, and stored; whoever reports the failure says where.
        failed = any(not result.ok for result in results)
        run_id = record_document(store, document, None, {str(path): path for path in models}, None if failed else say)
    return BenchmarkResults(results, run_id)
