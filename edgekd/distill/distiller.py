"""The Distiller: a distilled student next to its scratch control, on the same budget.

The control is the same architecture starting from the same initial weights, trained on
the labelled set alone for the same number of optimizer steps and batch size. So any gain
the distilled student shows comes from the teacher's knowledge (and the transfer set it
labels), not from extra compute or a luckier initialisation.

With ``auto``, candidate recipes each train briefly from those same initial weights and
are scored on the validation split; the best trains fully. Either way the run ships the
distilled student or the control, whichever is better on validation.

Without augmentation the teachers see the same inputs every epoch, so their logits (and the
features a method reads) are computed once here and shared by every recipe; with
augmentation they run online inside the training step, on the same view as the student.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from edgekd.data import samples
from edgekd.data.dataset import Dataset
from edgekd.data.samples import Inputs
from edgekd.distill.augment import Augmentation
from edgekd.distill.choice import (
    Predictions,
    Shipped,
    TeacherCheck,
    check_teacher,
    choose_shipped,
    predictions,
    validation_score,
)
from edgekd.distill.features import ResolvedFeature, resolve, tap_model
from edgekd.distill.losses import DistillationLoss, Objective
from edgekd.distill.recipes import CONTROL, Recipe
from edgekd.distill.step import LABELS, TEACHER_INPUTS, OnlineTeachers, build_wrapper
from edgekd.distill.teacher_outputs import CacheBudget, OutputStore, TeacherOutputs
from edgekd.distill.trainer import (
    TrainingBudget,
    TrainingControl,
    TrainingHistory,
    fit,
    hard_label_objective,
)
from edgekd.errors import ConfigError, ModelError
from edgekd.inputs import describe_size
from edgekd.models.complexity import model_macs
from edgekd.models.evaluate import looks_like_probabilities, predict_logits
from edgekd.models.frameworks import framework_of, keras_module
from edgekd.progress import SILENT, Reporter

# ``auto`` tries each candidate recipe on this fraction of the full budget: the default eight
# candidates (two with the teacher online) cost about 1.4 full runs on the demo, so the whole
# auto run stays within about twice a fixed-recipe run (a distilled student and its control).
SELECTION_FRACTION = 0.15
# The default budget: 30 epochs over the distillation set, but never fewer than 1,500 steps.
# On a small labelled set without a transfer set, 30 epochs are a few hundred steps: measured
# on 1,294 digit images, 330 steps left every recipe (and the control) short of where 1,650
# steps took them, and the teacher's advantage only shows once students are trained out.
DEFAULT_EPOCHS = 30
TRIAL_CHECKPOINTS = 2
# Below this many steps a trial's score is mostly its initialisation: a trial gets at least
# this many (never more than the full budget), however small the budget.
MIN_TRIAL_STEPS = 100
MIN_DEFAULT_STEPS = 1500


@dataclass(frozen=True)
class DistillationSettings:
    """Everything about how the student learns besides the models and the data."""

    # None: DEFAULT_EPOCHS, and at least MIN_DEFAULT_STEPS steps.
    epochs: int | None
    batch_size: int
    learning_rate: float
    seed: int
    use_transfer_set: bool = True
    train_control: bool = True
    augmentations: tuple[Augmentation, ...] = ()
    # Weights of the teachers' soft targets, one per teacher (None: equal).
    teacher_weights: tuple[float, ...] | None = None
    # Checkpoints, early stopping and the tf.distribute strategy of the whole run.
    training: TrainingControl = TrainingControl()
    # How the teachers' outputs reach the training step (see TEACHER_OUTPUTS).
    teacher_outputs: str = "auto"
    # Bytes of teacher outputs that may be cached (None: edgekd.distill.teacher_outputs.CacheBudget.default).
    cache_budget: int | None = None

    def __post_init__(self) -> None:
        if self.teacher_outputs not in TEACHER_OUTPUTS:
            raise ConfigError(f"`teacher_outputs` {self.teacher_outputs!r} is not one of {', '.join(TEACHER_OUTPUTS)}")
        if self.cache_budget is not None and self.cache_budget < 0:
            raise ConfigError(f"`cache_budget` {self.cache_budget} must not be negative")


# auto: cached once when they fit the cache budget, else the teacher runs in every step;
# cached: refuse a run whose outputs exceed the budget; online: always in every step (for timing).
TEACHER_OUTPUTS = ("auto", "cached", "online")


@dataclass
class DistillationOutcome:
    student_kd: object
    student_scratch: object | None
    kd_history: TrainingHistory
    scratch_history: TrainingHistory | None
    budget: TrainingBudget
    transfer_samples: int
    features: tuple[ResolvedFeature, ...] = ()
    teacher_mode: str = "cached"
    # The recipe the distilled student trained with; with auto, each candidate's short-budget score.
    recipe: Recipe | None = None
    candidates: tuple = ()
    selection_seconds: float = 0.0
    # Which of the two the run hands on, and why.
    shipped: Shipped | None = None
    # Why the teacher ran online when it was not asked to (its outputs past the cache budget).
    teacher_reason: str | None = None
    # The teacher against the control on validation (None without a control).
    teacher_check: TeacherCheck | None = None


def check_model_fits_data(model, dataset: Dataset, role: str) -> None:
    """The model takes the data's samples and has one output per class."""
    model_input = tuple(int(d) for d in model.input_shape[1:])
    if model_input != dataset.input_shape:
        raise ModelError(
            f"the {role} expects inputs shaped {model_input} but the data's samples are {dataset.input_shape}; "
            "give data that matches the model"
        )
    outputs = int(model.output_shape[-1])
    if outputs != dataset.num_classes:
        raise ModelError(
            f"the {role} has {outputs} outputs but the data has {dataset.num_classes} classes; "
            "they must match (labels out of range for the model?)"
        )


