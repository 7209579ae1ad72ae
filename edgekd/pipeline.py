"""The stages wired together from one ``PipelineConfig``.

Each stage is a function the matching CLI command also calls on its own, so ``edgekd
distill`` / ``quantize`` / ``bench`` and ``edgekd run`` / ``demo`` share one implementation.
Stages write into a folder they are given; the caller decides where it lives and makes
it appear atomically (see ``edgekd.artifacts.staged_output_folder``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.artifacts import write_bytes_atomic, write_json_atomic, write_text_atomic
from edgekd.bench.benchmark import BenchmarkResult, benchmark
from edgekd.bench.registry import get_runner
from edgekd.bench.runners import BenchSettings
from edgekd.config import BenchConfig, PipelineConfig, TeacherConfig
from edgekd.data.dataset import Dataset
from edgekd.data.representative import representative_samples
from edgekd.data.spec import load_dataset, parse_spec
from edgekd.distill.augment import parse_augmentations
from edgekd.distill.checkpoints import CheckpointFolder
from edgekd.distill.distiller import DistillationSettings, check_model_fits_data, check_setup, distill
from edgekd.distill.losses import Objective, make_objective
from edgekd.distill.recipes import AUTO, DEFAULT_CANDIDATES, Recipe, parse_candidates
from edgekd.distill.strategies import check_strategy, make_strategy
from edgekd.distill.trainer import TrainingBudget, TrainingControl, fit, hard_label_objective
from edgekd.errors import ConfigError, ConversionError, EdgekdError, ModelError
from edgekd.models.builders import get_builder
from edgekd.models.complexity import model_macs, model_params
from edgekd.models.evaluate import CHANCE_MARGIN_POINTS, did_not_learn, predict_logits
from edgekd.models.evaluate import accuracy as keras_accuracy
from edgekd.models.frameworks import framework_of, seed_everything
from edgekd.models.io import load_model, save_model
from edgekd.models.students import resolve_student
from edgekd.profiles.loader import get_profile
from edgekd.progress import SILENT, Reporter
from edgekd.quantize import evaluate as tflite_eval
from edgekd.quantize.checks import accuracy_drop_points, detected_mode, float_ops
from edgekd.quantize.compress import gzip_size
from edgekd.quantize.convert import convert
from edgekd.quantize.inspect import inspect_tflite
from edgekd.quantize.modes import DEFAULT_OPTIONS, QuantizeOptions, get_mode, mode_names
from edgekd.results.document import model_record, new_document
from edgekd.results.report import render_markdown

TEACHER_VALIDATION_FRACTION = 0.1


def keras_record(role: str, model, dataset: Dataset, path: Path, **extra) -> dict:
    accuracy = keras_accuracy(model, dataset.x_test, dataset.y_test)
    return model_record(
        role,
        accuracy=accuracy,
        accuracy_source="keras model on the test split",
        params=model_params(model),
        macs=model_macs(model),
        size_bytes=_size_on_disk(path),
        path=path.name,
        fmt=f"keras ({framework_of(model).value})",
        did_not_learn=did_not_learn(accuracy, dataset.num_classes),
        **extra,
    )


def _size_on_disk(path: Path) -> int:
    # A SavedModel is a folder: its size is that of the files inside.
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


@dataclass(frozen=True)
class TrainingContext:
    """What every training stage of one run shares: checkpoints, early stopping and the strategy."""

    checkpoints: CheckpointFolder | None = None
    patience: int | None = None
    strategy: object | None = None

    def control(self, role: str, patience: bool = True) -> TrainingControl:
        checkpoint = self.checkpoints.role(role) if self.checkpoints is not None else None
        return TrainingControl(checkpoint, self.patience if patience else None, self.strategy)


def prepare_teacher(config: TeacherConfig, dataset: Dataset, context: TrainingContext = TrainingContext()):
    """The teacher as a model: loaded from its file, or built (untrained) from its builder."""
    if config.path:
        teacher = load_model(config.path, trust=config.trust_model)
        check_model_fits_data(teacher, dataset, "teacher")
        return teacher
    with context.control("teacher").scope():
        return get_builder(config.builder).build(dataset.input_shape, dataset.num_classes)


def train_teacher(
    teacher, config: TeacherConfig, dataset: Dataset, seed: int, out: Path, reporter: Reporter, document: dict, context
) -> dict:
    """Train a built teacher (Keras 3), save it as ``teacher.keras`` and return its record."""
    x_fit, y_fit, x_val, y_val = dataset.validation_split(TEACHER_VALIDATION_FRACTION, seed)
    budget = TrainingBudget.for_epochs(config.epochs, len(x_fit), config.batch_size, config.learning_rate)
    history = fit(
        teacher,
        x_fit,
        y_fit,
        hard_label_objective(),
        budget,
        (x_val, y_val),
        seed,
        reporter,
        "training teacher",
        control=context.control("teacher", patience=False),
    )
    document.setdefault("training", {})["teacher"] = history.as_dict()
    save_model(teacher, out / "teacher.keras")
    return keras_record("teacher", teacher, dataset, out / "teacher.keras", source="trained")


def teacher_record(config: TeacherConfig, teacher, dataset: Dataset) -> dict:
    record = keras_record("teacher", teacher, dataset, Path(config.path), source="loaded")
    record["path"] = config.path  # outside the output folder: keep the user's path
    return record


def obtain_teacher(
    config: TeacherConfig,
    dataset: Dataset,
    seed: int,
    out: Path,
    reporter: Reporter,
    document: dict,
    context: TrainingContext = TrainingContext(),
):
    """Load the teacher, or build and train one (Keras 3) and save it as ``teacher.keras``."""
    teacher = prepare_teacher(config, dataset, context)
    if config.path:
        return teacher, teacher_record(config, teacher, dataset)
    return teacher, train_teacher(teacher, config, dataset, seed, out, reporter, document, context)


def ensemble_teachers(config: TeacherConfig, dataset: Dataset) -> tuple[list, list[dict]]:
    """The extra teachers whose soft targets are averaged with the main teacher's."""
    models, records = [], []
    for index, path in enumerate(config.ensemble, start=2):
        model = load_model(path, trust=config.trust_model)
        check_model_fits_data(model, dataset, f"teacher {index} ({path})")
        records.append(keras_record(f"teacher_{index}", model, dataset, Path(path), source="loaded") | {"path": path})
        models.append(model)
    return models, records


