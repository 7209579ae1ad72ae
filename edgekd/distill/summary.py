"""What a distillation found, put into words and tables: the verdict against the control, per-class accuracy,
the training curves, and a note when the test split disagrees with the validation split's choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekd.artifacts import write_text_atomic
from edgekd.data.dataset import Dataset
from edgekd.distill.choice import PairedComparison, Predictions, flagged_classes, per_class_accuracy
from edgekd.distill.config import DistillStageConfig
from edgekd.distill.distiller import DistillationOutcome
from edgekd.models.evaluate import CHANCE_MARGIN_POINTS
from edgekd.records import DistillationSummary, ModelRecord


def per_class_table(dataset: Dataset, tests: dict[str, Predictions]) -> dict:
    """Each model's accuracy per class on the test split, and the classes where distillation lost to the control."""
    table = {
        "classes": list(dataset.class_names) or [str(index) for index in range(dataset.num_classes)],
        "test_samples": np.bincount(dataset.y_test, minlength=dataset.num_classes).tolist(),
        "accuracy": {
            role: per_class_accuracy(dataset.y_test, found.predicted, dataset.num_classes)
            for role, found in tests.items()
        },
        "source": "each Keras model on the test split",
    }
    if "student_scratch" in tests:
        table["flagged"] = flagged_classes(table["accuracy"]["student_kd"], table["accuracy"]["student_scratch"])
    return table


def training_curves_csv(training: dict) -> str:
    """One row per validation checkpoint of every training run: the curves behind the report's plots."""
    terms = sorted({term for history in training.values() for term in history.get("terms", {})})
    lines = [",".join(["run", "checkpoint", "step", "loss", "val_accuracy", *terms])]
    for run, history in training.items():
        per_checkpoint = history.get("steps_per_checkpoint", 0)
        for index, (loss, val) in enumerate(zip(history["loss"], history["val_accuracy"], strict=True)):
            values = [history.get("terms", {}).get(term, [None] * (index + 1))[index] for term in terms]
            cells = [run, str(index + 1), str(round((index + 1) * per_checkpoint)), f"{loss:.6g}", f"{val:.6g}"]
            lines.append(",".join(cells + ["" if v is None else f"{v:.6g}" for v in values]))
    return "\n".join(lines) + "\n"


def write_training_curves(training: dict, out: Path) -> None:
    write_text_atomic(out / "training.csv", training_curves_csv(training))


def distillation_summary(
    config: DistillStageConfig,
    teacher: ModelRecord,
    models: dict[str, ModelRecord],
    outcome: DistillationOutcome,
    extra_teachers: list[ModelRecord] | tuple[ModelRecord, ...] = (),
    teacher_weights: tuple[float, ...] | list[float] | None = None,
    tests: dict[str, Predictions] | None = None,
) -> DistillationSummary:
    """The verdict (did distillation help, against the control on the same budget) and how the run was made.

    ``extra_teachers``: the records of an ensemble's other teachers (``teacher_weights`` theirs and
    the first's). ``tests``: each model's predictions on the test split, by role; with them the
    verdict says when the test split ranks the two students against the validation split's choice.
    """
    kd, scratch, shipped = models["student_kd"], models.get("student_scratch"), models["student"]
    steps = outcome.kd_history.steps
    selection = None
    if outcome.candidates:
        selection = {
            "candidates": [score.as_dict() for score in outcome.candidates],
            "chosen": outcome.recipe.spec,
            "fraction_of_budget": round(min(score.steps for score in outcome.candidates) / steps, 4),
            # How far the candidates went at each rung of the successive halving, as fractions of the budget.
            "rungs": sorted({round(score.steps / steps, 4) for score in outcome.candidates}),
            "seconds": round(outcome.selection_seconds, 3),
            **({"left_out": outcome.left_out} if outcome.left_out else {}),
        }
    gain, verdict = (
        None,
        "no scratch control was trained (switched off by `distill.control`): distillation's gain is unknown",
    )
    if scratch is not None:
        gain = round(100 * (kd.accuracy - scratch.accuracy), 3)
        verdict = (
            f"distillation {'helped' if gain > 0 else 'did not help'} on the test split: {kd.accuracy:.2%} vs "
            f"{scratch.accuracy:.2%} for the scratch control ({gain:+.2f} points, same architecture, initial "
            f"weights and {steps} steps); shipped: {outcome.shipped.role}, chosen on the validation split before "
            f"the test split was seen, because {outcome.shipped.reason}"
        )
        check = outcome.teacher_check
        if check is not None and not check.worth_distilling:
            verdict += f"; {check.message}"
        if tests is not None:
            verdict += shift_note(outcome.shipped.role, tests)
    not_learned = [role for role, record in {"teacher": teacher, **models}.items() if record.did_not_learn]
    if not_learned:
        verdict += f"; did not learn (within {CHANCE_MARGIN_POINTS:g} points of chance): {', '.join(not_learned)}"
    ensemble = None
    if extra_teachers:
        weights = list(teacher_weights or [1.0] * (1 + len(extra_teachers)))
        ensemble = {"teachers": [r.as_dict() for r in (teacher, *extra_teachers)], "weights": weights}
    return DistillationSummary(
        objective=outcome.recipe.objective.describe(),
        recipe=outcome.recipe.spec,
        transfer_samples=outcome.transfer_samples,
        budget={"steps": steps, "batch_size": outcome.budget.batch_size, "learning_rate": outcome.budget.learning_rate},
        student_mac_fraction=round(shipped.macs / teacher.macs, 6) if teacher.macs else None,
        accuracy_kept=round(shipped.accuracy / teacher.accuracy, 6) if teacher.accuracy else None,
        shipped=outcome.shipped.as_dict(),
        verdict=verdict,
        gain_over_control_points=gain,
        selection=selection,
        teacher_outputs=outcome.teacher_mode,
        teacher_outputs_reason=outcome.teacher_reason,
        augment=tuple(a.name for a in outcome.recipe.augmentations),
        strategy={"name": config.distill.strategy, "replicas": outcome.kd_history.replicas},
        features=tuple(feature.describe() for feature in outcome.features),
        ensemble=ensemble,
        teacher_check=outcome.teacher_check.as_dict() if outcome.teacher_check is not None else None,
    )


def shift_note(shipped: str, tests: dict[str, Predictions]) -> str:
    """When the student not shipped is clearly better on the test split: the split that decided does not look like it."""
    other = "student_scratch" if shipped == "student_kd" else "student_kd"
    if other not in tests:
        return ""
    comparison = PairedComparison.of(tests[other].correct, tests[shipped].correct)
    if comparison.lead <= 0 or not comparison.significant:
        return ""
    names = {"student_kd": "the distilled student", "student_scratch": "the control"}
    return (
        f"; but on the test split {names[other]} is significantly better ({tests[other].accuracy:.2%} vs "
        f"{tests[shipped].accuracy:.2%}; {comparison.describe()}): the validation split does not look like the test "
        "split (a shift). If deployment looks like the test split, give a validation split that looks like it "
        "(DIR/val, or x_val and y_val in an npz)"
    )
