"""Intermediate features for feature-based distillation: which layers, which shapes, and models that expose them.

A ``FeatureRequest`` names a teacher layer and a student layer, or leaves them to be chosen
(the deepest feature map, or the input of the logits layer). Everything is resolved and
checked here, before training: a missing layer lists the layers that exist; feature maps
whose positions do not correspond, or whose channels differ without an adapter, are
refused with both shapes.

Feature maps are handled as (batch, positions, channels) whatever their rank, so a
Conv1D teacher (batch, 10, 64) and a student that runs Conv2D over a (1, length) view
(batch, 1, 10, 16) line up position by position. Maps at different resolutions are
resampled to the smaller grid by area averaging (adaptive average pooling, as torchdistill
and mdistiller do), so any teacher pairs with any student.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.distill.losses import FeatureRequest
from edgekd.errors import ModelError
from edgekd.frameworks import framework_of, keras_module


@dataclass(frozen=True)
class FeatureShape:
    """A feature as the losses see it: ``positions`` is None for a vector; ``grid`` is the map's (height, width)."""

    positions: int | None
    channels: int
    grid: tuple[int, int] | None = None

    @staticmethod
    def of(shape: tuple) -> FeatureShape:
        dims = [int(d) for d in shape[1:]]
        if len(dims) <= 1:
            return FeatureShape(None, dims[0] if dims else 1)
        spatial = dims[:-1]
        # A 1-D map is a height-1 grid, like the students' (1, length) view of a signal.
        grid = (1, spatial[0]) if len(spatial) == 1 else (spatial[0], math.prod(spatial[1:]))
        return FeatureShape(math.prod(spatial), dims[-1], grid)

    @property
    def flat(self) -> tuple[int, ...]:
        return (self.channels,) if self.positions is None else (self.positions, self.channels)

    def on_grid(self, grid: tuple[int, int] | None) -> FeatureShape:
        """The same channels resampled to ``grid``."""
        if grid is None or self.grid is None or grid == self.grid:
            return self
        return FeatureShape(grid[0] * grid[1], self.channels, grid)

    def __str__(self) -> str:
        return f"{self.channels}-vector" if self.positions is None else f"{self.positions} positions x {self.channels}"


@dataclass(frozen=True)
class ResolvedFeature:
    """One request with its layers found and shapes checked."""

    request: FeatureRequest
    teacher_layer: str
    student_layer: str
    teacher_shape: FeatureShape
    student_shape: FeatureShape

    @property
    def grid(self) -> tuple[int, int] | None:
        """Where both maps are compared: the smaller of the two grids on each axis (None: no resampling)."""
        teacher, student = self.teacher_shape.grid, self.student_shape.grid
        if not self.request.same_positions or teacher is None or student is None or teacher == student:
            return None
        return (min(teacher[0], student[0]), min(teacher[1], student[1]))

    def describe(self) -> dict:
        described = {
            "key": self.request.key,
            "teacher_layer": self.teacher_layer,
            "student_layer": self.student_layer,
            "teacher_shape": list(self.teacher_shape.flat),
            "student_shape": list(self.student_shape.flat),
            "adapter": self.request.adapter,
        }
        if self.grid is not None:
            described["resampled_to"] = list(self.grid)
        return described


def _layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _output_tensor(model, role: str, kind: str, name: str):
    """The tensor a request reads from ``model`` and the layer name it came from."""
    layers = _layers(model)
    if not layers or not hasattr(model, "inputs") or not model.inputs:
        raise ModelError(
            f"the {role} {model.name!r} does not expose its layers (a SavedModel or a subclassed model); "
            "feature methods need a .keras file built from layers"
        )
    if name:
        names = [layer.name for layer in layers]
        if name not in names:
            raise ModelError(f"the {role} has no layer {name!r}; its layers: {', '.join(names)}")
        layer = layers[names.index(name)]
        return layer.output, layer.name
    if kind == "embedding":
        # The input of the logits layer.
        head = layers[-1]
        producer = layers[-2] if len(layers) >= 2 else None
        return head.input, producer.name if producer is not None else "input"
    for layer in reversed(layers[:-1]):
        if len(layer.output.shape) >= 3:
            return layer.output, layer.name
    raise ModelError(
        f"the {role} {model.name!r} has no feature maps (layers with spatial axes); "
        f"name a layer with {role}_layer=NAME (its layers: {', '.join(layer.name for layer in layers)})"
    )