def recipes_for(config: PipelineConfig, num_classes: int | None) -> tuple[Recipe, tuple[Recipe, ...]]:
    """The fixed recipe the config names, or (with ``method: auto``) the candidates auto chooses among.

    Returns (recipe, candidates): the recipe is the first candidate under auto.
    """
    distill_config = config.distill
    augmentations = parse_augmentations(distill_config.augment)
    if distill_config.method == AUTO:
        if distill_config.params or distill_config.augment:
            raise ConfigError(
                "distill.params and distill.augment (--temperature, --alpha, --param, --augment) apply to one method; "
                "with method auto, name them in the candidate recipes instead (kd:temperature=4,alpha=0.5 or "
                "kd:augment=mixup), or choose a method"
            )
        candidates = parse_candidates(distill_config.candidates or DEFAULT_CANDIDATES, num_classes)
        return next(r for r in candidates if not r.is_control), candidates
    if distill_config.candidates:
        raise ConfigError(f"distill.candidates are tried by method auto only; the method is {distill_config.method!r}")
    objective = make_objective(distill_config.method, num_classes, distill_config.params)
    return Recipe(distill_config.method, objective, augmentations), ()


def objective_for(config: PipelineConfig, num_classes: int | None) -> Objective:
    """The weighted sum of losses the config names (the first candidate's under auto)."""
    return recipes_for(config, num_classes)[0].objective


@dataclass
class DistillationPlan:
    """Everything distillation needs, checked against each other before any training."""

    student: object
    description: dict
    recipe: Recipe
    candidates: tuple[Recipe, ...]
    settings: DistillationSettings
    extra_teachers: list
    extra_records: list[dict]


