"""Stopping a training run early: behind another run's curve beyond a margin (the search's later finalists)."""

from __future__ import annotations

import math

# The default margin (two points of validation accuracy).
DEFAULT_MARGIN = 0.02


def behind_reference(first: str, curve: list[float], checkpoints: int, margin: float = DEFAULT_MARGIN):
    """A stopping rule: from half its budget on, stop once the best validation accuracy is more than ``margin``
    behind the best ``first`` had reached by the same checkpoint (``curve``, one value per checkpoint).

    The rule of median stopping (Golovin et al., "Google Vizier", KDD 2017), against one curve:
    a run that far behind at half its budget rarely overtakes, and one that stops that far
    behind cannot be chosen, since the reference keeps its best weights and ends at least where
    it was. The search's later finalists stop against the first (on MNIST-1D a ResNet finalist
    took 84 s to train fully, the search 3.0x the distillation stage, and ended far below the
    auto student).
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
