"""How 0-255 pixel values become a model's inputs: ``scale=unit|symmetric|raw`` or a keras.applications family.

Every scaling is the same arithmetic with different numbers, ``(x[channel_order] - mean) / std``
on 0-255 values, so the one record written into results.json and the model's metadata is
exactly what a device must compute. A ``keras.applications`` model expects its family's
``preprocess_input`` (MobileNetV2 [-1, 1]; ResNet50 BGR minus the ImageNet means;
EfficientNet raw 0-255, rescaled inside the model); ``FAMILY_MODES`` records each family's
mode, and the tests check every entry against Keras' own function.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.errors import DataError, known_names
from edgekd.frameworks import tensorflow


@dataclass(frozen=True)
class Scaling:
    """Per-channel ``(x[order] - mean) / std`` on 0-255 pixel values (one value: every channel)."""

    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    note: str
    bgr: bool = False
    needs_rgb: bool = False

    def apply(self, pixels):
        """``pixels``: float32 0-255, shaped (height, width, channels)."""
        tf = tensorflow()
        if self.bgr:
            pixels = pixels[..., ::-1]
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)
        return (pixels - mean) / std

    def describe(self) -> dict:
        record = {
            "mean": _one_or_all(self.mean),
            "std": _one_or_all(self.std),
            "formula": "(x - mean) / std on 0-255 pixel values",
            "note": self.note,
        }
        if self.bgr:
            record["channel_order"] = "BGR"
        return record


def _one_or_all(values: tuple[float, ...]) -> float | list[float]:
    return values[0] if len(set(values)) == 1 else list(values)


SCALES = {
    "unit": Scaling("unit", (0.0,), (255.0,), "pixel values / 255, in [0, 1]"),
    "symmetric": Scaling("symmetric", (127.5,), (127.5,), "pixel values / 127.5 - 1, in [-1, 1]"),
    "raw": Scaling("raw", (0.0,), (1.0,), "pixel values as they are, 0-255"),
}

# keras.applications' preprocess_input modes (keras/src/applications/imagenet_utils.py).
_IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_MODES = {
    "tf": ((127.5,), (127.5,), False, "[-1, 1], as keras.applications' 'tf' mode"),
    "torch": (
        tuple(255 * m for m in _TORCH_MEAN),
        tuple(255 * s for s in _TORCH_STD),
        False,
        "ImageNet mean and standard deviation per channel, as keras.applications' 'torch' mode",
    ),
    "caffe": (_IMAGENET_MEAN_BGR, (1.0,), True, "BGR minus the ImageNet means, as keras.applications' 'caffe' mode"),
    "raw": ((0.0,), (1.0,), False, "0-255 as they are: the model rescales inside"),
}
FAMILY_MODES = {
    "convnext": "raw",
    "densenet": "torch",
    "efficientnet": "raw",
    "efficientnet_v2": "raw",
    "inception_resnet_v2": "tf",
    "inception_v3": "tf",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "mobilenet_v3": "raw",
    "nasnet": "tf",
    "resnet": "caffe",
    "resnet50": "caffe",
    "resnet_v2": "tf",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "xception": "tf",
}


def scale_named(name: str) -> Scaling:
    if name not in SCALES:
        raise DataError(f"unknown scale {name!r}; known: {known_names(SCALES)} (or preprocess=FAMILY)")
    return SCALES[name]


def preprocess_named(family: str) -> Scaling:
    """The scaling of a keras.applications family, e.g. ``mobilenet_v2``."""
    if family not in FAMILY_MODES:
        raise DataError(
            f"unknown preprocess {family!r}; known keras.applications families: {known_names(FAMILY_MODES)}"
        )
    mean, std, bgr, note = _MODES[FAMILY_MODES[family]]
    return Scaling(f"preprocess={family}", mean, std, f"{family}.preprocess_input: {note}", bgr, needs_rgb=True)


def scaling_from(scale: str | None, preprocess: str | None, prefix: str = "") -> Scaling:
    """The scaling options name (``scale`` or ``preprocess``, not both), unit by default."""
    if scale and preprocess:
        raise DataError(f"give `{prefix}scale` or `{prefix}preprocess`, not both: preprocess sets the scaling itself")
    if preprocess:
        return preprocess_named(preprocess)
    return scale_named(scale or "unit")
