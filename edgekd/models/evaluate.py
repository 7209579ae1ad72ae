"""Predictions and accuracy of Keras models (either Keras), as numpy."""

from __future__ import annotations

import weakref

import numpy as np

from edgekd.data.samples import READ_BATCH, Inputs, batches, is_stream, reading
from edgekd.errors import ModelError
from edgekd.frameworks import tensorflow


def predict_logits(model, x: Inputs, batch_size: int = 1024) -> np.ndarray:
    """Class scores as logits; a model that ends in softmax has its probabilities turned back into log-probabilities.

    ``x`` may be a stream of samples read from disk: they are decoded batch by batch, in order.
    """
    return as_logits(predict(model, x, batch_size), model.name)


def predict(model, x: Inputs, batch_size: int = 1024):
    """The model's outputs on arrays (its compiled forward pass, a batch at a time) or on a stream (decoded in order).

    Arrays skip ``model.predict``, which builds a tf.data pipeline for every call (three
    traced functions): on a validation split of a few hundred samples that cost five times the
    prediction itself, and training validates at every checkpoint. The forward pass is traced
    once per model (twice at most: the last batch may be smaller, and the second trace relaxes
    the batch size) and reads the model's current weights.
    """
    if isinstance(x, np.ndarray) and len(x):
        forward = _forward(model)
        size = min(batch_size, len(x))
        return _joined([forward(x[start : start + size]) for start in range(0, len(x), size)])
    if not is_stream(x):
        return model.predict(x, batch_size=batch_size, verbose=0)
    with reading(x):
        return model.predict(batches(x, min(batch_size, READ_BATCH)), verbose=0)


# Each model's compiled forward pass in inference mode, while the model lives.
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model):
    """``model(x, training=False)`` as a tf.function, made once per model (it holds the model weakly)."""
    forward = _FORWARD.get(model)
    if forward is None:
        tf = tensorflow()
        held = weakref.ref(model)
        forward = tf.function(lambda x: held()(x, training=False), reduce_retracing=True)
        _FORWARD[model] = forward
    return forward


def _joined(parts: list):
    """Per-batch outputs joined along the samples, in the structure the model returns (an array, a list, a dict)."""
    first = parts[0]
    if isinstance(first, dict):
        return {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in first}
    if isinstance(first, list | tuple):
        return [np.concatenate([np.asarray(p[i]) for p in parts]) for i in range(len(first))]
    return np.concatenate([np.asarray(p) for p in parts])


def looks_like_probabilities(outputs: np.ndarray) -> bool:
    return bool(outputs.min() >= 0.0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3))


def as_logits(outputs, name: str) -> np.ndarray:
    """Check a model's class outputs and turn probabilities into log-probabilities."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.ndim != 2:
        raise ModelError(f"model {name!r} outputs shape {outputs.shape[1:]}; expected one score per class")
    if not np.all(np.isfinite(outputs)):
        raise ModelError(f"model {name!r} produced NaN or Inf outputs; check its weights")
    if looks_like_probabilities(outputs):
        # log(p) differs from the logits only by a per-sample constant, which softmax ignores.
        return np.log(np.clip(outputs, 1e-12, 1.0))
    return outputs


def accuracy(model, x: Inputs, y: np.ndarray) -> float:
    """Top-1 accuracy of a Keras model."""
    return float(np.mean(np.argmax(predict_logits(model, x), axis=1) == y))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of softmax(``logits``) against the labels ``y``."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(y)), y]))


def accuracy_and_loss(model, x: Inputs, y: np.ndarray) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy against the labels, from one prediction."""
    logits = predict_logits(model, x)
    return float(np.mean(np.argmax(logits, axis=1) == y)), cross_entropy(logits, y)


# A model within this many points of chance (1/classes) has learned nothing usable, whatever
# its role: it is called out in the verdict, the tables and the report.
CHANCE_MARGIN_POINTS = 2.0


def did_not_learn(accuracy: float | None, num_classes: int) -> bool:
    """True when ``accuracy`` is at most ``CHANCE_MARGIN_POINTS`` above chance for ``num_classes`` classes."""
    if accuracy is None or num_classes < 2:
        return False
    return 100 * (accuracy - 1 / num_classes) <= CHANCE_MARGIN_POINTS
