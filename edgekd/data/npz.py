"""``npz:PATH``: arrays x_train, y_train, x_test, y_test, and optionally x_unlabeled, x_val and y_val, class_names.

PATH is an ``.npz`` file or a folder of ``.npy`` files with those names. Data that fits in
memory is read as before; a folder of ``.npy`` files, and an uncompressed ``.npz`` larger
than edgekd may hold in memory, are memory-mapped instead, and training reads their
samples a batch at a time (``edgekd.data.samples.ArrayStream``). Labels are always read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.data.samples import ArrayStream, Inputs
from edgekd.data.spec import register
from edgekd.errors import DataError
from edgekd.inputs import map_npy_file, read_npz_arrays
from edgekd.progress import Reporter

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_unlabeled", "x_val", "y_val", "class_names")


@register(
    "npz",
    "npz:PATH (an .npz, or a folder of .npy files: x_train, y_train, x_test, y_test; optional x_unlabeled, "
    "x_val and y_val, class_names)",
)
def load_npz(argument: str, options: dict[str, str], reporter: Reporter) -> Dataset:
    path = Path(argument)
    if not path.exists():
        raise DataError(f"npz file {path} does not exist; check the path after 'npz:'")
    if path.is_dir():
        arrays = _npy_folder(path)
    else:
        arrays = read_npz_arrays(path, "npz file", DataError, "save it with numpy.savez", map_if_large=True)
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks array(s) {', '.join(missing)}; it has {', '.join(sorted(arrays)) or 'none'} "
            f"and needs {', '.join(REQUIRED)}"
        )
    if ("x_val" in arrays) != ("y_val" in arrays):
        given, missing = ("x_val", "y_val") if "x_val" in arrays else ("y_val", "x_val")
        raise DataError(f"{path} has {given} but not {missing}; a validation split needs both, or neither")
    y_train, y_test = (_labels(path, name, np.asarray(arrays[name])) for name in ("y_train", "y_test"))
    y_val = _labels(path, "y_val", np.asarray(arrays["y_val"])) if "y_val" in arrays else None
    if "class_names" in arrays:
        class_names = tuple(str(name) for name in np.asarray(arrays["class_names"]).tolist())
        num_classes = len(class_names)
    else:
        class_names = ()
        num_classes = int(max(y.max(initial=0) for y in (y_train, y_test, y_val) if y is not None)) + 1
    mapped = any(isinstance(array, np.memmap) for array in arrays.values())
    return Dataset(
        name=path.name,
        x_train=_features(path, "x_train", arrays["x_train"]),
        y_train=y_train,
        x_test=_features(path, "x_test", arrays["x_test"]),
        y_test=y_test,
        num_classes=num_classes,
        class_names=class_names,
        x_unlabeled=_features(path, "x_unlabeled", arrays["x_unlabeled"]) if "x_unlabeled" in arrays else None,
        x_val=_features(path, "x_val", arrays["x_val"]) if "x_val" in arrays else None,
        y_val=y_val,
        description={
            "source": str(path),
            "storage": "memory-mapped, read from disk as needed" if mapped else "read into memory",
            "normalization": {"note": "values as stored in the npz file"},
        },
    )


def _npy_folder(folder: Path) -> dict[str, np.ndarray]:
    """The folder's ``NAME.npy`` files, memory-mapped (nothing but headers is read)."""
    arrays = {}
    for name in (*REQUIRED, *OPTIONAL):
        file = folder / f"{name}.npy"
        if file.exists():
            arrays[name] = map_npy_file(file, "array file", DataError)
    return arrays


def _features(path: Path, name: str, x: np.ndarray) -> Inputs:
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{path}: {name} has dtype {x.dtype}; expected numbers")
    # (N, length) signals become (N, length, 1): one channel, ready for Conv1D.
    sample_shape = (*x.shape[1:], 1) if x.ndim == 2 else x.shape[1:]
    if isinstance(x, np.memmap):
        if x.ndim < 2:
            raise DataError(f"{path}: {name} has shape {x.shape}; expected (samples, features...)")
        return ArrayStream.of(x, sample_shape)
    return x.reshape(len(x), *sample_shape).astype(np.float32) if x.ndim >= 2 else x.astype(np.float32)


def _labels(path: Path, name: str, y: np.ndarray) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        raise DataError(f"{path}: {name} looks one-hot encoded {y.shape}; store class indices (argmax) instead")
    y = y.reshape(-1)
    if np.issubdtype(y.dtype, np.floating):
        if len(y) and not np.all(np.isfinite(y)):
            raise DataError(f"{path}: {name} contains NaN or Inf; labels must be class indices")
        if len(y) and not np.all(y == np.round(y)):
            raise DataError(f"{path}: {name} holds non-integer values; labels must be class indices")
        y = y.astype(np.int64)
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: {name} has dtype {y.dtype}; labels must be integer class indices")
    return y.astype(np.int64)
