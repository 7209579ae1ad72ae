"""The order of the stages, from one ``PipelineConfig``: data, teacher, distillation, quantization, benchmarks.

Each stage lives in its package (``distill/stage.py``, ``quantize/stage.py``,
``bench/stage.py``) and is what its CLI command calls on its own; this module only orders
them, checks what can be checked before the first slow stage, and writes the run's
documents. Stages write into a folder they are given; the caller decides where it lives
and makes it appear atomically (see ``edgekd.artifacts.staged_output_folder``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekd.artifacts import write_json_atomic, write_text_atomic
from edgekd.bench.stage import bench_settings, bench_stage, check_devices
from edgekd.config import PipelineConfig
from edgekd.data.dataset import Dataset
from edgekd.data.spec import load_dataset, parse_spec
from edgekd.distill.checkpoints import CheckpointFolder
from edgekd.distill.stage import (
    DistillationStage,
    distill_stage,
    plan_distillation,
    prepare_teacher,
    recipes_for,
    teacher_record,
    train_teacher,
)
from edgekd.distill.strategies import check_strategy, make_strategy
from edgekd.distill.summary import write_training_curves
from edgekd.distill.teacher_recipe import teacher_recipe
from edgekd.distill.trainer import TrainingControl
from edgekd.errors import ConfigError, ConversionError, ModelError
from edgekd.frameworks import seed_everything
from edgekd.progress import SILENT, Reporter
from edgekd.quantize.modes import QuantizeOptions
from edgekd.quantize.stage import QuantizeSettings, convert_and_check
from edgekd.records import ModelRecord, RunResult
from edgekd.redact import redacted
from edgekd.results.report import render_markdown


def preflight(config: PipelineConfig) -> None:
    """Cheap checks that fail before any slow stage: specs parse, files exist, names are known."""
    parse_spec(config.data.spec, config.data.options)
    for path in filter(None, [config.teacher.path, *config.teacher.ensemble]):
        if not Path(path).exists():
            raise ModelError(f"teacher model {path} does not exist; check `teacher.path`, or leave it out to train one")
    if config.teacher.ensemble and not config.teacher.path:
        raise ConfigError("an ensemble of teachers needs the first teacher as a file too (`teacher.path`)")
    if config.teacher.path and config.teacher.ensemble_size > 1:
        raise ConfigError(
            "`teacher.ensemble_size` trains an ensemble of teachers (with no `teacher.path`); to distil from several "
            "teacher files, list them in `teacher.ensemble`"
        )
    teachers = 1 + len(config.teacher.ensemble) if config.teacher.path else config.teacher.ensemble_size
    if config.teacher.weights is not None and len(config.teacher.weights) != teachers:
        raise ConfigError(
            f"{len(config.teacher.weights)} teacher weights for {teachers} teachers; give one per teacher"
        )
    # The class count is not known before the data loads; checks that need it run again later.
    recipes_for(config, None)
    check_strategy(config.distill.strategy)
    check_devices(config.bench.devices)


@dataclass
class Distilled:
    """What the training stages hand on: the data, the teacher, and the distillation stage's results."""

    dataset: Dataset
    teacher: object
    teacher_record: ModelRecord
    stage: DistillationStage
    training: dict[str, dict]


def run_distillation(
    config: PipelineConfig, out: Path, reporter: Reporter, checkpoints: CheckpointFolder | None = None
) -> Distilled:
    """Data, teacher and distillation stages: the part ``edgekd distill`` runs on its own."""
    preflight(config)
    # Before anything is built: weight initialisation draws from these generators.
    seed_everything(config.seed, config.deterministic)
    with reporter.stage("loading data", "data"):
        dataset = load_dataset(config.data.spec, reporter, config.data.options)
    # Class-dependent checks (dkd needs 3+ classes) as soon as the class count is known.
    recipes_for(config, dataset.num_classes, modality=dataset.modality)
    if not config.teacher.path:
        teacher_recipe(config.teacher, dataset)  # its augmentations suit the data, before anything trains
    training_control = TrainingControl(checkpoints, config.student.patience, make_strategy(config.distill.strategy))
    training: dict[str, dict] = {}
    with reporter.stage("loading the teacher" if config.teacher.path else "training the teacher", "teacher"):
        teacher = prepare_teacher(config.teacher, dataset, training_control)
        plan = plan_distillation(config, teacher, dataset, training_control)
        if config.teacher.path:
            record = teacher_record(config.teacher, teacher, dataset)
        else:
            record, histories, members, member_records = train_teacher(
                teacher, config.teacher, dataset, config.seed, out, reporter, training_control, config.deterministic
            )
            training.update({role: history.as_dict() for role, history in histories.items()})
            plan.extra_teachers += members
            plan.extra_records += member_records
    with reporter.stage("distilling the student and training its scratch control", "distill"):
        stage = distill_stage(config, teacher, record, plan, dataset, out, reporter)
    training.update(stage.training)
    write_training_curves(training, out)
    return Distilled(dataset, teacher, record, stage, training)


