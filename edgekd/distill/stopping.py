"""Stopping a training run early: behind another beyond noise, or (auto's candidates) below the median of those before it."""

from __future__ import annotations

import math
import statistics

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


# The median rule waits for this many earlier runs (Optuna's MedianPruner waits for 5 by default;
# auto has seven candidates, so two).
MEDIAN_STARTUP = 2


def below_median(earlier: list[float], checkpoints: int, startup: int = MEDIAN_STARTUP):
    """A stopping rule: at half its budget, stop when the best validation accuracy so far is below the median of
    what the earlier runs had reached by then (``earlier``, one value each; it waits for ``startup`` of them).

    Median stopping as Golovin et al. ("Google Vizier", KDD 2017) state it and Optuna's
    ``MedianPruner`` implements it: a sequential form of successive halving (Jamieson and
    Talwalkar 2016), which drops the lower half of the candidates at half their budget whether or
    not the gap is beyond noise. Among candidates within noise of each other the choice is close to
    a draw anyway, and half of them cost half as much.
    """
    half = math.ceil(checkpoints / 2)

    def stop_when(history) -> str | None:
        if len(history.val_accuracy) != half or len(earlier) < startup:
            return None
        mine, median = max(history.val_accuracy), statistics.median(earlier)
        # At the median goes on (the median of two is their mean: no rounding error stops a tie).
        if mine >= median - 1e-9:
            return None
        return (
            f"stopped at checkpoint {half} of {checkpoints}: its best {mine:.2%} on validation was below the median "
            f"{median:.2%} of the {len(earlier)} candidates before it by then"
        )

    return stop_when


def first_of(*rules):
    """A stopping rule that stops with the first of ``rules`` that gives a reason."""

    def stop_when(history) -> str | None:
        return next((reason for rule in rules if (reason := rule(history))), None)

    return stop_when
