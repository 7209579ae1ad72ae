"""The Distiller: a distilled student next to its scratch control, on the same budget.

The control is the same architecture, freshly initialised with the same seed, trained on
the labelled set alone for the same number of optimizer steps and batch size. So any gain
the distilled student shows comes from the teacher's knowledge (and the transfer set it
labels), not from extra compute.

Without augmentation the teachers see the same inputs every epoch, so their logits (and the
features a method reads) are computed once here and travel with the batches; with
augmentation they run online inside the training step, on the same view as the student.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.distill.augment import Augmentation
from edgekd.distill.checkpoints import CheckpointFolder
from edgekd.distill.features import ResolvedFeature, flatten_feature, resolve, tap_model
from edgekd.distill.losses import DistillationLoss, Objective
from edgekd.distill.step import (
    LABELS,
    TEACHER_LOGITS,
    OnlineTeachers,
    build_wrapper,
    ensemble_logits,
    feature_target,
)
from edgekd.distill.trainer import (
    TrainingBudget,
    TrainingControl,
    TrainingHistory,
    fit,
    hard_label_objective,
    pack_targets,
)
from edgekd.errors import ConfigError, ModelError
from edgekd.models.complexity import model_macs
from edgekd.models.evaluate import as_logits, looks_like_probabilities, predict_logits
from edgekd.models.frameworks import framework_of, keras_module
from edgekd.progress import SILENT, Reporter

VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class DistillationSettings:
    """Everything about how the student learns besides the models and the data."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    use_transfer_set: bool = True
    train_control: bool = True
    augmentations: tuple[Augmentation, ...] = ()
    # Weights of the teachers' soft targets, one per teacher (None: equal).
    teacher_weights: tuple[float, ...] | None = None
    patience: int | None = None
    strategy: object | None = None
    checkpoints: CheckpointFolder | None = None
    # Run the teachers inside every step even without augmentation (for timing the difference).
    online_teacher: bool = False


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
    """Fail before training when teacher, student and data do not fit together."""
    check_model_fits_data(teacher, dataset, "teacher")
    check_model_fits_data(student, dataset, "student")
    teacher_macs, student_macs = model_macs(teacher), model_macs(student)
    if teacher_macs and student_macs >= teacher_macs:
        raise ModelError(
            f"the student needs {student_macs:,} MACs, not fewer than the teacher's {teacher_macs:,}; "
            "choose a smaller --student (or omit it to size one automatically)"
        )


def fresh_copy(model):
    """The same architecture with newly initialised weights (for the scratch control)."""
    keras = keras_module(framework_of(model))
    return keras.models.clone_model(model)


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
    teachers: list, student, dataset: Dataset, objective: Objective, settings: DistillationSettings
) -> tuple[tuple[float, ...], tuple[ResolvedFeature, ...]]:
    """Everything that can be checked before training: pairings, teacher weights, feature layers and shapes."""
    for teacher in teachers:
        check_pairing(teacher, student, dataset)
    return _teacher_weights(teachers, settings.teacher_weights), resolve(
        objective.feature_requests(), teachers[0], student
    )


def distillation_inputs(dataset: Dataset, x_fit: np.ndarray, y_fit: np.ndarray, use_transfer_set: bool):
    """Labelled training samples plus the transfer set (labels -1)."""
    x_parts, y_parts = [x_fit], [y_fit]
    transfer = dataset.x_unlabeled if use_transfer_set else None
    if transfer is not None:
        x_parts.append(transfer)
        y_parts.append(np.full(len(transfer), -1, dtype=np.int64))
    return np.concatenate(x_parts), np.concatenate(y_parts), 0 if transfer is None else len(transfer)


def distillation_set(
    teacher, dataset: Dataset, x_fit: np.ndarray, y_fit: np.ndarray, use_transfer_set: bool, reporter: Reporter = SILENT
) -> tuple[np.ndarray, np.ndarray, int]:
    """Inputs and packed targets (label or -1, teacher logits) for logit-only distillation; the teacher runs once here."""
    x_kd, labels, transfer_samples = distillation_inputs(dataset, x_fit, y_fit, use_transfer_set)
    with reporter.bar(len(x_kd), "caching teacher logits", unit="samples") as bar:
        teacher_logits = predict_logits(teacher, x_kd)
        bar.update(len(x_kd))
    return x_kd, pack_targets(labels, teacher_logits), transfer_samples


