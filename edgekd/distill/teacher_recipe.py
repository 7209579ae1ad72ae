"""How ``--train-teacher`` trains a teacher meant to beat any student: the recipe, and the optional ensemble.

A teacher trained on labels alone for a fixed number of epochs lost to the scratch student
it was to teach on every real-data run tried (speech with unseen speakers, photo patches from
unseen regions): nothing made the large model generalise better than the small one. The
recipe here gives it what large models need to:

- a capacity for the data: the ``resnet_teacher`` builder, BatchNorm, as many residual stacks
  as the input has room for (``edgekd.models.teacher_net``);
- augmentation suited to the data (``edgekd.distill.augment.TEACHER_AUGMENTATIONS``): random
  crops and colour for images, time shifts and SpecAugment's masks for audio features,
  shifts and noise for signals;
- label smoothing (Szegedy et al. 2016), 0.1 by default. Müller, Kornblith & Hinton 2019
  ("When does label smoothing help?") found smoothed teachers distil somewhat worse at equal
  accuracy; a teacher that is not more accurate than its student distils nothing, so accuracy
  comes first here, and ``teacher.label_smoothing`` 0 turns it off;
- Adam on a cosine schedule (the loop every model here trains with);
- early stopping on validation (``teacher.patience`` checkpoints of ``TEACHER_CHECKPOINTS``
  without improvement) with the best validation checkpoint restored;
- optionally an ensemble (``teacher.ensemble_size``): members trained from different seeds,
  whose soft targets the multi-teacher path averages; no member starts that would not fit
  ``teacher.time_budget_s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgekd.data.dataset import Dataset
from edgekd.distill.augment import TEACHER_AUGMENTATIONS, Augmentation, check_modality, parse_augmentations
from edgekd.distill.config import TeacherConfig
from edgekd.distill.trainer import DEFAULT_TRAINING, TrainingBudget, TrainingControl, TrainingHistory, fit_on_labels
from edgekd.errors import ConfigError
from edgekd.frameworks import seed_everything
from edgekd.models.builders import get_builder
from edgekd.progress import Reporter

# Validation checkpoints of a teacher's training: finer than a student's 10, so early stopping
# stops within a twentieth of the budget of where the teacher stopped improving.
TEACHER_CHECKPOINTS = 20


@dataclass(frozen=True)
class TeacherRecipe:
    """How a teacher trains on labels: its augmentations, label smoothing and early stopping."""

    augmentations: tuple[Augmentation, ...]
    label_smoothing: float
    patience: int | None

    def describe(self) -> dict:
        return {
            "augment": [a.name for a in self.augmentations],
            "label_smoothing": self.label_smoothing,
            "patience": self.patience,
            "checkpoints": TEACHER_CHECKPOINTS,
        }


def teacher_recipe(config: TeacherConfig, dataset: Dataset) -> TeacherRecipe:
    """The recipe for ``dataset``'s kind of data; an augmentation the data does not suit, or one that drops labels,
    is refused before anything trains."""
    modality = dataset.for_teacher().modality
    names = config.augment if config.augment is not None else TEACHER_AUGMENTATIONS[modality]
    augmentations = parse_augmentations(names)
    check_modality(augmentations, modality, "`teacher.augment`")
    for augmentation in augmentations:
        if not augmentation.keeps_labels:
            raise ConfigError(
                f"`teacher.augment`: {augmentation.name} mixes samples and drops their labels, but a teacher trains "
                f"on labels alone; choose among {', '.join(TEACHER_AUGMENTATIONS[modality])}"
            )
    return TeacherRecipe(augmentations, config.label_smoothing, config.patience)


@dataclass
class TrainedTeachers:
    """The teacher, the other members of its ensemble (if any), and what their training recorded."""

    teacher: object
    members: list
    histories: dict[str, TrainingHistory]
    # Members that were asked for but would not fit ``time_budget_s``.
    skipped: int = 0


def train_one(
    teacher,
    config: TeacherConfig,
    recipe: TeacherRecipe,
    dataset: Dataset,
    seed: int,
    reporter: Reporter,
    training: TrainingControl,
    role: str,
) -> TrainingHistory:
    """Train a built teacher on its view of the data with the recipe; its best validation checkpoint is kept."""

    def budget(samples: int) -> TrainingBudget:
        full = TrainingBudget.for_epochs(config.epochs, samples, config.batch_size, config.learning_rate)
        return TrainingBudget(full.steps, full.batch_size, full.learning_rate, checkpoints=TEACHER_CHECKPOINTS)

    control = training.for_role(role, patience=False)
    if recipe.patience is not None:
        control = TrainingControl(control.checkpoints, recipe.patience, control.strategy, role, control.stop_when)
    history = fit_on_labels(
        teacher,
        dataset.for_teacher(),
        seed,
        budget,
        reporter,
        f"training {role.replace('_', ' ')}",
        label_smoothing=recipe.label_smoothing,
        control=control,
        augmentations=recipe.augmentations,
    )
    reporter.say(
        f"edgekd: {role.replace('_', ' ')}: {history.best_val_accuracy:.2%} on validation (best of "
        f"{len(history.val_accuracy)} checkpoints{', stopped early' if history.stopped_early else ''})"
    )
    return history


def train_teachers(
    teacher,
    config: TeacherConfig,
    dataset: Dataset,
    seed: int,
    reporter: Reporter,
    training: TrainingControl = DEFAULT_TRAINING,
    deterministic: bool = False,
) -> TrainedTeachers:
    """Train ``teacher`` (built, untrained) and ``config.ensemble_size - 1`` more members from seeds seed+1, seed+2 ..."""
    recipe = teacher_recipe(config, dataset)
    started = time.perf_counter()
    histories = {"teacher": train_one(teacher, config, recipe, dataset, seed, reporter, training, "teacher")}
    first_seconds = time.perf_counter() - started
    members, skipped = [], 0
    view = dataset.for_teacher()
    for index in range(2, config.ensemble_size + 1):
        elapsed = time.perf_counter() - started
        if config.time_budget_s is not None and elapsed + first_seconds > config.time_budget_s:
            skipped = config.ensemble_size - index + 1
            reporter.say(
                f"edgekd: trained {index - 1} of {config.ensemble_size} teachers: another would not fit "
                f"`teacher.time_budget_s` {config.time_budget_s:g} s (one took {first_seconds:.0f} s, "
                f"{elapsed:.0f} s so far)"
            )
            break
        seed_everything(seed + index - 1, deterministic)
        with training.scope():
            member = get_builder(config.builder).build(view.input_shape, view.num_classes)
        role = f"teacher_{index}"
        histories[role] = train_one(member, config, recipe, dataset, seed + index - 1, reporter, training, role)
        members.append(member)
    return TrainedTeachers(teacher, members, histories, skipped)


def member_file(out: Path, index: int) -> Path:
    """Where the ``index``-th member (2, 3 ...) of a trained ensemble is saved."""
    return out / f"teacher_{index}.keras"
