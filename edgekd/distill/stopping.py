"""Stopping a training run that has fallen behind another beyond noise: median stopping against one curve."""

from __future__ import annotations

import math

# The smallest margin a rule allows (two points of validation accuracy).
DEFAULT_MARGIN = 0.02


def noise_margin(accuracy: float, samples: int, floor: float = DEFAULT_MARGIN) -> float:
    """Two standard errors of the difference of two accuracies near ``accuracy`` on ``samples`` validation samples.

    A run behind by more than this is behind beyond the noise of the split (the binomial
    error of each accuracy, sqrt(p(1-p)/n), for two independent runs); never below ``floor``.
    """
    if samples <= 0:
        return 1.0
    p = min(max(accuracy, 0.0), 1.0)
    return max(floor, 2 * math.sqrt(2 * p * (1 - p) / samples))


def behind_reference(first: str, curve: list[float], checkpoints: int, margin: float = DEFAULT_MARGIN):
    """A stopping rule: from half its budget on, stop once the best validation accuracy is more than ``margin``
    behind the best ``first`` had reached by the same checkpoint (``curve``, one value per checkpoint).

    The rule of median stopping (Golovin et al., "Google Vizier", KDD 2017), against one curve:
    a run that far behind at half its budget rarely overtakes, and one that stops that far
    behind cannot be chosen, since the reference keeps its best weights and ends at least where
    it was. The search's later finalists stop against the first (on MNIST-1D a ResNet finalist
    took 84 s to train fully, the search 3.0x the distillation stage, and ended far below the
    auto student); ``auto``'s later candidates against the best of those before them.
    """
    half = math.ceil(checkpoints / 2)

    def stop_when(history) -> str | None:
        reached = len(history.val_accuracy)
        if reached < half or not curve:
            return None
        mine, theirs = max(history.val_accuracy), max(curve[:reached])
        if mine + margin >= theirs:
            return None
        return (
            f"stopped at checkpoint {reached} of {checkpoints}: its best {mine:.2%} on validation was more than "
            f"{100 * margin:.1f} points behind the {theirs:.2%} {first} had reached by then"
        )

    return stop_when
