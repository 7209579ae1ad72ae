"""The Python API: what each command does, for notebooks and scripts, returning typed results.

    import edgekd

    run = edgekd.demo(quick=True, out="runs/quick")
    print(run.distillation.verdict, run.models["student_int8"].accuracy)

Each function takes the settings its command takes (as keyword arguments named like the
config keys), writes the same files atomically, records the run in the results store
(``db``; ``record=False`` skips it) and raises the same ``EdgekdError`` with the same
message. The CLI is a thin layer over these functions. TensorFlow loads on first use.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
from dataclasses import replace
from pathlib import Path

from edgekd.bench.thermal import DEFAULT_COOLDOWN_SECONDS
from edgekd.config import PipelineConfig, demo_config, load_config
from edgekd.errors import ConfigError
from edgekd.progress import SILENT, Reporter
from edgekd.untrusted import for_terminal
from edgekd.validation import validate


def default_run_folder(prefix: str) -> Path:
    """``runs/<prefix>-<timestamp>`` under the current folder."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{prefix}-{stamp}"


@contextlib.contextmanager
def _store(db: Path | str | None, record: bool, say):
    """The results store, opened (and its write lock checked) before any long work; None with ``record=False``."""
    if not record:
        yield None
        return
    from edgekd.results.store import ResultsStore

    store = ResultsStore(Path(db) if db is not None else None)
    try:
        store.check_writable()
        yield store
    finally:
        store.close()


def _record(store, document: dict, out: Path | None, artifacts: dict, say) -> int | None:
    """Store ``document`` (saying where, unless ``say`` is None); the run's id, or None without a store."""
    if store is None:
        return None
    run_id = store.record(document, out, artifacts)
    if say is not None:
        say(f"stored as run {run_id} in {store.path}")
    return run_id


class BenchmarkResults(list):
    """``benchmark``'s results (one ``BenchmarkResult`` per device and model), with the id of the run that stores them."""

    def __init__(self, results, run_id: int | None):
        super().__init__(results)
        self.run_id = run_id


def _say_on_stderr(line: str) -> None:
    # Lines name folders, devices and failures from files: a terminal shows them, never runs them.
    print(f"edgekd: {for_terminal(line)}", file=sys.stderr, flush=True)


def run_config(config: PipelineConfig, out: Path | str | None = None, *, kind: str = "run", **options):
    """Every stage of ``config`` into ``out`` (created atomically, resumable): the engine of ``run`` and ``demo``.

    ``options``: ``force``, ``fresh``, ``db``, ``record``, ``reporter``, ``say`` (see ``_trained_run``).
    """
    from edgekd.pipeline import run_pipeline
    from edgekd.results.html import write_report

    def stages(staging: Path, reporter: Reporter, checkpoints):
        run = run_pipeline(config, staging, reporter, kind=kind, checkpoints=checkpoints)
        write_report(run.to_document(), staging / "report.html", staging)
        return run

    return _trained_run(config, out, kind, stages, **options)


def distill_config(config: PipelineConfig, out: Path | str | None = None, quantize: bool = True, **options):
    """The training stages of ``config`` (what ``edgekd distill`` runs), and unless ``quantize`` is False the
    shipped student as student_int8.tflite checked through LiteRT; ``options`` as ``run_config``'s."""
    from edgekd.pipeline import distill_only

    def stages(staging: Path, reporter: Reporter, checkpoints):
        return distill_only(config, staging, reporter, checkpoints, quantize)

    return _trained_run(config, out, "distill", stages, **options)


