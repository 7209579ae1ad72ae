"""Labelled folders of files: one sub-folder per class, or ``DIR/train`` and ``DIR/test`` (and ``DIR/val``) each laid out so.

Shared by ``images:DIR`` and ``audio:DIR``. Without explicit train/test folders, 20% of each
class is held out for testing with a fixed seed. An optional ``DIR/val`` beside
``DIR/train`` and ``DIR/test`` is the validation split every decision is made on (it should
look like deployment); without it, 10% of the training split is held out. Files are listed in a fixed order (class by
class, names sorted), which every split, stream and cache relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.errors import DataError
from edgekd.progress import Reporter

TEST_FRACTION = 0.2


@dataclass(frozen=True)
class LabelledFiles:
    """The class names (sorted) and each split's files, per class."""

    class_names: tuple[str, ...]
    train: dict[str, list[Path]]
    test: dict[str, list[Path]]
    val: dict[str, list[Path]] | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "test", "val") if self.val is not None else ("train", "test")

    @property
    def count(self) -> int:
        return sum(len(files) for split in self.splits for files in getattr(self, split).values())

    def in_order(self, split: str) -> list[tuple[Path, int]]:
        """(file, class index) of one split, class by class (a validation split may lack a class)."""
        files = getattr(self, split)
        return [(path, index) for index, name in enumerate(self.class_names) for path in files.get(name, ())]

    def paths_and_labels(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        pairs = self.in_order(split)
        return np.asarray([str(p) for p, _ in pairs]), np.asarray([label for _, label in pairs], dtype=np.int64)


def checked_files(
    root: Path, suffixes: set[str], what: str, reporter: Reporter, check: Callable[[Path, object], object]
) -> tuple[LabelledFiles, object]:
    """The labelled files, each passed to ``check(path, first)`` (``first``: the first file's result, None for the
    first file itself), which raises DataError for a bad file; returns the files and the first file's result."""
    files = labelled_files(root, suffixes, what)
    first = None
    with reporter.bar(files.count, f"checking {Path(root).name}", unit="files") as bar:
        for split in files.splits:
            for path, _ in files.in_order(split):
                result = check(path, first)
                first = result if first is None else first
                bar.update(1)
    return files, first


def labelled_files(root: Path, suffixes: set[str], what: str) -> LabelledFiles:
    """The files with ``suffixes`` under ``root``, by class and split; ``what`` names them ("images")."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{what} folder {root} does not exist; give a folder with one sub-folder per class")
    explicit = (root / "train").is_dir() and (root / "test").is_dir()
    val = None
    if explicit:
        train, test = _class_files(root / "train", suffixes, what), _class_files(root / "test", suffixes, what)
        if sorted(test) != sorted(train):
            raise DataError(f"{root}: train classes {sorted(train)} differ from test classes {sorted(test)}")
        if (root / "val").is_dir():
            val = _validation_files(root / "val", suffixes, what, train)
    elif (root / "val").is_dir() and (root / "train").is_dir():
        raise DataError(
            f"{root}: a validation folder {root / 'val'} needs {root / 'test'} beside {root / 'train'}; add the test "
            "split, or lay out one sub-folder per class"
        )
    else:
        train, test = _split(_class_files(root, suffixes, what), what)
    if len(train) < 2:
        raise DataError(
            f"{root}: found {len(train)} class folder(s) ({', '.join(sorted(train))}); a classifier needs at least 2"
        )
    return LabelledFiles(tuple(sorted(train)), train, test, val)


def _validation_files(
    folder: Path, suffixes: set[str], what: str, train: dict[str, list[Path]]
) -> dict[str, list[Path]]:
    """``DIR/val``'s files by class: not empty, and no class the training split lacks."""
    has_files = any(p.suffix.lower() in suffixes for sub in folder.iterdir() if sub.is_dir() for p in sub.iterdir())
    if not has_files:
        raise DataError(
            f"the validation folder {folder} holds no {what} ({', '.join(sorted(suffixes))}) in class sub-folders; "
            "fill it with one sub-folder per class, or remove it to hold out part of the training split"
        )
    val = _class_files(folder, suffixes, what)
    lacking = sorted(set(val) - set(train))
    if lacking:
        raise DataError(
            f"the validation folder {folder} holds class(es) {', '.join(lacking)} that {folder.parent / 'train'} "
            "lacks; no model can learn a class it never sees: add them to the training split or remove them"
        )
    return val


def _class_files(folder: Path, suffixes: set[str], what: str) -> dict[str, list[Path]]:
    """Each class sub-folder's files; a class folder with none edgekd reads is refused, never skipped.

    Skipping it would train a model with one class fewer than the user laid out. Hidden
    folders (``.ipynb_checkpoints``, ``.git``) are not classes, and hidden files are not samples
    (macOS writes ``._photo.png`` beside each file it copies to a FAT or network drive: metadata,
    not a PNG).
    """
    classes = {}
    formats = ", ".join(sorted(suffixes))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        visible = [p for p in sub.iterdir() if not p.name.startswith(".")]
        files = sorted(p for p in visible if p.suffix.lower() in suffixes)
        if not files:
            others = sorted({p.suffix.lower() or p.name for p in visible})
            held = f"holds only {', '.join(others[:5])} files" if others else "is empty"
            raise DataError(
                f"class folder {sub} {held}: edgekd reads {what} as {formats}; convert them, or remove the folder"
            )
        classes[sub.name] = files
    if not classes:
        raise DataError(f"{folder} has no class sub-folders with {what} ({formats})")
    return classes


def _split(files: dict[str, list[Path]], what: str) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    rng = np.random.default_rng(0)
    train, test = {}, {}
    for name, paths in files.items():
        if len(paths) < 2:
            raise DataError(f"class {name!r} has {len(paths)} file; need at least 2 {what} to hold one out for testing")
        order = rng.permutation(len(paths))
        n_test = max(1, int(round(len(paths) * TEST_FRACTION)))
        test[name] = [paths[i] for i in order[:n_test]]
        train[name] = [paths[i] for i in order[n_test:]]
    return train, test
