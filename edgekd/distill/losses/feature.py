"""Feature-based losses: the student matches the teacher's intermediate feature maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgekd.distill.losses.base import DistillationBatch, DistillationLoss, FeatureRequest, _as_vectors
from edgekd.errors import ConfigError
from edgekd.frameworks import tensorflow


@dataclass(frozen=True)
class FitNet(DistillationLoss):
    """Romero et al. 2015 (FitNets): a student layer, through a trainable adapter, regresses a teacher layer.

    loss = mean over elements of (r(v_student) - u_teacher)^2, with r the adapter. The paper
    writes 1/2 * squared L2 norm (a sum); the mean keeps ``weight`` independent of the
    feature size. Layers default to the deepest feature maps of each model.
    """

    name: ClassVar[str] = "fitnet"
    trains_logits: ClassVar[bool] = False
    teacher_layer: str = ""
    student_layer: str = ""

    def feature_requests(self) -> tuple[FeatureRequest, ...]:
        return (FeatureRequest("fitnet", self.teacher_layer, self.student_layer, "map", adapter=True),)

    def compute(self, batch: DistillationBatch):
        tf = tensorflow()
        difference = _as_vectors(batch.student_features["fitnet"]) - _as_vectors(batch.teacher_features["fitnet"])
        return tf.reduce_mean(tf.square(difference), axis=-1)


@dataclass(frozen=True)
class AttentionTransfer(DistillationLoss):
    """Zagoruyko & Komodakis 2017 (AT): match spatial attention maps.

    Q = mean over channels of A^2 at each position, L2-normalised per sample;
    loss = beta / 2 * mean over positions of (Q_student - Q_teacher)^2, as in the authors'
    code (beta = 1000). Channels may differ; positions must correspond.
    """

    name: ClassVar[str] = "at"
    trains_logits: ClassVar[bool] = False
    teacher_layer: str = ""
    student_layer: str = ""
    beta: float = 1000.0

    def feature_requests(self) -> tuple[FeatureRequest, ...]:
        return (FeatureRequest("at", self.teacher_layer, self.student_layer, "map"),)

    def check(self, num_classes: int | None) -> None:
        if self.beta < 0:
            raise ConfigError(f"at beta must not be negative, got {self.beta}")

    def compute(self, batch: DistillationBatch):
        tf = tensorflow()

        def attention(features):
            if len(features.shape) != 3:
                raise ConfigError("at needs feature maps with spatial positions; name layers before any Flatten")
            return tf.math.l2_normalize(tf.reduce_mean(tf.square(features), axis=-1), axis=-1)

        q_s, q_t = attention(batch.student_features["at"]), attention(batch.teacher_features["at"])
        return self.beta / 2.0 * tf.reduce_mean(tf.square(q_s - q_t), axis=-1)