def cached_targets(
    teachers: list,
    weights: tuple[float, ...],
    features: tuple[ResolvedFeature, ...],
    temperature: float,
    x_kd: np.ndarray,
    labels: np.ndarray,
    reporter: Reporter,
) -> dict[str, np.ndarray]:
    """Labels, the (ensembled) teacher logits and the first teacher's features, computed once."""
    targets: dict[str, np.ndarray] = {LABELS: labels}
    all_logits = []
    with reporter.bar(len(x_kd) * len(teachers), "caching teacher outputs", unit="samples") as bar:
        for index, teacher in enumerate(teachers):
            wanted = features if index == 0 else ()
            if not wanted:
                all_logits.append(predict_logits(teacher, x_kd))
            else:
                outputs = tap_model(teacher, wanted, "teacher").predict(x_kd, batch_size=1024, verbose=0)
                all_logits.append(as_logits(outputs[0], teacher.name))
                for feature, value in zip(wanted, outputs[1:], strict=True):
                    value = flatten_feature(np.asarray(value, dtype=np.float32), feature.teacher_shape)
                    if not np.all(np.isfinite(value)):
                        raise ModelError(f"the teacher's layer {feature.teacher_layer!r} produced NaN or Inf")
                    targets[feature_target(feature.request.key)] = value
            bar.update(len(x_kd))
    targets[TEACHER_LOGITS] = np.asarray(ensemble_logits(all_logits, weights, temperature), dtype=np.float32)
    return targets


def _online_teachers(teachers, weights, features, temperature, x_probe) -> OnlineTeachers:
    taps = tuple(tap_model(t, features if i == 0 else (), "teacher") for i, t in enumerate(teachers))
    probabilities = tuple(looks_like_probabilities(np.asarray(t.predict(x_probe, verbose=0))) for t in teachers)
    return OnlineTeachers(taps, weights, probabilities, temperature)


def _in_scope(model, settings: DistillationSettings):
    """The model itself, or under a strategy a copy built in its scope (variables must be created there)."""
    if settings.strategy is None:
        return model
    with settings.strategy.scope():
        copy = fresh_copy(model)
        copy.set_weights(model.get_weights())
    return copy


def _control(settings: DistillationSettings, role: str) -> TrainingControl:
    checkpoint = settings.checkpoints.role(role) if settings.checkpoints is not None else None
    return TrainingControl(checkpoint, settings.patience, settings.strategy)


def distill(
    teachers,
    student,
    dataset: Dataset,
    loss: DistillationLoss | Objective,
    settings: DistillationSettings,
    reporter: Reporter = SILENT,
) -> DistillationOutcome:
    """Distil ``teachers`` (one model or a list) into ``student`` (trained in place) and train the scratch control."""
    teachers = list(teachers) if isinstance(teachers, list | tuple) else [teachers]
    objective = as_objective(loss)
    weights, features = check_setup(teachers, student, dataset, objective, settings)
    temperature = _temperature(objective)
    control_model = fresh_copy(student) if settings.train_control else None
    x_fit, y_fit, x_val, y_val = dataset.validation_split(VALIDATION_FRACTION, settings.seed)
    x_kd, labels, transfer_samples = distillation_inputs(dataset, x_fit, y_fit, settings.use_transfer_set)
    if settings.augmentations or settings.online_teacher:
        online = _online_teachers(teachers, weights, features, temperature, x_kd[:256])
        targets = {LABELS: labels}
    else:
        online = None
        targets = cached_targets(teachers, weights, features, temperature, x_kd, labels, reporter)
    budget = TrainingBudget.for_epochs(settings.epochs, len(x_kd), settings.batch_size, settings.learning_rate)
    trained = _in_scope(student, settings)
    with _control(settings, "student_kd").scope():
        wrapper = build_wrapper(trained, objective, features, budget.steps, online, settings.augmentations)
    kd_history = fit(
        wrapper,
        x_kd,
        targets,
        None,
        budget,
        (x_val, y_val),
        settings.seed,
        reporter,
        f"distilling ({objective.name})",
        control=_control(settings, "student_kd"),
    )
    if trained is not student:
        student.set_weights(trained.get_weights())
    scratch_history = None
    if control_model is not None:
        trained_control = _in_scope(control_model, settings)
        scratch_history = fit(
            trained_control,
            x_fit,
            y_fit,
            hard_label_objective(),
            budget,
            (x_val, y_val),
            settings.seed,
            reporter,
            "scratch control",
            control=_control(settings, "student_scratch"),
        )
        if trained_control is not control_model:
            control_model.set_weights(trained_control.get_weights())
    return DistillationOutcome(
        student,
        control_model,
        kd_history,
        scratch_history,
        budget,
        transfer_samples,
        features,
        "online" if online is not None else "cached",
    )
