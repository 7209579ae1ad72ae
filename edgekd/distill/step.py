"""The distillation training step: a Keras model that wraps the student and computes the objective.

``fit`` trains this wrapper. It owns the student and, for feature methods, the adapters
that project student features onto the teacher's; the exported student is
``wrapper.student`` alone, never the adapters and never the teacher (which is not even
tracked by the wrapper: it is held outside Keras' variable tracking).

Teacher outputs come from the batch (cached once before training) or, when the inputs are
augmented, from the teacher run online on the same augmented batch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from edgekd.distill.augment import Augmentation, augment
from edgekd.distill.features import ResolvedFeature, flatten_feature, tap_model
from edgekd.distill.losses import DistillationBatch, Objective
from edgekd.errors import EdgekdError
from edgekd.frameworks import framework_of, keras_module, tensorflow

LABELS = "labels"
TEACHER_LOGITS = "teacher_logits"
# The batch as the teacher sees it, when that differs from the student's view (online teacher only).
TEACHER_INPUTS = "teacher_inputs"


def feature_target(key: str) -> str:
    return f"teacher_feature_{key}"


@dataclass(frozen=True)
class OnlineTeachers:
    """Teachers run inside the training step: tap models, ensemble weights, and whether they output probabilities."""

    taps: tuple
    weights: tuple[float, ...]
    outputs_probabilities: tuple[bool, ...]
    temperature: float


def ensemble_logits(logits: list, weights, temperature: float):
    """Logits whose softmax at ``temperature`` is the weighted average of the teachers' softened probabilities.

    T * log(sum_i w_i softmax(z_i / T)): one teacher passes through unchanged (up to a
    per-sample constant, which softmax ignores).
    """
    tf = tensorflow()
    if len(logits) == 1:
        return tf.convert_to_tensor(logits[0])
    total = float(sum(weights))
    stacked = tf.stack([tf.cast(z, tf.float32) / temperature for z in logits])
    log_weights = tf.reshape(tf.math.log(tf.constant([w / total for w in weights], tf.float32)), [-1, 1, 1])
    return temperature * tf.reduce_logsumexp(tf.nn.log_softmax(stacked) + log_weights, axis=0)


def step_key(objective: Objective) -> tuple:
    """What two objectives must share for one compiled step to train both: all but their ``tunable`` parameters."""
    return tuple(
        (weight, type(loss), tuple((f.name, getattr(loss, f.name)) for f in fields(loss) if f.name not in loss.tunable))
        for weight, loss in objective.terms
    )


def _tuned(objective: Objective) -> tuple[Objective, tuple[dict, ...]]:
    """``objective`` with its tunable parameters read from variables, and those variables (one dict per term)."""
    tf = tensorflow()
    variables = tuple(
        {name: tf.Variable(float(getattr(loss, name)), trainable=False, dtype=tf.float32) for name in loss.tunable}
        for _, loss in objective.terms
    )
    terms = tuple(
        (weight, replace(loss, **held)) for (weight, loss), held in zip(objective.terms, variables, strict=True)
    )
    return Objective(terms, objective.notes), variables


class _Untracked:
    """Keeps the teachers out of the wrapper's variable tracking (and so out of its weights and gradients)."""

    def __init__(self, value):
        self.value = value