def resolve(requests: tuple[FeatureRequest, ...], teacher, student) -> tuple[ResolvedFeature, ...]:
    """Find every request's layers and check that the shapes can be compared."""
    resolved = []
    for request in requests:
        teacher_tensor, teacher_layer = _output_tensor(teacher, "teacher", request.kind, request.teacher_layer)
        student_tensor, student_layer = _output_tensor(student, "student", request.kind, request.student_layer)
        teacher_shape = FeatureShape.of(tuple(teacher_tensor.shape))
        student_shape = FeatureShape.of(tuple(student_tensor.shape))
        feature = ResolvedFeature(request, teacher_layer, student_layer, teacher_shape, student_shape)
        _check_shapes(feature)
        resolved.append(feature)
    return tuple(resolved)


def _check_shapes(feature: ResolvedFeature) -> None:
    request, teacher, student = feature.request, feature.teacher_shape, feature.student_shape
    pair = f"teacher {feature.teacher_layer!r} ({teacher}) and student {feature.student_layer!r} ({student})"
    if not request.same_positions or request.adapter:
        # Relations compare samples, not positions; an adapter projects channels, and maps at
        # different resolutions are resampled to the smaller grid.
        return
    if teacher.positions is None or student.positions is None:
        raise ModelError(f"{request.key}: {pair}: this method needs feature maps with spatial positions")


def tap_model(model, features: tuple[ResolvedFeature, ...], side: str):
    """A model of ``model``'s own framework returning [logits, feature per request] (sharing its layers)."""
    keras = keras_module(framework_of(model))
    role = "teacher" if side == "teacher" else "student"
    outputs = [model.outputs[0]]
    for feature in features:
        # Re-resolve from the request (not the reported layer name): "the input of the logits
        # layer" is a tensor, not always a layer's output.
        named = feature.request.teacher_layer if side == "teacher" else feature.request.student_layer
        outputs.append(_output_tensor(model, role, feature.request.kind, named)[0])
    return keras.Model(model.inputs, outputs, name=f"{model.name}_taps")


def flatten_feature(array, shape: FeatureShape, grid: tuple[int, int] | None = None):
    """Reshape a batch of features (numpy or tensor) to (batch, positions, channels) or (batch, dims).

    With ``grid``, a map is first resampled to that (height, width) by area averaging.
    """
    from edgekd.frameworks import tensorflow

    if grid is not None and shape.grid is not None and grid != shape.grid:
        rows, columns = area_weights(shape.grid[0], grid[0]), area_weights(shape.grid[1], grid[1])
        if isinstance(array, np.ndarray):
            image = array.reshape((len(array), *shape.grid, shape.channels))
            pooled = np.einsum("oh,bhwc,pw->bopc", rows, image, columns)
            return pooled.reshape((len(array), grid[0] * grid[1], shape.channels)).astype(np.float32)
        tf = tensorflow()
        image = tf.reshape(array, [-1, *shape.grid, shape.channels])
        # A product with fixed weights, so gradients reach the student (tf.image.resize's
        # "area" method has none).
        pooled = tf.einsum("oh,bhwc,pw->bopc", tf.constant(rows, image.dtype), image, tf.constant(columns, image.dtype))
        return tf.reshape(pooled, [-1, grid[0] * grid[1], shape.channels])
    if isinstance(array, np.ndarray):
        return array.reshape((len(array), *(shape.flat if shape.positions is not None else (-1,))))
    tf = tensorflow()
    return tf.reshape(array, [-1, *shape.flat] if shape.positions is not None else [tf.shape(array)[0], -1])


def area_weights(size: int, target: int) -> np.ndarray:
    """(target, size) weights that average each of ``target`` equal spans of ``size`` cells (adaptive average pooling).

    A cell that straddles two spans counts in each by the share of it inside; every row sums to 1.
    """
    weights = np.zeros((target, size), dtype=np.float32)
    span = size / target
    for row in range(target):
        start, end = row * span, (row + 1) * span
        for cell in range(int(np.floor(start)), min(size, int(np.ceil(end)))):
            weights[row, cell] = min(end, cell + 1) - max(start, cell)
    return weights / span
