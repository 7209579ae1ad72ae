"""Per-layer quantization error, from TFLite's QuantizationDebugger: which layers lose the most."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from edgekd.errors import ConfigError, ConversionError
from edgekd.frameworks import tensorflow
from edgekd.native_output import captured_native_output
from edgekd.quantize.convert import configured_converter, representative_generator
from edgekd.quantize.modes import DEFAULT_OPTIONS, QuantizeOptions, get_mode

# Error of ideal uniform rounding, in quantization steps: 1/sqrt(12).
IDEAL_RMSE_PER_SCALE = 1 / math.sqrt(12)


@dataclass(frozen=True)
class LayerError:
    op: str
    tensor: str
    rmse: float
    scale: float

    @property
    def rmse_per_scale(self) -> float:
        """Error in quantization steps; about 0.29 is the rounding floor, much more means the layer suffers."""
        return self.rmse / self.scale if self.scale else float("inf")

    def as_dict(self) -> dict:
        return {
            "op": self.op,
            "tensor": self.tensor,
            "rmse": self.rmse,
            "scale": self.scale,
            "rmse_per_scale": round(self.rmse_per_scale, 4),
        }


def layer_errors(
    model, mode: str, representative: np.ndarray, options: QuantizeOptions = DEFAULT_OPTIONS
) -> list[LayerError]:
    """Every quantized layer's output error against the float model on ``representative``, worst first."""
    if not get_mode(mode).integer_only:
        raise ConfigError(
            f"`debug` compares integer layers with float ones; it needs `mode` int8 or int16x8, not {mode}"
        )
    tf = tensorflow()
    generator = representative_generator(model, mode, representative)
    with captured_native_output():
        try:
            converter = configured_converter(model, mode, generator, options)
            debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=generator)
            debugger.run()
            dump = io.StringIO()
            debugger.layer_statistics_dump(dump)
        except Exception as exc:
            raise ConversionError(f"the quantization debugger failed: {' '.join(str(exc).split())[:300]}") from None
    dump.seek(0)
    rows = [
        LayerError(
            row["op_name"],
            row["tensor_name"],
            math.sqrt(max(float(row["mean_squared_error"]), 0.0)),
            float(row["scale"]),
        )
        for row in csv.DictReader(dump)
    ]
    return sorted(rows, key=lambda r: r.rmse_per_scale, reverse=True)
