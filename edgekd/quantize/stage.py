"""The quantization stage: convert, check the .tflite through LiteRT, write, record.

``convert_and_check`` is the step ``edgekd run`` takes for each model; ``quantize_model``
is all of ``edgekd quantize`` (compression, QAT, one mode or every mode, per-layer error,
Edge TPU) for the CLI and the Python API alike. Options are checked together when
``QuantizeSettings`` (settings.py) is built, before any model loads; errors name the settings
(``max_drop``), and the CLI names its flags instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekd.artifacts import write_bytes_atomic
from edgekd.data.dataset import Dataset
from edgekd.data.representative import representative_samples
from edgekd.distill.losses import make_loss
from edgekd.errors import ConversionError
from edgekd.modelfile.checks import accuracy_drop_points, detected_mode, float_ops
from edgekd.modelfile.edgetpu import edgetpu_verdict
from edgekd.modelfile.inspect import inspect_tflite
from edgekd.modelfile.workload import workload
from edgekd.models.evaluate import did_not_learn, predict_logits
from edgekd.progress import SILENT, Reporter
from edgekd.quantize import evaluate as tflite_eval
from edgekd.quantize.compress import gzip_size
from edgekd.quantize.convert import convert
from edgekd.quantize.modes import get_mode, mode_names
from edgekd.quantize.settings import ALL, DEFAULT_SETTINGS, QAT, QUANTIZE_FOLDER, QuantizeSettings
from edgekd.records import ModelRecord, TfliteChecks

# Times the .tflite files of a mode comparison, given as (role, path): the benchmark results.
TimeModes = Callable[[list[tuple[str, Path]]], list]


def convert_and_check(
    model,
    role: str,
    mode: str,
    dataset: Dataset,
    out_file: Path,
    reference_role: str | None = None,
    settings: QuantizeSettings = DEFAULT_SETTINGS,
) -> ModelRecord:
    """Convert ``model`` in ``mode``, check the .tflite through LiteRT on the test split, then save it.

    Checks: accuracy and top-1 agreement against the Keras model, and for integer-only
    modes that no op stayed float. Failed checks are warnings, or errors with ``strict``
    (and then nothing is written).
    """
    spec = get_mode(mode)
    representative = (
        representative_samples(dataset.x_train, settings.representative_samples, settings.seed)
        if spec.needs_representative_data
        else None
    )
    data = convert(model, mode, representative, settings.options)
    predicted = np.argmax(tflite_eval.predict(data, dataset.x_test), axis=1)
    keras_predicted = np.argmax(predict_logits(model, dataset.x_test), axis=1)
    report = inspect_tflite(data)
    accuracy = float(np.mean(predicted == dataset.y_test))
    keras_accuracy = float(np.mean(keras_predicted == dataset.y_test))
    drop = accuracy_drop_points(keras_accuracy, accuracy)
    warnings = []
    if drop > settings.max_drop:
        warnings.append(
            f"{role}: {mode} conversion lost {drop:.2f} points of accuracy ({keras_accuracy:.2%} -> {accuracy:.2%}), "
            f"more than `max_drop` {settings.max_drop:g}; try int16x8, or quantization-aware training"
        )
    left_float = float_ops(report) if spec.integer_only else []
    if left_float:
        problem = (
            f"{role}: {len(left_float)} op(s) have no integer kernel and stayed float in {mode} mode: "
            f"{', '.join(left_float[:5])}; integer-only hardware (Edge TPU, int8 microcontrollers) cannot run them"
        )
        if not settings.options.allow_float_ops:
            raise ConversionError(
                f"{problem}. Replace that layer, convert with `mode` dynamic (float activations) or int16x8, or "
                "pass `allow_float_ops` to keep a mixed file; nothing was written"
            )
        warnings.append(problem)
    if settings.strict and warnings:
        raise ConversionError(f"`strict`: {warnings[0]}; nothing was written")
    write_bytes_atomic(out_file, data)
    return ModelRecord(
        role,
        accuracy=accuracy,
        accuracy_source="the .tflite through the LiteRT interpreter on the test split",
        params=report.params,
        macs=report.macs,
        size_bytes=len(data),
        path=out_file.name,
        format=f"tflite ({mode})",
        did_not_learn=did_not_learn(accuracy, dataset.num_classes),
        tflite=TfliteChecks(
            mode=mode,
            detected_mode=detected_mode(report),
            gzip_bytes=gzip_size(data),
            weight_bytes=report.weight_bytes,
            agreement_with_keras=round(float(np.mean(predicted == keras_predicted)), 6),
            accuracy_drop_points=round(drop, 4),
            converted_from=reference_role,
            float_ops=tuple(left_float),
            warnings=tuple(warnings),
            input=_quantization(report.inputs[0]),
            output=_quantization(report.outputs[0]),
            workload=workload(report, edgetpu_verdict(report)).as_dict(),
        ),
    )


def _quantization(tensor) -> dict:
    return {"dtype": tensor.dtype, "scale": list(tensor.scale), "zero_point": list(tensor.zero_point)}


def compare_modes(
    model,
    stem: str,
    dataset: Dataset,
    out: Path,
    settings: QuantizeSettings,
    reporter: Reporter = SILENT,
    time_modes: TimeModes | None = None,
) -> tuple[dict[str, ModelRecord], list]:
    """Convert ``model`` in every mode into ``out/<stem>_<mode>.tflite`` and check each; ``time_modes`` times them.

    The timing is the caller's (``edgekd.bench.stage.time_on_host`` from the API): the
    quantize floor converts and checks, the bench floor above it measures.
    """
    records, files = {}, []
    with reporter.bar(len(mode_names()), "converting", unit="mode") as bar:
        for mode in mode_names():
            role = f"{stem}_{mode}"
            records[role] = convert_and_check(model, role, mode, dataset, out / f"{role}.tflite", "keras", settings)
            files.append((role, out / f"{role}.tflite"))
            bar.update(1)
    return records, (time_modes(files) if time_modes else [])


def layer_error_stage(model, dataset: Dataset, settings: QuantizeSettings, reporter: Reporter) -> list[dict]:
    """Per-layer quantization error on the calibration samples, worst layer first."""
    from edgekd.quantize.debug import layer_errors

    samples = representative_samples(dataset.x_train, settings.representative_samples, settings.seed)
    with reporter.stage("measuring per-layer quantization error", "debug"):
        errors = layer_errors(model, settings.conversion_mode, samples, settings.options)
    return [e.as_dict() for e in errors]


def qat_stage(model, dataset: Dataset, settings: QuantizeSettings, reporter: Reporter) -> tuple[object, object, dict]:
    """Quantization-aware training, distilling from the teacher when given; returns (model, history, description)."""
    from edgekd.models.io import load_model
    from edgekd.quantize.qat import quantization_aware_training

    teacher = load_model(settings.teacher, trust=settings.trust_model) if settings.teacher else None
    loss = (
        make_loss("kd", dataset.num_classes, temperature=settings.temperature, alpha=settings.alpha)
        if teacher is not None
        else None
    )
    quantized, history = quantization_aware_training(
        model, dataset, settings.qat_epochs, settings.seed, teacher, loss, reporter=reporter
    )
    description = {
        "epochs": settings.qat_epochs,
        "teacher": settings.teacher,
        "distillation": loss.describe() if loss else None,
    }
    return quantized, history, description


def edgetpu_stage(tflite_path: Path, reporter: Reporter) -> dict:
    """Edge TPU verdict from the rules, and the real compiler's result when it is installed."""
    from edgekd.modelfile.edgetpu import edgetpu_verdict
    from edgekd.quantize.edgetpu_compiler import HOW_TO_GET, compile_for_edgetpu, compiler_available

    result = {"verdict": edgetpu_verdict(inspect_tflite(tflite_path.read_bytes())).as_dict()}
    if not compiler_available():
        reporter.say(f"edgekd: note: {HOW_TO_GET}")
        result["compiler"] = None
        result["compiler_note"] = HOW_TO_GET
        return result
    with reporter.stage("compiling for the Edge TPU with edgetpu_compiler", "edgetpu"):
        compiled_path, log = compile_for_edgetpu(tflite_path, tflite_path.parent)
    result["compiler"] = {**vars(log), "path": str(compiled_path)}
    return result


