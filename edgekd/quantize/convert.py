"""Convert a Keras model (Keras 3 or tf_keras) to TFLite bytes; saving is the caller's job."""

from __future__ import annotations

import numpy as np

from edgekd.errors import ConversionError, DataError
from edgekd.frameworks import tensorflow, tflite_converter
from edgekd.native_output import captured_native_output
from edgekd.quantize.modes import DEFAULT_OPTIONS, QuantizeOptions, get_mode

TFLITE_IDENTIFIER = b"TFL3"


def convert(
    model, mode: str = "int8", representative: np.ndarray | None = None, options: QuantizeOptions = DEFAULT_OPTIONS
) -> bytes:
    """Convert ``model`` in ``mode``; int8 calibrates on ``representative`` samples (no batch axis dropped).

    >>> tflite_bytes = convert(student, "int8", representative_samples(x_train, 200))  # doctest: +SKIP
    """
    spec = get_mode(mode)
    generator = representative_generator(model, mode, representative)
    with captured_native_output() as captured:
        try:
            result = configured_converter(model, mode, generator, options).convert()
        except Exception as exc:
            detail = " ".join(str(exc).split())[:400]
            hint = (
                "; an op may lack an integer kernel: try `mode` int16x8 or dynamic, or replace the layer"
                if spec.integer_only
                else ""
            )
            raise ConversionError(f"TFLite conversion to {mode} failed: {detail}{hint}") from None
    if result[4:8] != TFLITE_IDENTIFIER:
        raise ConversionError(
            f"the converter returned something that is not a TFLite flatbuffer ({captured.text[-200:]})"
        )
    return bytes(result)


def representative_generator(model, mode: str, representative: np.ndarray | None):
    """A checked calibration generator for modes that need one (None otherwise)."""
    if not get_mode(mode).needs_representative_data:
        return None
    if representative is None or len(representative) == 0:
        raise DataError(f"mode {mode} needs a representative dataset and none (or an empty one) was given")
    expected = tuple(int(d) for d in model.input_shape[1:])
    if tuple(representative.shape[1:]) != expected:
        raise DataError(
            f"representative samples are shaped {tuple(representative.shape[1:])} but the model expects {expected}"
        )
    if not np.all(np.isfinite(representative)):
        raise DataError("the representative dataset contains NaN or Inf; int8 calibration would be meaningless")
    _check_weights_finite(model)
    samples = representative.astype(np.float32)

    def generator():
        for sample in samples:
            yield [sample[None, ...]]

    return generator


def configured_converter(model, mode: str, generator, options: QuantizeOptions = DEFAULT_OPTIONS):
    """A ``TFLiteConverter`` for ``model`` set up for ``mode``, not yet run."""
    converter = tflite_converter(model, options.static_batch)
    get_mode(mode).configure(converter, tensorflow(), generator, options)
    return converter


def _check_weights_finite(model) -> None:
    for layer in model.layers:
        for weight in layer.get_weights():
            if not np.all(np.isfinite(weight)):
                raise ConversionError(
                    f"layer {layer.name!r} has NaN or Inf weights; quantization ranges would be undefined"
                )
