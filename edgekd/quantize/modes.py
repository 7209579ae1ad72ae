"""Post-training conversion modes, one small class each, registered by name.

A mode configures a ``tf.lite.TFLiteConverter``; ``edgekd.quantize.convert`` runs it. Adding
a mode is one class plus one ``register`` line.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from edgekd.errors import ConfigError, known_names


class QuantizationMode(str, enum.Enum):
    FLOAT32 = "float32"
    INT8 = "int8"


@dataclass(frozen=True)
class Mode:
    """How to configure the converter for one mode."""

    mode: QuantizationMode
    description: str
    needs_representative_data: bool
    configure: Callable[[object, object, Callable[[], Iterator[list[np.ndarray]]] | None], None]


def _configure_float32(converter, tf, representative) -> None:
    # The plain conversion: the float baseline every other mode is compared against.
    return None


def _configure_int8(converter, tf, representative) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # Only integer kernels: an op that cannot be quantized fails conversion instead of
    # silently staying float (which an Edge TPU or an int8-only MCU could not run).
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8


_MODES: dict[str, Mode] = {}


def register(mode: Mode) -> None:
    _MODES[mode.mode.value] = mode


register(Mode(QuantizationMode.FLOAT32, "float32 weights and activations (baseline)", False, _configure_float32))
register(
    Mode(QuantizationMode.INT8, "full integer: int8 weights, activations, input and output", True, _configure_int8)
)


def get_mode(name: str) -> Mode:
    if name not in _MODES:
        raise ConfigError(f"unknown quantization mode {name!r}; known: {known_names(_MODES)}")
    return _MODES[name]


def mode_names() -> list[str]:
    return sorted(_MODES)