def plan_distillation(
    config: PipelineConfig, teacher, dataset: Dataset, context: TrainingContext = TrainingContext()
) -> DistillationPlan:
    """Resolve the student, the objective, the ensemble and the feature layers, and check they fit together.

    Runs before the teacher trains (an untrained teacher has the same layers and shapes), so
    a wrong layer name or a mismatched model fails in seconds, not after an hour.
    """
    student, description = resolve_student(
        config.student.spec,
        dataset.input_shape,
        dataset.num_classes,
        model_macs(teacher),
        config.student.max_mac_fraction,
        trust=config.teacher.trust_model,
    )
    recipe, candidates = recipes_for(config, dataset.num_classes)
    extra_teachers, extra_records = ensemble_teachers(config.teacher, dataset)
    settings = DistillationSettings(
        epochs=config.student.epochs,
        batch_size=config.student.batch_size,
        learning_rate=config.student.learning_rate,
        seed=config.seed,
        use_transfer_set=config.distill.transfer_set,
        train_control=config.distill.control,
        augmentations=parse_augmentations(config.distill.augment),
        teacher_weights=tuple(config.teacher.weights) if config.teacher.weights is not None else None,
        patience=context.patience,
        strategy=context.strategy,
        checkpoints=context.checkpoints,
    )
    for checked in candidates or (recipe,):
        if not checked.is_control:
            check_setup([teacher, *extra_teachers], student, dataset, checked.objective, settings)
    return DistillationPlan(student, description, recipe, candidates, settings, extra_teachers, extra_records)


def distill_stage(
    config: PipelineConfig,
    teacher,
    plan: DistillationPlan,
    dataset: Dataset,
    out: Path,
    reporter: Reporter,
    document: dict,
):
    """Distil the planned student and train its scratch control; save both as .keras, ship the better, record them."""
    outcome = distill(
        [teacher, *plan.extra_teachers],
        plan.student,
        dataset,
        plan.recipe,
        plan.settings,
        reporter,
        candidates=plan.candidates,
    )
    for warning in plan.description.get("warnings", ()):
        reporter.say(f"edgekd: warning: {warning}")
    kd_path = out / "student_kd.keras"
    save_model(outcome.student_kd, kd_path)
    document["models"]["student_kd"] = keras_record(
        "student_kd", outcome.student_kd, dataset, kd_path, student=plan.description
    )
    training = document.setdefault("training", {})
    training["student_kd"] = outcome.kd_history.as_dict()
    if outcome.student_scratch is not None:
        scratch_path = out / "student_scratch.keras"
        save_model(outcome.student_scratch, scratch_path)
        document["models"]["student_scratch"] = keras_record(
            "student_scratch", outcome.student_scratch, dataset, scratch_path
        )
        training["student_scratch"] = outcome.scratch_history.as_dict()
    shipped = outcome.student_kd if outcome.shipped.role == "student_kd" else outcome.student_scratch
    save_model(shipped, out / "student.keras")
    document["models"]["student"] = keras_record(
        "student",
        shipped,
        dataset,
        out / "student.keras",
        shipped_from=outcome.shipped.role,
        reason=outcome.shipped.reason,
    )
    summary = distillation_summary(document["models"], outcome.recipe.objective.describe(), outcome)
    summary["teacher_outputs"] = outcome.teacher_mode
    summary["augment"] = [a.name for a in outcome.recipe.augmentations]
    summary["strategy"] = {"name": config.distill.strategy, "replicas": outcome.kd_history.replicas}
    if outcome.features:
        summary["features"] = [feature.describe() for feature in outcome.features]
    if plan.extra_records:
        weights = list(plan.settings.teacher_weights or [1.0] * (1 + len(plan.extra_records)))
        summary["ensemble"] = {"teachers": [document["models"]["teacher"], *plan.extra_records], "weights": weights}
    document["distillation"] = summary
    write_text_atomic(out / "training.csv", training_curves_csv(training))
    return shipped


def training_curves_csv(training: dict) -> str:
    """One row per validation checkpoint of every training run: the curves behind the report's plots."""
    terms = sorted({term for history in training.values() for term in history.get("terms", {})})
    lines = [",".join(["run", "checkpoint", "step", "loss", "val_accuracy", *terms])]
    for run, history in training.items():
        per_checkpoint = history.get("steps_per_checkpoint", 0)
        for index, (loss, val) in enumerate(zip(history["loss"], history["val_accuracy"], strict=True)):
            values = [history.get("terms", {}).get(term, [None] * (index + 1))[index] for term in terms]
            cells = [run, str(index + 1), str(round((index + 1) * per_checkpoint)), f"{loss:.6g}", f"{val:.6g}"]
            lines.append(",".join(cells + ["" if v is None else f"{v:.6g}" for v in values]))
    return "\n".join(lines) + "\n"


