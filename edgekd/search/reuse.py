"""The auto student ``edgekd distill`` already trained: a search from that run's teacher takes it as a finalist.

A search usually starts from a teacher an edgekd run trained and saved (``edgekd search
runs/demo/teacher.keras``). That run raced ``auto``'s candidates on its auto student and
trained the winner on the full budget; the search's auto-start finalist is the same student,
chosen among the same candidates on the same validation split and trained on the same
budget, only from other initial weights. When the run's results.json shows the same data
(its fingerprint), the same single teacher file, seed, budget and candidates (none left out),
and its ``student_kd.keras`` is the auto start (builder, options, layers) and the file the run
wrote, scoring on validation what the run recorded, the search takes that student and its
recipe instead of training them again: on MNIST-1D that was 41 s of a 186 s search, and the
search then ships a student at least as good on validation as the run's distilled one
(trained again from other initial weights, the same student had scored 0.75 points lower in
int8). Anything that differs or cannot be read, and the finalist trains as before; the
search says why once.

results.json and the student are read as files from outside: a file that is not a regular
one, not JSON or not shaped as edgekd writes it is not reused, and the model loads in safe mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import EdgekdError
from edgekd.search.config import SearchStageConfig
from edgekd.search.engine import Score, trial_candidate
from edgekd.search.finalists import AUTO_START, _finalist_candidates

RESULTS_FILE = "results.json"
RESULTS_LIMIT = 64 << 20
# The settings a distilled student depends on beyond the data, the teacher and the budget's steps.
SAME_SETTINGS = (
    (None, "seed"),
    ("student", "epochs"),
    ("student", "batch_size"),
    ("student", "learning_rate"),
    ("student", "patience"),
    ("distill", "transfer_set"),
    ("distill", "candidates"),
    ("distill", "augment"),
    ("distill", "strategy"),
)
# How far the student's validation accuracy here may be from the best the run recorded (the run's
# curve stops the later finalists, so it must be this student's).
CURVE_TOLERANCE = 0.005


class Unreadable(EdgekdError):
    """The run's results.json cannot be read as one edgekd writes."""


@dataclass(frozen=True)
class Distilled:
    """A student an edgekd run distilled, with what the search's finalist record needs."""

    model: object
    recipe: object
    selection: list[dict]
    # Its validation accuracy at each checkpoint: the curve later finalists are stopped against.
    curve: list[float]
    stopped: str | None
    training_seconds: float
    score: Score
    source: str


def distilled_start(
    finalist_trials: list, config: SearchStageConfig, dataset, fingerprints: tuple[str, str], build, trainer, say
):
    """The auto start as the teacher's own run distilled it, or None; says why not when there is such a run."""
    start = next((trial for trial in finalist_trials if trial.user_attrs.get(AUTO_START)), None)
    if start is None:
        return None
    candidate = trial_candidate(start)
    try:
        distilled, why_not = _distilled(config, dataset, fingerprints, candidate, build(candidate), trainer)
    except (
        EdgekdError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    ) as exc:
        distilled, why_not = None, f"its results could not be read as an edgekd run's ({type(exc).__name__}: {exc})"
    if distilled is not None:
        say(f"the auto student {candidate.spec}: taken from {distilled.source}, distilled with {distilled.recipe.spec}")
    elif why_not:
        say(f"the auto student {candidate.spec} trains anew, not taken from the teacher's run: {why_not}")
    return distilled


def _distilled(config: SearchStageConfig, dataset, fingerprints: tuple[str, str], candidate, built, trainer):
    """(the run's student, None) when it is ``candidate`` trained as this search would, else (None, why not)."""
    from edgekd.distill.recipes import parse_recipe
    from edgekd.distill.watch import TrainingHistory
    from edgekd.inputs import read_regular_file
    from edgekd.validation import parse_json

    folder = Path(config.teacher.path).parent
    results = folder / RESULTS_FILE
    if not results.is_file():
        return None, None
    data = read_regular_file(results, "results file", Unreadable, limit=RESULTS_LIMIT)
    document = parse_json(data, str(results), Unreadable, "an edgekd run's results.json")
    why_not = _differs(document, config, dataset, fingerprints, candidate, trainer)
    if why_not:
        return None, f"{results}: {why_not}"
    distillation, record = document["distillation"], document["models"]["student_kd"]
    history = TrainingHistory.from_dict(document["training"]["student_kd"])
    curve = [float(value) for value in history.val_accuracy]
    if not curve or not all(0 <= value <= 1 for value in curve) or not math.isfinite(history.seconds):
        return None, f"{results}: the distilled student's training history is not one edgekd writes"
    path = folder / Path(record["path"]).name
    model, why_not = _load(path, record, built)
    if model is None:
        return None, why_not
    score = trainer.validate(model, history.trained_steps)
    if abs(score.val_accuracy - max(curve)) > CURVE_TOLERANCE:
        return None, (
            f"{path} scores {score.val_accuracy:.2%} on validation here, its run recorded {max(curve):.2%} at best"
        )
    recipe = parse_recipe(distillation["recipe"], dataset.num_classes)
    source = f"{path} (the edgekd run of {results})"
    selection = distillation["selection"]["candidates"]
    return Distilled(model, recipe, selection, curve, history.stop_reason, history.seconds, score, source), None


