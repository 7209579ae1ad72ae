"""Input augmentations for distillation, registered by name, applied per batch inside the training step.

Teacher and student see the same augmented view, so the teacher runs online (its outputs
cannot be cached when the inputs change every step). ``mixup`` follows Beyer et al. 2022
("Knowledge distillation: A good teacher is patient and consistent"): mixed inputs are
*function matching* samples, so they lose their hard labels and learn from the teacher alone.

Augmentations act on the axes the data has, and each names the kinds of data (modalities) it
suits: a signal (length, channels) shifts along its length, an image (height, width,
channels) along both spatial axes. Audio features (frames, coefficients, 1) move along time
only, and are masked in time and in frequency (SpecAugment, Park et al. 2019): rolling the
coefficient axis would turn one coefficient into another, which no recording does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgekd.errors import ConfigError, known_names
from edgekd.frameworks import tensorflow

# The kinds of data (``Dataset.modality``) an augmentation is registered for.
SIGNAL, IMAGE, AUDIO = "signal", "image", "audio"
MODALITIES = (SIGNAL, IMAGE, AUDIO)
_PLURAL = {SIGNAL: "signals", IMAGE: "images", AUDIO: "audio features"}


@dataclass(frozen=True)
class Augmentation:
    name: str
    description: str
    # (x, labels, seed) -> (x, labels); labels become -1 where a sample is no longer its label's.
    # ``seed`` is a shape-[2] integer tensor: the draws are stateless, so a step's augmentation
    # depends on the run's seed and the step alone, and a resumed run repeats it exactly.
    apply: Callable
    modalities: tuple[str, ...] = MODALITIES
    # Keeps every sample's label (mixup does not): fit for training on labels alone (a teacher).
    keeps_labels: bool = True


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


def _translate(x, labels, seed, max_fraction: float = 0.125):
    """A random crop of the image padded by its edge pixels: each sample moves by up to 12.5% along each side."""
    tf = tensorflow()
    batch = tf.shape(x)[0]
    for axis in (1, 2):
        length = tf.shape(x)[axis]
        limit = tf.maximum(1, tf.cast(tf.cast(length, tf.float32) * max_fraction, tf.int32))
        offsets = tf.random.stateless_uniform([batch], _draw(seed, axis), -limit, limit + 1, dtype=tf.int32)
        indices = tf.clip_by_value(tf.range(length)[None, :] - offsets[:, None], 0, length - 1)
        x = tf.gather(x, indices, axis=axis, batch_dims=1)
    return x, labels


def _flip(x, labels, seed):
    """Half the images mirrored left to right."""
    tf = tensorflow()
    flipped = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1, 1], _draw(seed, 0)) < 0.5
    return tf.where(flipped, tf.reverse(x, axis=[2]), x), labels


def _colour(x, labels, seed, brightness: float = 0.2, contrast: float = 0.2):
    """Each image's contrast scaled by up to ±20% about its mean, and its brightness moved by up to 20% of the batch's spread."""
    tf = tensorflow()
    batch = tf.shape(x)[0]
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    scale = tf.random.stateless_uniform([batch, 1, 1, 1], _draw(seed, 0), 1 - contrast, 1 + contrast, dtype=x.dtype)
    offset = tf.random.stateless_uniform([batch, 1, 1, 1], _draw(seed, 1), -brightness, brightness, dtype=x.dtype)
    return (x - mean) * scale + mean + offset * tf.math.reduce_std(x), labels


def _time_shift(x, labels, seed, max_fraction: float = 0.1):
    """Audio features rolled along time (axis 1) only: the coefficients stay where they are."""
    tf = tensorflow()
    batch = tf.shape(x)[0]
    limit = tf.maximum(1, tf.cast(tf.cast(tf.shape(x)[1], tf.float32) * max_fraction, tf.int32))
    offsets = tf.random.stateless_uniform([batch], _draw(seed, 1), -limit, limit + 1, dtype=tf.int32)
    return _roll_axis(x, offsets, 1), labels


def _band_mask(x, seed, axis: int, max_width):
    """One band of up to ``max_width`` positions along ``axis`` (1: time, 2: coefficients) per sample, set to
    each coefficient's mean over the clip's time (a level the coefficient has, unlike zero for the first MFCC)."""
    tf = tensorflow()
    batch, length = tf.shape(x)[0], tf.shape(x)[axis]
    widths = tf.random.stateless_uniform([batch], _draw(seed, 0), 0, tf.minimum(max_width, length) + 1, dtype=tf.int32)
    room = tf.cast(length - widths + 1, tf.float32)
    starts = tf.cast(tf.random.stateless_uniform([batch], _draw(seed, 1)) * room, tf.int32)
    positions = tf.range(length)[None, :]
    inside = (positions >= starts[:, None]) & (positions < (starts + widths)[:, None])
    shape = [batch, 1, 1, 1]
    shape[axis] = length
    return tf.where(tf.reshape(inside, tf.stack(shape)), tf.reduce_mean(x, axis=1, keepdims=True), x)


def _time_mask(x, labels, seed):
    """SpecAugment's time masking: up to a fifth of the frames in one band."""
    tf = tensorflow()
    return _band_mask(x, seed, 1, tf.maximum(1, tf.shape(x)[1] // 5)), labels


def _frequency_mask(x, labels, seed):
    """SpecAugment's frequency masking: up to a fifth of the coefficients (or mel bins) in one band."""
    tf = tensorflow()
    return _band_mask(x, seed, 2, tf.maximum(1, tf.shape(x)[2] // 5)), labels


_AUGMENTATIONS: dict[str, Augmentation] = {}


def register(augmentation: Augmentation) -> Augmentation:
    _AUGMENTATIONS[augmentation.name] = augmentation
    return augmentation


register(Augmentation("shift", "circular shift by up to 10% along each spatial axis", _shift, (SIGNAL, IMAGE)))
register(Augmentation("noise", "Gaussian noise at 5% of the batch's standard deviation", _noise))
register(
    Augmentation(
        "mixup",
        "mixup with Beta(1, 1) weights; mixed samples learn from the teacher only",
        _mixup,
        keeps_labels=False,
    )
)
register(
    Augmentation("crop", "a random crop of the edge-padded image: up to 12.5% along each side", _translate, (IMAGE,))
)
register(Augmentation("flip", "half the images mirrored left to right", _flip, (IMAGE,)))
register(Augmentation("colour", "contrast and brightness each moved by up to 20%", _colour, (IMAGE,)))
register(Augmentation("time_shift", "circular shift by up to 10% along time (frames) only", _time_shift, (AUDIO,)))
register(Augmentation("time_mask", "up to a fifth of the frames set to the clip's mean", _time_mask, (AUDIO,)))
register(
    Augmentation(
        "freq_mask", "up to a fifth of the coefficients (or bins) set to their mean", _frequency_mask, (AUDIO,)
    )
)

# What suits each kind of data, for a teacher trained on labels (edgekd.distill.teacher_recipe) and
# for the augmenting candidate ``auto`` tries (edgekd.distill.recipes.candidates_for).
# Images are not flipped by default: a mirrored digit or letter is another symbol (or none), and
# the data does not say whether it holds photographs or characters. On 8×8 digits a teacher with
# flips scored 96.5% on validation, its student 96.5% too; without them 97.9%. Name it
# (``teacher.augment``, ``augment=flip``) for photographs.
TEACHER_AUGMENTATIONS = {
    IMAGE: ("crop", "colour"),
    AUDIO: ("time_shift", "time_mask", "freq_mask"),
    SIGNAL: ("shift", "noise"),
}


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


def for_modality(modality: str) -> list[str]:
    """The augmentations registered for ``modality``."""
    return [name for name in sorted(_AUGMENTATIONS) if modality in _AUGMENTATIONS[name].modalities]


def check_modality(augmentations: tuple[Augmentation, ...], modality: str, setting: str = "`distill.augment`") -> None:
    """Refuse an augmentation the data's kind does not suit (shift on audio features would roll the coefficients)."""
    for augmentation in augmentations:
        if modality not in augmentation.modalities:
            raise ConfigError(
                f"{setting}: augmentation {augmentation.name!r} ({augmentation.description}) is for "
                f"{' and '.join(_PLURAL[m] for m in augmentation.modalities)}, not {_PLURAL[modality]}; for these "
                f"use: {', '.join(for_modality(modality))}"
            )


def augment(x, labels, augmentations: tuple[Augmentation, ...], seed):
    """Apply ``augmentations`` in order to a batch, each with its own seed derived from ``seed`` (shape [2])."""
    for index, augmentation in enumerate(augmentations):
        x, labels = augmentation.apply(x, labels, _draw(seed, 100 + index))
    return x, labels