def distillation_summary(models: dict, loss: dict, outcome) -> dict:
    teacher, kd = models["teacher"], models["student_kd"]
    scratch = models.get("student_scratch")
    summary = {
        **loss,
        "recipe": outcome.recipe.spec,
        "transfer_samples": outcome.transfer_samples,
        "budget": {
            "steps": outcome.kd_history.steps,
            "batch_size": outcome.budget.batch_size,
            "learning_rate": outcome.budget.learning_rate,
        },
        "student_mac_fraction": round(kd["macs"] / teacher["macs"], 6) if teacher["macs"] else None,
        "accuracy_kept": round(kd["accuracy"] / teacher["accuracy"], 6) if teacher["accuracy"] else None,
        "shipped": outcome.shipped.as_dict(),
    }
    if outcome.candidates:
        summary["selection"] = {
            "candidates": [score.as_dict() for score in outcome.candidates],
            "chosen": outcome.recipe.spec,
            "fraction_of_budget": round(outcome.candidates[0].steps / outcome.kd_history.steps, 4),
            "seconds": round(outcome.selection_seconds, 3),
        }
    not_learned = [role for role, record in models.items() if record.get("did_not_learn")]
    if scratch is not None:
        gain = 100 * (kd["accuracy"] - scratch["accuracy"])
        summary["gain_over_control_points"] = round(gain, 3)
        summary["verdict"] = (
            f"distillation {'helped' if gain > 0 else 'did not help'}: {kd['accuracy']:.2%} vs {scratch['accuracy']:.2%} "
            f"for the scratch control ({gain:+.2f} points, same architecture and {outcome.kd_history.steps} steps); "
            f"shipped: {outcome.shipped.role} ({outcome.shipped.reason})"
        )
    else:
        summary["verdict"] = "no scratch control was trained (--no-control): distillation's gain is unknown"
    if not_learned:
        summary["verdict"] += (
            f"; did not learn (within {CHANCE_MARGIN_POINTS:g} points of chance): {', '.join(not_learned)}"
        )
    return summary


@dataclass
class TfliteArtifact:
    role: str
    path: Path
    record: dict


def quantize_stage(
    model,
    role: str,
    mode: str,
    dataset: Dataset,
    representative_count: int,
    seed: int,
    out_file: Path,
    reference_role: str | None = None,
    options: QuantizeOptions = DEFAULT_OPTIONS,
    max_drop_points: float = 1.0,
    strict: bool = False,
) -> TfliteArtifact:
    """Convert ``model`` in ``mode``, check the .tflite through LiteRT, then save it.

    Checks: accuracy and top-1 agreement against the Keras model, and for integer-only
    modes that no op stayed float. Failed checks are warnings, or errors with ``strict``
    (and then nothing is written).
    """
    spec = get_mode(mode)
    representative = (
        representative_samples(dataset.x_train, representative_count, seed) if spec.needs_representative_data else None
    )
    data = convert(model, mode, representative, options)
    predicted = np.argmax(tflite_eval.predict(data, dataset.x_test), axis=1)
    keras_predicted = np.argmax(predict_logits(model, dataset.x_test), axis=1)
    report = inspect_tflite(data)
    accuracy = float(np.mean(predicted == dataset.y_test))
    keras_accuracy_value = float(np.mean(keras_predicted == dataset.y_test))
    drop = accuracy_drop_points(keras_accuracy_value, accuracy)
    warnings = []
    if drop > max_drop_points:
        warnings.append(
            f"{role}: {mode} conversion lost {drop:.2f} points of accuracy ({keras_accuracy_value:.2%} -> {accuracy:.2%}), "
            f"more than --max-drop {max_drop_points:g}; try int16x8, or quantization-aware training"
        )
    left_float = float_ops(report) if spec.integer_only else []
    if left_float:
        problem = (
            f"{role}: {len(left_float)} op(s) have no integer kernel and stayed float in {mode} mode: "
            f"{', '.join(left_float[:5])}; integer-only hardware (Edge TPU, int8 microcontrollers) cannot run them"
        )
        if not options.allow_float_ops:
            raise ConversionError(
                f"{problem}. Replace that layer, convert with --mode dynamic (float activations) or int16x8, or pass "
                "--allow-float-ops to keep a mixed file; nothing was written"
            )
        warnings.append(problem)
    if strict and warnings:
        raise ConversionError(f"--strict: {warnings[0]}; nothing was written")
    write_bytes_atomic(out_file, data)
    record = model_record(
        role,
        accuracy=accuracy,
        accuracy_source="the .tflite through the LiteRT interpreter on the test split",
        params=report.params,
        macs=report.macs,
        size_bytes=len(data),
        path=out_file.name,
        fmt=f"tflite ({mode})",
        gzip_bytes=gzip_size(data),
        weight_bytes=report.weight_bytes,
        mode=mode,
        detected_mode=detected_mode(report),
        agreement_with_keras=round(float(np.mean(predicted == keras_predicted)), 6),
        did_not_learn=did_not_learn(accuracy, dataset.num_classes),
        accuracy_drop_points=round(drop, 4),
        converted_from=reference_role,
        float_ops=left_float,
        warnings=warnings,
        input={
            "dtype": report.inputs[0].dtype,
            "scale": list(report.inputs[0].scale),
            "zero_point": list(report.inputs[0].zero_point),
        },
        output={
            "dtype": report.outputs[0].dtype,
            "scale": list(report.outputs[0].scale),
            "zero_point": list(report.outputs[0].zero_point),
        },
    )
    return TfliteArtifact(role, out_file, record)