def check_pairing(teacher, student, dataset: Dataset) -> None:
    """Fail before training when teacher, student and data do not fit together (the teacher on its own view)."""
    check_model_fits_data(teacher, dataset.for_teacher(), "teacher")
    check_model_fits_data(student, dataset, "student")
    teacher_macs, student_macs = model_macs(teacher), model_macs(student)
    if teacher_macs and student_macs >= teacher_macs:
        raise ModelError(
            f"the student needs {student_macs:,} MACs, not fewer than the teacher's {teacher_macs:,}; "
            "choose a smaller `student.spec` (or auto, to size one automatically)"
        )


def fresh_copy(model):
    """The same architecture with newly initialised weights."""
    keras = keras_module(framework_of(model))
    return keras.models.clone_model(model)


def twin(model):
    """The same architecture starting from the same weights: the control differs from the student only by its targets."""
    copy = fresh_copy(model)
    copy.set_weights(model.get_weights())
    return copy


def as_objective(loss: DistillationLoss | Objective) -> Objective:
    return loss if isinstance(loss, Objective) else Objective(((1.0, loss),))


def _temperature(objective: Objective) -> float:
    """The temperature at which several teachers' soft targets are averaged: the first term's that has one."""
    for _, loss in objective.terms:
        if hasattr(loss, "temperature"):
            return float(loss.temperature)
    return 1.0


def _teacher_weights(teachers: list, weights: tuple[float, ...] | None) -> tuple[float, ...]:
    if weights is None:
        return tuple(1.0 for _ in teachers)
    if len(weights) != len(teachers):
        raise ConfigError(f"{len(weights)} teacher weights for {len(teachers)} teachers; give one weight per teacher")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not sum(weights) > 0:
        raise ConfigError(f"teacher weights must be finite, non-negative and not all zero, got {list(weights)}")
    return tuple(float(w) for w in weights)


def check_setup(
    teachers: list,
    student,
    dataset: Dataset,
    objective: Objective,
    settings: DistillationSettings,
    augmentations: tuple[Augmentation, ...] = (),
) -> tuple[tuple[float, ...], tuple[ResolvedFeature, ...]]:
    """Everything that can be checked before training: pairings, teacher weights, feature layers and shapes."""
    for teacher in teachers:
        check_pairing(teacher, student, dataset)
    if augmentations and dataset.teacher is not None:
        raise ConfigError(
            f"augmentations ({', '.join(a.name for a in augmentations)}) need the teacher and the student to see the "
            "same inputs, but the data gives the teacher its own view (`teacher_size`, `teacher_scale` ...); drop "
            "the augmentations or the teacher's view"
        )
    return _teacher_weights(teachers, settings.teacher_weights), resolve(
        objective.feature_requests(), teachers[0], student
    )


def distillation_inputs(dataset: Dataset, x_fit: Inputs, y_fit: np.ndarray, use_transfer_set: bool):
    """Labelled training samples plus the transfer set (labels -1)."""
    transfer = dataset.x_unlabeled if use_transfer_set else None
    if transfer is None:
        return x_fit, y_fit, 0
    labels = np.concatenate([y_fit, np.full(len(transfer), -1, dtype=np.int64)])
    return samples.concatenate(x_fit, transfer), labels, len(transfer)


