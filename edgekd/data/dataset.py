"""The dataset every stage works on, validated once when it is built.

Its splits' inputs are arrays in memory or streams read from disk (``edgekd.data.samples``);
labels are always arrays. The teacher may see the same samples through its own view (its
resolution and scaling): ``for_teacher``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgekd.data import samples
from edgekd.data.samples import Inputs
from edgekd.errors import DataError

# The share of the training set held out for validation (best checkpoints, early stopping,
# auto's recipe choice and the shipped-student decision).
VALIDATION_FRACTION = 0.1

# The model has one output per class. ImageNet-21k, among the largest public label sets, has
# about 22,000 classes: a count past this limit almost always comes from a stray label value
# (classes are counted up to the largest label), and the output layer alone would be huge.
MAX_CLASSES = 100_000

# How many empty classes a warning names before it says "and N more".
_NAMED_EMPTY_CLASSES = 5

# A fingerprint reads every label but only this many inputs per split, evenly spaced: enough that
# other data (a replaced file, another folder) differs, without reading a large set twice.
_FINGERPRINT_SAMPLES = 64


@dataclass(frozen=True)
class Dataset:
    """Labelled train/test splits, plus an optional unlabelled transfer set for distillation.

    ``x_*`` are float32 arrays shaped ``(N, *input_shape)``, or streams of such samples;
    ``y_*`` are int64 class indices. Construction validates lengths, label range, finiteness
    and non-emptiness, so a bad dataset fails before any training starts. ``teacher`` holds
    the same samples as the teacher sees them, when that differs (same labels, same order).
    """

    name: str
    x_train: Inputs
    y_train: np.ndarray
    x_test: Inputs
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...] = ()
    x_unlabeled: Inputs | None = None
    description: dict = field(default_factory=dict)
    teacher: Dataset | None = None
    # A validation split the user gave (``DIR/val``, ``x_val``/``y_val``): used instead of holding
    # out ``VALIDATION_FRACTION`` of the training split, so it can look like deployment.
    x_val: Inputs | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.num_classes > MAX_CLASSES:
            largest = f" (the largest training label is {int(self.y_train.max())})" if len(self.y_train) else ""
            raise DataError(
                f"{self.name}: {self.num_classes:,} classes{largest}, more than the {MAX_CLASSES:,} edgekd supports "
                "(classes are counted up to the largest label, so one stray value makes a huge model); "
                "check the labels for a stray value"
            )
        _check_split(self.name, "train", self.x_train, self.y_train, self.num_classes)
        _check_split(self.name, "test", self.x_test, self.y_test, self.num_classes)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{self.name}: x_train samples have shape {self.x_train.shape[1:]} but x_test samples "
                f"have {self.x_test.shape[1:]}; both splits must share one input shape"
            )
        if self.x_unlabeled is not None:
            if len(self.x_unlabeled) == 0:
                raise DataError(f"{self.name}: x_unlabeled is empty; drop it or give it samples")
            if self.x_unlabeled.shape[1:] != self.x_train.shape[1:]:
                raise DataError(
                    f"{self.name}: x_unlabeled samples have shape {self.x_unlabeled.shape[1:]}, "
                    f"expected {self.x_train.shape[1:]} like x_train"
                )
            _check_finite(self.name, "x_unlabeled", self.x_unlabeled)
        if self.num_classes < 2:
            raise DataError(f"{self.name}: needs at least 2 classes, found {self.num_classes}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise DataError(f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes")
        present = np.unique(self.y_train)
        if len(present) < 2:
            raise DataError(
                f"{self.name}: every training label is {self._class(int(present[0]))}; too few classes to learn from "
                f"(a classifier needs samples of at least 2 classes, and would score 100% on this data by always "
                "answering the same); check the labels"
            )
        if (self.x_val is None) != (self.y_val is None):
            raise DataError(f"{self.name}: a validation split needs both its samples and its labels (x_val and y_val)")
        if self.x_val is not None:
            self._check_validation_split()
        if self.teacher is not None:
            self._check_teacher_view(self.teacher)

    def _check_validation_split(self) -> None:
        _check_split(self.name, "val", self.x_val, self.y_val, self.num_classes)
        if self.x_val.shape[1:] != self.x_train.shape[1:]:
            raise DataError(
                f"{self.name}: x_val samples have shape {self.x_val.shape[1:]}, expected {self.x_train.shape[1:]} "
                "like x_train"
            )
        lacking = sorted(set(np.unique(self.y_val).tolist()) - set(np.unique(self.y_train).tolist()))
        if lacking:
            named = ", ".join(self._class(int(index)) for index in lacking[:_NAMED_EMPTY_CLASSES])
            more = f" and {len(lacking) - _NAMED_EMPTY_CLASSES:,} more" if len(lacking) > _NAMED_EMPTY_CLASSES else ""
            raise DataError(
                f"{self.name}: the validation split holds {named}{more}, which the training split lacks; no model "
                "can learn a class it never sees: add its samples to the training split or drop them from validation"
            )

    def _check_teacher_view(self, teacher: Dataset) -> None:
        for split in ("train", "test", "unlabeled", "val"):
            mine, theirs = getattr(self, f"x_{split}"), getattr(teacher, f"x_{split}")
            if (mine is None) != (theirs is None) or (mine is not None and len(mine) != len(theirs)):
                raise DataError(f"{self.name}: the teacher's view of the {split} split holds other samples")

    def for_teacher(self) -> Dataset:
        """The same samples as the teacher sees them (its resolution and scaling); the dataset itself if no different."""
        return self.teacher if self.teacher is not None else self

    def _class(self, index: int) -> str:
        return f"class {index} ({self.class_names[index]!r})" if self.class_names else f"class {index}"

    def warnings(self) -> list[str]:
        """Plain-language caveats about the labels: classes without a single training sample."""
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        empty = np.flatnonzero(counts == 0)
        if not len(empty):
            return []
        named = ", ".join(str(int(index)) for index in empty[:_NAMED_EMPTY_CLASSES])
        more = f" and {len(empty) - _NAMED_EMPTY_CLASSES:,} more" if len(empty) > _NAMED_EMPTY_CLASSES else ""
        return [
            f"{self.name}: {len(empty):,} of {self.num_classes:,} classes have no training samples "
            f"(class {named}{more}); the model cannot learn them. Check the labels, or drop the unused classes"
        ]

    @property
    def modality(self) -> str:
        """The kind of data, which decides the augmentations that suit it: audio (features: frames x coefficients),
        image (height x width x channels) or signal (length x channels)."""
        if "audio_features" in self.description:
            return "audio"
        return "signal" if len(self.input_shape) == 2 else "image"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def summary(self) -> dict:
        """A JSON-ready description for results documents."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names) or None,
            "train_samples": int(len(self.x_train)),
            "test_samples": int(len(self.x_test)),
            "unlabeled_samples": 0 if self.x_unlabeled is None else int(len(self.x_unlabeled)),
            "validation": "given"
            if self.x_val is not None
            else f"{VALIDATION_FRACTION:.0%} of the training split, held out",
            "val_samples": int(len(self.x_val)) if self.x_val is not None else None,
            **self.description,
            "warnings": self.warnings(),
        }

    def fingerprint(self) -> str:
        """A short hash of what this dataset holds (every label, shapes, class names, a spread of inputs).

        What a study or a cache keyed on it depends on: the same spec naming a file whose
        contents changed gives another fingerprint.
        """
        import hashlib

        digest = hashlib.sha256()
        views = [self] if self.teacher is None else [self, self.teacher]
        for view in views:
            digest.update(repr((view.num_classes, view.class_names, view.input_shape)).encode())
            # A given validation split counts too (added only where there is one: fingerprints of data without
            # one are what they were).
            given = (view.x_val,) if view.x_val is not None else ()
            for x in (view.x_train, view.x_test, view.x_unlabeled, *given):
                if x is None:
                    digest.update(b"none")
                    continue
                positions = np.unique(np.linspace(0, len(x) - 1, min(len(x), _FINGERPRINT_SAMPLES)).astype(int))
                digest.update(repr((len(x), tuple(x.shape[1:]))).encode())
                digest.update(np.ascontiguousarray(x[positions], dtype=np.float32).tobytes())
        for y in (self.y_train, self.y_test, *((self.y_val,) if self.y_val is not None else ())):
            digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]

    def validation_split(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Split the training set into (x_fit, y_fit, x_val, y_val): ``VALIDATION_FRACTION`` held out, seeded.

        Every stage that needs a validation split (teacher, students, auto's recipe choice,
        QAT, compression) takes it from here, so they all hold out the same samples. A
        validation split the user gave is used as it is, and the whole training split trains.
        """
        if self.x_val is not None:
            return self.x_train, self.y_train, self.x_val, self.y_val
        fraction = VALIDATION_FRACTION
        order = np.random.default_rng(seed).permutation(len(self.x_train))
        n_val = max(1, int(round(len(order) * fraction)))
        if n_val >= len(order):
            raise DataError(f"{self.name}: {len(order)} training samples are too few to hold out a validation split")
        val, fit = order[:n_val], order[n_val:]
        x = self.x_train
        return samples.subset(x, fit), self.y_train[fit], samples.subset(x, val), self.y_train[val]


def _check_split(name: str, split: str, x: Inputs, y: np.ndarray, num_classes: int) -> None:
    if x.ndim < 2:
        raise DataError(f"{name}: x_{split} has shape {x.shape}; expected (samples, features...)")
    if len(x) == 0:
        raise DataError(f"{name}: the {split} split is empty; provide at least one sample")
    if y.ndim != 1:
        raise DataError(f"{name}: y_{split} has shape {y.shape}; expected a 1-D array of class indices")
    if len(x) != len(y):
        raise DataError(f"{name}: x_{split} has {len(x)} samples but y_{split} has {len(y)}; they must match")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{name}: y_{split} has dtype {y.dtype}; expected integer class indices")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= num_classes:
        raise DataError(
            f"{name}: y_{split} holds labels from {low} to {high}, outside 0..{num_classes - 1}; "
            "labels must be class indices starting at 0"
        )
    _check_finite(name, f"x_{split}", x)


def _check_finite(name: str, array_name: str, x: Inputs) -> None:
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{name}: {array_name} has dtype {x.dtype}; expected floating point")
    sample = samples.first_non_finite(x)
    if sample is not None:
        raise DataError(f"{name}: {array_name} contains NaN or Inf (first at sample {sample}); clean the data")
