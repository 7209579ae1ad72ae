"""The auto student ``edgekd distill`` already trained: a search from that run's teacher takes it as a finalist.

A search usually starts from a teacher an edgekd run trained and saved (``edgekd search
runs/demo/teacher.keras``). That run raced ``auto``'s candidates on its auto student and
trained the winner on the full budget; the search's auto-start finalist is the same student,
chosen among the same candidates on the same validation split and trained on the same
budget, only from other initial weights. When the run's results.json shows the same data
(its fingerprint), the same teacher file, seed, budget and candidates, and its
``student_kd.keras`` has the auto start's architecture and is the file the run wrote, the search
takes that student and its recipe instead of training them again: on MNIST-1D that was 41 s
of a 186 s search, and the search then ships at least what the run shipped on validation
(trained again from other initial weights, the same student had scored 0.75 points lower in
int8). Anything that differs, or cannot be read, and the finalist trains as before; the search
says why once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import EdgekdError
from edgekd.search.config import SearchStageConfig
from edgekd.search.engine import trial_candidate
from edgekd.search.finalists import AUTO_START

RESULTS_FILE = "results.json"
# The settings a distilled student depends on beyond the data and the teacher: (section, key).
SAME_SETTINGS = (
    (None, "seed"),
    ("student", "epochs"),
    ("student", "batch_size"),
    ("student", "learning_rate"),
    ("student", "patience"),
    ("distill", "transfer_set"),
    ("distill", "candidates"),
    ("distill", "augment"),
)


@dataclass(frozen=True)
class Distilled:
    """A student an edgekd run distilled, with what the search's finalist record needs."""

    model: object
    recipe: str
    selection: list[dict]
    # Its validation accuracy at each checkpoint: the curve later finalists are stopped against.
    curve: list[float]
    steps: int
    source: str


def distilled_auto_student(
    config: SearchStageConfig, dataset, teacher_fingerprint: str, built
) -> tuple[Distilled | None, str | None]:
    """The teacher's run's distilled student when it is the auto start (``built``, untrained) trained as this
    search would; else None, with why (None when there is no run's results.json next to the teacher)."""
    folder = Path(config.teacher.path).parent
    results = folder / RESULTS_FILE
    if not results.is_file():
        return None, None
    try:
        document = json.loads(results.read_text())
        why_not = _differs(document, config, dataset, teacher_fingerprint)
        if why_not:
            return None, f"{results}: {why_not}"
        distillation, record = document["distillation"], document["models"]["student_kd"]
        path = folder / Path(record["path"]).name
        return _load(path, record, built, distillation, document["training"]["student_kd"], results)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"{results} could not be read as an edgekd run's results ({type(exc).__name__}: {exc})"


def _differs(document: dict, config: SearchStageConfig, dataset, teacher_fingerprint: str) -> str | None:
    """Why the run's student is not the one this search would train, or None."""
    distillation = document.get("distillation")
    if not distillation:
        return "that run distilled no student"
    if not distillation.get("selection"):
        return "its student trained with a recipe auto did not choose (a fixed method, or a weak teacher)"
    if config.search.finalist_recipe != "auto":
        return f"this search's finalists train with {config.search.finalist_recipe}, not auto's choice"
    if document.get("data", {}).get("fingerprint") != dataset.fingerprint():
        return "its data differs from this search's (or it predates data fingerprints)"
    if document["models"]["teacher"].get("fingerprint") != teacher_fingerprint:
        return "its teacher file differs from the one this search reads"
    recorded = document["config"]
    for section, key in SAME_SETTINGS:
        theirs = recorded.get(key) if section is None else recorded[section].get(key)
        ours = getattr(config if section is None else getattr(config, section), key)
        if theirs != ours:
            name = key if section is None else f"{section}.{key}"
            return f"its {name} was {theirs!r}, this search's is {ours!r}"
    student = (document["models"].get("student_kd") or {}).get("student") or {}
    if not student.get("builder"):
        return "it distilled no auto-sized student"
    return None


def _load(path: Path, record: dict, built, distillation: dict, history: dict, results: Path):
    from edgekd.models.io import load_model, model_fingerprint

    if not path.is_file() or model_fingerprint(path) != record.get("fingerprint"):
        return None, f"{path} is not the file the run wrote (missing, or changed since)"
    try:
        model = load_model(path)
    except EdgekdError as exc:
        return None, f"{path} could not be loaded ({exc})"
    if _shapes(model) != _shapes(built):
        student = f"{record['student']['builder']} {record['student'].get('options')}"
        return None, f"its student ({student}) is not this search's auto start"
    curve = [float(value) for value in history["val_accuracy"]]
    if not curve or not all(0 <= value <= 1 for value in curve):
        return None, f"{results}: the distilled student's validation curve is not a list of accuracies"
    source = f"{path} (the edgekd run of {results})"
    selection = distillation["selection"]["candidates"]
    return Distilled(model, distillation["recipe"], selection, curve, int(history.get("steps") or 0), source), None


def _shapes(model) -> list[tuple[str, list[tuple[int, ...]]]]:
    """A model's architecture as its layers' kinds and weight shapes (names differ between builds)."""
    return [(type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]


def distilled_start(finalist_trials: list, config: SearchStageConfig, dataset, teacher_fingerprint: str, build, say):
    """The auto start as the teacher's own run distilled it (``edgekd.search.reuse``), or None; says why not."""
    start = next((trial for trial in finalist_trials if trial.user_attrs.get(AUTO_START)), None)
    if start is None:
        return None
    candidate = trial_candidate(start)
    distilled, why_not = distilled_auto_student(config, dataset, teacher_fingerprint, build(candidate))
    if distilled is not None:
        say(f"the auto student {candidate.spec}: taken from {distilled.source}, distilled with {distilled.recipe}")
    elif why_not:
        say(f"the auto student {candidate.spec} trains anew, not taken from the teacher's run: {why_not}")
    return distilled