def cached_targets(
    teachers: list,
    weights: tuple[float, ...],
    features: tuple[ResolvedFeature, ...],
    temperature: float,
    x_kd: Inputs,
    labels: np.ndarray,
    reporter: Reporter,
) -> dict[str, np.ndarray]:
    """Labels, the (ensembled) teacher logits and the first teacher's features, computed once."""
    return TeacherOutputs(teachers, weights, x_kd, labels).targets(features, temperature, reporter)


def _online_teachers(teachers, weights, features, temperature, x_probe) -> OnlineTeachers:
    taps = tuple(tap_model(t, features if i == 0 else (), "teacher") for i, t in enumerate(teachers))
    probabilities = tuple(looks_like_probabilities(np.asarray(t.predict(x_probe, verbose=0))) for t in teachers)
    return OnlineTeachers(taps, weights, probabilities, temperature)


def _in_scope(model, settings: DistillationSettings):
    """The model itself, or under a strategy a copy built in its scope (variables must be created there)."""
    if settings.training.strategy is None:
        return model
    with settings.training.strategy.scope():
        copy = fresh_copy(model)
        copy.set_weights(model.get_weights())
    return copy


@dataclass
class TrainingRun:
    """What every recipe of one distillation trains on: the splits, the distillation set and the teachers' outputs.

    Every training that learns from a teacher goes through ``train``: distillation, each
    candidate ``auto`` tries, and quantization-aware training with a teacher.
    """

    teachers: list
    weights: tuple[float, ...]
    x_fit: Inputs
    y_fit: np.ndarray
    x_val: Inputs
    y_val: np.ndarray
    # The distillation set (labelled training samples and the transfer set) as the student sees it.
    x_kd: Inputs
    outputs: TeacherOutputs
    transfer_samples: int
    settings: DistillationSettings
    # The validation samples as the (first) teacher sees them: the same positions, its own view.
    teacher_x_val: Inputs = None
    # Recipes whose teachers ran online for want of cache (or by request), and why.
    online_reasons: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def prepare(
        teachers: list, dataset: Dataset, weights: tuple[float, ...], settings: DistillationSettings
    ) -> TrainingRun:
        x_fit, y_fit, x_val, y_val = dataset.validation_split(settings.seed)
        x_kd, labels, transfer_samples = distillation_inputs(dataset, x_fit, y_fit, settings.use_transfer_set)
        teacher_kd, teacher_x_val = x_kd, x_val
        if dataset.teacher is not None:
            # The same positions (same seed, same lengths), through the teacher's view.
            teacher_fit, _, teacher_x_val, _ = dataset.teacher.validation_split(settings.seed)
            teacher_kd = distillation_inputs(dataset.teacher, teacher_fit, y_fit, settings.use_transfer_set)[0]
        checkpoints = settings.training.checkpoints
        store = OutputStore(checkpoints.teacher_outputs if checkpoints is not None else None)
        budget = CacheBudget.default(store.folder)
        if settings.cache_budget is not None:
            budget = CacheBudget(settings.cache_budget, "`cache_budget`")
        outputs = TeacherOutputs(teachers, weights, teacher_kd, labels, store, budget)
        return TrainingRun(
            teachers, weights, x_fit, y_fit, x_val, y_val, x_kd, outputs, transfer_samples, settings, teacher_x_val
        )

    def budget(self, fraction: float = 1.0, labelled_only: bool = False) -> TrainingBudget:
        """The full budget (epochs over the distillation set, or the labelled set alone), or a fraction for a trial."""
        settings = self.settings
        count = len(self.x_fit) if labelled_only else len(self.x_kd)
        full = TrainingBudget.for_epochs(
            settings.epochs or DEFAULT_EPOCHS, count, settings.batch_size, settings.learning_rate
        )
        if settings.epochs is None and full.steps < MIN_DEFAULT_STEPS:
            full = replace(full, steps=MIN_DEFAULT_STEPS)
        if fraction >= 1:
            return full
        # A trial is scored once at its end: two validation checkpoints instead of ten, since on
        # the short runs the per-checkpoint work (a validation pass) costs as much as the steps.
        steps = max(round(full.steps * fraction), min(MIN_TRIAL_STEPS, full.steps))
        return replace(full, steps=steps, checkpoints=TRIAL_CHECKPOINTS)

    def teacher_route(self, recipe: Recipe, features: tuple[ResolvedFeature, ...], reporter: Reporter = SILENT) -> str:
        """How the teachers' outputs reach the training step for ``recipe``: "cached" once, or "online" in every step.

        Augmented inputs need the teacher online; so do outputs past the cache budget, which
        the run says (once per recipe, reason kept in ``online_reasons``), or refuses with
        ``teacher_outputs`` cached.
        """
        settings = self.settings
        if recipe.augmentations:
            return "online"
        if settings.teacher_outputs == "online":
            self.online_reasons[recipe.spec] = "`teacher_outputs` online"
            return "online"
        needed = self.outputs.bytes_needed(features)
        if needed <= self.outputs.budget.limit:
            return "cached"
        reason = (
            f"the teacher's outputs for {recipe.spec} need {describe_size(needed)}, more than the cache budget of "
            f"{self.outputs.budget}"
        )
        if settings.teacher_outputs == "cached":
            raise ConfigError(
                f"`teacher_outputs` cached: {reason}; raise `cache_budget`, or set `teacher_outputs` auto to let "
                "the teacher run online in every step"
            )
        if recipe.spec not in self.online_reasons:
            reporter.say(f"edgekd: the teacher runs online in every step: {reason}")
        self.online_reasons[recipe.spec] = reason
        return "online"

    def train(
        self, student, recipe: Recipe, budget: TrainingBudget, role: str, description: str, reporter: Reporter
    ) -> tuple[TrainingHistory, str, tuple[ResolvedFeature, ...]]:
        """Train ``student`` in place with ``recipe``; returns its history, how the teacher ran and the features used."""
        settings = self.settings
        trained = _in_scope(student, settings)
        if recipe.is_control:
            features, mode = (), "none"
            model, x, targets, objective = trained, self.x_fit, self.y_fit, hard_label_objective()
        else:
            features = resolve(recipe.objective.feature_requests(), self.teachers[0], student)
            temperature = _temperature(recipe.objective)
            mode = self.teacher_route(recipe, features, reporter)
            if mode == "online":
                teacher_inputs = self.outputs.inputs
                online = _online_teachers(self.teachers, self.weights, features, temperature, teacher_inputs[:256])
                targets = {LABELS: self.outputs.labels}
                if teacher_inputs is not self.x_kd:
                    targets[TEACHER_INPUTS] = teacher_inputs
            else:
                online = None
                targets = self.outputs.targets(features, temperature, reporter)
            with settings.training.scope():
                model = build_wrapper(
                    trained, recipe.objective, features, budget.steps, online, recipe.augmentations, settings.seed
                )
            x, objective = self.x_kd, None  # the wrapper computes its own objective
        history = fit(
            model,
            x,
            targets,
            objective,
            budget,
            (self.x_val, self.y_val),
            settings.seed,
            reporter,
            description,
            control=settings.training.for_role(role),
        )
        if trained is not student:
            student.set_weights(trained.get_weights())
        return history, mode, features


