"""Checks on a converted .tflite: what it really is, ops left in float, accuracy lost.

The converter can leave ops in float without saying so (or the user can convert in a mode
that keeps them); integer-only hardware then runs them on the CPU or not at all.
"""

from __future__ import annotations

from edgekd.modelfile.inspect import ModelReport

INTEGER_ACTIVATIONS = {"int8", "uint8", "int16"}
# Conversions at the graph's edge (float in, integer inside, float out): not compute.
BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


def _compute_tensors(report: ModelReport) -> list:
    indices = {
        i
        for op in report.operators
        if op.op not in BOUNDARY_OPS
        for i in (*op.inputs, *op.outputs)
        if 0 <= i < len(report.tensors)
    }
    return [report.tensors[i] for i in sorted(indices)]


def detected_mode(report: ModelReport) -> str:
    """What the file is, read from the tensors its compute ops touch: float32, float16, dynamic, int8 or int16x8."""
    activations = [t for t in _compute_tensors(report) if not t.is_constant]
    weights = [t for t in report.tensors if t.is_constant]
    activation_types = {t.dtype for t in activations}
    if activation_types and activation_types <= INTEGER_ACTIVATIONS | {"int32"}:
        return "int16x8" if "int16" in activation_types else "int8"
    weight_types = {t.dtype for t in weights}
    if "float16" in weight_types:
        return "float16"
    if "int8" in weight_types:
        return "dynamic"
    return "float32"


def float_ops(report: ModelReport) -> list[str]:
    """Ops that read or write a float activation (constants do not count), named with their position
    and the tensor they produce, whose name carries the Keras layer's path."""
    found = []
    for index, op in enumerate(report.operators):
        if op.op in BOUNDARY_OPS:
            continue
        touched = [report.tensors[i] for i in (*op.inputs, *op.outputs) if 0 <= i < len(report.tensors)]
        if any(t.dtype.startswith("float") and not t.is_constant for t in touched):
            produced = [report.tensors[i].name for i in op.outputs if 0 <= i < len(report.tensors)]
            origin = f", output {produced[0].split(';')[0]!r}" if produced and produced[0] else ""
            found.append(f"{op.op} (op #{index}{origin})")
    return found


def accuracy_drop_points(reference_accuracy: float, converted_accuracy: float) -> float:
    """Points lost by conversion (positive means worse)."""
    return 100.0 * (reference_accuracy - converted_accuracy)
