"""The teacher and distillation stages: what ``edgekd distill`` runs, and ``edgekd run`` before quantization.

Each stage takes the config and a folder to write into and returns typed records
(``edgekd.records``); the caller orders the stages and makes the folder appear
atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from edgekd.data.dataset import Dataset
from edgekd.distill.augment import check_modality, parse_augmentations
from edgekd.distill.choice import (
    Predictions,
    predictions,
)
from edgekd.distill.config import DistillStageConfig, TeacherConfig
from edgekd.distill.distiller import (
    DistillationSettings,
    check_model_fits_data,
    check_setup,
    distill,
    teacher_predictions,
)
from edgekd.distill.losses import Objective, make_objective
from edgekd.distill.online_cost import ONLINE_COST_LIMIT
from edgekd.distill.recipes import AUTO, WEAK_TEACHER_RECIPE, Recipe, default_candidates, parse_candidates, parse_recipe
from edgekd.distill.summary import distillation_summary, per_class_table
from edgekd.distill.teacher_recipe import member_file, teacher_recipe, train_teachers
from edgekd.distill.trainer import DEFAULT_TRAINING, TrainingControl, TrainingHistory
from edgekd.errors import ConfigError
from edgekd.frameworks import framework_of
from edgekd.inputs import parse_size
from edgekd.models.builders import get_builder
from edgekd.models.complexity import counted_macs, model_macs, model_params
from edgekd.models.evaluate import accuracy as keras_accuracy
from edgekd.models.evaluate import did_not_learn
from edgekd.models.io import load_model, model_fingerprint, save_model
from edgekd.models.students import resolve_student
from edgekd.progress import Reporter
from edgekd.records import DistillationSummary, ModelRecord


def keras_record(
    role: str, model, dataset: Dataset, path: Path, test: Predictions | None = None, **details
) -> ModelRecord:
    """A Keras model's record: its accuracy on the test split (from ``test`` when already predicted), size and cost."""
    accuracy = test.accuracy if test is not None else keras_accuracy(model, dataset.x_test, dataset.y_test)
    return ModelRecord(
        role,
        accuracy=accuracy,
        accuracy_source="keras model on the test split",
        params=model_params(model),
        macs=model_macs(model),
        size_bytes=_size_on_disk(path),
        path=path.name,
        format=f"keras ({framework_of(model).value})",
        did_not_learn=did_not_learn(accuracy, dataset.num_classes),
        fingerprint=model_fingerprint(path),
        **details,
    )


def _size_on_disk(path: Path) -> int:
    # A SavedModel is a folder: its size is that of the files inside.
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def prepare_teacher(config: TeacherConfig, dataset: Dataset, training: TrainingControl = DEFAULT_TRAINING):
    """The teacher as a model: loaded from its file, or built (untrained) from its builder, for its view of the data."""
    seen = dataset.for_teacher()
    if config.path:
        teacher = load_model(config.path, trust=config.trust_model)
        check_model_fits_data(teacher, seen, "teacher")
        return teacher
    with training.scope():
        return get_builder(config.builder).build(seen.input_shape, seen.num_classes)


def train_teacher(
    teacher,
    config: TeacherConfig,
    dataset: Dataset,
    seed: int,
    out: Path,
    reporter: Reporter,
    training: TrainingControl = DEFAULT_TRAINING,
    deterministic: bool = False,
) -> tuple[ModelRecord, dict[str, TrainingHistory], list, list[ModelRecord]]:
    """Train a built teacher (Keras 3), and the other members of its ensemble, with the teacher recipe
    (``edgekd.distill.teacher_recipe``); save them as ``teacher.keras``, ``teacher_2.keras`` ...

    Returns the teacher's record, every member's training history, and the other members with their records.
    """
    trained = train_teachers(teacher, config, dataset, seed, reporter, training, deterministic)
    view = dataset.for_teacher()
    recipe = teacher_recipe(config, dataset).describe()
    save_model(teacher, out / "teacher.keras")
    record = keras_record("teacher", teacher, view, out / "teacher.keras", source="trained", recipe=recipe)
    records = []
    for index, member in enumerate(trained.members, start=2):
        save_model(member, member_file(out, index))
        records.append(
            keras_record(f"teacher_{index}", member, view, member_file(out, index), source="trained", recipe=recipe)
        )
    return record, trained.histories, trained.members, records