@dataclass(frozen=True)
class CandidateScore:
    """One recipe tried by ``auto`` on the short budget, scored on the validation split."""

    recipe: str
    description: dict
    val_accuracy: float
    val_loss: float
    steps: int
    seconds: float

    def as_dict(self) -> dict:
        return {
            "recipe": self.recipe,
            **self.description,
            "val_accuracy": round(self.val_accuracy, 6),
            "val_loss": round(self.val_loss, 6),
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
        }


def _role_name(index: int, recipe: Recipe) -> str:
    readable = "".join(c if c.isalnum() else "-" for c in recipe.spec)
    return f"candidate{index}-{readable}"[:80]


def select_recipe(
    run: TrainingRun,
    student,
    candidates: tuple[Recipe, ...],
    fraction: float,
    reporter: Reporter,
) -> tuple[Recipe, tuple[CandidateScore, ...]]:
    """Train each candidate from the student's initial weights on a short budget; the best distillation recipe wins."""
    initial = student.get_weights()
    budget = run.budget(fraction)
    scores = []
    for index, recipe in enumerate(candidates, start=1):
        trial = twin(student)
        trial.set_weights(initial)
        started = time.perf_counter()
        history, _, _ = run.train(trial, recipe, budget, _role_name(index, recipe), f"trying {recipe.spec}", reporter)
        accuracy_value, loss = validation_score(trial, run.x_val, run.y_val)
        scores.append(
            CandidateScore(
                recipe.spec, recipe.describe(), accuracy_value, loss, history.steps, time.perf_counter() - started
            )
        )
    ranked = sorted(
        (pair for pair in zip(candidates, scores, strict=True) if not pair[0].is_control),
        key=lambda pair: (-pair[1].val_accuracy, pair[1].val_loss),
    )
    return ranked[0][0], tuple(scores)


