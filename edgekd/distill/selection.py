"""``--method auto``'s race: the candidate recipes trained by successive halving, the best going on to the full budget.

Every candidate starts from the student's initial weights and trains the first checkpoints of
the full run (its schedule, its batches, its seed); at each rung a third of them go on, and the
best at the last rung is handed back with its training state, so the winner goes on from where
it stands instead of starting again (``edgekd.distill.distiller.distill``, the search's finalists).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from edgekd.distill.checkpoints import TrainingState
from edgekd.distill.recipes import Recipe
from edgekd.distill.trainer import TrainingBudget, TrainingHistory
from edgekd.distill.training_run import MIN_TRIAL_STEPS, TrainingRun, twin
from edgekd.progress import Reporter


@dataclass(frozen=True)
class CandidateScore:
    """One recipe tried by ``auto``, scored on the validation split where it stopped (its best checkpoint by then)."""

    recipe: str
    description: dict
    val_accuracy: float
    val_loss: float
    steps: int
    seconds: float
    # Why it went no further (left at a rung of the successive halving), or None.
    stopped: str | None = None

    def as_dict(self) -> dict:
        return {
            "recipe": self.recipe,
            **self.description,
            "val_accuracy": round(self.val_accuracy, 6),
            "val_loss": round(self.val_loss, 6),
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            **({"stopped": self.stopped} if self.stopped else {}),
        }


def _role_name(index: int, recipe: Recipe) -> str:
    readable = "".join(c if c.isalnum() else "-" for c in recipe.spec)
    return f"candidate{index}-{readable}"[:80]


# ``auto``'s successive halving (Jamieson and Talwalkar 2016; Li et al. 2018, "Hyperband"): every
# candidate trains to the first rung, a third of them go on to the next, three times as far, and
# the best there trains on to the end. A rung is a checkpoint of the full run: the candidates train
# its first checkpoints themselves (the same schedule, batches and seed), so the winner goes on from
# where it stands and ships what the fixed recipe would have.
RUNG_GROWTH = 3


def rungs(budget: TrainingBudget) -> tuple[int, ...]:
    """The checkpoints of ``budget`` where candidates are compared: the first with at least ``MIN_TRIAL_STEPS``
    steps behind it, and three times as far (fewer when the budget has fewer checkpoints)."""
    checkpoints = budget.checkpoint_count
    first = min(checkpoints, max(1, math.ceil(MIN_TRIAL_STEPS / budget.steps_per_checkpoint)))
    return tuple(sorted({first, min(checkpoints, first * RUNG_GROWTH)}))


def _ranked(scored: list[tuple[Recipe, tuple[float, float]]]) -> list[Recipe]:
    """Best first: the higher validation accuracy, then the lower validation loss."""
    return [recipe for recipe, _ in sorted(scored, key=lambda pair: (-pair[1][0], pair[1][1]))]


def survivors(scored: list[tuple[Recipe, tuple[float, float]]]) -> list[Recipe]:
    """The candidates that go on from a rung, best first: a third of them, always the best of each kind.

    ``scored`` pairs each distillation candidate with its (validation accuracy, loss) at the
    rung. Candidates that augment start slower and end higher than those that do not
    (Beyer et al. 2022, "A good teacher is patient and consistent"; on 32x32 typeface digits the
    crop candidate ranked second of four at 226 steps, first at 450, and trained fully it led the
    one chosen by 17.7 points): a short rung ranks each kind within itself, and only a longer
    one compares them.
    """
    ranked = _ranked(scored)
    chosen = []
    for augments in (False, True):
        best = next((r for r in ranked if bool(r.augmentations) == augments), None)
        if best is not None:
            chosen.append(best)
    for recipe in ranked:
        if len(chosen) >= max(1, math.ceil(len(ranked) / RUNG_GROWTH)):
            break
        if recipe not in chosen:
            chosen.append(recipe)
    return sorted(chosen, key=ranked.index)


@dataclass(frozen=True)
class Selection:
    """``auto``'s answer: the recipe that trains fully, every candidate's score, and where the winner stands."""

    recipe: Recipe
    scores: tuple[CandidateScore, ...]
    # The winner's training so far (its rungs), to go on from.
    state: TrainingState


def select_recipe(run: TrainingRun, student, candidates: tuple[Recipe, ...], reporter: Reporter) -> Selection:
    """Successive halving over ``candidates`` from the student's initial weights, scored on the validation split.

    Each candidate trains the first checkpoints of the full budget (``rungs``); at each rung the
    ``survivors`` go on from where they stand, and the best distillation recipe at the last rung
    wins. The control, when named, trains to the first rung for the table and never wins.
    """
    initial = student.get_weights()
    budget = run.budget()
    levels = rungs(budget)
    # One model for every candidate, its weights reset or restored before each: its compiled
    # prediction (validation) is traced once, and so is the training step the kd candidates share
    # (``TrainingRun.train``'s ``shared``).
    trial = twin(student)
    shared: dict = {}
    index = {id(recipe): number for number, recipe in enumerate(candidates, start=1)}
    histories: dict[int, TrainingHistory] = {}
    seconds = dict.fromkeys(index, 0.0)
    stopped: dict[int, str] = {}
    alive = list(candidates)
    for level, until in enumerate(levels):
        for recipe in alive:
            held = histories.get(id(recipe))
            if held is None:
                trial.set_weights(initial)
            started = time.perf_counter()
            histories[id(recipe)], _, _ = run.train(
                trial,
                recipe,
                budget,
                _role_name(index[id(recipe)], recipe),
                f"trying {recipe.spec}",
                reporter,
                shared,
                start_from=held.paused if held is not None else None,
                pause_at=until,
            )
            seconds[id(recipe)] += time.perf_counter() - started
        scored = [(r, histories[id(r)].best_by(until)) for r in alive if not r.is_control]
        if level + 1 == len(levels):
            alive = _ranked(scored)[:1]
            break
        alive = survivors(scored)
        for recipe, (accuracy_value, _) in scored:
            if recipe not in alive:
                stopped[id(recipe)] = (
                    f"left at checkpoint {until} of {budget.checkpoint_count}: {accuracy_value:.2%} on validation, "
                    f"not among the {len(alive)} going on ({', '.join(r.spec for r in alive)})"
                )
    winner = alive[0]

    def score(recipe: Recipe) -> CandidateScore:
        history = histories[id(recipe)]
        accuracy_value, loss = history.best_by(len(history.val_accuracy))
        return CandidateScore(
            recipe.spec,
            recipe.describe(),
            accuracy_value,
            loss,
            history.trained_steps,
            seconds[id(recipe)],
            stopped.get(id(recipe)),
        )

    return Selection(winner, tuple(score(r) for r in candidates), histories[id(winner)].paused)
