"""``images:DIR``: one sub-folder per class, or ``DIR/train`` and ``DIR/test`` each laid out so.

Every image is converted to the first image's mode (grayscale or RGB) and size, and scaled
to [0, 1]. Without explicit train/test folders, 20% of each class is held out for testing
with a fixed seed.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.data.spec import register
from edgekd.errors import DataError
from edgekd.inputs import describe_size, memory_limit_bytes, open_regular_file
from edgekd.progress import Reporter

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TEST_FRACTION = 0.2


@register("images", "images:DIR (one sub-folder per class, optional DIR/train and DIR/test)")
def load_images(argument: str, options: dict[str, str], reporter: Reporter) -> Dataset:
    root = Path(argument)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; give images:DIR with one sub-folder per class")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_files = _class_files(root / "train")
        test_files = _class_files(root / "test")
        class_names = sorted(train_files)
        if sorted(test_files) != class_names:
            raise DataError(f"{root}: train classes {class_names} differ from test classes {sorted(test_files)}")
    else:
        files = _class_files(root)
        class_names = sorted(files)
        train_files, test_files = _split(files)
    if len(class_names) < 2:
        raise DataError(f"{root}: found {len(class_names)} class folder(s); need at least 2")
    total = sum(len(v) for v in train_files.values()) + sum(len(v) for v in test_files.values())
    # Every image becomes the first one's mode and size: that fixes the memory the set will take.
    reference = _reference(train_files[class_names[0]][0])
    channels = 1 if reference["mode"] == "L" else 3
    needed = total * reference["size"][0] * reference["size"][1] * channels * np.dtype(np.float32).itemsize
    if needed > memory_limit_bytes():
        raise DataError(
            f"{root}: {total:,} images at {reference['size'][0]}x{reference['size'][1]} (the first image's size, "
            f"which every image takes) need {describe_size(needed)} as float32, more than the "
            f"{describe_size(memory_limit_bytes())} edgekd may use on this machine; resize the images first"
        )
    with reporter.bar(total, f"reading {root.name}", unit="images") as bar:
        x_train, y_train = _read(train_files, class_names, reference, bar)
        x_test, y_test = _read(test_files, class_names, reference, bar)
    return Dataset(
        name=root.name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(class_names),
        class_names=tuple(class_names),
        description={
            "source": str(root),
            "image_mode": reference["mode"],
            "image_size": reference["size"],
            "normalization": {"mean": 0.0, "std": 255.0, "note": "pixel values / 255, in [0, 1]"},
        },
    )


def _class_files(folder: Path) -> dict[str, list[Path]]:
    classes = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in SUFFIXES)
        if files:
            classes[sub.name] = files
    if not classes:
        raise DataError(f"{folder} has no class sub-folders with images ({', '.join(sorted(SUFFIXES))})")
    return classes


def _split(files: dict[str, list[Path]]) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    rng = np.random.default_rng(0)
    train, test = {}, {}
    for name, paths in files.items():
        if len(paths) < 2:
            raise DataError(f"class {name!r} has {len(paths)} image; need at least 2 to hold one out for testing")
        order = rng.permutation(len(paths))
        n_test = max(1, int(round(len(paths) * TEST_FRACTION)))
        test[name] = [paths[i] for i in order[:n_test]]
        train[name] = [paths[i] for i in order[n_test:]]
    return train, test


@contextlib.contextmanager
def _opened_image(path: Path):
    """The image at ``path``, header read; a pipe, a damaged file or a decompression bomb is one DataError.

    PIL only warns between its pixel limit and twice that; here the warning is an error too.
    """
    from PIL import Image, UnidentifiedImageError

    with open_regular_file(path, "image", DataError) as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DataError(
                f"image {path} is too large to decode safely ({str(exc).rstrip('.')}); it may be a decompression bomb: remove it, "
                "or shrink it if it is a real photo"
            ) from None
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot read image {path}: {exc}; remove or replace it") from None
        with image:
            yield image


def _reference(path: Path) -> dict:
    """The mode and size every image is converted to: the first image's (from its header)."""
    with _opened_image(path) as image:
        return {"mode": "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB", "size": list(image.size)}


def _read(files: dict[str, list[Path]], class_names: list[str], reference: dict, bar) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for label, name in enumerate(class_names):
        for path in files[name]:
            with _opened_image(path) as image:
                try:
                    image.load()
                    converted = image.convert(reference["mode"]).resize(tuple(reference["size"]))
                except (OSError, ValueError) as exc:
                    raise DataError(f"cannot read image {path}: {exc}; remove or replace it") from None
            array = np.asarray(converted, dtype=np.float32) / 255.0
            xs.append(array[..., None] if array.ndim == 2 else array)
            ys.append(label)
            bar.update(1)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)
