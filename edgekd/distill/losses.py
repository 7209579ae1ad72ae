"""Distillation losses: one small class each, registered by name.

Every loss sees a batch of integer ``labels`` (``-1`` marks an unlabelled transfer-set
sample), the student's logits and the teacher's logits, and returns one loss value per
sample. Validation of the pairing (class counts, parameters) happens when the loss is
built, before any training.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from edgekd.errors import ConfigError, known_names
from edgekd.models.frameworks import tensorflow


@dataclass(frozen=True)
class DistillationLoss:
    """Base class: override ``compute_loss``; declare parameters as dataclass fields."""

    name: ClassVar[str] = ""

    def check(self, num_classes: int | None) -> None:
        """Raise ``ConfigError`` if this loss cannot work for ``num_classes`` classes (None: not known yet)."""

    def compute_loss(self, labels, student_logits, teacher_logits):
        """Per-sample loss, shape (batch,). ``labels`` are int32 with -1 for unlabelled samples."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"method": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class KnowledgeDistillation(DistillationLoss):
    """Hinton et al. 2015: match the teacher's temperature-softened probabilities.

    loss = alpha * CE(y, student) + (1 - alpha) * T^2 * KL(p_teacher^T || p_student^T)

    The T^2 factor keeps the soft term's gradients on the same scale as the hard term's
    when T changes. The KL runs from the teacher's distribution to the student's (the
    teacher is the target). Unlabelled samples have no hard term and take the soft term
    at full weight.
    """

    name: ClassVar[str] = "kd"
    temperature: float = 4.0
    alpha: float = 0.5

    def check(self, num_classes: int | None) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"kd temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"kd alpha (weight of the hard-label loss) must be within 0..1, got {self.alpha}")

    def compute_loss(self, labels, student_logits, teacher_logits):
        tf = tensorflow()
        temperature = float(self.temperature)
        has_label = tf.cast(labels >= 0, student_logits.dtype)
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=student_logits)
        teacher_log_probs = tf.nn.log_softmax(teacher_logits / temperature)
        student_log_probs = tf.nn.log_softmax(student_logits / temperature)
        soft = tf.reduce_sum(tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
        soft = soft * temperature**2
        hard_weight = self.alpha * has_label
        return hard_weight * hard + (1.0 - hard_weight) * soft


_LOSSES: dict[str, type[DistillationLoss]] = {}


def register(cls: type[DistillationLoss]) -> type[DistillationLoss]:
    _LOSSES[cls.name] = cls
    return cls


register(KnowledgeDistillation)


def loss_names() -> list[str]:
    return sorted(_LOSSES)


def make_loss(name: str, num_classes: int | None, **params) -> DistillationLoss:
    """Build and check the loss registered as ``name``."""
    if name not in _LOSSES:
        raise ConfigError(f"unknown distillation method {name!r}; known: {known_names(_LOSSES)}")
    cls = _LOSSES[name]
    allowed = {f.name for f in fields(cls)}
    unknown = set(params) - allowed
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(sorted(unknown))} for method {name!r}; known: {known_names(allowed)}"
        )
    loss = cls(**params)
    loss.check(num_classes)
    return loss
