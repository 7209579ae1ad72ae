"""The trials' trainer and the finalists: each trial trains on a fraction of the budget, the front's best train fully.

Split from ``edgekd.search.stage`` (which runs the study and writes the outputs); the microcontroller
check of a finalist through TFLM is here too.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgekd.distill.stopping import behind_reference
from edgekd.progress import Reporter
from edgekd.search.config import SearchStageConfig
from edgekd.search.engine import (
    Score,
    trial_candidate,
)

# Marks the trial a new study starts from: the auto student for its budgets.
AUTO_START = "auto_start"
# The chosen student's check through TFLM (one invoke per sample, reference kernels): the whole
# test split of a microcontroller-sized dataset, and a bounded time on a large one.
TFLM_SAMPLES = 2000
# How far behind the first finalist's curve, from half the budget on, a later finalist stops.
FINALIST_MARGIN = 0.02


class _Trainer:
    """Distils candidates from the teacher, whose outputs are computed once for every candidate of this worker."""

    def __init__(self, config: SearchStageConfig, teacher, dataset, recipe, reporter: Reporter):
        from edgekd.distill.distiller import DistillationSettings, TrainingRun
        from edgekd.distill.trainer import TrainingControl
        from edgekd.inputs import parse_size

        budget = config.distill.cache_budget
        self.settings = DistillationSettings(
            epochs=config.student.epochs,
            batch_size=config.student.batch_size,
            learning_rate=config.student.learning_rate,
            seed=config.seed,
            use_transfer_set=config.distill.transfer_set,
            train_control=False,
            training=TrainingControl(None, config.student.patience),
            teacher_outputs=config.distill.teacher_outputs,
            cache_budget=parse_size(budget) if budget is not None else None,
        )
        self.teacher, self.dataset, self.recipe, self.reporter = teacher, dataset, recipe, reporter
        self.fraction = config.search.trial_fraction
        self.run = TrainingRun.prepare([teacher], dataset, (1.0,), self.settings)

    def train(
        self, model, fraction: float, description: str, recipe=None, stop_when=None, start_from=None
    ) -> tuple[Score, object]:
        """Distil ``model`` in place with ``recipe`` (the trials' by default) on ``fraction`` of the full budget.

        Returns its score and its training history; ``stop_when(history)``, asked at every
        checkpoint, may stop it early with a reason; ``start_from`` (``auto``'s winner) goes on
        from where that training stands.
        """
        from dataclasses import replace

        from edgekd.distill.choice import validation_score
        from edgekd.distill.distiller import check_setup

        recipe = recipe or self.recipe
        if not recipe.is_control:
            check_setup([self.teacher], model, self.dataset, recipe.objective, self.settings, recipe.augmentations)
        started = time.perf_counter()
        budget = self.run.budget(fraction)
        run = self.run
        if stop_when is not None:
            run = replace(
                run, settings=replace(self.settings, training=replace(self.settings.training, stop_when=stop_when))
            )
        history, _, _ = run.train(model, recipe, budget, "search", description, self.reporter, start_from=start_from)
        accuracy, loss = validation_score(model, self.run.x_val, self.run.y_val)
        seconds = time.perf_counter() - started
        first = history.val_accuracy[0] if history.val_accuracy else None
        return Score(accuracy, loss, history.trained_steps, seconds, first, history.stop_reason), history

    def validate(self, model, steps: int) -> Score:
        """The score of a model trained elsewhere (``steps`` long), on this search's validation split."""
        from edgekd.distill.choice import validation_score

        started = time.perf_counter()
        accuracy, loss = validation_score(model, self.run.x_val, self.run.y_val)
        return Score(accuracy, loss, steps, time.perf_counter() - started)

    def short(self, model, description: str, stop_when=None) -> Score:
        return self.train(model, self.fraction, description, stop_when=stop_when)[0]

    @property
    def full_checkpoints(self) -> int:
        return self.run.budget(1.0).checkpoints

    def select_recipe(self, model, candidates):
        """``auto``'s choice for ``model`` (left at its initial weights; ``edgekd.distill.selection.Selection``)."""
        from edgekd.distill.selection import select_recipe

        return select_recipe(self.run, model, candidates, self.reporter)


def _finalist_candidates(finalist_recipe: str, named: list[str] | None, dataset) -> tuple:
    """The recipes ``auto`` chooses among for the finalists, as ``edgekd distill`` would (the config's
    ``distill.candidates``, else the defaults), or () for a fixed recipe."""
    from edgekd.distill.recipes import AUTO, default_candidates, parse_candidates

    if finalist_recipe != AUTO:
        return ()
    candidates = parse_candidates(named or default_candidates(dataset.modality), dataset.num_classes)
    if named:
        return candidates  # the user's own: a conflict with the data is an error, as in `distill`
    # Augmentations need one view for teacher and student (as in edgekd.distill.stage.recipes_for).
    return tuple(r for r in candidates if not (r.augmentations and dataset.teacher is not None))


def _finalists(front, build, trainer: _Trainer, dataset, config: SearchStageConfig, out: Path, profile, distilled=None):
    """Train the best of the front on the full budget; the best on validation is saved, converted and checked.

    ``distilled`` (``edgekd.search.reuse.Distilled``): the auto start as the teacher's run already
    distilled it, taken with its recipe instead of choosing and training again.
    """
    from edgekd.distill.recipes import AUTO, parse_recipe
    from edgekd.distill.stage import keras_record
    from edgekd.models.io import save_model
    from edgekd.quantize.stage import QuantizeSettings, convert_and_check

    finalists, best = [], None
    finalist_recipe = config.search.finalist_recipe
    candidates = _finalist_candidates(finalist_recipe, config.distill.candidates, dataset)
    recipe = None if finalist_recipe == AUTO else parse_recipe(finalist_recipe, dataset.num_classes)
    chosen_on, selection_seconds, reference = None, None, None
    for trial in recipe_chooser_first(front):
        candidate = trial_candidate(trial)
        selection, start, reused = None, None, None
        if distilled is not None and trial.user_attrs.get(AUTO_START):
            model, reused = distilled.model, distilled.source
            recipe, selection, chosen_on = distilled.recipe, distilled.selection, candidate.spec
        else:
            model = build(candidate)
        if candidates and recipe is None:
            # The recipe is chosen once and the other finalists train with it: choosing per finalist
            # cost 1.2 full trainings each (8 recipes at 15%), most of a search's time. The trade: a
            # later finalist might have done better with its own choice. The finalist it was chosen
            # on goes on from where the winning recipe's training stands.
            choosing = time.perf_counter()
            chosen = trainer.select_recipe(model, candidates)
            recipe, start = chosen.recipe, chosen.state
            selection = [score.as_dict() for score in chosen.scores]
            chosen_on, selection_seconds = candidate.spec, round(time.perf_counter() - choosing, 3)
        if reused:
            score, curve = distilled.score, distilled.curve
        else:
            score, history = trainer.train(
                model, 1.0, f"finalist {candidate.spec} ({recipe.spec})", recipe, stop_when=reference, start_from=start
            )
            curve = history.val_accuracy
        if reference is None:
            # The first finalist (the auto student, when it is one) trained its whole budget: the others
            # are measured against its curve.
            reference = behind_reference(candidate.spec, curve, trainer.full_checkpoints, FINALIST_MARGIN)
        finalists.append(
            {
                "trial": trial.number,
                "candidate": candidate.spec,
                "recipe": recipe.spec,
                "recipe_selection": selection,
                "recipe_chosen_on": chosen_on,
                "recipe_selection_seconds": selection_seconds if selection and not reused else None,
                # Taken from the teacher's run: its training took `training_seconds` there; `seconds` are this search's.
                **(
                    {"reused": {"from": reused, "training_seconds": round(distilled.training_seconds, 3)}}
                    if reused
                    else {}
                ),
                "why": (
                    "the auto student the study started from" if trial.user_attrs.get(AUTO_START) else "on the front"
                )
                + (", as the teacher's run distilled it" if reused else ""),
                "val_accuracy": round(score.val_accuracy, 6),
                "val_accuracy_source": "the Keras model on the validation split, after the full training budget",
                "short_val_accuracy": round(trial.values[0], 6),
                "steps": score.steps,
                "seconds": round(score.seconds, 3),
                "stopped": distilled.stopped if reused else score.stopped,
                "cost": trial.user_attrs.get("cost"),
            }
        )
        if best is None or (score.val_accuracy, -trial.values[1]) > (best[1].val_accuracy, -best[2].values[1]):
            best = (model, score, trial, candidate, recipe)
    model, score, trial, candidate, recipe = best
    save_model(model, out / "student.keras")
    keras = keras_record("student", model, dataset, out / "student.keras", student={"spec": candidate.spec})
    quantize = QuantizeSettings(
        representative_samples=config.quantize.representative_samples,
        max_drop=config.quantize.max_drop,
        seed=config.seed,
    )
    int8 = convert_and_check(
        model, "student_int8", "int8", dataset, out / "student_int8.tflite", reference_role="student", settings=quantize
    )
    chosen = {
        "trial": trial.number,
        "candidate": candidate.spec,
        "recipe": recipe.spec,
        "why": "the most accurate finalist on the validation split after the full training budget",
        "cost": trial.user_attrs.get("cost"),
        "models": {"student": keras.as_dict(), "student_int8": int8.as_dict()},
    }
    on_device = _through_tflm(out / "student_int8.tflite", dataset, profile)
    if on_device is not None:
        chosen["tflite_micro"] = on_device
    return finalists, chosen


def _through_tflm(path: Path, dataset, profile) -> dict | None:
    """On a device that runs TensorFlow Lite Micro: the chosen int8 file's fit (its flash, the arena TFLM
    measures) and its accuracy through TFLM's own kernels on the test split, against LiteRT's on the same inputs.

    The search costed the arena already; this is the check a user flashing the file would make
    (``edgekd bench --device MCU --accuracy``), so the chosen student arrives with it.
    """
    from edgekd.bench.accuracy import AccuracyData, compare_outputs, host_outputs
    from edgekd.bench.tflm import TflmError, run_tflm, version
    from edgekd.export.fit import fit_report
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.profiles.schema import Interpreter

    if profile.runtime.interpreter is not Interpreter.TFLITE_MICRO:
        return None
    data = path.read_bytes()
    report = inspect_tflite(data, path.name)
    count = min(len(dataset.y_test), TFLM_SAMPLES)
    samples = AccuracyData(np.asarray(dataset.x_test[:count]), np.asarray(dataset.y_test[:count]), "the test split")
    raw = samples.raw_inputs(report, path.name)
    try:
        run = run_tflm(data, path.name, raw)
    except TflmError as exc:  # not installed, or a refusal the costing did not meet: say so, keep the student
        return {"device": profile.name, "not_measured_because": str(exc)}
    runtime = f"TensorFlow Lite Micro {version()} (reference kernels, run on the host)"
    accuracy = compare_outputs(run.outputs, host_outputs(data, raw), samples.y, report.outputs[0], runtime)
    return {
        "fit": fit_report(report, run.arena, profile),
        "accuracy": {**accuracy.as_dict(), "source": f"the .tflite through {runtime} on the test split"},
    }


def recipe_chooser_first(finalists: list) -> list:
    """The finalists in training order: the auto start first, since the recipe is chosen on the first one.

    The auto student then chooses its recipe as ``edgekd distill --method auto`` does (on
    validation, among the same candidates), and trains with it from its own initial
    weights; the search ships another finalist only when it does better on validation. It was
    also the cheaper model to choose on: 34 s for the conv on MNIST-1D, where the front's 4-block
    MobileNet had taken 104 s.
    """
    return sorted(finalists, key=lambda trial: not trial.user_attrs.get(AUTO_START))