def teacher_record(config: TeacherConfig, teacher, dataset: Dataset) -> ModelRecord:
    """A loaded teacher's record; its path stays the user's (it is not copied into the output)."""
    record = keras_record("teacher", teacher, dataset.for_teacher(), Path(config.path), source="loaded")
    return replace(record, path=config.path, macs=counted_macs(teacher))


def obtain_teacher(config: TeacherConfig, dataset: Dataset, seed: int, out: Path, reporter: Reporter):
    """Load the teacher, or build and train one (Keras 3) and save it as ``teacher.keras``: (model, record, history).

    With ``ensemble_size`` above 1 the model is a list: the teacher first, then the other members.
    """
    teacher = prepare_teacher(config, dataset)
    if config.path:
        return teacher, teacher_record(config, teacher, dataset), None
    record, histories, members, _ = train_teacher(teacher, config, dataset, seed, out, reporter)
    return ([teacher, *members] if members else teacher), record, histories["teacher"]


def ensemble_teachers(config: TeacherConfig, dataset: Dataset) -> tuple[list, list[ModelRecord]]:
    """The extra teachers whose soft targets are averaged with the main teacher's."""
    models, records = [], []
    dataset = dataset.for_teacher()
    for index, path in enumerate(config.ensemble, start=2):
        model = load_model(path, trust=config.trust_model)
        check_model_fits_data(model, dataset, f"teacher {index} ({path})")
        records.append(
            replace(keras_record(f"teacher_{index}", model, dataset, Path(path), source="loaded"), path=path)
        )
        models.append(model)
    return models, records


def recipes_for(
    config: DistillStageConfig, num_classes: int | None, teacher_has_own_view: bool = False, modality: str | None = None
) -> tuple[Recipe, tuple[Recipe, ...]]:
    """The fixed recipe the config names, or (with ``method: auto``) the candidates auto chooses among.

    Returns (recipe, candidates): the recipe is the first candidate that distils under auto.
    The default candidates suit the data's ``modality`` (``default_candidates``). When the
    teacher sees its own view of the data, the default candidates that augment are left out
    (augmentations need one view for both); candidates the user names are kept and checked,
    so a conflict there (or an augmentation the data's kind does not suit) is an error.
    """
    distill_config = config.distill
    augmentations = parse_augmentations(distill_config.augment)
    if distill_config.method == AUTO:
        if distill_config.params or distill_config.augment:
            raise ConfigError(
                "method parameters (`distill.params`) and augmentations (`distill.augment`) apply to one method; "
                "with `distill.method` auto, name them in the candidate recipes instead (kd:temperature=4,alpha=0.5 "
                "or kd:augment=mixup), or choose a method"
            )
        candidates = parse_candidates(distill_config.candidates or default_candidates(modality), num_classes)
        if teacher_has_own_view and not distill_config.candidates:
            candidates = tuple(r for r in candidates if not r.augmentations)
        if modality is not None:
            for candidate in candidates:
                check_modality(candidate.augmentations, modality, f"candidate recipe {candidate.spec!r}")
        return next(r for r in candidates if not r.is_control), candidates
    if distill_config.candidates:
        raise ConfigError(
            f"candidate recipes (`distill.candidates`) are tried by `distill.method` auto only; the method is "
            f"{distill_config.method!r}"
        )
    objective = make_objective(distill_config.method, num_classes, distill_config.params)
    if modality is not None:
        check_modality(augmentations, modality)
    return Recipe(distill_config.method, objective, augmentations), ()


def objective_for(config: DistillStageConfig, num_classes: int | None) -> Objective:
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
    extra_records: list[ModelRecord]
    # What trains instead of auto's default candidates when the teacher is not clearly better than the control
    # (None: a fixed method, or candidates the user named, which train whatever the teacher's score).
    weak_teacher_recipe: Recipe | None = None


