"""Intermediate features for feature-based distillation: which layers, which shapes, and models that expose them.

A ``FeatureRequest`` names a teacher layer and a student layer, or leaves them to be chosen
(the deepest feature map, or the input of the logits layer). Everything is resolved and
checked here, before training: a missing layer lists the layers that exist; feature maps
whose positions do not correspond, or whose channels differ without an adapter, are
refused with both shapes.

Feature maps are handled as (batch, positions, channels) whatever their rank, so a
Conv1D teacher (batch, 10, 64) and a student that runs Conv2D over a (1, length) view
(batch, 1, 10, 16) line up position by position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekd.distill.losses import FeatureRequest
from edgekd.errors import ModelError
from edgekd.models.frameworks import framework_of, keras_module


@dataclass(frozen=True)
class FeatureShape:
    """A feature as the losses see it: ``positions`` is None for a vector."""

    positions: int | None
    channels: int

    @staticmethod
    def of(shape: tuple) -> FeatureShape:
        dims = [int(d) for d in shape[1:]]
        if len(dims) <= 1:
            return FeatureShape(None, dims[0] if dims else 1)
        return FeatureShape(math.prod(dims[:-1]), dims[-1])

    @property
    def flat(self) -> tuple[int, ...]:
        return (self.channels,) if self.positions is None else (self.positions, self.channels)

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

    def describe(self) -> dict:
        return {
            "key": self.request.key,
            "teacher_layer": self.teacher_layer,
            "student_layer": self.student_layer,
            "teacher_shape": list(self.teacher_shape.flat),
            "student_shape": list(self.student_shape.flat),
            "adapter": self.request.adapter,
        }


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
    if not request.same_positions:
        return
    if request.adapter:
        # The adapter projects channels; maps must still correspond position by position,
        # and a map cannot be compared with a vector except by flattening both.
        if teacher.positions != student.positions and None not in (teacher.positions, student.positions):
            raise ModelError(
                f"{request.key}: {pair} have different numbers of positions; choose layers at the same resolution"
            )
        return
    if teacher.positions is None or student.positions is None:
        raise ModelError(f"{request.key}: {pair}: this method needs feature maps with spatial positions")
    if teacher.positions != student.positions:
        raise ModelError(
            f"{request.key}: {pair} have different numbers of positions and {request.key} has no adapter; "
            "choose layers at the same resolution"
        )


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


def flatten_feature(array, shape: FeatureShape):
    """Reshape a batch of features (numpy or tensor) to (batch, positions, channels) or (batch, dims)."""
    if isinstance(array, np.ndarray):
        return array.reshape((len(array), *(shape.flat if shape.positions is not None else (-1,))))
    from edgekd.models.frameworks import tensorflow

    tf = tensorflow()
    return tf.reshape(array, [-1, *shape.flat] if shape.positions is not None else [tf.shape(array)[0], -1])
