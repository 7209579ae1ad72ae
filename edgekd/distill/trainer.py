"""Training loops for teachers, scratch students and distilled students.

All three share one loop (Keras ``fit`` on a repeated ``tf.data`` pipeline, Adam with
cosine decay, best weights kept on a validation split). Distillation reads the teacher's
logits from a cache computed once before training: with no augmentation the teacher sees
the same inputs every epoch, so running it online would only repeat work. Labels and
cached logits travel packed in one target array ``[label, logit_0 … logit_K-1]`` with
``label = -1`` for transfer-set samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from edgekd.distill.losses import DistillationLoss
from edgekd.errors import EdgekdError
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
    """What happened during training, for results and curves."""

    steps: int
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_val_accuracy: float = 0.0
    best_checkpoint: int = 0

    def as_dict(self) -> dict:
        return {
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "loss": [round(v, 6) for v in self.loss],
            "val_accuracy": [round(v, 6) for v in self.val_accuracy],
            "best_val_accuracy": round(self.best_val_accuracy, 6),
            "best_checkpoint": self.best_checkpoint,
        }


def pack_targets(labels: np.ndarray, teacher_logits: np.ndarray) -> np.ndarray:
    """``[label, logits…]`` rows, the target format of ``distillation_objective``."""
    return np.concatenate([labels.astype(np.float32)[:, None], teacher_logits.astype(np.float32)], axis=1)


def distillation_objective(loss: DistillationLoss):
    """A Keras loss function reading packed targets."""
    tf = tensorflow()

    def objective(packed_targets, student_logits):
        labels = tf.cast(packed_targets[:, 0], tf.int32)
        teacher_logits = tf.cast(packed_targets[:, 1:], student_logits.dtype)
        return tf.reduce_mean(loss.compute_loss(labels, student_logits, teacher_logits))

    return objective


def hard_label_objective():
    tf = tensorflow()

    def objective(labels, logits):
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    return objective


def fit(
    model,
    x: np.ndarray,
    targets: np.ndarray,
    objective,
    budget: TrainingBudget,
    validation: tuple[np.ndarray, np.ndarray],
    seed: int,
    reporter: Reporter = SILENT,
    description: str = "training",
    extra_callbacks: tuple = (),
    keep_best: bool = True,
) -> TrainingHistory:
    """Train ``model`` in place for ``budget.steps`` steps and (by default) restore its best validation weights.

    ``keep_best=False`` keeps the final weights: needed when a wrapper's state follows a
    schedule (pruning masks), where an early checkpoint would undo it.
    """
    tf = tensorflow()
    keras = keras_module(framework_of(model))
    keras.utils.set_random_seed(seed)
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, targets))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(budget.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    checkpoints = max(1, min(budget.checkpoints, budget.steps))
    steps_per_checkpoint = math.ceil(budget.steps / checkpoints)
    schedule = keras.optimizers.schedules.CosineDecay(budget.learning_rate, steps_per_checkpoint * checkpoints)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=objective)
    history = TrainingHistory(steps=steps_per_checkpoint * checkpoints)
    x_val, y_val = validation
    best = {"weights": None}

    class Watch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            loss_value = float((logs or {}).get("loss", float("nan")))
            if not math.isfinite(loss_value):
                self.model.stop_training = True
                raise EdgekdError(
                    f"{description}: the loss became {loss_value} at checkpoint {epoch + 1}; "
                    "lower the learning rate or check the data for extreme values"
                )
            val = accuracy(self.model, x_val, y_val)
            history.loss.append(loss_value)
            history.val_accuracy.append(val)
            if best["weights"] is None or val > history.best_val_accuracy:
                history.best_val_accuracy, history.best_checkpoint = val, epoch + 1
                best["weights"] = self.model.get_weights()
            bar.set_postfix(loss=f"{loss_value:.3f}", val_acc=f"{val:.3f}")

    started = time.perf_counter()
    with reporter.bar(history.steps, description, unit="step") as bar:
        # The tf.data pipeline already shuffles; shuffle=False keeps Keras from warning about it.
        model.fit(
            dataset,
            steps_per_epoch=steps_per_checkpoint,
            epochs=checkpoints,
            verbose=0,
            shuffle=False,
            callbacks=[Watch(), *extra_callbacks],
        )
    history.seconds = time.perf_counter() - started
    if keep_best:
        model.set_weights(best["weights"])
    return history