def _trained_run(
    config: PipelineConfig,
    out: Path | str | None,
    kind: str,
    stages,
    *,
    force: bool = False,
    fresh: bool = False,
    db: Path | str | None = None,
    record: bool = True,
    reporter: Reporter = SILENT,
    say=_say_on_stderr,
):
    """Run ``stages`` into a staging folder that becomes ``out`` once complete, resumable from checkpoints.

    The store is opened (and its lock checked) first, the output and checkpoints next, so a
    bad ``db`` or ``out`` fails before any training; the run is recorded before the folder
    appears, and neither happens if a stage fails. ``force`` replaces an existing ``out``,
    ``fresh`` discards checkpoints of an interrupted run, ``record=False`` skips the store.
    """
    from edgekd.outputs import staged_output_folder
    from edgekd.results.store import artifact_files

    out = Path(out) if out is not None else default_run_folder(kind)
    finished = []

    def record_run() -> None:  # once the folder is in place, so the store never names a folder that is not there
        _record(store, finished[0].to_document(), out, artifact_files(out), say)

    reads = config.input_files()
    with _store(db, record, say) as store:
        if store is not None:
            reads.append(store.path)  # a store inside the folder would go with it, every run in it
        with _checkpoints(out, config, fresh, force, say, kind, reads) as checkpoints:
            with staged_output_folder(out, force, kind=kind, commit=record_run, reads=reads) as staging:
                finished.append(stages(staging, reporter, checkpoints))
    return replace(finished[0], out=out)


def _checkpoints(out: Path, config: PipelineConfig, fresh: bool, force: bool, say, kind: str, reads: list[Path]):
    from edgekd.distill.checkpoints import checkpointed
    from edgekd.outputs import check_output_folder

    # The output's folder is checked first: the checkpoints live beside it.
    check_output_folder(out, force, kind, reads)
    return checkpointed(out, config.model_dump(mode="json"), fresh, say=say)


def run(config: PipelineConfig | Path | str, out: Path | str | None = None, deterministic: bool = False, **options):
    """``edgekd run CONFIG.yaml``: ``config`` is a ``PipelineConfig`` or the path of a YAML config."""
    if not isinstance(config, PipelineConfig):
        config = load_config(Path(config))
    if deterministic:
        config = config.model_copy(update={"deterministic": True})
    return run_config(config, out, **options)


def demo(quick: bool = False, out: Path | str | None = None, deterministic: bool = False, **options):
    """``edgekd demo``: the whole pipeline on MNIST-1D, generated offline (``quick``: a reduced budget)."""
    config = demo_config(quick=quick)
    if deterministic:
        config = config.model_copy(update={"deterministic": True})
    return run_config(config, out, kind="demo", **options)


def distill(
    teacher: Path | str | None = None,
    *,
    data: str = "mnist1d",
    out: Path | str | None = None,
    student: str = "auto",
    method: str = "auto",
    candidates: list[str] | None = None,
    params: dict | None = None,
    epochs: int | None = None,
    seed: int = 0,
    trust_model: bool = False,
    deterministic: bool = False,
    quantize: bool = True,
    **options,
):
    """``edgekd distill``: distil a student from ``teacher`` (a .keras file; None trains one) next to its control.

    The shipped student is also converted to student_int8.tflite and checked through LiteRT
    (``quantize=False`` skips it). Other settings of ``PipelineConfig`` go through
    ``config_overrides`` as a nested dict.
    """
    overrides = options.pop("config_overrides", {})
    document = {
        "seed": seed,
        "deterministic": deterministic,
        "data": {"spec": data},
        "teacher": {"path": str(teacher) if teacher is not None else None, "trust_model": trust_model},
        "student": {"spec": student, "epochs": epochs},
        "distill": {"method": method, "candidates": candidates, "params": params},
        "bench": {"devices": []},
    }
    for section, values in overrides.items():
        document[section] = {**document.get(section, {}), **values} if isinstance(values, dict) else values
    config = validate(PipelineConfig, document, "distill settings", ConfigError)
    return distill_config(config, out, quantize, **options)


def quantize(model: Path | str, *, data: str = "mnist1d", out: Path | str, **options):
    """``edgekd quantize``: convert ``model`` and check the .tflite; returns its ``ModelRecord``.

    ``options`` are ``quantize_run``'s; with ``mode="all"`` use ``quantize_run`` for every
    mode's record.
    """
    run = quantize_run(model, data=data, out=out, **options)
    return next(iter(run.models.values()))


