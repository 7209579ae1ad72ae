"""Response-based losses: the student matches the teacher's outputs (its logits or class probabilities)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgekd.distill.losses.base import DistillationBatch, DistillationLoss
from edgekd.errors import ConfigError
from edgekd.frameworks import tensorflow


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
    # Defaults: soft targets at T=1 with no hard-label term (function matching, Beyer et al.
    # 2022), measured best on MNIST-1D with a transfer set; Hinton's T=4 with alpha=0.5 is one
    # of the candidates ``auto`` tries.
    temperature: float = 1.0
    alpha: float = 0.0
    # auto's four kd candidates differ only in these: they share one compiled training step.
    tunable: ClassVar[tuple[str, ...]] = ("temperature", "alpha")

    def check(self, num_classes: int | None) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"kd temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"kd alpha (weight of the hard-label loss) must be within 0..1, got {self.alpha}")

    def compute_loss(self, labels, student_logits, teacher_logits):
        tf = tensorflow()
        # A number or a variable (``tunable``).
        temperature = tf.cast(self.temperature, student_logits.dtype)
        has_label = tf.cast(labels >= 0, student_logits.dtype)
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=student_logits)
        teacher_log_probs = tf.nn.log_softmax(teacher_logits / temperature)
        student_log_probs = tf.nn.log_softmax(student_logits / temperature)
        soft = tf.reduce_sum(tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
        soft = soft * temperature**2
        hard_weight = tf.cast(self.alpha, student_logits.dtype) * has_label
        return hard_weight * hard + (1.0 - hard_weight) * soft


def _pseudo_labels(labels, teacher_logits):
    """Labels, with the teacher's top class standing in for unlabelled (-1) transfer samples."""
    tf = tensorflow()
    teacher_top = tf.argmax(teacher_logits, axis=-1, output_type=tf.int32)
    return tf.where(labels >= 0, labels, teacher_top)


@dataclass(frozen=True)
class DecoupledKD(DistillationLoss):
    """Zhao et al. 2022 (DKD): KD split into a target-class and a non-target-class term.

    TCKD = KL(b_t || b_s) with b = [p_target, 1 - p_target]; NCKD = KL over the non-target
    classes renormalised; loss = CE(y, s) + (alpha * TCKD + beta * NCKD) * T^2.
    Unlabelled samples use the teacher's top class as the target and skip the CE term.
    The non-target term is undefined for 2 classes (a single non-target class), so those
    problems are refused.
    """

    name: ClassVar[str] = "dkd"
    alpha: float = 1.0
    beta: float = 8.0
    temperature: float = 4.0
    # The paper ramps the KD terms up linearly over its first 20 of 240 epochs; here as a
    # fraction of the training steps.
    warmup: float = 20 / 240

    def check(self, num_classes: int | None) -> None:
        if num_classes == 2:
            raise ConfigError(
                "dkd needs at least 3 classes: with 2, the non-target distribution has a single class and its "
                "KL term is undefined; use `distill.method` kd"
            )
        if not self.temperature > 0:
            raise ConfigError(f"dkd temperature must be positive, got {self.temperature}")
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError(f"dkd alpha and beta must not be negative, got {self.alpha}, {self.beta}")
        if not 0.0 <= self.warmup < 1.0:
            raise ConfigError(f"dkd warmup is a fraction of the training steps, within 0..1; got {self.warmup}")

    def compute(self, batch: DistillationBatch):
        tf = tensorflow()
        hard, distillation = self._terms(batch.labels, batch.student_logits, batch.teacher_logits)
        if self.warmup <= 0:
            return hard + distillation
        ramp = tf.minimum(1.0, tf.cast(batch.progress, distillation.dtype) / self.warmup)
        return hard + ramp * distillation

    def compute_loss(self, labels, student_logits, teacher_logits):
        """The loss after warm-up."""
        hard, distillation = self._terms(labels, student_logits, teacher_logits)
        return hard + distillation

    def _terms(self, labels, student_logits, teacher_logits):
        tf = tensorflow()
        temperature = float(self.temperature)
        target = _pseudo_labels(labels, teacher_logits)
        mask = tf.one_hot(target, tf.shape(student_logits)[-1], dtype=student_logits.dtype)
        p_s = tf.nn.softmax(student_logits / temperature)
        p_t = tf.nn.softmax(teacher_logits / temperature)
        eps = 1e-8
        s_target, t_target = tf.reduce_sum(p_s * mask, -1), tf.reduce_sum(p_t * mask, -1)
        tckd = t_target * (tf.math.log(t_target + eps) - tf.math.log(s_target + eps)) + (1 - t_target) * (
            tf.math.log(1 - t_target + eps) - tf.math.log(1 - s_target + eps)
        )
        # Non-target distribution: softmax with the target logit pushed to -inf (1000 below).
        log_q_s = tf.nn.log_softmax(student_logits / temperature - 1000.0 * mask)
        log_q_t = tf.nn.log_softmax(teacher_logits / temperature - 1000.0 * mask)
        nckd = tf.reduce_sum(tf.exp(log_q_t) * (log_q_t - log_q_s) * (1 - mask), -1)
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=student_logits)
        hard = hard * tf.cast(labels >= 0, student_logits.dtype)
        return hard, (self.alpha * tckd + self.beta * nckd) * temperature**2


@dataclass(frozen=True)
class DIST(DistillationLoss):
    """Huang et al. 2022 (DIST): match relations, not exact probabilities.

    inter = 1 - Pearson(p_s, p_t) across classes, per sample; intra = 1 - Pearson across the
    batch, per class (a batch-level term, shared equally by the batch's samples);
    loss = beta * T^2 * inter + gamma * T^2 * intra, with p = softmax(logits / T).
    """

    name: ClassVar[str] = "dist"
    beta: float = 1.0
    gamma: float = 1.0
    temperature: float = 1.0

    def check(self, num_classes: int | None) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"dist temperature must be positive, got {self.temperature}")

    def compute_loss(self, labels, student_logits, teacher_logits):
        tf = tensorflow()
        temperature = float(self.temperature)
        p_s = tf.nn.softmax(student_logits / temperature)
        p_t = tf.nn.softmax(teacher_logits / temperature)

        def pearson(a, b, axis):
            a = a - tf.reduce_mean(a, axis=axis, keepdims=True)
            b = b - tf.reduce_mean(b, axis=axis, keepdims=True)
            return tf.reduce_sum(a * b, axis) / (tf.norm(a, axis=axis) * tf.norm(b, axis=axis) + 1e-8)

        inter = 1.0 - pearson(p_s, p_t, axis=-1)
        intra = tf.reduce_mean(1.0 - pearson(p_s, p_t, axis=0))
        return temperature**2 * (self.beta * inter + self.gamma * intra)
