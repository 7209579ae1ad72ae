"""Predictions and accuracy of Keras models (either Keras), as numpy."""

from __future__ import annotations

import numpy as np

from edgekd.data.samples import READ_BATCH, Inputs, batches, is_stream, reading
from edgekd.errors import ModelError


def predict_logits(model, x: Inputs, batch_size: int = 1024) -> np.ndarray:
    """Class scores as logits; a model that ends in softmax has its probabilities turned back into log-probabilities.

    ``x`` may be a stream of samples read from disk: they are decoded batch by batch, in order.
    """
    return as_logits(predict(model, x, batch_size), model.name)


def predict(model, x: Inputs, batch_size: int = 1024):
    """``model.predict`` on arrays or on a stream (decoded batch by batch, in order)."""
    if not is_stream(x):
        return model.predict(x, batch_size=batch_size, verbose=0)
    with reading(x):
        return model.predict(batches(x, min(batch_size, READ_BATCH)), verbose=0)


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


# A model within this many points of chance (1/classes) has learned nothing usable, whatever
# its role: it is called out in the verdict, the tables and the report.
CHANCE_MARGIN_POINTS = 2.0


def did_not_learn(accuracy: float | None, num_classes: int) -> bool:
    """True when ``accuracy`` is at most ``CHANCE_MARGIN_POINTS`` above chance for ``num_classes`` classes."""
    if accuracy is None or num_classes < 2:
        return False
    return 100 * (accuracy - 1 / num_classes) <= CHANCE_MARGIN_POINTS