def _differs(document: dict, config: SearchStageConfig, dataset, fingerprints: tuple[str, str], candidate, trainer):
    """Why the run's student is not the one this search would train, or None (``fingerprints``: the data's and
    the teacher file's, as this search computed them)."""
    data_fingerprint, teacher_fingerprint = fingerprints
    distillation = document.get("distillation")
    if not distillation:
        return "that run distilled no student"
    selection = distillation.get("selection")
    if not selection:
        return "its student trained with a recipe auto did not choose (a fixed method, or a weak teacher)"
    if config.search.finalist_recipe != "auto":
        return f"this search's finalists train with {config.search.finalist_recipe}, not auto's choice"
    if selection.get("left_out"):
        return "auto left candidates out there (their cost), which this search's choice would try"
    ours = [r.spec for r in _finalist_candidates("auto", config.distill.candidates, dataset)]
    theirs = [candidate_score.get("recipe") for candidate_score in selection["candidates"]]
    if theirs != ours or distillation.get("recipe") != selection.get("chosen") or distillation["recipe"] not in ours:
        return f"its candidates ({', '.join(map(str, theirs))}) are not this search's ({', '.join(ours)})"
    if document.get("data", {}).get("fingerprint") != data_fingerprint:
        return "its data differs from this search's (or it predates data fingerprints)"
    recorded = document["config"]
    teacher = recorded["teacher"]
    if distillation.get("ensemble") or teacher.get("ensemble") or teacher.get("ensemble_size", 1) != 1:
        return "its student learnt from an ensemble of teachers; this search's from one"
    if document["models"]["teacher"].get("fingerprint") != teacher_fingerprint:
        return "its teacher file differs from the one this search reads"
    for section, key in SAME_SETTINGS:
        theirs = recorded.get(key) if section is None else recorded[section].get(key)
        ours = getattr(config if section is None else getattr(config, section), key)
        if theirs != ours:
            name = key if section is None else f"{section}.{key}"
            return f"its {name} was {theirs!r}, this search's is {ours!r}"
    # The steps a full training runs: the budget's, rounded up to whole checkpoints (as the run records them).
    budget = trainer.run.budget(1.0)
    steps = budget.steps_per_checkpoint * budget.checkpoint_count
    if distillation.get("budget", {}).get("steps") != steps:
        return f"its budget was {distillation.get('budget', {}).get('steps')} steps, this search's is {steps}"
    student = (document["models"].get("student_kd") or {}).get("student") or {}
    if student.get("builder") != candidate.family or not _same_options(student.get("options"), candidate):
        return f"its student ({student.get('builder')} {student.get('options')}) is not this search's {candidate.spec}"
    return None


def _same_options(options, candidate) -> bool:
    """Whether a recorded student's options (the ones it set; the rest its builder's defaults) are ``candidate``'s."""
    from edgekd.models.builders import get_builder

    if not isinstance(options, dict):
        return False
    defaults = get_builder(candidate.family).defaults
    for key in {*options, *candidate.options}:
        theirs, ours = options.get(key, defaults.get(key)), candidate.options.get(key, defaults.get(key))
        numbers = all(isinstance(value, int | float) and not isinstance(value, bool) for value in (theirs, ours))
        if not numbers or not math.isclose(theirs, ours):
            return False
    return True


def _load(path: Path, record: dict, built):
    """(the model, None) when ``path`` is the file the run wrote and has the layers of ``built``; else (None, why)."""
    from edgekd.models.io import load_model, model_fingerprint

    try:
        if not path.is_file() or model_fingerprint(path) != record.get("fingerprint"):
            return None, f"{path} is not the file the run wrote (missing, or changed since)"
        model = load_model(path)
    except EdgekdError as exc:
        return None, f"{path} could not be loaded ({exc})"
    if _shapes(model) != _shapes(built):
        return None, f"{path} does not have the layers of this search's auto start"
    return model, None


def _shapes(model) -> list[tuple[str, list[tuple[int, ...]]]]:
    """A model's architecture as its layers' kinds and weight shapes (names differ between builds)."""
    return [(type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]