def plan_distillation(
    config: DistillStageConfig, teacher, dataset: Dataset, training: TrainingControl = DEFAULT_TRAINING
) -> DistillationPlan:
    """Resolve the student, the recipes, the ensemble and the feature layers, and check they fit together.

    Runs before the teacher trains (an untrained teacher has the same layers and shapes), so
    a wrong layer name or a mismatched model fails in seconds, not after an hour.
    """
    student, description = resolve_student(
        config.student.spec,
        dataset.input_shape,
        dataset.num_classes,
        counted_macs(teacher),
        config.student.max_mac_fraction,
        trust=config.teacher.trust_model,
        max_params=config.student.max_params,
    )
    recipe, candidates = recipes_for(config, dataset.num_classes, dataset.teacher is not None, dataset.modality)
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
        training=training,
        teacher_outputs=config.distill.teacher_outputs,
        cache_budget=parse_size(config.distill.cache_budget) if config.distill.cache_budget is not None else None,
    )
    for checked in candidates or (recipe,):
        if not checked.is_control:
            check_setup(
                [teacher, *extra_teachers], student, dataset, checked.objective, settings, checked.augmentations
            )
    weak_teacher_recipe = None
    if candidates and not config.distill.candidates:
        weak_teacher_recipe = parse_recipe(WEAK_TEACHER_RECIPE, dataset.num_classes)
    return DistillationPlan(
        student, description, recipe, candidates, settings, extra_teachers, extra_records, weak_teacher_recipe
    )


@dataclass
class DistillationStage:
    """What the distillation stage hands on: the shipped student and everything it recorded."""

    student: object
    models: dict[str, ModelRecord]
    summary: DistillationSummary
    training: dict[str, dict] = field(default_factory=dict)


def distill_stage(
    config: DistillStageConfig,
    teacher,
    teacher_model: ModelRecord,
    plan: DistillationPlan,
    dataset: Dataset,
    out: Path,
    reporter: Reporter,
) -> DistillationStage:
    """Distil the planned student and train its scratch control; save both as .keras, ship the better, record them."""
    outcome = distill(
        [teacher, *plan.extra_teachers],
        plan.student,
        dataset,
        plan.recipe,
        plan.settings,
        reporter,
        plan.candidates,
        weak_teacher_recipe=plan.weak_teacher_recipe,
        # auto's own candidates only (the ones a user names are tried whatever they cost), and not
        # where a timing must not decide what trains.
        online_cost_limit=ONLINE_COST_LIMIT
        if plan.weak_teacher_recipe is not None and not config.deterministic
        else None,
    )
    for warning in plan.description.get("warnings", ()):
        reporter.say(f"edgekd: warning: {warning}")
    models, training = {}, {"student_kd": outcome.kd_history.as_dict()}
    tests = {"student_kd": predictions(outcome.student_kd, dataset.x_test, dataset.y_test)}
    save_model(outcome.student_kd, out / "student_kd.keras")
    models["student_kd"] = keras_record(
        "student_kd",
        outcome.student_kd,
        dataset,
        out / "student_kd.keras",
        tests["student_kd"],
        student=plan.description,
    )
    if outcome.student_scratch is not None:
        tests["student_scratch"] = predictions(outcome.student_scratch, dataset.x_test, dataset.y_test)
        save_model(outcome.student_scratch, out / "student_scratch.keras")
        models["student_scratch"] = keras_record(
            "student_scratch",
            outcome.student_scratch,
            dataset,
            out / "student_scratch.keras",
            tests["student_scratch"],
        )
        training["student_scratch"] = outcome.scratch_history.as_dict()
    shipped = outcome.student_kd if outcome.shipped.role == "student_kd" else outcome.student_scratch
    save_model(shipped, out / "student.keras")
    models["student"] = keras_record(
        "student",
        shipped,
        dataset,
        out / "student.keras",
        tests[outcome.shipped.role],
        shipped_from=outcome.shipped.role,
        reason=outcome.shipped.reason,
    )
    # The teachers as the students learn from them: the weighted ensemble when there are several.
    teacher_test = teacher_predictions(
        [teacher, *plan.extra_teachers],
        plan.settings.teacher_weights or (),
        dataset.for_teacher().x_test,
        dataset.y_test,
    )
    summary = distillation_summary(
        config,
        teacher_model,
        models,
        outcome,
        plan.extra_records,
        plan.settings.teacher_weights,
        {"teacher": teacher_test, **tests},
    )
    summary = replace(summary, per_class=per_class_table(dataset, {"teacher": teacher_test, **tests}))
    return DistillationStage(shipped, models, summary, training)
