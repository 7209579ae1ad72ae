"""Compression before conversion (TFMOT, tf_keras models): magnitude pruning, 2:4 sparsity, clustering.

Each wraps the model, fine-tunes it briefly on the labelled data so accuracy recovers, and
strips the wrappers so the converter sees a plain model. The payoff shows in the
compressed (gzip) size: pruned zeros and clustered repeats compress, dense float does not.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np

from edgekd.data.dataset import Dataset
from edgekd.distill.trainer import TrainingBudget, fit_on_labels
from edgekd.errors import ConfigError, ConversionError
from edgekd.frameworks import Framework, framework_of
from edgekd.progress import SILENT, Reporter
from edgekd.quantize.qat import tfmot


@dataclass(frozen=True)
class Compression:
    """What to apply: ``prune`` is a sparsity in (0, 1) or ``"2:4"``; ``clusters`` a count (0: none)."""

    prune: str | None = None
    clusters: int = 0
    epochs: int = 2

    def __post_init__(self) -> None:
        if self.prune is not None and self.prune != "2:4":
            try:
                sparsity = float(self.prune)
            except ValueError:
                raise ConfigError(f"`prune` {self.prune!r} must be a sparsity between 0 and 1, or 2:4") from None
            if not 0.0 < sparsity < 1.0:
                raise ConfigError(f"`prune` {sparsity} must be between 0 and 1 (exclusive), or 2:4")
        if self.clusters < 0 or self.clusters == 1:
            raise ConfigError(f"`clusters` {self.clusters} must be at least 2 (or 0 for none)")
        if self.epochs < 0:
            raise ConfigError(f"`compress_epochs` {self.epochs} must be 0 or more")

    @property
    def active(self) -> bool:
        return self.prune is not None or self.clusters > 0

    def describe(self) -> dict:
        return {"prune": self.prune, "clusters": self.clusters or None, "fine_tune_epochs": self.epochs}


def compress(model, compression: Compression, dataset: Dataset, seed: int, reporter: Reporter = SILENT):
    """Prune and/or cluster ``model`` (tf_keras), fine-tuning after each; returns a plain tf_keras model."""
    if framework_of(model) is not Framework.TF_KERAS:
        raise ConversionError(
            "pruning and clustering need a tf_keras model: TFMOT 0.8.1 rejects Keras 3 models; "
            "distil a tf_keras student with `edgekd distill` first"
        )
    toolkit = tfmot()

    def budget(samples: int) -> TrainingBudget:
        return TrainingBudget.for_epochs(compression.epochs, samples, 128, 1e-4)

    def fine_tune(wrapped, description: str, callbacks: tuple = ()) -> None:
        # keep_best=False: an early checkpoint would predate the masks or centroids.
        fit_on_labels(wrapped, dataset, seed, budget, reporter, description, extra_callbacks=callbacks, keep_best=False)

    if compression.prune is not None:
        sparsity = toolkit.sparsity.keras
        if compression.prune == "2:4":
            wrapped = _wrap(lambda: sparsity.prune_low_magnitude(model, sparsity_m_by_n=(2, 4)))
        else:
            # Masks update every step, so the target sparsity holds from the first step on.
            schedule = sparsity.ConstantSparsity(float(compression.prune), begin_step=0, frequency=1)
            wrapped = _wrap(lambda: sparsity.prune_low_magnitude(model, pruning_schedule=schedule))
        fine_tune(wrapped, f"pruning ({compression.prune})", (sparsity.UpdatePruningStep(),))
        model = sparsity.strip_pruning(wrapped)
    if compression.clusters:
        clustering = toolkit.clustering.keras
        wrapped = _wrap(lambda: clustering.cluster_weights(model, number_of_clusters=compression.clusters))
        fine_tune(wrapped, f"clustering ({compression.clusters} centroids)")
        model = clustering.strip_clustering(wrapped)
    return model


def _wrap(make):
    try:
        return make()
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(f"TFMOT cannot compress this model: {' '.join(str(exc).split())[:250]}") from None


def weight_sparsity(model) -> float:
    """Fraction of zeros among the kernels (biases excluded: they are never pruned)."""
    kernels = [w for layer in model.layers for w in layer.get_weights() if w.ndim > 1]
    total = sum(k.size for k in kernels)
    return float(sum(int(np.sum(k == 0)) for k in kernels) / total) if total else 0.0


def gzip_size(data: bytes) -> int:
    """Size after gzip -9: what a download or a firmware image with compression would carry."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))
