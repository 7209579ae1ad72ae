"""Layers the student families share: the signal view, input downsampling, conv + BatchNorm + activation, the head.

Every family runs 2-D layers: a signal ``(length, channels)`` is viewed as a height-1 image
``(1, length, channels)``. The arithmetic is that of 1-D layers, but TFMOT can quantize it
(its registry has no Conv1D) and the .tflite holds RESHAPE + CONV_2D / DEPTHWISE_CONV_2D,
which the Edge TPU and TFLite Micro map.

Convolutions followed by BatchNorm have no bias: the converter folds the BatchNorm's scale
and shift into the convolution's weights and bias, so no normalization op is left in the
.tflite (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

# Below this many channels a first layer cannot separate even simple classes reliably;
# auto-sizing never goes under it (see ``edgekd.models.sizing``).
MIN_CHANNELS = 8


def channels(width: float, base: int, minimum: int = MIN_CHANNELS) -> int:
    """``base`` channels scaled by the width multiplier, rounded, never below ``minimum``."""
    return max(minimum, int(round(base * width)))


@dataclass(frozen=True)
class View:
    """How a family lays its 2-D layers over the input: kernels and pools along one or two spatial axes."""

    signal: bool

    def kernel(self, size: int, height: int | None = None) -> tuple[int, int]:
        return (1, size) if self.signal else (height or size, size)

    def pool(self, factor: int) -> tuple[int, int]:
        return (1, factor) if self.signal else (factor, factor)


def inputs_as_image(keras, input_shape: tuple[int, ...], resolution: float):
    """The input layer and its 2-D view, average-pooled by ``1/resolution`` (1, 1/2, 1/4 …) when below 1.

    A lower input resolution is the cheapest way to cut MACs while keeping enough channels
    to learn; it is part of the model, so the model still takes the data's own samples.
    """
    view = View(signal=len(input_shape) == 2)
    inputs = keras.Input(input_shape)
    x = keras.layers.Reshape((1, *input_shape), name="as_image")(inputs) if view.signal else inputs
    factor = _pool_factor(resolution)
    if factor > 1:
        x = keras.layers.AveragePooling2D(view.pool(factor), padding="same", name="downsample")(x)
    return inputs, x, view


def _pool_factor(resolution: float) -> int:
    from edgekd.errors import ModelError

    if not 0 < resolution <= 1 or abs(1 / resolution - round(1 / resolution)) > 1e-6:
        raise ModelError(f"resolution must be 1 divided by a whole number (1, 0.5, 0.25 ...), got {resolution:g}")
    return int(round(1 / resolution))


def conv_bn(keras, x, filters: int, kernel, strides, name: str, activation: str | None = "relu"):
    """Conv2D (no bias) → BatchNorm → activation (``relu``, ``relu6`` or None for a linear projection)."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return _activation(keras, x, activation, name)


def depthwise_bn(keras, x, kernel, strides, name: str, activation: str = "relu"):
    """DepthwiseConv2D (no bias) → BatchNorm → activation."""
    x = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return _activation(keras, x, activation, name)


def _activation(keras, x, activation: str | None, name: str):
    if activation is None:
        return x
    if activation == "relu6":
        return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def classifier_head(keras, x, num_classes: int, dropout: float = 0.0):
    """Global average pooling, optional dropout, and a dense layer of logits (named for feature methods)."""
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)
