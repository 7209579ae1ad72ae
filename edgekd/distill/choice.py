"""Which student a run ships, and whether its teacher is worth distilling from: paired comparisons on validation.

Both decisions compare two models on the same validation samples. The run ships the student
that is better on validation (a lead of one sample is a lead); an exact tie goes to the lower
validation cross-entropy, never to the method. How far to trust the lead is a paired question
(McNemar 1947; Dietterich 1998, "Approximate Statistical Tests for Comparing Supervised
Classification Learning Algorithms", recommends McNemar's test when each model can be trained
only once): only the samples one model gets right and the other gets wrong carry evidence,
and under "equally good" their split is Binomial(n, 1/2). The reason the run gives carries
that test's p-value, so a lead within noise is called so, and the verdict says when the test
split ranks the two the other way (a validation split that does not look like deployment).

k-fold or repeated validation would sharpen the comparison further, but each fold retrains
both students on the full budget (k times the run); the paired test costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.models.evaluate import cross_entropy, predict_logits

# A lead counts as beyond noise when it is at least this many samples and at least one
# standard deviation of the paired difference (sqrt of the samples where the two disagree,
# under "equally good"): roughly a one-sided p of 0.16, the margin edgekd used before.
MIN_CLEAR_LEAD_SAMPLES = 2
# A two-sided McNemar p-value under this calls a difference significant in the messages.
SIGNIFICANCE = 0.05
# A class where the distilled student is this many points below the control on the test split
# is flagged in the report: it may have inherited a blind spot of the teacher.
FLAG_CLASS_POINTS = 10.0


@dataclass(frozen=True)
class Predictions:
    """One model on one split: which samples it classified right, its labels, and its mean cross-entropy."""

    correct: np.ndarray
    predicted: np.ndarray
    loss: float

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if len(self.correct) else 0.0


def predictions(model, x, y: np.ndarray) -> Predictions:
    """``model``'s predictions on ``(x, y)``: per-sample correctness and mean cross-entropy against the labels."""
    logits = predict_logits(model, x)
    predicted = np.argmax(logits, axis=1)
    return Predictions(predicted == y, predicted, cross_entropy(logits, y))


def validation_score(model, x_val, y_val: np.ndarray) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy against the labels): accuracy ranks, the loss breaks ties."""
    found = predictions(model, x_val, y_val)
    return found.accuracy, found.loss


@dataclass(frozen=True)
class PairedComparison:
    """Two models on the same samples: how many only the first gets right, how many only the second."""

    samples: int
    first_only: int
    second_only: int

    @staticmethod
    def of(first: np.ndarray, second: np.ndarray) -> PairedComparison:
        first, second = np.asarray(first, bool), np.asarray(second, bool)
        return PairedComparison(len(first), int(np.sum(first & ~second)), int(np.sum(second & ~first)))

    @property
    def lead(self) -> int:
        """Samples by which the first is ahead (negative: behind)."""
        return self.first_only - self.second_only

    @property
    def noise(self) -> float:
        """One standard deviation of the lead if the two were equally good."""
        return math.sqrt(self.first_only + self.second_only)

    @property
    def p_value(self) -> float:
        """McNemar's exact two-sided test: the chance of a split at least this uneven between equally good models."""
        disagree = self.first_only + self.second_only
        if disagree == 0:
            return 1.0
        tail = sum(math.comb(disagree, k) for k in range(min(self.first_only, self.second_only) + 1))
        return min(1.0, 2 * tail / 2**disagree)

    def first_clearly_ahead(self) -> bool:
        """The first leads by at least ``MIN_CLEAR_LEAD_SAMPLES`` and one standard deviation of the lead."""
        return self.lead >= max(MIN_CLEAR_LEAD_SAMPLES, self.noise)

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANCE

    def describe(self, judge: bool = True) -> str:
        """The split of the disagreements and McNemar's p; ``judge`` adds whether it is significant at 5%."""
        verdict = ""
        if judge:
            verdict = ", significant" if self.significant else ", within noise"
        return (
            f"they disagree on {self.first_only + self.second_only} of {self.samples} samples, "
            f"{self.first_only} to {self.second_only}: McNemar p = {self.p_value:.2g}{verdict}"
        )


@dataclass(frozen=True)
class Shipped:
    """The model a run hands on (to quantization, deployment) and why."""

    role: str
    reason: str
    # The paired comparison on validation it was chosen by (distilled student first), when there was one.
    comparison: PairedComparison | None = None

    def as_dict(self) -> dict:
        document = {"role": self.role, "reason": self.reason}
        if self.comparison is not None:
            document["validation"] = {
                "samples": self.comparison.samples,
                "only_distilled_right": self.comparison.first_only,
                "only_control_right": self.comparison.second_only,
                "mcnemar_p": round(self.comparison.p_value, 6),
            }
        return document