def quantize_model(
    model_path: Path,
    data_spec: str,
    out_path: Path,
    settings: QuantizeSettings,
    force: bool,
    reporter: Reporter,
    time_modes: TimeModes | None = None,
):
    """All of ``edgekd quantize``: returns the run's results (``RunResult``) once its files are in place.

    One mode writes ``out_path`` (a .tflite), its ``.results.json`` and with ``edgetpu`` the
    compiled ``*_edgetpu.tflite``, all appearing together; ``all`` writes every mode into the
    folder ``out_path``, each mode timed by ``time_modes`` (see ``compare_modes``).
    """
    from edgekd.outputs import check_output_folder

    model_path, out_path = Path(model_path), Path(out_path)
    # The model (and a QAT teacher) are not copied into a --mode all folder: one holding them is never replaced.
    reads = [Path(p) for p in (model_path, settings.teacher) if p]
    if settings.mode == ALL:
        check_output_folder(out_path, force, QUANTIZE_FOLDER, reads)
        return _quantize(model_path, data_spec, out_path, settings, force, reporter, time_modes)
    with _created_folder(out_path.parent):
        check_output_file_pair(out_path, force)
        return _quantize(model_path, data_spec, out_path, settings, force, reporter, time_modes)


@contextlib.contextmanager
def _created_folder(folder: Path):
    """``folder`` made (with its parents) as every command makes its output's; removed again if the command fails."""
    from edgekd.artifacts import refuse_unwritable
    from edgekd.errors import OutputError

    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"{blocking} is a file, not a folder; choose another `out`")
    refuse_unwritable(folder, "choose another `out`")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}; choose another `out`") from exc
    try:
        yield
    except BaseException:
        for made in missing:  # innermost first; only if still empty
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def _quantize(model_path, data_spec, out_path, settings: QuantizeSettings, force: bool, reporter, time_modes):
    """``quantize_model`` once its output's place is checked."""
    from edgekd.artifacts import write_json_atomic
    from edgekd.data.spec import load_dataset
    from edgekd.models.io import load_model
    from edgekd.outputs import staged_output_files, staged_output_folder
    from edgekd.records import RunResult

    with reporter.stage("loading the model", "load"):
        model = load_model(model_path, trust=settings.trust_model)
    with reporter.stage("loading data", "data"):
        dataset = load_dataset(data_spec, reporter)
    extra: dict = {}
    if settings.compression.active:
        from edgekd.quantize.compress import compress, weight_sparsity

        with reporter.stage("pruning/clustering with fine-tuning", "compress"):
            model = compress(model, settings.compression, dataset, settings.seed, reporter)
        extra["compression"] = {
            **settings.compression.describe(),
            "kernel_sparsity": round(weight_sparsity(model), 6),
        }
    config = {
        "model": str(model_path),
        "data": data_spec,
        "mode": settings.mode,
        "io_dtype": settings.options.io_dtype,
        "per_channel": settings.options.per_channel,
        "representative_samples": settings.representative_samples,
        "max_drop": settings.max_drop,
        "strict": settings.strict,
    }

    def result(models, benchmarks=(), training=None) -> RunResult:
        return RunResult(
            "quantize",
            config,
            {"representative": settings.seed},
            dataset.summary(),
            models,
            training=training or {},
            benchmarks=tuple(benchmarks),
            timings_s=dict(reporter.durations),
            extra=extra,
            out=out_path,
        )

    stem = model_path.stem if model_path.suffix else model_path.name
    if settings.mode == ALL:
        reads = [Path(p) for p in (model_path, settings.teacher) if p]  # never replaced: not copied into the folder
        with staged_output_folder(out_path, force, kind=QUANTIZE_FOLDER, reads=reads) as staging:
            with reporter.stage("converting in every mode, checking each through LiteRT and timing it", "quantize"):
                models, benchmarks = compare_modes(model, stem, dataset, staging, settings, reporter, time_modes)
            run = result(models, benchmarks)
            write_json_atomic(staging / "results.json", run.to_document())
        return run
    # The model, its results and the Edge TPU build appear together once all are written (see artifacts).
    sidecar = results_sidecar(out_path)
    compiled = out_path.with_name(f"{out_path.stem}_edgetpu.tflite")
    with staged_output_files([out_path, sidecar, *([compiled] if settings.edgetpu else [])], force) as staging:
        staged_model = staging / out_path.name
        training = None
        if settings.mode == QAT:
            with reporter.stage("quantization-aware training", "qat"):
                model, history, qat_description = qat_stage(model, dataset, settings, reporter)
            training = {"qat": history.as_dict()}
        with reporter.stage(f"converting to {settings.conversion_mode} and checking it through LiteRT", "quantize"):
            record = convert_and_check(
                model, out_path.stem, settings.conversion_mode, dataset, staged_model, "keras", settings
            )
        if settings.mode == QAT:
            record = record.with_tflite(mode=QAT, qat=qat_description)
        if settings.compression.active:
            record = record.with_tflite(compression=extra["compression"])
        if settings.debug:
            extra["layer_errors"] = layer_error_stage(model, dataset, settings, reporter)
        if settings.edgetpu:
            extra["edgetpu"] = edgetpu_stage(staged_model, reporter)
            if extra["edgetpu"].get("compiler"):
                extra["edgetpu"]["compiler"]["path"] = str(compiled)
        run = result({out_path.stem: record}, training=training)
        write_json_atomic(staging / sidecar.name, run.to_document())
    return run


def results_sidecar(out_path: Path) -> Path:
    """Where a .tflite's results document lives: ``FILE.results.json`` beside it."""
    return Path(out_path).with_suffix(".results.json")


def check_output_file_pair(out_file: Path, force: bool) -> None:
    """A single-mode output is a .tflite whose file and results sidecar may be written."""
    from edgekd.artifacts import check_output_file
    from edgekd.errors import OutputError

    if out_file.suffix != ".tflite":
        raise OutputError(f"`out` {out_file} should end in .tflite (or use `mode` all with a folder)")
    for path in (out_file, results_sidecar(out_file)):
        check_output_file(path, force)
