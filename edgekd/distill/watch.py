"""What a training run records at every validation checkpoint: its history, its best weights, its checkpoint.

``edgekd.distill.trainer.fit`` drives the loop; the watch here validates the model at every
checkpoint (BatchNorm statistics recomputed first), keeps the best weights, applies patience
and stopping rules, and saves a ``TrainingState`` a run resumes or continues from.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from edgekd import interrupts
from edgekd.distill.checkpoints import TrainingState
from edgekd.errors import EdgekdError
from edgekd.models.batchnorm import recalibrate
from edgekd.models.evaluate import accuracy_and_loss

# The validation loss of a checkpoint recorded without one.
UNKNOWN_LOSS = 1e9


@dataclass
class TrainingHistory:
    """What happened during training, for results, curves and resuming."""

    steps: int
    steps_per_checkpoint: int = 0
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    # Mean cross-entropy against the labels on the validation split, per checkpoint (ties between runs).
    val_loss: list[float] = field(default_factory=list)
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
    # Where a run paused before its budget (``fit``'s ``pause_at``) stands, to continue from; never saved.
    paused: TrainingState | None = field(default=None, repr=False, compare=False)

    def as_dict(self, exact: bool = False) -> dict:
        """The history for results (rounded), or ``exact`` for a checkpoint to go on from.

        A run that goes on from a rounded history would see its own best accuracy (0.986111)
        beaten by an equal one (0.98611...) and keep a later checkpoint's weights than an
        uninterrupted run.
        """

        def rounded(value: float, digits: int = 6) -> float:
            return float(value) if exact else round(value, digits)

        return {
            "steps": self.steps,
            "steps_per_checkpoint": self.steps_per_checkpoint,
            "seconds": rounded(self.seconds, 3),
            "loss": [rounded(v) for v in self.loss],
            "val_accuracy": [rounded(v) for v in self.val_accuracy],
            "val_loss": [rounded(v) for v in self.val_loss],
            "best_val_accuracy": rounded(self.best_val_accuracy),
            "best_checkpoint": self.best_checkpoint,
            "terms": {k: [rounded(v) for v in values] for k, values in self.terms.items()},
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "step_seconds": [rounded(v, 4) for v in self.step_seconds],
            "resumed_from": list(self.resumed_from),
            "replicas": self.replicas,
        }

    @property
    def trained_steps(self) -> int:
        """The steps actually trained: the planned ones, or up to the checkpoint where the run stopped or paused."""
        if self.stopped_early or self.paused is not None:
            return min(self.steps, len(self.val_accuracy) * self.steps_per_checkpoint)
        return self.steps

    def best_by(self, checkpoints: int) -> tuple[float, float]:
        """(best validation accuracy, its loss) among the first ``checkpoints``: a run compared at that point."""
        reached = self.val_accuracy[:checkpoints]
        if not reached:
            return 0.0, math.inf
        best = max(range(len(reached)), key=lambda i: (reached[i], -self._loss_at(i)))
        return reached[best], self._loss_at(best)

    def _loss_at(self, index: int) -> float:
        return self.val_loss[index] if index < len(self.val_loss) else math.inf

    def seconds_per_step(self) -> float | None:
        """Median training time per step, leaving out the first checkpoint (it includes tracing)."""
        timed = self.step_seconds[1:] or self.step_seconds
        if not timed or not self.steps_per_checkpoint:
            return None
        return statistics.median(timed) / self.steps_per_checkpoint

    @staticmethod
    def from_dict(document: dict) -> TrainingHistory:
        history = TrainingHistory(**{k: document[k] for k in TrainingHistory.__dataclass_fields__ if k in document})
        # A checkpoint written before losses were kept: unknown losses (ranked last, finite for JSON) keep
        # the later ones aligned with their checkpoints.
        missing = len(history.val_accuracy) - len(history.val_loss)
        history.val_loss = [UNKNOWN_LOSS] * missing + list(history.val_loss)
        return history


class Watch:
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

    def resume_from(self, state: TrainingState, interrupted: bool = True) -> None:
        """Go on from ``state``: a checkpoint of an interrupted run, or a paused run continued (not an interruption)."""
        self.history = TrainingHistory.from_dict(state.history)
        if interrupted:
            self.history.resumed_from.append(state.completed)
        self.best_weights = state.best_weights

    def state(self, model) -> TrainingState:
        """Where the run stands now: its weights, its optimizer's state, its best weights and its history."""
        return TrainingState(
            len(self.history.val_accuracy),
            model.get_weights(),
            [np.array(v.numpy()) for v in self.optimizer.variables],
            self.best_weights,
            self.history.as_dict(exact=True),
        )

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
        val, val_loss = accuracy_and_loss(self.validated, self.x_val, self.y_val)
        history.loss.append(loss_value)
        history.val_accuracy.append(val)
        history.val_loss.append(val_loss)
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
        self.control.checkpoint.save(self.state(model))
