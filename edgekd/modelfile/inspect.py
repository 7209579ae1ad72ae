"""Read a .tflite flatbuffer with the schema bindings that ship with ai-edge-litert.

Reports inputs/outputs (dtype, shape, quantization), operators with counts and MACs,
tensor dtypes, parameter count and size, without running the model.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgekd.errors import ModelError
from edgekd.inputs import read_regular_file

TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    # Weights and other constants carry data in the file; activations do not.
    is_constant: bool = False

    def as_dict(self) -> dict:
        quantization = {"scale": list(self.scale), "zero_point": list(self.zero_point)} if self.scale else None
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "shape_signature": list(self.shape_signature),
            "quantization": quantization,
        }


@dataclass(frozen=True)
class OperatorInfo:
    op: str
    macs: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass
class ModelReport:
    size_bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    operators: list[OperatorInfo]
    tensors: list[TensorInfo]
    tensor_dtypes: dict[str, int]
    params: int
    subgraphs: int
    # Bytes of constant data (weights, biases, other constants); the rest of the file is structure:
    # tensor and op tables, quantization parameters, names, signatures, metadata.
    weight_bytes: int = 0
    description: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.operators)

    @property
    def op_counts(self) -> dict[str, int]:
        return dict(Counter(op.op for op in self.operators).most_common())

    def as_dict(self) -> dict:
        macs_by_op: dict[str, int] = {}
        for op in self.operators:
            macs_by_op[op.op] = macs_by_op.get(op.op, 0) + op.macs
        return {
            "size_bytes": self.size_bytes,
            "inputs": [t.as_dict() for t in self.inputs],
            "outputs": [t.as_dict() for t in self.outputs],
            "ops": [{"op": name, "count": count, "macs": macs_by_op[name]} for name, count in self.op_counts.items()],
            "tensor_dtypes": self.tensor_dtypes,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "macs": self.macs,
            "subgraphs": self.subgraphs,
            "notes": self.notes,
        }


def _enum_names(enum_class) -> dict[int, str]:
    return {
        value: name for name, value in vars(enum_class).items() if not name.startswith("_") and isinstance(value, int)
    }


def check_tflite_bytes(data: bytes, source: str = "model") -> None:
    """Refuse bytes that are not a TFLite flatbuffer, with a hint at what they are instead."""
    if len(data) < 8:
        raise ModelError(
            f"{source} is {len(data)} bytes long, too short for a TFLite model; the file is empty or truncated"
        )
    if data[4:8] != TFLITE_IDENTIFIER:
        head = data[:64].lstrip().lower()
        hint = ""
        if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
            hint = " (it is an HTML page: the download probably failed)"
        elif head.startswith(b"version https://git-lfs"):
            hint = " (it is a Git LFS pointer: run `git lfs pull` to fetch the real file)"
        elif data[:2] == b"PK":
            hint = " (it is a zip archive, perhaps a .keras model: convert it with `edgekd quantize`)"
        raise ModelError(f"{source} is not a TFLite model: the 'TFL3' identifier is missing{hint}")


def read_model_file(path: Path, run_once: bool = False) -> tuple[bytes, ModelReport]:
    """Read a user's .tflite, have the interpreter verify it in a sandboxed child (see
    ``edgekd.modelfile.verify``), then parse it; every failure is one ModelError."""
    from edgekd.modelfile.verify import verify_model

    data = read_regular_file(path, "model", ModelError)
    check_tflite_bytes(data, str(path))
    verification = verify_model(data, str(path), run_once=run_once)
    report = inspect_tflite(data, str(path))
    if verification.note:
        report.notes.append(verification.note)
    return data, report


def inspect_tflite(data: bytes, source: str = "model") -> ModelReport:
    """Parse ``data`` into a ``ModelReport``; raises ``ModelError`` for anything that is not a valid model."""
    check_tflite_bytes(data, source)
    try:
        return _parse(data)
    except ModelError:
        raise
    except Exception as exc:  # the generated bindings raise whatever a corrupt offset leads to
        raise ModelError(f"{source} is a damaged TFLite file ({type(exc).__name__}: {exc}); re-export it") from None


def _parse(data: bytes) -> ModelReport:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError("the TFLite model has no subgraphs")
    type_names = _enum_names(schema.TensorType)
    op_names = _enum_names(schema.BuiltinOperator)
    graph = model.Subgraphs(0)
    tensors = [
        _tensor(graph.Tensors(i), type_names, _has_data(model, graph.Tensors(i))) for i in range(graph.TensorsLength())
    ]
    constant_buffers = {graph.Tensors(i).Buffer() for i in range(graph.TensorsLength()) if tensors[i].is_constant}

    def tensor_at(index: int) -> TensorInfo:
        if not 0 <= index < len(tensors):
            raise ModelError(f"the TFLite model refers to tensor {index}, but has only {len(tensors)}")
        return tensors[index]

    operators = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, f"UNKNOWN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(code.CustomCode() or b'').decode(errors='replace')}"
        inputs = tuple(int(v) for v in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(v) for v in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        operators.append(OperatorInfo(name, _op_macs(name, inputs, outputs, tensor_at), inputs, outputs))

    params = sum(math.prod(t.shape) if t.shape else 1 for t in tensors if t.is_constant)
    dtypes = Counter(t.dtype for t in tensors)
    return ModelReport(
        size_bytes=len(data),
        inputs=[tensor_at(int(i)) for i in graph.InputsAsNumpy()],
        outputs=[tensor_at(int(i)) for i in graph.OutputsAsNumpy()],
        operators=operators,
        tensors=tensors,
        tensor_dtypes=dict(sorted(dtypes.items())),
        params=int(params),
        subgraphs=model.SubgraphsLength(),
        weight_bytes=sum(_buffer_bytes(model, index) for index in constant_buffers),
        description=(model.Description() or b"").decode(errors="replace"),
        notes=["MACs are counted for CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL at batch 1"],
    )


def _has_data(model, tensor) -> bool:
    index = tensor.Buffer()
    if not 0 < index < model.BuffersLength():
        return False
    buffer = model.Buffers(index)
    # Small buffers sit inline (Data); large models keep them after the flatbuffer (Offset/Size).
    return buffer.DataLength() > 0 or buffer.Size() > 0


def _buffer_bytes(model, index: int) -> int:
    buffer = model.Buffers(index)
    return buffer.DataLength() or buffer.Size()


def _tensor(tensor, type_names: dict[int, str], is_constant: bool) -> TensorInfo:
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tuple(int(d) for d in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else shape
    quantization = tensor.Quantization()
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    if quantization is not None and quantization.ScaleLength():
        scale = tuple(float(v) for v in quantization.ScaleAsNumpy())
        zero_point = tuple(int(v) for v in quantization.ZeroPointAsNumpy()) if quantization.ZeroPointLength() else ()
    return TensorInfo(
        name=(tensor.Name() or b"").decode(errors="replace"),
        dtype=type_names.get(tensor.Type(), f"TYPE_{tensor.Type()}").lower(),
        shape=shape,
        shape_signature=signature,
        scale=scale,
        zero_point=zero_point,
        is_constant=is_constant,
    )


def _op_macs(name: str, inputs, outputs, tensor_at) -> int:
    """MACs of one operator at batch 1 (the same convention as ``edgekd.models.complexity``)."""
    if not inputs or not outputs:
        return 0
    out = tensor_at(outputs[0]).shape
    if not out:
        return 0
    per_sample_outputs = math.prod(out[1:]) if len(out) > 1 else math.prod(out)
    if name == "CONV_2D":
        # filter: [out_channels, kh, kw, in_channels]
        _, kh, kw, in_channels = tensor_at(inputs[1]).shape
        return per_sample_outputs * kh * kw * in_channels
    if name == "DEPTHWISE_CONV_2D":
        # filter: [1, kh, kw, out_channels]
        _, kh, kw, _ = tensor_at(inputs[1]).shape
        return per_sample_outputs * kh * kw
    if name == "FULLY_CONNECTED":
        # filter: [units, in_features]
        in_features = tensor_at(inputs[1]).shape[-1]
        return per_sample_outputs * in_features
    if name == "BATCH_MATMUL":
        lhs = tensor_at(inputs[0]).shape
        return per_sample_outputs * (lhs[-1] if lhs else 0)
    return 0