# Short runs: enough to rank the modes on the host, not a full benchmark.
MODE_COMPARISON_BENCH = BenchSettings(runs=100, min_seconds=0.3, warmup=10)


def compare_modes(
    model,
    stem: str,
    dataset: Dataset,
    out: Path,
    representative_count: int,
    seed: int,
    options: QuantizeOptions,
    max_drop_points: float,
    strict: bool,
    reporter: Reporter = SILENT,
) -> tuple[dict, list[dict]]:
    """Convert ``model`` in every mode into ``out/<stem>_<mode>.tflite``, check each, time each on the host."""
    records, artifacts = {}, []
    with reporter.bar(len(mode_names()), "converting", unit="mode") as bar:
        for mode in mode_names():
            role = f"{stem}_{mode}"
            artifact = quantize_stage(
                model,
                role,
                mode,
                dataset,
                representative_count,
                seed,
                out / f"{role}.tflite",
                "keras",
                options,
                max_drop_points,
                strict,
            )
            records[role] = artifact.record
            artifacts.append(artifact)
            bar.update(1)
    return records, bench_stage(artifacts, ["host"], MODE_COMPARISON_BENCH, reporter)


def bench_settings(config: BenchConfig) -> BenchSettings:
    return BenchSettings(runs=config.runs, min_seconds=config.min_seconds, warmup=config.warmup, threads=config.threads)


def bench_stage(
    artifacts: list[TfliteArtifact], devices: list[str], settings: BenchSettings, reporter: Reporter
) -> list[dict]:
    """Benchmark every artifact on every device; a device that fails yields failed entries, not a crash.

    Devices run concurrently (each on its own hardware, one thread each: runners wait on
    subprocesses), models on one device one after another, so they never compete.
    """
    entries = [get_profile(name) for name in devices]

    def on_device(position: int, entry) -> list[dict]:
        documents = []
        with reporter.bar(
            len(artifacts), f"benchmarking on {entry.profile.name}", unit="model", position=position
        ) as bar:
            for artifact in artifacts:
                try:
                    result = benchmark(artifact.path, entry, settings, label=artifact.role)
                except EdgekdError as exc:
                    result = BenchmarkResult(
                        model=artifact.role,
                        device=entry.profile.name,
                        runner=entry.profile.transport.type.value,
                        ok=False,
                        path=str(artifact.path),
                        size_bytes=artifact.path.stat().st_size,
                        requested_runs=settings.runs,
                        error=str(exc),
                    )
                bar.update(1)
                document = result.as_dict()
                document["path"] = artifact.path.name
                documents.append(document)
        return documents

    with ThreadPoolExecutor(max_workers=max(1, len(entries))) as pool:
        per_device = list(pool.map(on_device, range(len(entries)), entries))
    return [document for documents in per_device for document in documents]


@dataclass
class TrainedModels:
    dataset: Dataset
    teacher: object
    student: object


