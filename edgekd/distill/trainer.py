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
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from edgekd import interrupts
from edgekd.data.samples import Inputs, is_stream, reading
from edgekd.distill.batches import augmented, named_parts, training_batches
from edgekd.distill.checkpoints import CheckpointFolder, RoleCheckpoint, TrainingState
from edgekd.errors import EdgekdError
from edgekd.frameworks import framework_of, keras_module, tensorflow
from edgekd.models.batchnorm import recalibrate
from edgekd.models.evaluate import accuracy
from edgekd.progress import SILENT, Reporter


@dataclass(frozen=True)
class TrainingBudget:
    """How much optimisation a model gets: ``steps`` batches of ``batch_size``."""

    steps: int
    batch_size: int = 128
    learning_rate: float = 3e-3
    # How many times validation accuracy is measured (and best weights considered).
    checkpoints: int = 10

    @staticmethod
    def for_epochs(epochs: int, samples: int, batch_size: int, learning_rate: float) -> TrainingBudget:
        return TrainingBudget(max(1, epochs * math.ceil(samples / batch_size)), batch_size, learning_rate)


@dataclass
class TrainingHistory:
    """What happened during training, for results, curves and resuming."""

    steps: int
    steps_per_checkpoint: int = 0
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_val_accuracy: float = 0.0
    best_checkpoint: int = 0
    # Per-term losses of a combined objective, one value per checkpoint.
    terms: dict[str, list[float]] = field(default_factory=dict)
    stopped_early: bool = False
    # Why it stopped before its budget, when something other than patience stopped it.
    stop_reason: str | None = None
    # Seconds spent in training steps alone (no validation, no checkpoint writing), per checkpoint.
    step_seconds: list[float] = field(default_factory=list)
    # The checkpoints a run was resumed from (one entry per interruption).
    resumed_from: list[int] = field(default_factory=list)
    replicas: int = 1

    def as_dict(self) -> dict:
        return {
            "steps": self.steps,
            "steps_per_checkpoint": self.steps_per_checkpoint,
            "seconds": round(self.seconds, 3),
            "loss": [round(v, 6) for v in self.loss],
            "val_accuracy": [round(v, 6) for v in self.val_accuracy],
            "best_val_accuracy": round(self.best_val_accuracy, 6),
            "best_checkpoint": self.best_checkpoint,
            "terms": {k: [round(v, 6) for v in values] for k, values in self.terms.items()},
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "step_seconds": [round(v, 4) for v in self.step_seconds],
            "resumed_from": list(self.resumed_from),
            "replicas": self.replicas,
        }

    @property
    def trained_steps(self) -> int:
        """The steps actually trained: the planned ones, or up to the checkpoint where the run stopped early."""
        return len(self.val_accuracy) * self.steps_per_checkpoint if self.stopped_early else self.steps

    def seconds_per_step(self) -> float | None:
        """Median training time per step, leaving out the first checkpoint (it includes tracing)."""
        timed = self.step_seconds[1:] or self.step_seconds
        if not timed or not self.steps_per_checkpoint:
            return None
        return statistics.median(timed) / self.steps_per_checkpoint

    @staticmethod
    def from_dict(document: dict) -> TrainingHistory:
        return TrainingHistory(**{k: document[k] for k in TrainingHistory.__dataclass_fields__ if k in document})


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
    """
    keras = keras_module(framework_of(model))
    keras.utils.set_random_seed(seed)
    checkpoints = max(1, min(budget.checkpoints, budget.steps))
    steps_per_checkpoint = math.ceil(budget.steps / checkpoints)
    resume = control.checkpoint.load() if control.checkpoint is not None else None
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
    watch = _Watch(
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
        watch.resume_from(resume)
    watch.history.replicas = int(getattr(control.strategy, "num_replicas_in_sync", 1))
    start = resume.completed if resume is not None else 0
    if start < checkpoints and not watch.history.stopped_early:
        batches = training_batches(x, targets, budget.batch_size, seed, skip=start * steps_per_checkpoint)
        if augmentations:
            batches = augmented(batches, augmentations, seed, start * steps_per_checkpoint)
        streams = [value for value in named_parts(x, targets).values() if is_stream(value)]
        with reporter.bar(watch.history.steps, description, unit="step") as bar, control.scope(), reading(*streams):
            watch.bar = bar
            bar.update(start * steps_per_checkpoint)
            # The tf.data pipeline already shuffles; shuffle=False keeps Keras from warning about it.
            model.fit(
                batches,
                steps_per_epoch=steps_per_checkpoint,
                epochs=checkpoints,
                initial_epoch=start,
                verbose=0,
                shuffle=False,
                callbacks=[watch.as_callback(keras), *extra_callbacks],
            )
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
            optimizer=optimizer, loss=objective, steps_per_execution=_steps_per_execution(steps_per_checkpoint)
        )
        if model.built:
            # The slots built here, not inside the first compiled step: a tf.function that creates
            # variables on its first call is traced a second time (about a second per training run
            # here, the largest fixed cost of auto's short candidate runs).
            optimizer.build(model.trainable_variables)
    return optimizer


class _Watch:
    """What happens at every validation checkpoint: a finite loss, validation, the best weights, patience, a checkpoint."""

    def __init__(
        self, history: TrainingHistory, optimizer, control, description: str, x, validation, seed: int, validated
    ):
        self.history, self.optimizer, self.control, self.description = history, optimizer, control, description
        self.x, (self.x_val, self.y_val), self.seed = x, validation, seed
        self.validated = validated
        self.best_weights = None
        self.bar = None
        self.started = time.perf_counter()
        self.epoch_started = self.started
        self.steps_shown = 0

    def resume_from(self, state: TrainingState) -> None:
        self.history = TrainingHistory.from_dict(state.history)
        self.history.resumed_from.append(state.completed)
        self.best_weights = state.best_weights

    def as_callback(self, keras):
        """A callback of ``keras`` (tf_keras or Keras 3, the model's own) that reports to this watch."""
        watch = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                watch.epoch_started, watch.steps_shown = time.perf_counter(), 0

            def on_train_batch_end(self, batch, logs=None):
                # With several steps per execution, Keras reports the last batch index of each call.
                watch.bar.update(batch + 1 - watch.steps_shown)
                watch.steps_shown = batch + 1
                interrupts.check()

            def on_epoch_end(self, epoch, logs=None):
                watch.checkpoint_reached(self.model, epoch, logs or {})

        return Callback()

    def checkpoint_reached(self, model, epoch: int, logs: dict) -> None:
        history = self.history
        history.step_seconds.append(time.perf_counter() - self.epoch_started)
        loss_value = self._finite_loss(model, epoch, logs)
        # Validation runs in inference mode: BatchNorm statistics must belong to these weights.
        recalibrate(self.validated, self.x, seed=self.seed + epoch)
        val = accuracy(self.validated, self.x_val, self.y_val)
        history.loss.append(loss_value)
        history.val_accuracy.append(val)
        for key, value in logs.items():
            if key != "loss":
                history.terms.setdefault(key, []).append(float(value))
        if self.best_weights is None or val > history.best_val_accuracy:
            history.best_val_accuracy, history.best_checkpoint = val, epoch + 1
            self.best_weights = model.get_weights()
        patience = self.control.patience
        if patience is not None and epoch + 1 - history.best_checkpoint >= patience:
            model.stop_training = history.stopped_early = True
        reason = self.control.stop_when(history) if self.control.stop_when is not None else None
        if reason:
            model.stop_training = history.stopped_early = True
            history.stop_reason = reason
        history.seconds += time.perf_counter() - self.started
        self.started = time.perf_counter()
        self._save(model, epoch)
        self.bar.set_postfix(loss=f"{loss_value:.3f}", val_acc=f"{val:.3f}")

    def _finite_loss(self, model, epoch: int, logs: dict) -> float:
        """The checkpoint's loss; a NaN or Inf stops training, naming the term and the checkpoint kept."""
        loss_value = float(logs.get("loss", float("nan")))
        if math.isfinite(loss_value):
            return loss_value
        model.stop_training = True
        broken = [k for k, v in logs.items() if k != "loss" and not math.isfinite(float(v))]
        term = f" (in the {', '.join(broken)} term)" if broken else ""
        kept = f"; the last good checkpoint ({epoch}) is kept" if self.control.checkpoint and epoch else ""
        raise EdgekdError(
            f"{self.description}: the loss became {loss_value}{term} at checkpoint {epoch + 1}{kept}; "
            "lower the learning rate or check the data for extreme values"
        )

    def _save(self, model, epoch: int) -> None:
        if self.control.checkpoint is None:
            return
        self.control.checkpoint.save(
            TrainingState(
                epoch + 1,
                model.get_weights(),
                [np.array(v.numpy()) for v in self.optimizer.variables],
                self.best_weights,
                self.history.as_dict() | {"seconds": self.history.seconds},
            )
        )


STEPS_PER_EXECUTION = 16


def _steps_per_execution(steps_per_checkpoint: int) -> int:
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
