"""The Distiller: a distilled student next to its scratch control, on the same budget.

The control is the same architecture starting from the same initial weights, trained on
the labelled set alone for the same number of optimizer steps and batch size. So any gain
the distilled student shows comes from the teacher's knowledge (and the transfer set it
labels), not from extra compute or a luckier initialisation.

With ``auto``, candidate recipes train the first checkpoints of the budget from those same
initial weights, the better ones further, scored on the validation split (successive
halving); the best trains on to the end. Either way the run ships the
distilled student or the control, whichever is better on validation.

The training itself (settings, splits, the teachers' outputs) lives in
``edgekd.distill.training_run``; the choice of the shipped student in ``edgekd.distill.choice``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.distill.augment import Augmentation
from edgekd.distill.choice import (
    Predictions,
    Shipped,
    TeacherCheck,
    check_teacher,
    choose_shipped,
    predictions,
)
from edgekd.distill.features import ResolvedFeature, resolve
from edgekd.distill.losses import DistillationLoss, Objective
from edgekd.distill.online_cost import online_too_costly, teacher_batch_seconds
from edgekd.distill.recipes import CONTROL, Recipe
from edgekd.distill.selection import CandidateScore, Selection, rungs, select_recipe, survivors  # noqa: F401
from edgekd.distill.trainer import TrainingBudget, TrainingHistory, steps_per_execution
from edgekd.distill.training_run import (  # noqa: F401 (the names callers import from here)
    DEFAULT_EPOCHS,
    MIN_DEFAULT_STEPS,
    MIN_TRIAL_STEPS,
    TEACHER_OUTPUTS,
    TRIAL_CHECKPOINTS,
    DistillationSettings,
    TrainingRun,
    cached_targets,
    distillation_inputs,
    fresh_copy,
    twin,
)
from edgekd.errors import ConfigError, ModelError
from edgekd.models.complexity import model_macs
from edgekd.models.evaluate import predict_logits
from edgekd.progress import SILENT, Reporter


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
    # Why auto left its augmenting candidates out (their online teacher too costly), or None.
    left_out: str | None = None


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


def as_objective(loss: DistillationLoss | Objective) -> Objective:
    return loss if isinstance(loss, Objective) else Objective(((1.0, loss),))


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


def _costly_online(
    run: TrainingRun, teachers: list, student, recipes, control: TrainingHistory, limit: float
) -> str | None:
    """Why the augmenting candidates cost too much to try (``edgekd.distill.online_cost``), or None.

    Only when the others read cached outputs (else all run the teacher alike); a resumed run
    reads its first attempt's answer.
    """
    others = [r for r in recipes if not r.augmentations and not r.is_control]
    if not any(r.augmentations for r in recipes) or not others:
        return None
    if run.teacher_route(others[0], resolve(others[0].objective.feature_requests(), teachers[0], student)) != "cached":
        return None

    def decide() -> str | None:
        passes = steps_per_execution(control.steps_per_checkpoint) if control.steps_per_checkpoint else 1
        teacher_s = teacher_batch_seconds(teachers, run.outputs.inputs, run.settings.batch_size, passes)
        return online_too_costly(control.seconds_per_step() or 0.0, teacher_s, limit)

    checkpoints = run.settings.training.checkpoints
    return checkpoints.decision("auto-left-out", decide) if checkpoints is not None else decide()


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
    weak_teacher_recipe: Recipe | None = None,
    online_cost_limit: float | None = None,
) -> DistillationOutcome:
    """Distil ``teachers`` (one model or a list) into ``student`` (trained in place) and train the scratch control.

    The control trains first, and the teacher is checked against it on validation (said on
    ``reporter``). With ``candidates`` (``loss`` may then be None), the candidate recipes train
    the first checkpoints of the budget from the student's initial weights, the better ones
    further (``select_recipe``), and the one best on the validation split trains on to the end; when the teacher is not clearly better
    than the control and ``weak_teacher_recipe`` is given, the candidates are skipped and it
    trains instead. With ``online_cost_limit``, candidates that augment are left out when their
    steps would cost more than that many times the control's (``edgekd.distill.online_cost``).
    The run ships the student better on validation, or the control when the teacher is not
    clearly better than it (``edgekd.distill.choice``).
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
    recipe, scores, selection_seconds, left_out, start = recipes[0], (), 0.0, None, None
    if teacher_check is not None and not teacher_check.worth_distilling and weak_teacher_recipe is not None:
        recipe = weak_teacher_recipe
    elif candidates:
        started = time.perf_counter()
        tried = recipes
        if online_cost_limit is not None and scratch_history is not None:
            left_out = _costly_online(run, teachers, student, recipes, scratch_history, online_cost_limit)
            if left_out:
                reporter.say(f"edgekd: {left_out}")
                tried = tuple(r for r in recipes if not r.augmentations)
        selection = select_recipe(run, student, tried, reporter)
        recipe, scores, start = selection.recipe, selection.scores, selection.state
        selection_seconds = time.perf_counter() - started
    kd_history, mode, features = run.train(
        student, recipe, budget, "student_kd", f"distilling ({recipe.spec})", reporter, start_from=start
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
        left_out=left_out,
    )
