"""What every recipe of one distillation trains on, and how: the settings, the splits, the teachers' outputs.

``TrainingRun.train`` is the one way a student learns from teachers here: distillation,
each candidate ``auto`` tries, the search's trials, and quantization-aware training with a
teacher. Without augmentation the teachers see the same inputs every epoch, so their logits
(and the features a method reads) are computed once and shared by every recipe; with
augmentation they run online inside the training step, on the same view as the student.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edgekd.data import samples
from edgekd.data.dataset import Dataset
from edgekd.data.samples import Inputs
from edgekd.distill.augment import Augmentation
from edgekd.distill.checkpoints import TrainingState
from edgekd.distill.features import ResolvedFeature, resolve, tap_model
from edgekd.distill.losses import Objective
from edgekd.distill.recipes import Recipe
from edgekd.distill.step import LABELS, TEACHER_INPUTS, OnlineTeachers, build_wrapper, step_key
from edgekd.distill.teacher_outputs import CacheBudget, OutputStore, TeacherOutputs
from edgekd.distill.trainer import (
    TrainingBudget,
    TrainingControl,
    TrainingHistory,
    fit,
    hard_label_objective,
)
from edgekd.errors import ConfigError
from edgekd.frameworks import framework_of, keras_module
from edgekd.inputs import describe_size
from edgekd.models.evaluate import looks_like_probabilities
from edgekd.progress import SILENT, Reporter

# The default budget: 30 epochs over the distillation set, but never fewer than 1,500 steps.
# On a small labelled set without a transfer set, 30 epochs are a few hundred steps: measured
# on 1,294 digit images, 330 steps left every recipe (and the control) short of where 1,650
# steps took them, and the teacher's advantage only shows once students are trained out.
DEFAULT_EPOCHS = 30
# Validation checkpoints of a full distillation (and its control): ``auto``'s rungs are checkpoints
# (``edgekd.distill.selection.rungs``), so its first can be a twentieth of the budget; a
# validation pass costs about 15 ms on the demo's 800 validation samples. A budget too short for
# twenty checkpoints of ``MIN_TRIAL_STEPS`` has fewer, each that long (``distillation_checkpoints``).
DISTILLATION_CHECKPOINTS = 20
TRIAL_CHECKPOINTS = 2
# Below this many steps a trial's score is mostly its initialisation: a trial (and auto's first
# rung) gets at least this many (never more than the full budget), however small the budget.
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


def distillation_checkpoints(steps: int) -> int:
    """How many validation checkpoints a full training of ``steps`` has: twenty, none shorter than ``MIN_TRIAL_STEPS``.

    ``auto``'s first rung is the first checkpoint with ``MIN_TRIAL_STEPS`` behind it. On the
    default budget's floor (1,500 steps) twenty checkpoints are 75 steps each, so the rung fell
    on the second, 150 steps, the next at 450, and the six candidates trained 1,500 steps: as
    many as the full run. Checkpoints of 100 steps put the rungs at 100 and 300 (1,000 steps).
    A budget under two such checkpoints (a test's) keeps twenty.
    """
    if steps < 2 * MIN_TRIAL_STEPS:
        return DISTILLATION_CHECKPOINTS
    return min(DISTILLATION_CHECKPOINTS, steps // MIN_TRIAL_STEPS)


def fresh_copy(model):
    """The same architecture with newly initialised weights."""
    keras = keras_module(framework_of(model))
    return keras.models.clone_model(model)


def twin(model):
    """The same architecture starting from the same weights: the control differs from the student only by its targets."""
    copy = fresh_copy(model)
    copy.set_weights(model.get_weights())
    return copy


def _temperature(objective: Objective) -> float:
    """The temperature at which several teachers' soft targets are averaged: the first term's that has one."""
    for _, loss in objective.terms:
        if hasattr(loss, "temperature"):
            return float(loss.temperature)
    return 1.0


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
        full = replace(full, checkpoints=distillation_checkpoints(full.steps))
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
        self,
        student,
        recipe: Recipe,
        budget: TrainingBudget,
        role: str,
        description: str,
        reporter: Reporter,
        shared: dict | None = None,
        start_from: TrainingState | None = None,
        pause_at: int | None = None,
    ) -> tuple[TrainingHistory, str, tuple[ResolvedFeature, ...]]:
        """Train ``student`` in place with ``recipe``; returns its history, how the teacher ran and the features used.

        With ``shared`` (a dict the caller keeps across calls on the same model and budget),
        recipes whose objectives differ only in tunable parameters (auto's kd candidates) train
        through one compiled step: each trace of it costs about half a second; a recipe continued
        (``start_from``) reuses its own. ``pause_at`` and ``start_from`` are ``fit``'s: train the
        first checkpoints of the budget now and go on later from ``history.paused``.
        """
        settings = self.settings
        trained = _in_scope(student, settings)
        recompile = True
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
            tunable = online is None and not features
            key = (step_key(recipe.objective), budget) if tunable else (recipe.spec, budget)
            held = shared.get(key) if shared is not None else None
            # A recipe's own step (its teacher online, or adapters) serves it again only to continue:
            # the state puts back every weight, adapters included.
            if held is not None and held[0] is trained and (tunable or start_from is not None):
                model, recompile = held[1], False
                model.retune(recipe.objective)
            else:
                with settings.training.scope():
                    model = build_wrapper(
                        trained, recipe.objective, features, budget.steps, online, recipe.augmentations, settings.seed
                    )
                if shared is not None:
                    shared[key] = (trained, model)
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
            validated=trained,
            recompile=recompile,
            start_from=start_from,
            pause_at=pause_at,
        )
        if trained is not student:
            student.set_weights(trained.get_weights())
        return history, mode, features