def preflight(config: PipelineConfig) -> None:
    """Cheap checks that fail before any slow stage: specs parse, files exist, names are known."""
    parse_spec(config.data.spec)
    for path in filter(None, [config.teacher.path, *config.teacher.ensemble]):
        if not Path(path).exists():
            raise ModelError(f"teacher model {path} does not exist; check --teacher or pass --train-teacher")
    if config.teacher.ensemble and not config.teacher.path:
        raise ConfigError("an ensemble of teachers needs the first teacher as a file too (teacher.path / --teacher)")
    teachers = 1 + len(config.teacher.ensemble)
    if config.teacher.weights is not None and len(config.teacher.weights) != teachers:
        raise ConfigError(
            f"{len(config.teacher.weights)} teacher weights for {teachers} teachers; give one per teacher"
        )
    # The class count is not known before the data loads; checks that need it run again later.
    objective_for(config, None)
    parse_augmentations(config.distill.augment)
    check_strategy(config.distill.strategy)
    check_devices(config.bench.devices)


def check_devices(names: list[str]) -> None:
    """Every device is known and has a runner; raises before anything is trained or measured."""
    for name in names:
        get_runner(get_profile(name).profile)


def run_distillation(
    config: PipelineConfig, out: Path, reporter: Reporter, document: dict, checkpoints: CheckpointFolder | None = None
) -> TrainedModels:
    """Data, teacher and distillation stages: the part ``edgekd distill`` runs on its own."""
    preflight(config)
    # Before anything is built: weight initialisation draws from these generators.
    seed_everything(config.seed, config.deterministic)
    with reporter.stage("loading data", "data"):
        dataset = load_dataset(config.data.spec, reporter)
    document["data"] = dataset.summary()
    # Class-dependent checks (dkd needs 3+ classes) as soon as the class count is known.
    objective_for(config, dataset.num_classes)
    context = TrainingContext(checkpoints, config.student.patience, make_strategy(config.distill.strategy))
    with reporter.stage("loading the teacher" if config.teacher.path else "training the teacher", "teacher"):
        teacher = prepare_teacher(config.teacher, dataset, context)
        plan = plan_distillation(config, teacher, dataset, context)
        if config.teacher.path:
            document["models"]["teacher"] = teacher_record(config.teacher, teacher, dataset)
        else:
            document["models"]["teacher"] = train_teacher(
                teacher, config.teacher, dataset, config.seed, out, reporter, document, context
            )
    with reporter.stage("distilling the student and training its scratch control", "distill"):
        student = distill_stage(config, teacher, plan, dataset, out, reporter, document)
    return TrainedModels(dataset, teacher, student)


def write_results(document: dict, out: Path, reporter: Reporter) -> None:
    document["timings_s"] = dict(reporter.durations)
    write_json_atomic(out / "results.json", document)
    write_text_atomic(out / "report.md", render_markdown(document))


def distill_only(
    config: PipelineConfig, out: Path, reporter: Reporter = SILENT, checkpoints: CheckpointFolder | None = None
) -> dict:
    """``edgekd distill``: the training stages alone, with results.json and report.md."""
    document = new_document("distill", config.model_dump(mode="json"), seeds={"training": config.seed})
    run_distillation(config, out, reporter, document, checkpoints)
    write_results(document, out, reporter)
    return document


def run_pipeline(
    config: PipelineConfig,
    out: Path,
    reporter: Reporter = SILENT,
    kind: str = "run",
    checkpoints: CheckpointFolder | None = None,
) -> dict:
    """Run every stage into ``out``; returns the results document (also written as results.json)."""
    document = new_document(kind, config.model_dump(mode="json"), seeds={"training": config.seed})
    trained = run_distillation(config, out, reporter, document, checkpoints)
    dataset = trained.dataset
    artifacts = []
    with reporter.stage("converting to TFLite and checking accuracy through LiteRT", "quantize"):
        for model, role, mode, reference in (
            (trained.teacher, "teacher_float32", "float32", "teacher"),
            (trained.student, "student_float32", "float32", "student"),
            (trained.student, f"student_{config.quantize.mode}", config.quantize.mode, "student"),
        ):
            artifact = quantize_stage(
                model,
                role,
                mode,
                dataset,
                config.quantize.representative_samples,
                config.seed,
                out / f"{role}.tflite",
                reference,
            )
            document["models"][role] = artifact.record
            artifacts.append(artifact)
    with reporter.stage(f"benchmarking on {', '.join(config.bench.devices)}", "bench"):
        document["benchmarks"] = bench_stage(artifacts, config.bench.devices, bench_settings(config.bench), reporter)
    write_results(document, out, reporter)
    return document
