"""Representative samples for full-integer calibration, drawn from the training data."""

from __future__ import annotations

import numpy as np

from edgekd.data.samples import Inputs
from edgekd.errors import DataError


def representative_samples(x_train: Inputs, count: int, seed: int = 0) -> np.ndarray:
    """Pick ``count`` training samples (without replacement) to calibrate int8 ranges.

    Calibration sees the distribution the model will see in the field, so it comes from
    the training split, never the test split. From a stream, only the chosen samples are read.
    """
    if len(x_train) == 0:
        raise DataError("the representative dataset is empty; int8 calibration needs training samples")
    if count <= 0:
        raise DataError(
            f"representative sample count must be positive, got {count}; pass `representative_samples` N "
            "(a few hundred training samples calibrate well)"
        )
    chosen = np.random.default_rng(seed).choice(len(x_train), size=min(count, len(x_train)), replace=False)
    samples = np.asarray(x_train[np.sort(chosen)], dtype=np.float32)
    if not np.all(np.isfinite(samples)):
        raise DataError("the representative dataset contains NaN or Inf; int8 ranges would be meaningless")
    return samples
