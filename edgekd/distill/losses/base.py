"""What every distillation loss sees and the one class each loss subclasses (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from edgekd.frameworks import tensorflow


@dataclass(frozen=True)
class FeatureRequest:
    """Intermediate outputs a loss needs: a teacher layer and a student layer ("" = chosen automatically).

    ``kind`` says what "automatically" means: ``map`` is the deepest feature map (a layer
    whose output still has spatial axes), ``embedding`` is the input of the logits layer.
    ``adapter`` asks for a trainable projection from the student's channels to the
    teacher's (a 1×1 convolution on feature maps, a dense layer on vectors); it lives in
    the training wrapper and is dropped from the exported student.
    """

    key: str
    teacher_layer: str
    student_layer: str
    kind: str = "map"
    adapter: bool = False
    # Must the spatial positions of the two feature maps correspond one to one?
    same_positions: bool = True


@dataclass
class DistillationBatch:
    """What one training step hands to the losses (tensors; features keyed by ``FeatureRequest.key``).

    Feature maps arrive flattened to (batch, positions, channels) and vectors to (batch, dims);
    a student feature with an adapter arrives already projected to the teacher's channels.
    """

    labels: object
    student_logits: object
    teacher_logits: object
    student_features: dict = field(default_factory=dict)
    teacher_features: dict = field(default_factory=dict)
    # Fraction of the training steps done, 0..1 (for warm-up schedules).
    progress: float | object = 1.0


@dataclass(frozen=True)
class DistillationLoss:
    """Base class: override ``compute`` (or ``compute_loss`` for logit-only losses); parameters are dataclass fields."""

    name: ClassVar[str] = ""
    # Does this loss train the student's logits? Feature and relation losses alone do not:
    # their papers pair them with a task or KD loss, and alone they leave the classifier untrained.
    trains_logits: ClassVar[bool] = True
    # Float parameters the training step may read from variables, so that recipes differing only
    # in them share one compiled step (``edgekd.distill.step``): ``compute`` must not turn them
    # into Python numbers.
    tunable: ClassVar[tuple[str, ...]] = ()

    def check(self, num_classes: int | None) -> None:
        """Raise ``ConfigError`` if this loss cannot work for ``num_classes`` classes (None: not known yet)."""

    def feature_requests(self) -> tuple[FeatureRequest, ...]:
        """Intermediate features this loss reads; logit-only losses need none."""
        return ()

    def compute(self, batch: DistillationBatch):
        """Per-sample loss, shape (batch,)."""
        return self.compute_loss(batch.labels, batch.student_logits, batch.teacher_logits)

    def compute_loss(self, labels, student_logits, teacher_logits):
        """Per-sample loss from logits alone. ``labels`` are int32 with -1 for unlabelled samples."""
        raise NotImplementedError(f"{type(self).__name__} reads features: call compute(batch)")

    def describe(self) -> dict:
        return {"method": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}


def _as_vectors(features):
    """(batch, positions, channels) or (batch, dims) → (batch, dims)."""
    tf = tensorflow()
    return tf.reshape(features, [tf.shape(features)[0], -1])
