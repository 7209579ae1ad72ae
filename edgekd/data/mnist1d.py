"""MNIST-1D, generated offline (Greydanus 2020): the embedded default dataset.

Uses ``mnist1d.data.make_dataset`` (never ``get_dataset``, which downloads and writes a
pickle into the current folder). ``make_dataset`` reseeds the global ``random`` and
``np.random`` state, so generation runs inside a guard that restores both.
"""

from __future__ import annotations

import random
from contextlib import contextmanager

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.data.spec import register
from edgekd.errors import DataError
from edgekd.inputs import describe_size, memory_limit_bytes
from edgekd.progress import SILENT, Reporter

DEFAULTS = {"samples": 10_000, "transfer": 40_000, "seed": 0, "test_fraction": 0.2}
# Every MNIST-1D sample is a signal of 40 values (one channel).
SIGNAL_LENGTH = 40
# Generating in chunks lets a progress bar move; 5,000 samples take about 2-4 s here.
CHUNK = 5_000


@contextmanager
def _preserved_global_rng():
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def generate(
    samples: int, seed: int, reporter: Reporter = SILENT, label: str = "MNIST-1D"
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``samples`` MNIST-1D signals shaped (N, 40, 1) and their labels, deterministically."""
    from mnist1d.data import get_dataset_args, make_dataset

    xs, ys = [], []
    with reporter.bar(samples, f"generating {label}", unit="samples") as bar, _preserved_global_rng():
        remaining, chunk_index = samples, 0
        while remaining > 0:
            n = min(CHUNK, remaining)
            args = get_dataset_args()
            # make_dataset keeps train_split of the samples in 'x'; ask for everything there.
            args.num_samples, args.train_split = n, 1.0
            args.seed = int(np.random.SeedSequence([seed, chunk_index]).generate_state(1)[0])
            data = make_dataset(args)
            xs.append(np.concatenate([data["x"], data["x_test"]]) if len(data["x_test"]) else data["x"])
            ys.append(np.concatenate([data["y"], data["y_test"]]) if len(data["y_test"]) else data["y"])
            remaining -= n
            chunk_index += 1
            bar.update(n)
    x = np.concatenate(xs).astype(np.float32)[..., None]
    y = np.concatenate(ys).astype(np.int64)
    return x, y


def _int_option(options: dict[str, str], key: str) -> int:
    raw = options.get(key, DEFAULTS[key])
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise DataError(f"mnist1d option {key}={raw!r} is not a whole number") from None
    if value < 0:
        raise DataError(f"mnist1d option {key}={value} must not be negative")
    return value


def load_mnist1d(
    samples: int, transfer: int, seed: int, reporter: Reporter = SILENT, test_fraction: float = 0.2
) -> Dataset:
    """Labelled MNIST-1D (split train/test) plus a fresh unlabelled transfer set from another seed."""
    if samples < 10:
        raise DataError(f"mnist1d samples={samples} is too small; use at least 10")
    needed = (samples + transfer) * SIGNAL_LENGTH * np.dtype(np.float32).itemsize
    if needed > memory_limit_bytes():
        raise DataError(
            f"mnist1d samples={samples:,} and transfer={transfer:,} need {describe_size(needed)}, more than the "
            f"{describe_size(memory_limit_bytes())} edgekd may use on this machine; ask for fewer samples"
        )
    x, y = generate(samples, seed, reporter)
    n_test = max(1, int(round(samples * test_fraction)))
    x_unlabeled = None
    if transfer:
        # A different seed stream: the transfer set never repeats a labelled sample's noise.
        x_unlabeled, _ = generate(transfer, seed + 1_000_003, reporter, label="MNIST-1D transfer set")
    return Dataset(
        name="mnist1d",
        x_train=x[n_test:],
        y_train=y[n_test:],
        x_test=x[:n_test],
        y_test=y[:n_test],
        num_classes=10,
        class_names=tuple(str(i) for i in range(10)),
        x_unlabeled=x_unlabeled,
        description={
            "source": "mnist1d.make_dataset (generated offline)",
            "seed": seed,
            "transfer_seed": seed + 1_000_003,
            "normalization": {"note": "signal values as make_dataset generates them, not rescaled"},
        },
    )


@register(
    "mnist1d",
    "mnist1d[:samples=N,transfer=N,seed=S] (embedded default, generated offline)",
    options=("samples", "transfer", "seed"),
    takes_path=False,
)
def _from_spec(argument: str, options: dict[str, str], reporter: Reporter) -> Dataset:
    return load_mnist1d(
        _int_option(options, "samples"), _int_option(options, "transfer"), _int_option(options, "seed"), reporter
    )