def build_wrapper(
    student,
    objective: Objective,
    features: tuple[ResolvedFeature, ...],
    total_steps: int,
    online: OnlineTeachers | None = None,
    augmentations: tuple[Augmentation, ...] = (),
    seed: int = 0,
):
    """A model of the student's own Keras whose ``fit`` distils into ``student`` (built in the current strategy scope).

    Students edgekd builds are tf_keras; a student the user brings may be Keras 3. The
    training step below is written against the API both share. The objective's tunable
    parameters are read from variables: ``wrapper.retune(other)`` makes the same compiled step
    train an objective that differs only in them (``step_key``).
    """
    keras = keras_module(framework_of(student))
    tf = tensorflow()
    key = step_key(objective)
    objective, tunables = _tuned(objective)

    class DistillationWrapper(keras.Model):
        def __init__(self):
            super().__init__(name=f"{student.name}_distillation")
            self.student = student
            self.taps = tap_model(student, features, "student") if features else None
            # Built here (seeded from the run's seed: ``fit`` seeds the global generators later).
            adapters = {}
            for index, f in enumerate(features):
                if f.request.adapter:
                    adapter = keras.layers.Dense(
                        f.teacher_shape.channels,
                        name=f"adapter_{f.request.key}",
                        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + index),
                    )
                    adapter.build((None, f.student_shape.channels))
                    adapters[f.request.key] = adapter
            self.adapters = adapters
            # Every variable exists now (the student is built, its adapters just were), so the
            # optimizer's slots are built before the first compiled step, which a step that
            # creates them would trace twice (``edgekd.distill.trainer._compile``).
            self.built = True
            self._online = _Untracked(online)
            self._tunables = _Untracked(tunables)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            # Per-term losses only when there is more than one term (one term is the loss itself).
            terms = objective.terms if len(objective.terms) > 1 else ()
            self.term_trackers = [keras.metrics.Mean(name=loss.name) for _, loss in terms]

        def retune(self, other: Objective) -> None:
            """Train ``other`` from now on: it differs from the objective built with only in tunable parameters."""
            if step_key(other) != key:
                raise EdgekdError(f"internal: {other.name} cannot share the compiled step of {objective.name}")
            for held, (_, loss) in zip(self._tunables.value, other.terms, strict=True):
                for name, variable in held.items():
                    variable.assign(float(getattr(loss, name)))

        @property
        def metrics(self):
            return [self.loss_tracker, *self.term_trackers]

        def call(self, x, training=False):
            return self.student(x, training=training)

        def train_step(self, data):
            x, targets = data
            # The step's augmentation follows from the run's seed and the step number alone.
            step_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
            x, labels, teacher_logits, teacher_features = teacher_targets(
                x, targets, self._online.value, features, augmentations, step_seed
            )
            progress = tf.cast(self.optimizer.iterations, tf.float32) / float(max(1, total_steps))
            with tf.GradientTape() as tape:
                student_logits, student_features = student_outputs(self, x, features)
                batch = DistillationBatch(
                    labels, student_logits, teacher_logits, student_features, teacher_features, progress
                )
                term_values = [tf.reduce_mean(loss.compute(batch)) for _, loss in objective.terms]
                total = tf.add_n(
                    [weight * value for (weight, _), value in zip(objective.terms, term_values, strict=True)]
                )
                # Gradients are summed across replicas: each replica contributes its share.
                scaled = total / tf.distribute.get_strategy().num_replicas_in_sync
            variables = self.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables, strict=True))
            self.loss_tracker.update_state(total)
            for tracker, value in zip(self.term_trackers, term_values, strict=False):
                tracker.update_state(value)
            return {m.name: m.result() for m in self.metrics}

    return DistillationWrapper()


def teacher_targets(x, targets, online: OnlineTeachers | None, features, augmentations, seed=None):
    """(inputs, labels, teacher logits, teacher features) for one batch: cached in ``targets``, or online.

    Online, the batch is augmented first and every teacher sees the same view as the student,
    or its own view of the same samples (``TEACHER_INPUTS``, never augmented); feature methods
    learn from the first teacher.
    """
    tf = tensorflow()
    labels = tf.cast(tf.reshape(targets[LABELS], [-1]), tf.int32)
    if online is None:
        teacher_logits = tf.cast(targets[TEACHER_LOGITS], tf.float32)
        return x, labels, teacher_logits, {f.request.key: targets[feature_target(f.request.key)] for f in features}
    x, labels = augment(x, labels, augmentations, seed)
    teacher_x = targets[TEACHER_INPUTS] if TEACHER_INPUTS in targets else x
    logits, teacher_features = [], {}
    for index, tap in enumerate(online.taps):
        outputs = tap(teacher_x, training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        first = tf.cast(outputs[0], tf.float32)
        if online.outputs_probabilities[index]:
            first = tf.math.log(tf.clip_by_value(first, 1e-12, 1.0))
        logits.append(first)
        if index == 0:
            for feature, value in zip(features, outputs[1:], strict=True):
                teacher_features[feature.request.key] = flatten_feature(
                    tf.cast(value, tf.float32), feature.teacher_shape, feature.grid
                )
    teacher_logits = ensemble_logits(logits, online.weights, online.temperature)
    return x, labels, tf.stop_gradient(teacher_logits), {k: tf.stop_gradient(v) for k, v in teacher_features.items()}


def student_outputs(wrapper, x, features):
    """The student's logits and its features (resampled to the teacher's grid, through their adapters) for a batch."""
    if wrapper.taps is None:
        return wrapper.student(x, training=True), {}
    outputs = wrapper.taps(x, training=True)
    student_features = {}
    for feature, value in zip(features, outputs[1:], strict=True):
        value = flatten_feature(value, feature.student_shape, feature.grid)
        adapter = wrapper.adapters.get(feature.request.key)
        student_features[feature.request.key] = adapter(value) if adapter is not None else value
    return outputs[0], student_features
