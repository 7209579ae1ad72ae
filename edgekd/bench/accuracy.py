"""Accuracy on the device: the test inputs travel with the model, the device's runtime returns its outputs.

The device computes with its own kernels (ARM's, a delegate's float16, TFLite Micro's);
here its raw outputs are compared with what the host's LiteRT computes from the same raw
inputs: top-1 accuracy on the device, top-1 agreement with the host, and the largest
output difference, in quantization steps for an integer output (one step is the smallest
change the output can show). Loading and quantizing is done once; the comparison is
pure arithmetic, tested without a device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.errors import ConfigError
from edgekd.modelfile.inspect import ModelReport, TensorInfo

# Enough to see a difference of one in a few hundred in agreement, and quick on an emulated board.
DEFAULT_SAMPLES = 500


@dataclass(frozen=True)
class AccuracyData:
    """Test samples (float, as the dataset holds them) and their labels, from ``data``."""

    x: np.ndarray
    y: np.ndarray
    data: str

    @staticmethod
    def load(data: str, samples: int | None = DEFAULT_SAMPLES) -> AccuracyData:
        """The first ``samples`` of the test split of the dataset spec ``data`` (``mnist1d``, ``npz:PATH``, ...)."""
        from edgekd.data.spec import load_dataset

        if samples is not None and samples < 1:
            raise ConfigError(f"`samples` {samples}: must be at least 1")
        dataset = load_dataset(data)
        end = len(dataset.x_test) if samples is None else samples
        return AccuracyData(np.asarray(dataset.x_test[:end]), np.asarray(dataset.y_test[:end]), data)

    def raw_inputs(self, report: ModelReport, source: str) -> np.ndarray:
        """The samples as the model's input tensor holds them (quantized with its own scale and zero point).

        Refuses data that does not fit the model: other input shapes, or labels past its outputs
        (top-1 against such labels would be 0% and say nothing).
        """
        if len(report.inputs) != 1 or len(report.outputs) != 1:
            raise ConfigError(
                f"`accuracy` checks single-input, single-output classifiers; {source} has {len(report.inputs)} "
                f"input(s) and {len(report.outputs)} output(s)"
            )
        tensor = report.inputs[0]
        expected = tuple(tensor.shape[1:])
        if tuple(self.x.shape[1:]) != expected:
            raise ConfigError(
                f"`accuracy` data {self.data} holds samples shaped {tuple(self.x.shape[1:])}; {source} expects "
                f"{expected}: give the test data the model was trained for"
            )
        classes = int(np.prod(report.outputs[0].shape[1:]))
        if len(self.y) and int(self.y.max()) >= classes:
            raise ConfigError(
                f"`accuracy` data {self.data} holds labels up to {int(self.y.max())}; {source} has {classes} outputs "
                f"(classes 0 to {classes - 1}): give the test data the model was trained for"
            )
        return quantize(self.x, tensor)


def quantize(x: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    """Float values as ``tensor``'s dtype holds them (an integer tensor with its scale and zero point)."""
    dtype = np.dtype(tensor.dtype)
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    info = np.iinfo(dtype)
    scale, zero_point = tensor.scale[0], tensor.zero_point[0] if tensor.zero_point else 0
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def host_outputs(model: bytes, raw_inputs: np.ndarray) -> np.ndarray:
    """The raw outputs the host's LiteRT computes for ``raw_inputs``, one invoke per sample."""
    from edgekd.native_output import captured_native_output
    from edgekd.quantize.evaluate import make_interpreter

    with captured_native_output():
        interpreter = make_interpreter(model)
        interpreter.allocate_tensors()
        entry, exit_ = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        outputs = []
        for sample in raw_inputs:
            interpreter.set_tensor(entry["index"], sample[None])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(exit_["index"])[0].copy())
    return np.stack(outputs)


def encode_outputs(array: np.ndarray) -> dict:
    """Raw outputs as a JSON value (the agent writes the same form: it cannot import edgekd)."""
    import base64

    array = np.ascontiguousarray(array)
    return {"dtype": str(array.dtype), "shape": list(array.shape), "base64": base64.b64encode(array).decode()}


def decode_outputs(document: dict, device: str) -> np.ndarray:
    """The array an agent returned as ``{"dtype", "shape", "base64"}``; a BenchmarkError if it is malformed."""
    import base64
    import binascii

    from edgekd.errors import BenchmarkError

    try:
        dtype = np.dtype(document["dtype"])
        if dtype.kind not in "iuf":
            raise TypeError(dtype)
        return np.frombuffer(base64.b64decode(document["base64"], validate=True), dtype).reshape(document["shape"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise BenchmarkError(f"{device}: the agent returned outputs edgekd cannot read") from None


@dataclass(frozen=True)
class DeviceAccuracy:
    """The device's outputs against the host's, on the same inputs."""

    runtime: str
    samples: int
    accuracy: float
    host_accuracy: float
    agreement: float
    largest_difference: float
    # In quantization steps for an integer output; None for a float one.
    largest_difference_steps: int | None

    def as_dict(self) -> dict:
        return {
            "runtime": self.runtime,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "host_accuracy": self.host_accuracy,
            "host_runtime": "LiteRT on the host",
            "agreement_with_host": self.agreement,
            "largest_difference": self.largest_difference,
            "largest_difference_steps": self.largest_difference_steps,
        }


def compare_outputs(
    device: np.ndarray, host: np.ndarray, labels: np.ndarray, output: TensorInfo, runtime: str
) -> DeviceAccuracy:
    """Top-1 accuracy of both, their top-1 agreement, and the largest difference between the two outputs."""
    device, host = device.reshape(len(labels), -1), host.reshape(len(labels), -1)
    if device.shape != host.shape:
        raise ValueError(f"the device returned outputs shaped {device.shape}, the host {host.shape}")
    steps = np.abs(device.astype(np.float64) - host.astype(np.float64))
    integer = not np.issubdtype(np.dtype(output.dtype), np.floating)
    scale = output.scale[0] if integer and output.scale else 1.0
    largest_steps = float(steps.max()) if steps.size else 0.0
    device_top, host_top = device.argmax(axis=1), host.argmax(axis=1)
    return DeviceAccuracy(
        runtime=runtime,
        samples=len(labels),
        accuracy=float(np.mean(device_top == labels)),
        host_accuracy=float(np.mean(host_top == labels)),
        agreement=float(np.mean(device_top == host_top)),
        largest_difference=largest_steps * scale,
        largest_difference_steps=int(largest_steps) if integer else None,
    )
