"""Distillation losses: one small class each, registered by name, combinable with weights.

Every loss sees a ``DistillationBatch``: integer ``labels`` (``-1`` marks an unlabelled
transfer-set sample), the student's and teacher's logits, the intermediate features a
loss asked for (``FeatureRequest``), and how far training has progressed. It returns one
loss value per sample; batch-level terms (relations across the batch) are shared equally
by the batch's samples. Validation of the pairing (class counts, parameters, layer names,
feature shapes) happens before any training.

A method spec names one method or several joined by ``+`` (``kd+fitnet``); parameters are
``key`` (every method with that parameter) or ``method.key`` (that method only), and
``method.weight`` weighs a term of the sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from edgekd.errors import ConfigError, known_names
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


def _as_vectors(features):
    """(batch, positions, channels) or (batch, dims) → (batch, dims)."""
    tf = tensorflow()
    return tf.reshape(features, [tf.shape(features)[0], -1])


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


_LOSSES: dict[str, type[DistillationLoss]] = {}


def register(cls: type[DistillationLoss]) -> type[DistillationLoss]:
    _LOSSES[cls.name] = cls
    return cls


for _loss in (KnowledgeDistillation, DecoupledKD, DIST, FitNet, AttentionTransfer, RelationalKD):
    register(_loss)


def loss_names() -> list[str]:
    return sorted(_LOSSES)


TERM_WEIGHT = "weight"
# The logit loss added to feature and relation methods used alone.
LOGIT_TERM = "kd"


def _loss_class(name: str) -> type[DistillationLoss]:
    if name not in _LOSSES:
        raise ConfigError(f"unknown distillation method {name!r}; known: {known_names(_LOSSES)}")
    return _LOSSES[name]


def loss_parameters(name: str) -> set[str]:
    """The parameter names of the method registered as ``name``."""
    return {f.name for f in fields(_loss_class(name))}


def _typed(name: str, key: str, value, declared: str):
    """Check a parameter's type against its field (config and CLI values arrive as float or str)."""
    if declared == "str":
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} parameter {key!r} must be a number, got {value!r}")
    return float(value)


def make_loss(name: str, num_classes: int | None, **params) -> DistillationLoss:
    """Build and check the loss registered as ``name``."""
    cls = _loss_class(name)
    declared = {f.name: f.type for f in fields(cls)}
    unknown = set(params) - set(declared)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(sorted(unknown))} for method {name!r}; known: {known_names(declared)}"
        )
    loss = cls(**{key: _typed(name, key, value, declared[key]) for key, value in params.items()})
    loss.check(num_classes)
    return loss


@dataclass(frozen=True)
class Objective:
    """A weighted sum of distillation losses: what the student minimises."""

    terms: tuple[tuple[float, DistillationLoss], ...]
    # Why a term was added to what the user named (a feature method alone trains no logits).
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "+".join(loss.name for _, loss in self.terms)

    def feature_requests(self) -> tuple[FeatureRequest, ...]:
        return tuple(request for _, loss in self.terms for request in loss.feature_requests())

    def describe(self) -> dict:
        notes = {"notes": list(self.notes)} if self.notes else {}
        if len(self.terms) == 1 and self.terms[0][0] == 1.0:
            return self.terms[0][1].describe() | notes
        return {"method": self.name, "terms": [{**loss.describe(), "weight": w} for w, loss in self.terms]} | notes


def method_names(spec: str) -> list[str]:
    """``"kd+fitnet"`` → ["kd", "fitnet"], each checked against the registry."""
    names = [part.strip() for part in (spec or "").split("+")]
    if not all(names):
        raise ConfigError(f"cannot parse method {spec!r}; write one method (kd) or several joined by + (kd+fitnet)")
    if len(set(names)) != len(names):
        raise ConfigError(f"method {spec!r} names a method twice")
    for name in names:
        _loss_class(name)
    return names


def make_objective(spec: str, num_classes: int | None, params: dict | None = None) -> Objective:
    """Build the weighted sum for a method spec; ``params`` keys are ``key`` or ``method.key``."""
    names = method_names(spec)
    per_method: dict[str, dict] = {name: {} for name in names}
    weights = {name: 1.0 for name in names}
    for key, value in (params or {}).items():
        method, dot, parameter = key.rpartition(".")
        if dot:
            if method not in per_method:
                raise ConfigError(f"parameter {key!r} is for method {method!r}, which {spec!r} does not use")
            targets = [method]
        else:
            targets = [name for name in names if parameter in loss_parameters(name) or parameter == TERM_WEIGHT]
            if not targets:
                known = sorted({p for name in names for p in loss_parameters(name)} | {TERM_WEIGHT})
                raise ConfigError(f"unknown parameter {parameter!r} for method {spec!r}; known: {', '.join(known)}")
        for target in targets:
            if parameter == TERM_WEIGHT:
                weights[target] = _typed(target, parameter, value, "float")
                if weights[target] < 0:
                    raise ConfigError(f"{target} weight must not be negative, got {value}")
            else:
                per_method[target][parameter] = value
    terms = tuple((weights[name], make_loss(name, num_classes, **per_method[name])) for name in names)
    if any(loss.trains_logits for _, loss in terms):
        return Objective(terms)
    # FitNets (stage 2), AT and RKD are each used with a logit loss in their papers; alone,
    # the logits layer would never learn (measured: rkd alone left a student below chance).
    logit_term = (1.0, make_loss(LOGIT_TERM, num_classes))
    note = f"{spec} alone trains no logits: a {LOGIT_TERM} term was added, as its paper pairs it with a logit loss"
    return Objective((logit_term, *terms), (note,))
