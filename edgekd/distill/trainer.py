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
from dataclasses import dataclass, field, replace

import numpy as np

from edgekd import interrupts
from edgekd.distill.checkpoints import CheckpointFolder, RoleCheckpoint, TrainingState
from edgekd.errors import EdgekdError
from edgekd.models.batchnorm import recalibrate
from edgekd.models.evaluate import accuracy
from edgekd.models.frameworks import framework_of, keras_module, tensorflow
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
            "step_seconds": [round(v, 4) for v in self.step_seconds],
            "resumed_from": list(self.resumed_from),
            "replicas": self.replicas,
        }

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


def hard_label_objective():
    tf = tensorflow()

    def objective(labels, logits):
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    return objective


def fit_on_labels(
    model, dataset, seed: int, budget_for, reporter: Reporter = SILENT, description: str = "training", **options
) -> TrainingHistory:
    """Train ``model`` on the labelled training split with cross-entropy, validated on the held-out split.

    ``budget_for(samples)`` gives the budget for that many training samples; ``options`` go to ``fit``.
    """
    x_fit, y_fit, x_val, y_val = dataset.validation_split(seed)
    budget = budget_for(len(x_fit))
    return fit(
        model, x_fit, y_fit, hard_label_objective(), budget, (x_val, y_val), seed, reporter, description, **options
    )


def fit(
    model,
    x: np.ndarray,
    targets,
    objective,
    budget: TrainingBudget,
    validation: tuple[np.ndarray, np.ndarray],
    seed: int,
    reporter: Reporter = SILENT,
    description: str = "training",
    extra_callbacks: tuple = (),
    keep_best: bool = True,
    control: TrainingControl = TrainingControl(),
) -> TrainingHistory:
    """Train ``model`` in place for ``budget.steps`` steps and (by default) restore its best validation weights.

    ``objective`` is a Keras loss, or None for a model that computes its own (the
    distillation wrapper). ``targets`` may be a dict of arrays. ``keep_best=False`` keeps the
    final weights: needed when a wrapper's state follows a schedule (pruning masks), where
    an early checkpoint would undo it. With ``control.strategy`` the model must have been
    built in that strategy's scope.
    """
    tf = tensorflow()
    keras = keras_module(framework_of(model))
    keras.utils.set_random_seed(seed)
    checkpoints = max(1, min(budget.checkpoints, budget.steps))
    steps_per_checkpoint = math.ceil(budget.steps / checkpoints)
    resume = control.checkpoint.load() if control.checkpoint is not None else None
    with control.scope():
        schedule = keras.optimizers.schedules.CosineDecay(budget.learning_rate, steps_per_checkpoint * checkpoints)
        optimizer = keras.optimizers.Adam(schedule)
        # Several steps per call into the compiled function: on small models the per-step
        # dispatch from Python costs as much as the arithmetic.
        model.compile(
            optimizer=optimizer, loss=objective, steps_per_execution=_steps_per_execution(steps_per_checkpoint)
        )
        if resume is not None:
            _restore(model, optimizer, resume, description)
    if resume is not None:
        history = TrainingHistory.from_dict(resume.history)
        history.resumed_from.append(resume.completed)
        best = {"weights": resume.best_weights}
    else:
        history = TrainingHistory(steps=steps_per_checkpoint * checkpoints, steps_per_checkpoint=steps_per_checkpoint)
        best = {"weights": None}
    history.replicas = int(getattr(control.strategy, "num_replicas_in_sync", 1))
    start = resume.completed if resume is not None else 0
    # The same shuffled stream as an uninterrupted run: skip the batches already trained on.
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, targets))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(budget.batch_size)
        .skip(start * steps_per_checkpoint)
        .prefetch(tf.data.AUTOTUNE)
    )
    x_val, y_val = validation

    class Watch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()
            self.steps_shown = 0

        def on_train_batch_end(self, batch, logs=None):
            # With several steps per execution, Keras reports the last batch index of each call.
            bar.update(batch + 1 - self.steps_shown)
            self.steps_shown = batch + 1
            interrupts.check()

        def on_epoch_end(self, epoch, logs=None):
            history.step_seconds.append(time.perf_counter() - self.epoch_started)
            logs = logs or {}
            loss_value = float(logs.get("loss", float("nan")))
            if not math.isfinite(loss_value):
                self.model.stop_training = True
                broken = [k for k, v in logs.items() if k != "loss" and not math.isfinite(float(v))]
                term = f" (in the {', '.join(broken)} term)" if broken else ""
                kept = f"; the last good checkpoint ({epoch}) is kept" if control.checkpoint and epoch else ""
                raise EdgekdError(
                    f"{description}: the loss became {loss_value}{term} at checkpoint {epoch + 1}{kept}; "
                    "lower the learning rate or check the data for extreme values"
                )
            # Validation runs in inference mode: BatchNorm statistics must belong to these weights.
            recalibrate(self.model, x, seed=seed + epoch)
            val = accuracy(self.model, x_val, y_val)
            history.loss.append(loss_value)
            history.val_accuracy.append(val)
            for key, value in logs.items():
                if key != "loss":
                    history.terms.setdefault(key, []).append(float(value))
            if best["weights"] is None or val > history.best_val_accuracy:
                history.best_val_accuracy, history.best_checkpoint = val, epoch + 1
                best["weights"] = self.model.get_weights()
            if control.patience is not None and epoch + 1 - history.best_checkpoint >= control.patience:
                self.model.stop_training = history.stopped_early = True
            history.seconds += time.perf_counter() - started[0]
            started[0] = time.perf_counter()
            if control.checkpoint is not None:
                control.checkpoint.save(
                    TrainingState(
                        epoch + 1,
                        self.model.get_weights(),
                        [np.array(v.numpy()) for v in optimizer.variables],
                        best["weights"],
                        history.as_dict() | {"seconds": history.seconds},
                    )
                )
            bar.set_postfix(loss=f"{loss_value:.3f}", val_acc=f"{val:.3f}")

    started = [time.perf_counter()]
    if start < checkpoints and not history.stopped_early:
        with (
            reporter.bar(history.steps, description, unit="step") as bar,
            control.scope(),
        ):
            bar.update(start * steps_per_checkpoint)
            # The tf.data pipeline already shuffles; shuffle=False keeps Keras from warning about it.
            model.fit(
                dataset,
                steps_per_epoch=steps_per_checkpoint,
                epochs=checkpoints,
                initial_epoch=start,
                verbose=0,
                shuffle=False,
                callbacks=[Watch(), *extra_callbacks],
            )
    if keep_best and best["weights"] is not None:
        model.set_weights(best["weights"])
    return history


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
