"""Training loops for teachers, scratch students and distilled students.

All three share one loop (Keras ``fit`` on a repeated ``tf.data`` pipeline, Adam with
cosine decay, best weights kept on a validation split, BatchNorm statistics recomputed
before each validation). Distillation trains a wrapper (``edgekd.distill.step``) that
computes its own objective from the batch: labels (-1 for transfer-set samples) and the
teacher's cached or online outputs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from edgekd.data.samples import Inputs, is_stream, reading
from edgekd.distill.batches import augmented, named_parts, training_batches
from edgekd.distill.checkpoints import CheckpointFolder, RoleCheckpoint, TrainingState
from edgekd.distill.watch import TrainingHistory, Watch
from edgekd.errors import EdgekdError
from edgekd.frameworks import framework_of, keras_module, tensorflow
from edgekd.progress import SILENT, Reporter


@dataclass(frozen=True)
class TrainingBudget:
    """How much optimisation a model gets: ``steps`` batches of ``batch_size``."""

    steps: int
    batch_size: int = 128
    learning_rate: float = 3e-3
    # How many times validation accuracy is measured (and best weights considered).
    checkpoints: int = 10

    @property
    def checkpoint_count(self) -> int:
        return max(1, min(self.checkpoints, self.steps))

    @property
    def steps_per_checkpoint(self) -> int:
        """The budget's share per checkpoint, rounded up to a count that whole calls of 8 to 16 steps fill.

        A checkpoint ends on a call boundary (``steps_per_execution``): 554 steps would run two at
        a time, 555 run fifteen (on small models the per-call dispatch costs as much as a step).
        """
        share = math.ceil(self.steps / self.checkpoint_count)
        if share < 2 * STEPS_PER_EXECUTION:
            return share
        return min(math.ceil(share / size) * size for size in range(STEPS_PER_EXECUTION // 2, STEPS_PER_EXECUTION + 1))

    @staticmethod
    def for_epochs(epochs: int, samples: int, batch_size: int, learning_rate: float) -> TrainingBudget:
        return TrainingBudget(max(1, epochs * math.ceil(samples / batch_size)), batch_size, learning_rate)


@dataclass(frozen=True)
class TrainingControl:
    """How every training run of one edgekd run is looked after: checkpoints, early stopping, a strategy.

    One object for the whole run; ``for_role`` names the training run (teacher, student_kd,
    a candidate recipe …) whose checkpoint in the folder it reads and writes.
    """

    checkpoints: CheckpointFolder | None = None
    # Stop after this many validation checkpoints without improvement (None: never).
    patience: int | None = None
    # A tf.distribute strategy, or None for TensorFlow's default.
    strategy: object | None = None
    role: str = ""
    # Asked at every checkpoint with the history so far: a reason to stop there, or None.
    stop_when: Callable[[TrainingHistory], str | None] | None = None

    def for_role(self, role: str, patience: bool = True) -> TrainingControl:
        """The same control for the training run ``role``; ``patience=False`` trains its whole budget."""
        return replace(self, role=role, patience=self.patience if patience else None)

    @property
    def checkpoint(self) -> RoleCheckpoint | None:
        return self.checkpoints.role(self.role) if self.checkpoints is not None and self.role else None

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


# No checkpoints, no early stopping, TensorFlow's default strategy.
DEFAULT_TRAINING = TrainingControl()


def hard_label_objective(label_smoothing: float = 0.0):
    """Cross-entropy on the labels; with ``label_smoothing`` e, against (1 - e) on the label and e spread evenly
    (Szegedy et al. 2016, "Rethinking the Inception Architecture")."""
    tf = tensorflow()

    def objective(labels, logits):
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        if not label_smoothing:
            return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        classes = tf.shape(logits)[-1]
        smoothed = tf.one_hot(labels, classes) * (1.0 - label_smoothing) + label_smoothing / tf.cast(
            classes, tf.float32
        )
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=smoothed, logits=logits))

    return objective


def fit_on_labels(
    model,
    dataset,
    seed: int,
    budget_for,
    reporter: Reporter = SILENT,
    description: str = "training",
    label_smoothing: float = 0.0,
    **options,
) -> TrainingHistory:
    """Train ``model`` on the labelled training split with cross-entropy, validated on the held-out split.

    ``budget_for(samples)`` gives the budget for that many training samples; ``options`` go to ``fit``.
    """
    x_fit, y_fit, x_val, y_val = dataset.validation_split(seed)
    budget = budget_for(len(x_fit))
    objective = hard_label_objective(label_smoothing)
    return fit(model, x_fit, y_fit, objective, budget, (x_val, y_val), seed, reporter, description, **options)


def fit(
    model,
    x: Inputs,
    targets,
    objective,
    budget: TrainingBudget,
    validation: tuple[Inputs, np.ndarray],
    seed: int,
    reporter: Reporter = SILENT,
    description: str = "training",
    extra_callbacks: tuple = (),
    keep_best: bool = True,
    control: TrainingControl = TrainingControl(),
    augmentations: tuple = (),
    validated=None,
    recompile: bool = True,
    start_from: TrainingState | None = None,
    pause_at: int | None = None,
) -> TrainingHistory:
    """Train ``model`` in place for ``budget.steps`` steps and (by default) restore its best validation weights.

    ``objective`` is a Keras loss, or None for a model that computes its own (the
    distillation wrapper). ``targets`` may be a dict of arrays, memory-mapped arrays (gathered
    a batch at a time) or streams (the teacher's view of the inputs). ``keep_best=False`` keeps the
    final weights: needed when a wrapper's state follows a schedule (pruning masks), where
    an early checkpoint would undo it. With ``control.strategy`` the model must have been
    built in that strategy's scope. ``augmentations`` (labels kept: for training on labels)
    apply to each batch with stateless draws from the seed and the step, so a resume repeats them.
    ``validated`` is the model validation runs on (default ``model``): the student a distillation
    wrapper trains, so that its compiled prediction outlives the wrapper (auto's candidates reuse it).
    ``recompile=False`` trains a model compiled by an earlier ``fit`` on the same budget again
    through its compiled step, with its optimizer's state zeroed (as a new optimizer's is).
    ``pause_at=N`` stops after N of the budget's checkpoints, keeps the weights where they are and
    leaves the run's state in ``history.paused``; ``start_from`` (such a state) continues it on the
    same schedule and the same batches, as a run resumed from a checkpoint does (a checkpoint of
    this role in ``control``'s folder comes first).
    """
    keras = keras_module(framework_of(model))
    keras.utils.set_random_seed(seed)
    checkpoints = budget.checkpoint_count
    steps_per_checkpoint = budget.steps_per_checkpoint
    resume = control.checkpoint.load() if control.checkpoint is not None else None
    interrupted = resume is not None
    resume = resume if interrupted else start_from
    if recompile:
        optimizer = _compile(
            model, objective, budget, steps_per_checkpoint * checkpoints, steps_per_checkpoint, control
        )
    else:
        optimizer = model.optimizer
        for variable in optimizer.variables:
            # tf_keras gives a tf.DType, Keras 3 a name.
            dtype = getattr(variable.dtype, "as_numpy_dtype", variable.dtype)
            variable.assign(np.zeros(tuple(variable.shape), np.dtype(dtype)))
    if resume is not None:
        with control.scope():
            _restore(model, optimizer, resume, description)
    watch = Watch(
        TrainingHistory(steps=steps_per_checkpoint * checkpoints, steps_per_checkpoint=steps_per_checkpoint),
        optimizer,
        control,
        description,
        x,
        validation,
        seed,
        model if validated is None else validated,
    )
    if resume is not None:
        watch.resume_from(resume, interrupted)
    watch.history.replicas = int(getattr(control.strategy, "num_replicas_in_sync", 1))
    start = resume.completed if resume is not None else 0
    end = checkpoints if pause_at is None else max(1, min(checkpoints, pause_at))
    if start < end and not watch.history.stopped_early:
        batches = training_batches(x, targets, budget.batch_size, seed, skip=start * steps_per_checkpoint)
        if augmentations:
            batches = augmented(batches, augmentations, seed, start * steps_per_checkpoint)
        streams = [value for value in named_parts(x, targets).values() if is_stream(value)]
        with (
            reporter.bar(end * steps_per_checkpoint, description, unit="step") as bar,
            control.scope(),
            reading(*streams),
        ):
            watch.bar = bar
            bar.update(start * steps_per_checkpoint)
            # The tf.data pipeline already shuffles; shuffle=False keeps Keras from warning about it.
            model.fit(
                batches,
                steps_per_epoch=steps_per_checkpoint,
                epochs=end,
                initial_epoch=start,
                verbose=0,
                shuffle=False,
                callbacks=[watch.as_callback(keras), *extra_callbacks],
            )
    if pause_at is not None:
        # Taken before the best weights come back: a run continues from where it stands.
        watch.history.paused = watch.state(model)
        if len(watch.history.val_accuracy) < checkpoints and not watch.history.stopped_early:
            return watch.history
    if keep_best and watch.best_weights is not None:
        model.set_weights(watch.best_weights)
    return watch.history


def _compile(model, objective, budget: TrainingBudget, total_steps: int, steps_per_checkpoint: int, control):
    """Adam on a cosine-decayed learning rate over the whole run; returns the optimizer."""
    keras = keras_module(framework_of(model))
    with control.scope():
        optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(budget.learning_rate, total_steps))
        # Several steps per call into the compiled function: on small models the per-step
        # dispatch from Python costs as much as the arithmetic.
        model.compile(
            optimizer=optimizer, loss=objective, steps_per_execution=steps_per_execution(steps_per_checkpoint)
        )
        if model.built:
            # The slots built here, not inside the first compiled step: a tf.function that creates
            # variables on its first call is traced a second time (about a second per training run
            # here, the largest fixed cost of auto's short candidate runs).
            optimizer.build(model.trainable_variables)
    return optimizer


STEPS_PER_EXECUTION = 16


def steps_per_execution(steps_per_checkpoint: int) -> int:
    """The largest divisor of a checkpoint's steps up to ``STEPS_PER_EXECUTION`` (a checkpoint ends on a call boundary)."""
    return max(d for d in range(1, STEPS_PER_EXECUTION + 1) if steps_per_checkpoint % d == 0)


def _restore(model, optimizer, state: TrainingState, description: str) -> None:
    """Put a checkpoint's weights and optimizer state back (the optimizer's slots are built first)."""
    try:
        model.set_weights(state.weights)
        optimizer.build(model.trainable_variables)
        variables = list(optimizer.variables)
        if len(variables) != len(state.optimizer):
            raise ValueError(f"{len(state.optimizer)} optimizer values for {len(variables)} variables")
        for variable, value in zip(variables, state.optimizer, strict=True):
            variable.assign(value)
    except ValueError as exc:
        raise EdgekdError(
            f"{description}: the checkpoint does not fit this model ({exc}); rerun with `fresh` to start over"
        ) from None