@dataclass(frozen=True)
class TeacherCheck:
    """Is the teacher clearly better than the student trained alone, on the same validation samples?"""

    teacher_accuracy: float
    control_accuracy: float
    comparison: PairedComparison

    @property
    def worth_distilling(self) -> bool:
        return self.comparison.first_clearly_ahead()

    @property
    def saturated(self) -> bool:
        """The control gets so many validation samples right that no teacher could lead it by the margin."""
        wrong = round((1 - self.control_accuracy) * self.comparison.samples)
        return wrong < MIN_CLEAR_LEAD_SAMPLES

    @property
    def message(self) -> str:
        comparison = self.comparison
        scores = (
            f"the teacher scores {self.teacher_accuracy:.2%} on the {comparison.samples}-sample validation split "
            f"against {self.control_accuracy:.2%} for the student trained alone ({comparison.describe(judge=False)})"
        )
        margin = f"{max(MIN_CLEAR_LEAD_SAMPLES, comparison.noise):.1f} samples"
        if self.worth_distilling:
            return (
                f"{scores}: the teacher is clearly better (ahead by {comparison.lead} samples, at least {margin}), "
                "so distillation can transfer what it knows"
            )
        if self.saturated:
            return (
                f"{scores}: the validation split is too easy to show a better teacher (the control gets all but "
                f"{round((1 - self.control_accuracy) * comparison.samples)} of its samples right), so the control is "
                "shipped; give a validation split that looks like deployment (DIR/val, or x_val and y_val in an npz) "
                "for the teacher to show what it knows"
            )
        return (
            f"{scores}: the teacher is not clearly better than the control (ahead by {comparison.lead} samples, less "
            f"than {margin}), and distillation cannot transfer what the teacher does not know; the control is shipped "
            "(a stronger teacher: --teacher, or --train-teacher with --teacher-ensemble)"
        )

    def as_dict(self) -> dict:
        return {
            "teacher_val_accuracy": round(self.teacher_accuracy, 6),
            "control_val_accuracy": round(self.control_accuracy, 6),
            "only_teacher_right": self.comparison.first_only,
            "only_control_right": self.comparison.second_only,
            "mcnemar_p": round(self.comparison.p_value, 6),
            "worth_distilling": self.worth_distilling,
            "message": self.message,
        }


def check_teacher(teacher: Predictions, control: Predictions) -> TeacherCheck:
    """The teacher against the control on the same validation samples (the teacher sees its own view of them)."""
    return TeacherCheck(teacher.accuracy, control.accuracy, PairedComparison.of(teacher.correct, control.correct))


def choose_shipped(kd: Predictions, scratch: Predictions | None, teacher: TeacherCheck | None = None) -> Shipped:
    """The student better on validation; an exact tie goes to the lower validation loss.

    A teacher that is not clearly better than the control ships the control whatever the
    distilled student scored: its lead on validation can hide a class it learned wrong from
    the teacher.
    """
    if scratch is None:
        return Shipped("student_kd", "no control was trained, so the distilled student is shipped unchecked")
    comparison = PairedComparison.of(kd.correct, scratch.correct)
    scores = (
        f"{kd.accuracy:.2%} vs {scratch.accuracy:.2%} for the control on the {comparison.samples}-sample validation "
        f"split; {comparison.describe()}"
    )
    if teacher is not None and not teacher.worth_distilling:
        return Shipped(
            "student_scratch",
            f"the teacher is not clearly better than the control on validation ({teacher.teacher_accuracy:.2%} vs "
            f"{teacher.control_accuracy:.2%}), and distillation cannot transfer what the teacher does not know: the "
            f"control is shipped (distilled student {scores})",
            comparison,
        )
    if comparison.lead > 0:
        return Shipped("student_kd", f"the distilled student is better on validation ({scores})", comparison)
    if comparison.lead < 0:
        return Shipped(
            "student_scratch",
            f"the control is better on validation by {-comparison.lead} samples ({scores}), so the control is shipped",
            comparison,
        )
    losses = f"validation cross-entropy {kd.loss:.4f} for the distilled student, {scratch.loss:.4f} for the control"
    if kd.loss < scratch.loss:
        return Shipped("student_kd", f"the two tie on validation accuracy ({scores}); {losses}: lower", comparison)
    return Shipped(
        "student_scratch",
        f"the two tie on validation accuracy ({scores}); {losses}: the control's is lower",
        comparison,
    )


def per_class_accuracy(y: np.ndarray, predicted: np.ndarray, num_classes: int) -> list[float | None]:
    """Accuracy on each class's samples (None for a class the split has none of)."""
    counts = np.bincount(y, minlength=num_classes)
    right = np.bincount(y[predicted == y], minlength=num_classes)
    return [float(right[c] / counts[c]) if counts[c] else None for c in range(num_classes)]


def flagged_classes(distilled: list[float | None], control: list[float | None]) -> list[int]:
    """Classes where the distilled student is at least ``FLAG_CLASS_POINTS`` below the control."""
    return [
        index
        for index, (kd, scratch) in enumerate(zip(distilled, control, strict=True))
        if kd is not None and scratch is not None and 100 * (scratch - kd) >= FLAG_CLASS_POINTS
    ]
