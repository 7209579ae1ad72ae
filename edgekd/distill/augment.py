"""Input augmentations for distillation, registered by name, applied per batch inside the training step.

Teacher and student see the same augmented view, so the teacher runs online (its outputs
cannot be cached when the inputs change every step). ``mixup`` follows Beyer et al. 2022
("Knowledge distillation: A good teacher is patient and consistent"): mixed inputs are
*function matching* samples, so they lose their hard labels and learn from the teacher alone.

Augmentations act on the axes the data has: a signal (length, channels) shifts along its
length, an image (height, width, channels) along both spatial axes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgekd.errors import ConfigError, known_names
from edgekd.models.frameworks import tensorflow


@dataclass(frozen=True)
class Augmentation:
    name: str
    description: str
    # (x, labels, seed) -> (x, labels); labels become -1 where a sample is no longer its label's.
    # ``seed`` is a shape-[2] integer tensor: the draws are stateless, so a step's augmentation
    # depends on the run's seed and the step alone, and a resumed run repeats it exactly.
    apply: Callable


def _roll_axis(x, offsets, axis: int):
    """Roll each sample of ``x`` along ``axis`` by its own offset (circular)."""
    tf = tensorflow()
    length = tf.shape(x)[axis]
    indices = tf.math.floormod(tf.range(length)[None, :] - offsets[:, None], length)
    return tf.gather(x, indices, axis=axis, batch_dims=1)


def _draw(seed, index: int):
    """The ``index``-th independent stateless seed derived from ``seed``."""
    return tensorflow().random.experimental.stateless_fold_in(seed, index)


def _shift(x, labels, seed, max_fraction: float = 0.1):
    tf = tensorflow()
    batch = tf.shape(x)[0]
    for axis in range(1, len(x.shape) - 1):
        limit = tf.maximum(1, tf.cast(tf.cast(tf.shape(x)[axis], tf.float32) * max_fraction, tf.int32))
        offsets = tf.random.stateless_uniform([batch], _draw(seed, axis), -limit, limit + 1, dtype=tf.int32)
        x = _roll_axis(x, offsets, axis)
    return x, labels


def _noise(x, labels, seed, relative_std: float = 0.05):
    tf = tensorflow()
    scale = tf.math.reduce_std(x) * relative_std
    return x + tf.random.stateless_normal(tf.shape(x), _draw(seed, 0), stddev=scale, dtype=x.dtype), labels


def _mixup(x, labels, seed, alpha: float = 1.0):
    tf = tensorflow()
    batch = tf.shape(x)[0]
    # Beta(alpha, alpha) from two gammas; one weight per sample.
    a = tf.random.stateless_gamma([batch], _draw(seed, 0), alpha, dtype=x.dtype)
    b = tf.random.stateless_gamma([batch], _draw(seed, 1), alpha, dtype=x.dtype)
    weight = a / (a + b)
    partner = tf.argsort(tf.random.stateless_uniform([batch], _draw(seed, 2)))
    weight = tf.reshape(weight, [-1] + [1] * (len(x.shape) - 1))
    mixed = weight * x + (1.0 - weight) * tf.gather(x, partner)
    return mixed, tf.fill(tf.shape(labels), tf.constant(-1, labels.dtype))


_AUGMENTATIONS: dict[str, Augmentation] = {}


def register(augmentation: Augmentation) -> Augmentation:
    _AUGMENTATIONS[augmentation.name] = augmentation
    return augmentation


register(Augmentation("shift", "circular shift by up to 10% along each spatial axis", _shift))
register(Augmentation("noise", "Gaussian noise at 5% of the batch's standard deviation", _noise))
register(Augmentation("mixup", "mixup with Beta(1, 1) weights; mixed samples learn from the teacher only", _mixup))


def augmentation_names() -> list[str]:
    return sorted(_AUGMENTATIONS)


def parse_augmentations(names: list[str] | tuple[str, ...]) -> tuple[Augmentation, ...]:
    """Look the names up in order; an unknown name lists the known ones."""
    chosen = []
    for name in names:
        if name not in _AUGMENTATIONS:
            raise ConfigError(f"unknown augmentation {name!r}; known: {known_names(_AUGMENTATIONS)}")
        chosen.append(_AUGMENTATIONS[name])
    return tuple(chosen)


def augment(x, labels, augmentations: tuple[Augmentation, ...], seed):
    """Apply ``augmentations`` in order to a batch, each with its own seed derived from ``seed`` (shape [2])."""
    for index, augmentation in enumerate(augmentations):
        x, labels = augmentation.apply(x, labels, _draw(seed, 100 + index))
    return x, labels