def teacher_predictions(teachers: list, weights: tuple[float, ...], x, y: np.ndarray) -> Predictions:
    """The teachers' weighted average of probabilities (what the students learn from) on ``(x, y)``."""
    weights = weights or tuple(1.0 for _ in teachers)
    average = 0.0
    for teacher, weight in zip(teachers, weights, strict=True):
        logits = predict_logits(teacher, x)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        average = average + weight * shifted / shifted.sum(axis=1, keepdims=True)
    average = average / sum(weights)
    predicted = np.argmax(average, axis=1)
    loss = float(-np.mean(np.log(np.clip(average[np.arange(len(y)), y], 1e-12, 1.0))))
    return Predictions(predicted == y, predicted, loss)


def distill(
    teachers,
    student,
    dataset: Dataset,
    loss: DistillationLoss | Objective | Recipe | None,
    settings: DistillationSettings,
    reporter: Reporter = SILENT,
    candidates: tuple[Recipe, ...] = (),
    selection_fraction: float = SELECTION_FRACTION,
    weak_teacher_recipe: Recipe | None = None,
) -> DistillationOutcome:
    """Distil ``teachers`` (one model or a list) into ``student`` (trained in place) and train the scratch control.

    The control trains first, and the teacher is checked against it on validation (said on
    ``reporter``). With ``candidates`` (``loss`` may then be None), each candidate recipe first
    trains for ``selection_fraction`` of the budget from the student's initial weights, and
    the one best on the validation split trains fully; when the teacher is not clearly better
    than the control and ``weak_teacher_recipe`` is given, the candidates are skipped and it
    trains instead. The run ships the student better on validation, or the control when the
    teacher is not clearly better than it (``edgekd.distill.choice``).
    """
    teachers = list(teachers) if isinstance(teachers, list | tuple) else [teachers]
    if candidates:
        recipes = tuple(candidates)
    else:
        objective = as_objective(loss)
        recipes = (loss if isinstance(loss, Recipe) else Recipe(objective.name, objective, settings.augmentations),)
    weights = ()
    for recipe in (*recipes, *([weak_teacher_recipe] if weak_teacher_recipe is not None else [])):
        if not recipe.is_control:
            weights, _ = check_setup(teachers, student, dataset, recipe.objective, settings, recipe.augmentations)
    control_model = twin(student) if settings.train_control else None
    run = TrainingRun.prepare(teachers, dataset, weights, settings)
    if settings.teacher_outputs == "cached":
        # Refuse outputs past the cache budget before anything trains.
        for checked in recipes:
            if not checked.is_control:
                run.teacher_route(checked, resolve(checked.objective.feature_requests(), teachers[0], student))
    budget = run.budget()
    scratch_history, control_val, teacher_check = None, None, None
    if control_model is not None:
        scratch_history, _, _ = run.train(
            control_model, Recipe(CONTROL, None), budget, "student_scratch", "scratch control", reporter
        )
        control_val = predictions(control_model, run.x_val, run.y_val)
        teacher_val = teacher_predictions(teachers, run.weights, run.teacher_x_val, run.y_val)
        teacher_check = check_teacher(teacher_val, control_val)
        reporter.say(f"edgekd: {teacher_check.message}")
    recipe, scores, selection_seconds = recipes[0], (), 0.0
    if teacher_check is not None and not teacher_check.worth_distilling and weak_teacher_recipe is not None:
        recipe = weak_teacher_recipe
    elif candidates:
        started = time.perf_counter()
        recipe, scores = select_recipe(run, student, recipes, selection_fraction, reporter)
        selection_seconds = time.perf_counter() - started
    kd_history, mode, features = run.train(
        student, recipe, budget, "student_kd", f"distilling ({recipe.spec})", reporter
    )
    shipped = choose_shipped(predictions(student, run.x_val, run.y_val), control_val, teacher_check)
    return DistillationOutcome(
        student,
        control_model,
        kd_history,
        scratch_history,
        budget,
        run.transfer_samples,
        features,
        mode,
        recipe,
        scores,
        selection_seconds,
        shipped,
        teacher_reason=run.online_reasons.get(recipe.spec),
        teacher_check=teacher_check,
    )
