"""The Distiller: a distilled student next to its scratch control, on the same budget.

The control is the same architecture, freshly initialised with the same seed, trained on
the labelled set alone for the same number of optimizer steps and batch size. So any gain
the distilled student shows comes from the teacher's knowledge (and the transfer set it
labels), not from extra compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.distill.losses import DistillationLoss
from edgekd.distill.trainer import (
    TrainingBudget,
    TrainingHistory,
    distillation_objective,
    fit,
    hard_label_objective,
    pack_targets,
)
from edgekd.errors import ModelError
from edgekd.models.complexity import model_macs
from edgekd.models.evaluate import predict_logits
from edgekd.models.frameworks import framework_of, keras_module
from edgekd.progress import SILENT, Reporter

VALIDATION_FRACTION = 0.1


@dataclass
class DistillationOutcome:
    student_kd: object
    student_scratch: object | None
    kd_history: TrainingHistory
    scratch_history: TrainingHistory | None
    budget: TrainingBudget
    transfer_samples: int


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


def distillation_set(
    teacher, dataset: Dataset, x_fit: np.ndarray, y_fit: np.ndarray, use_transfer_set: bool, reporter: Reporter = SILENT
) -> tuple[np.ndarray, np.ndarray, int]:
    """Inputs and packed targets (label or -1, teacher logits) for distillation; the teacher runs once here."""
    x_parts, y_parts = [x_fit], [y_fit]
    transfer = dataset.x_unlabeled if use_transfer_set else None
    if transfer is not None:
        x_parts.append(transfer)
        y_parts.append(np.full(len(transfer), -1, dtype=np.int64))
    x_kd = np.concatenate(x_parts)
    with reporter.bar(len(x_kd), "caching teacher logits", unit="samples") as bar:
        teacher_logits = predict_logits(teacher, x_kd)
        bar.update(len(x_kd))
    return x_kd, pack_targets(np.concatenate(y_parts), teacher_logits), 0 if transfer is None else len(transfer)


def distill(
    teacher,
    student,
    dataset: Dataset,
    loss: DistillationLoss,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    use_transfer_set: bool = True,
    train_control: bool = True,
    reporter: Reporter = SILENT,
) -> DistillationOutcome:
    """Distil ``teacher`` into ``student`` (trained in place) and train the scratch control."""
    check_pairing(teacher, student, dataset)
    control = fresh_copy(student) if train_control else None
    x_fit, y_fit, x_val, y_val = dataset.validation_split(VALIDATION_FRACTION, seed)
    x_kd, targets, transfer_samples = distillation_set(teacher, dataset, x_fit, y_fit, use_transfer_set, reporter)
    budget = TrainingBudget.for_epochs(epochs, len(x_kd), batch_size, learning_rate)
    kd_history = fit(
        student,
        x_kd,
        targets,
        distillation_objective(loss),
        budget,
        (x_val, y_val),
        seed,
        reporter,
        f"distilling ({loss.name})",
    )
    scratch_history = None
    if control is not None:
        scratch_history = fit(
            control, x_fit, y_fit, hard_label_objective(), budget, (x_val, y_val), seed, reporter, "scratch control"
        )
    return DistillationOutcome(student, control, kd_history, scratch_history, budget, transfer_samples)
