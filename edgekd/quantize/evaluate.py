"""Accuracy of a .tflite model measured through the LiteRT interpreter itself.

The Keras model's accuracy says nothing about what the converter produced; this runs the
converted bytes, quantizing inputs and dequantizing outputs with the file's own
parameters, exactly as an application on the device would.
"""

from __future__ import annotations

import numpy as np

from edgekd.errors import ModelError
from edgekd.native_output import captured_native_output

BATCH = 256


def make_interpreter(model_bytes: bytes, threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    try:
        with captured_native_output():
            interpreter = Interpreter(model_content=model_bytes, num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"LiteRT cannot load the model: {' '.join(str(exc).split())[:300]}") from None
    return interpreter


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(detail["dtype"], np.floating):
        return y.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (y.astype(np.float32) - zero_point) * scale


def predict(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Dequantized class scores for ``x`` (float samples), computed by LiteRT."""
    # The interpreter announces its XNNPACK delegate on the terminal; keep that out of the CLI's output.
    with captured_native_output():
        return _predict(model_bytes, x)


def _predict(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = make_interpreter(model_bytes)
    input_detail = interpreter.get_input_details()
    if len(input_detail) != 1:
        raise ModelError(f"the model has {len(input_detail)} inputs; edgekd evaluates single-input classifiers")
    input_detail = input_detail[0]
    expected = tuple(int(d) for d in input_detail["shape"][1:])
    if tuple(x.shape[1:]) != expected:
        raise ModelError(f"the model expects samples shaped {expected}, the data has {tuple(x.shape[1:])}")
    resizable = int(input_detail["shape_signature"][0]) == -1
    batch = BATCH if resizable else int(input_detail["shape"][0])
    outputs = []
    current = None
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        if resizable and current != len(chunk):
            interpreter.resize_tensor_input(input_detail["index"], [len(chunk), *expected])
            interpreter.allocate_tensors()
            current = len(chunk)
        elif current is None:
            interpreter.allocate_tensors()
            current = batch
        if len(chunk) != current:
            # A fixed-batch model: pad the last chunk and drop the padding afterwards.
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], current - len(chunk), axis=0)])
        interpreter.set_tensor(input_detail["index"], _quantize(chunk, input_detail))
        interpreter.invoke()
        output_detail = interpreter.get_output_details()[0]
        scores = _dequantize(interpreter.get_tensor(output_detail["index"]), output_detail)
        outputs.append(scores[: min(batch, len(x) - start)])
    return np.concatenate(outputs)


def accuracy(model_bytes: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the .tflite on (x, y)."""
    return float(np.mean(np.argmax(predict(model_bytes, x), axis=1) == y))
