"""Stopping a trial early: behind, at half its short budget, an earlier trial that costs no more.

The finalists' rule (a later finalist behind the first's curve) is ``edgekd.distill.stopping``.
"""

from __future__ import annotations

from edgekd.search.cost import Cost

# How far behind, at half its short budget, an earlier trial that costs no more a trial stops.
DOMINATED_MARGIN = 0.02


def dominated_stop(study, cost: Cost, keys: tuple[str, str], number: int, margin: float = DOMINATED_MARGIN):
    """A stopping rule for a trial (``TrainingControl.stop_when``), or None: at its first checkpoint, half its
    short budget, stop when an earlier trial that costs no more on both figures ``keys`` had been more than
    ``margin`` ahead on validation at the same point.

    Every trial trains the same steps on the same checkpoints, so the two are compared like for
    like (median stopping, Golovin et al., "Google Vizier", KDD 2017, against the best curve
    that dominates on cost). A stopped trial keeps its score at the stop; the earlier one keeps
    its best weights and ends at least where it was, so the stopped one cannot be on the front.
    """
    from optuna.trial import TrialState

    mine = [cost.value(key) for key in keys]
    rivals = []
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        first = other.user_attrs.get("first_val_accuracy")
        if other.number == number or first is None:
            continue
        # The study's own values (accuracy, then the two figures), unrounded: what the front is made of.
        if all(theirs <= ours for theirs, ours in zip(other.values[1:], mine, strict=True)):
            rivals.append((first, other.number))
    if not rivals:
        return None
    best, rival = max(rivals)

    def stop_when(history) -> str | None:
        # Only at the first of two or more checkpoints (a one-checkpoint budget has ended there).
        checkpoints = history.steps // max(1, history.steps_per_checkpoint)
        if checkpoints < 2 or len(history.val_accuracy) != 1 or history.val_accuracy[0] + margin >= best:
            return None
        return (
            f"stopped at half its budget: {history.val_accuracy[0]:.2%} on validation, more than "
            f"{100 * margin:.0f} points behind the {best:.2%} trial {rival} had at the same point, at no more cost"
        )

    return stop_when
