"""Post-training conversion modes, one small configuration function each, registered by name.

A mode configures a ``tf.lite.TFLiteConverter``; ``edgekd.quantize.convert`` runs it. Adding
a mode is one function plus one ``register`` line.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from edgekd.errors import ConfigError, known_names


class QuantizationMode(str, enum.Enum):
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"
    INT16X8 = "int16x8"


@dataclass(frozen=True)
class QuantizeOptions:
    """Choices within a mode."""

    # Full-integer models: the type the application feeds and reads (uint8 for older
    # accelerators and image pipelines that hand over raw bytes).
    io_dtype: str = "int8"
    # Per-channel weight scales (the converter's default) keep conv accuracy; per-tensor
    # is only for targets that require it.
    per_channel: bool = True
    # Batch fixed at 1: the shape arithmetic folds into constants (no SHAPE/PACK ops) and the
    # Edge TPU and microcontrollers need static shapes. Applies to tf_keras models; Keras 3
    # models convert with a dynamic batch (their concrete functions keep resource variables
    # that int8 calibration cannot read).
    static_batch: bool = True
    # Integer modes: an op the converter left in float (it has no integer kernel) fails the
    # conversion unless the user accepts a mixed file, which integer-only hardware cannot run.
    allow_float_ops: bool = False

    def __post_init__(self) -> None:
        if self.io_dtype not in ("int8", "uint8"):
            raise ConfigError(f"input/output type {self.io_dtype!r} is not supported for int8; use int8 or uint8")


DEFAULT_OPTIONS = QuantizeOptions()

Representative = Callable[[], Iterator[list[np.ndarray]]] | None


@dataclass(frozen=True)
class Mode:
    """How to configure the converter for one mode."""

    mode: QuantizationMode
    description: str
    needs_representative_data: bool
    configure: Callable[[object, object, Representative, QuantizeOptions], None]
    # True when every activation runs in integer arithmetic (what integer-only hardware needs).
    integer_only: bool = False


def _configure_float32(converter, tf, representative, options) -> None:
    # The plain conversion: the float baseline every other mode is compared against.
    return None


def _configure_float16(converter, tf, representative, options) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _configure_dynamic(converter, tf, representative, options) -> None:
    # Weights stored int8, activations quantized on the fly at run time: no calibration data.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _configure_int8(converter, tf, representative, options) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # Only integer kernels: an op that cannot be quantized fails conversion instead of
    # silently staying float (which an Edge TPU or an int8-only MCU could not run).
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = tf.uint8 if options.io_dtype == "uint8" else tf.int8
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type
    if not options.per_channel:
        converter._experimental_disable_per_channel = True


def _configure_int16x8(converter, tf, representative, options) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]


_MODES: dict[str, Mode] = {}


def register(mode: Mode) -> None:
    _MODES[mode.mode.value] = mode


register(Mode(QuantizationMode.FLOAT32, "float32 weights and activations (baseline)", False, _configure_float32))
register(
    Mode(
        QuantizationMode.FLOAT16,
        "float16 weights, float32 compute (GPU-friendly, half the size)",
        False,
        _configure_float16,
    )
)
register(
    Mode(
        QuantizationMode.DYNAMIC,
        "dynamic range: int8 weights, activations quantized at run time",
        False,
        _configure_dynamic,
    )
)
register(
    Mode(
        QuantizationMode.INT8, "full integer: int8 weights, activations, input and output", True, _configure_int8, True
    )
)
register(
    Mode(
        QuantizationMode.INT16X8,
        "int16 activations, int8 weights (more accurate full integer)",
        True,
        _configure_int16x8,
        True,
    )
)


def get_mode(name: str) -> Mode:
    if name not in _MODES:
        raise ConfigError(f"unknown quantization mode {name!r}; known: {known_names(_MODES)}")
    return _MODES[name]


def mode_names() -> list[str]:
    return sorted(_MODES)