def _result(kind: str, config: PipelineConfig, distilled: Distilled, reporter: Reporter, **more) -> RunResult:
    models = {"teacher": distilled.teacher_record, **distilled.stage.models, **more.pop("models", {})}
    recorded = config.model_dump(mode="json")
    if recorded["search"].get("storage"):
        # The config is recorded in results.json and the store: a study database's password never is.
        recorded["search"]["storage"] = redacted(recorded["search"]["storage"])
    return RunResult(
        kind,
        recorded,
        {"training": config.seed},
        # The fingerprint lets a later search from this run's teacher reuse its distilled student.
        {**distilled.dataset.summary(), "fingerprint": distilled.dataset.fingerprint()},
        models,
        distilled.stage.summary,
        distilled.training,
        timings_s=dict(reporter.durations),
        **more,
    )


def write_results(run: RunResult, out: Path) -> dict:
    """results.json and report.md of a finished run; returns the document written."""
    document = run.to_document()
    write_json_atomic(out / "results.json", document)
    write_text_atomic(out / "report.md", render_markdown(document))
    return document


def distill_only(
    config: PipelineConfig,
    out: Path,
    reporter: Reporter = SILENT,
    checkpoints: CheckpointFolder | None = None,
    quantize: bool = True,
) -> RunResult:
    """``edgekd distill``: the training stages, and (unless ``quantize`` is False) the shipped student as
    ``student_int8.tflite`` checked through LiteRT; with results.json and report.md."""
    distilled = run_distillation(config, out, reporter, checkpoints)
    models, extra = {}, {}
    if quantize:
        with reporter.stage("converting the student to int8 and checking it through LiteRT", "quantize"):
            try:
                models["student_int8"] = convert_and_check(
                    distilled.stage.student,
                    "student_int8",
                    "int8",
                    distilled.dataset,
                    out / "student_int8.tflite",
                    "student",
                    quantize_settings(config),
                )
            except ConversionError as exc:
                # The trained students stay: a student int8 cannot hold is still the run's answer in Keras.
                reporter.say(f"edgekd: warning: student_int8.tflite was not written: {exc}")
                extra["student_int8_not_written"] = str(exc)
    run = _result("distill", config, distilled, reporter, models=models, extra=extra)
    write_results(run, out)
    return run


def quantize_settings(config: PipelineConfig) -> QuantizeSettings:
    """The quantization stage's settings from the config's ``quantize`` section."""
    quantize = config.quantize
    return QuantizeSettings(
        mode=quantize.mode,
        options=QuantizeOptions(allow_float_ops=quantize.allow_float_ops),
        representative_samples=quantize.representative_samples,
        max_drop=quantize.max_drop,
        strict=quantize.strict,
        seed=config.seed,
    )


def run_pipeline(
    config: PipelineConfig,
    out: Path,
    reporter: Reporter = SILENT,
    kind: str = "run",
    checkpoints: CheckpointFolder | None = None,
) -> RunResult:
    """Run every stage into ``out``; returns the run's results (also written as results.json)."""
    distilled = run_distillation(config, out, reporter, checkpoints)
    dataset, quantized = distilled.dataset, {}
    settings = quantize_settings(config)
    with reporter.stage("converting to TFLite and checking accuracy through LiteRT", "quantize"):
        for model, role, mode, reference, data in (
            (distilled.teacher, "teacher_float32", "float32", "teacher", dataset.for_teacher()),
            (distilled.stage.student, "student_float32", "float32", "student", dataset),
            (distilled.stage.student, f"student_{config.quantize.mode}", config.quantize.mode, "student", dataset),
        ):
            quantized[role] = convert_and_check(model, role, mode, data, out / f"{role}.tflite", reference, settings)
    with reporter.stage(f"benchmarking on {', '.join(config.bench.devices)}", "bench"):
        files = [(role, out / record.path) for role, record in quantized.items()]
        benchmarks = bench_stage(
            files, config.bench.devices, bench_settings(config.bench), reporter, measure_overhead=True
        )
    run = _result(kind, config, distilled, reporter, models=quantized, benchmarks=tuple(benchmarks))
    write_results(run, out)
    return run