def quantize_run(
    model: Path | str,
    *,
    data: str = "mnist1d",
    out: Path | str,
    force: bool = False,
    db: Path | str | None = None,
    record: bool = True,
    reporter: Reporter = SILENT,
    say=_say_on_stderr,
    **settings,
):
    """All of ``edgekd quantize`` as a ``RunResult`` (with ``mode="all"``, one record per mode).

    ``settings`` are those of ``edgekd.quantize.settings.QuantizeSettings`` (``mode``,
    ``max_drop``, ``strict``, ``representative_samples``, ``debug``, ``edgetpu`` …);
    ``io_dtype``, ``per_channel`` and ``allow_float_ops`` go to the conversion options, and
    ``prune``, ``clusters`` and ``compress_epochs`` to the compression before it.
    """
    from edgekd.quantize.compress import Compression
    from edgekd.quantize.modes import QuantizeOptions
    from edgekd.quantize.stage import ALL, QuantizeSettings, quantize_model, results_sidecar
    from edgekd.results.store import artifact_files

    def take(keys, rename=None):
        return {(rename or {}).get(k, k): settings.pop(k) for k in list(settings) if k in keys}

    options = QuantizeOptions(**take({"io_dtype", "per_channel", "allow_float_ops"}))
    compression = Compression(**take({"prune", "clusters", "compress_epochs"}, {"compress_epochs": "epochs"}))
    quantize_settings = QuantizeSettings(options=options, compression=compression, **settings)
    out = Path(out)
    with _store(db, record, say) as store:
        run = quantize_model(Path(model), data, out, quantize_settings, force, reporter)
        files = (
            artifact_files(out)
            if quantize_settings.mode == ALL
            else {out.name: out, results_sidecar(out).name: results_sidecar(out)}
        )
        _record(store, run.to_document(), out, files, say)
    return run


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
    say=_say_on_stderr,
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
    from edgekd.bench.runners import BenchSettings
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
    with _store(db, record, say) as store:
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
        run_id = _record(store, document, None, {str(path): path for path in models}, None if failed else say)
    return BenchmarkResults(results, run_id)


def search_config(
    config: PipelineConfig, out: Path | str | None = None, *, reporter: Reporter = SILENT, say=_say_on_stderr
):
    """``config``'s ``search`` section run into ``out`` (default ``runs/search-<timestamp>``); returns a ``SearchResult``.

    ``out`` holds the study's database: the same call again continues the search.
    """
    from edgekd.search.stage import run_search

    return run_search(config, Path(out) if out is not None else default_run_folder("search"), reporter, say)


def search(
    teacher: Path | str,
    *,
    data: str = "mnist1d",
    device: str = "host",
    budgets: dict[str, float] | list[str] | None = None,
    trials: int = 20,
    out: Path | str | None = None,
    families: list[str] | None = None,
    measure: bool = False,
    seed: int = 0,
    trust_model: bool = False,
    **options,
):
    """``edgekd search``: the most accurate students within ``budgets`` on ``device``, distilled from ``teacher``.

        result = edgekd.search("teacher.keras", device="nano33ble", budgets={"ram_kb": 64}, trials=20, out="runs/s")
        print(result.chosen["candidate"], result.chosen["models"]["student_int8"]["accuracy"])

    ``budgets``: ``{"latency_ms": 20}`` or ``["latency_ms=20"]``. Other keys of the config's
    ``search`` section (``recipe``, ``trial_fraction``, ``finalists``, ``storage``, ``study_name``)
    go in ``options``; other sections through ``config_overrides`` as a nested dict.
    """
    from edgekd.search.budget import parse_budgets

    overrides = options.pop("config_overrides", {})
    reporter, say = options.pop("reporter", SILENT), options.pop("say", _say_on_stderr)
    if isinstance(budgets, list | tuple):
        budgets = parse_budgets(budgets)
    document = {
        "seed": seed,
        "data": {"spec": data},
        "teacher": {"path": str(teacher), "trust_model": trust_model},
        "search": {
            "device": device,
            "budgets": budgets or {},
            "trials": trials,
            "families": list(families or []),
            "measure": measure,
            **options,
        },
        "bench": {"devices": []},
    }
    for section, values in overrides.items():
        document[section] = {**document.get(section, {}), **values} if isinstance(values, dict) else values
    config = validate(PipelineConfig, document, "search settings", ConfigError)
    return search_config(config, out, reporter=reporter, say=say)
