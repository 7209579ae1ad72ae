"""Relation-based losses: the student matches how the teacher relates the samples of a batch to each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgekd.distill.losses.base import DistillationBatch, DistillationLoss, FeatureRequest, _as_vectors
from edgekd.errors import ConfigError
from edgekd.frameworks import tensorflow


@dataclass(frozen=True)
class RelationalKD(DistillationLoss):
    """Park et al. 2019 (RKD): match the distances and angles between samples' embeddings.

    Distance: psi_D(i, j) = ||t_i - t_j|| / mu, mu the mean distance over the batch's pairs;
    angle: psi_A(i, j, k) = cos of the angle at t_j between t_i and t_k. Each term is the
    Huber (smooth L1) loss between the student's and teacher's psi, averaged over pairs
    (triplets); loss = distance * L_D + angle * L_A (the paper's weights 25 and 50). The
    angle term runs on ``angle_samples`` of the batch (32 by default) to bound its B^3 cost.
    Embeddings default to each model's penultimate layer; their sizes may differ.
    """

    name: ClassVar[str] = "rkd"
    trains_logits: ClassVar[bool] = False
    distance: float = 25.0
    angle: float = 50.0
    teacher_layer: str = ""
    student_layer: str = ""
    # The angle term costs O(B^3): it uses the batch's first N samples (a random subset, since
    # batches are shuffled). 0 uses the whole batch, as the paper does.
    angle_samples: float = 32

    def feature_requests(self) -> tuple[FeatureRequest, ...]:
        return (FeatureRequest("rkd", self.teacher_layer, self.student_layer, "embedding", same_positions=False),)

    def check(self, num_classes: int | None) -> None:
        if self.distance < 0 or self.angle < 0:
            raise ConfigError(f"rkd distance and angle weights must not be negative, got {self.distance}, {self.angle}")
        if self.angle_samples < 0 or self.angle_samples == 1 or self.angle_samples != int(self.angle_samples):
            raise ConfigError(
                f"rkd angle_samples must be 0 (the whole batch) or a whole number >= 2, got {self.angle_samples}"
            )

    def compute(self, batch: DistillationBatch):
        tf = tensorflow()
        student = _as_vectors(batch.student_features["rkd"])
        teacher = _as_vectors(batch.teacher_features["rkd"])
        loss = self.distance * _huber(_distance_relations(student), _distance_relations(teacher))
        if self.angle_samples > 0:
            student, teacher = student[: int(self.angle_samples)], teacher[: int(self.angle_samples)]
        loss += self.angle * _huber(_angle_relations(student), _angle_relations(teacher))
        return tf.fill([tf.shape(student)[0]], loss)


def _distance_relations(embeddings):
    """Pairwise distances over their mean across distinct pairs (the authors' code: ``d / d[d > 0].mean()``)."""
    tf = tensorflow()
    squared = tf.reduce_sum(tf.square(embeddings), axis=-1)
    gram = tf.matmul(embeddings, embeddings, transpose_b=True)
    distances = tf.sqrt(tf.maximum(squared[:, None] + squared[None, :] - 2.0 * gram, 1e-12))
    distances = distances * (1.0 - tf.eye(tf.shape(embeddings)[0], dtype=embeddings.dtype))
    pairs = tf.maximum(tf.cast(tf.size(distances) - tf.shape(embeddings)[0], embeddings.dtype), 1.0)
    return distances / (tf.reduce_sum(distances) / pairs + 1e-12)


def _angle_relations(embeddings):
    """cos of the angle at j between i and k, for every triplet [j, i, k]; degenerate triplets (i or k = j) give 0.

    From the Gram matrix G: <e_i - e_j, e_k - e_j> = G_ik - G_ij - G_jk + G_jj, over the
    distances |e_i - e_j| |e_k - e_j|. O(B^2 D + B^3) instead of the B^3 D of forming every
    difference vector, the same values as the authors' code.
    """
    tf = tensorflow()
    gram = tf.matmul(embeddings, embeddings, transpose_b=True)
    diagonal = tf.linalg.diag_part(gram)
    squared = diagonal[:, None] + diagonal[None, :] - 2.0 * gram  # [j, i] = |e_i - e_j|^2
    # Clamped so that neither the value nor the gradient of sqrt is infinite on the diagonal.
    distances = tf.sqrt(tf.maximum(squared, 1e-12))
    # dot[j, i, k] = G_ik - G_ij - G_jk + G_jj
    dot = gram[None, :, :] - gram[:, :, None] - gram[:, None, :] + diagonal[:, None, None]
    norms = distances[:, :, None] * distances[:, None, :]
    apart = tf.logical_not(tf.cast(tf.eye(tf.shape(embeddings)[0]), tf.bool))
    valid = tf.logical_and(apart[:, :, None], apart[:, None, :])
    return tf.where(valid, dot / norms, 0.0)


def _huber(student, teacher):
    """Smooth L1 (delta 1), averaged over every entry as the authors' code does."""
    tf = tensorflow()
    error = tf.abs(student - teacher)
    return tf.reduce_mean(tf.where(error < 1.0, 0.5 * tf.square(error), error - 0.5))
