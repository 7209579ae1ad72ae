"""Teacher and student builders, registered by name and adapted to the input's rank.

A sample shaped ``(length, channels)`` gets Conv1D layers, ``(height, width, channels)``
gets Conv2D, so the same builder serves signals and images. Every builder outputs
**logits** (no softmax): distillation softens them with a temperature, and argmax is the
same either way.

Students are built in tf_keras (see ``edgekd.frameworks``), teachers in Keras 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from edgekd.errors import ModelError, known_names
from edgekd.frameworks import Framework, keras_module

# Size options may range this factor either side of their default: wide enough for auto-sizing
# (1/16x to 8x) and any deliberate model, narrow enough that NaN, a negative size or a typo
# (width=1e9) is refused before Keras tries to allocate the model.
OPTION_SPAN = 64.0


@dataclass(frozen=True)
class Builder:
    """Builds a classifier for an input shape and class count from numeric size options."""

    name: str
    description: str
    framework: Framework
    defaults: dict[str, float]
    # The option that auto-sizing scales to reach a MAC budget.
    size_option: str
    build_fn: Callable[..., object]
    # (keras, input_shape, num_classes) -> options: sizes chosen for the input when none are given.
    sized_for: Callable[..., dict[str, float]] | None = None

    def build(self, input_shape: tuple[int, ...], num_classes: int, **options: float):
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise ModelError(
                f"unknown option(s) {', '.join(sorted(unknown))} for builder {self.name!r}; "
                f"known: {known_names(self.defaults)}"
            )
        if len(input_shape) not in (2, 3):
            raise ModelError(
                f"builder {self.name!r} supports inputs shaped (length, channels) or (height, width, channels); "
                f"got {input_shape}"
            )
        for key, value in options.items():
            low, high = self.defaults[key] / OPTION_SPAN, self.defaults[key] * OPTION_SPAN
            if not (math.isfinite(value) and low <= value <= high):
                raise ModelError(
                    f"option {key}={value:g} of builder {self.name!r} must be from {low:g} to {high:g} "
                    f"({OPTION_SPAN:g}x either side of its default, {self.defaults[key]:g})"
                )
        keras = keras_module(self.framework)
        if not options and self.sized_for is not None:
            options = self.sized_for(keras, tuple(input_shape), int(num_classes))
        merged = {**self.defaults, **options}
        return self.build_fn(keras, tuple(input_shape), int(num_classes), **merged)


_BUILDERS: dict[str, Builder] = {}


def register(builder: Builder) -> Builder:
    _BUILDERS[builder.name] = builder
    return builder


def _ensure_builtins() -> None:
    # Families in their own modules register themselves on import, exactly as a plugin would.
    from edgekd.models import dscnn, mobilenet, resnet, teacher_net  # noqa: F401


def get_builder(name: str) -> Builder:
    _ensure_builtins()
    if name not in _BUILDERS:
        raise ModelError(f"unknown model builder {name!r}; known: {known_names(_BUILDERS)}")
    return _BUILDERS[name]


def builder_names(framework: Framework | None = None) -> list[str]:
    _ensure_builtins()
    return sorted(n for n, b in _BUILDERS.items() if framework is None or b.framework is framework)


def _conv(keras, rank: int):
    return keras.layers.Conv1D if rank == 2 else keras.layers.Conv2D


def _channels(width: float, base: int) -> int:
    return max(1, int(round(base * width)))


def _build_teacher_cnn(keras, input_shape, num_classes, width):
    conv = _conv(keras, len(input_shape))
    kernel = 5 if len(input_shape) == 2 else 3
    # Layer names are fixed so feature methods can name them (teacher_layer=conv3).
    layers = [
        keras.Input(input_shape),
        conv(_channels(width, 32), kernel, padding="same", activation="relu", name="conv1"),
        conv(_channels(width, 64), kernel, strides=2, padding="same", activation="relu", name="conv2"),
        conv(_channels(width, 64), 3, strides=2, padding="same", activation="relu", name="conv3"),
    ]
    # Signals keep position (MNIST-1D's digits are shifted patterns); images pool it away.
    layers.append(
        keras.layers.Flatten(name="flatten")
        if len(input_shape) == 2
        else keras.layers.GlobalAveragePooling2D(name="pool")
    )
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name="teacher_cnn")


def _build_student_conv(keras, input_shape, num_classes, width):
    if len(input_shape) == 2:
        # Signals run as Conv2D over a (1, length, channels) view: the same arithmetic as
        # Conv1D, but TFMOT can quantize it (its registry has no Conv1D) and the .tflite has
        # RESHAPE + CONV_2D, which the Edge TPU maps, instead of EXPAND_DIMS.
        layers = [
            keras.Input(input_shape),
            keras.layers.Reshape((1, *input_shape), name="as_image"),
            keras.layers.Conv2D(
                _channels(width, 8), (1, 5), strides=(1, 2), padding="same", activation="relu", name="conv1"
            ),
            keras.layers.Conv2D(
                _channels(width, 16), (1, 3), strides=(1, 2), padding="same", activation="relu", name="conv2"
            ),
            keras.layers.Flatten(name="flatten"),
        ]
    else:
        layers = [
            keras.Input(input_shape),
            keras.layers.Conv2D(_channels(width, 8), 3, strides=2, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(_channels(width, 16), 3, strides=2, padding="same", activation="relu", name="conv2"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
        ]
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name="student_conv")


def _build_student_dsconv(keras, input_shape, num_classes, width, blocks):
    """MobileNet-style: a strided stem, then depthwise-separable blocks (depthwise + 1x1 pointwise), width-scaled."""
    signal = len(input_shape) == 2
    layers = [keras.Input(input_shape)]
    if signal:
        # The same (1, length) view as `conv`: TFMOT and the Edge TPU take DepthwiseConv2D, not 1-D ops.
        layers.append(keras.layers.Reshape((1, *input_shape), name="as_image"))
    kernel = (1, 5) if signal else 3
    stride = (1, 2) if signal else 2
    layers.append(
        keras.layers.Conv2D(_channels(width, 8), kernel, strides=stride, padding="same", activation="relu", name="stem")
    )
    for index in range(1, max(1, int(round(blocks))) + 1):
        layers += [
            keras.layers.DepthwiseConv2D(
                (1, 3) if signal else 3,
                # TensorFlow's depthwise kernels need equal strides; on a height-1 view, 2 halves the length only.
                strides=2 if index == 1 else 1,
                padding="same",
                activation="relu",
                name=f"block{index}_depthwise",
            ),
            keras.layers.Conv2D(
                _channels(width, 16 * index), 1, padding="same", activation="relu", name=f"block{index}_pointwise"
            ),
        ]
    layers.append(keras.layers.Flatten(name="flatten") if signal else keras.layers.GlobalAveragePooling2D(name="pool"))
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name="student_dsconv")


def _build_student_mlp(keras, input_shape, num_classes, hidden):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(max(1, int(round(hidden))), activation="relu", name="hidden"),
            keras.layers.Dense(num_classes, name="logits"),
        ],
        name="student_mlp",
    )


register(
    Builder(
        "cnn",
        "teacher: three convolutions and a dense head",
        Framework.KERAS3,
        {"width": 1.0},
        "width",
        _build_teacher_cnn,
    )
)
register(
    Builder(
        "conv",
        "student: two strided convolutions and a dense head",
        Framework.TF_KERAS,
        {"width": 1.0},
        "width",
        _build_student_conv,
    )
)
register(
    Builder(
        "dsconv",
        "student: a strided stem and depthwise-separable blocks (MobileNet-style), width multiplier",
        Framework.TF_KERAS,
        {"width": 1.0, "blocks": 1.0},
        "width",
        _build_student_dsconv,
    )
)
register(
    Builder(
        "mlp", "student: one hidden dense layer", Framework.TF_KERAS, {"hidden": 32.0}, "hidden", _build_student_mlp
    )
)
