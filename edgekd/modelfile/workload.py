"""What a .tflite asks of a device, per operator class: the inputs of the device latency model.

A device's time is not one line through MACs: a depthwise MAC costs several times a
convolution MAC on a CPU (it reuses nothing), pooling and elementwise ops move data and
count no MACs, every op costs the interpreter a dispatch, and an accelerator pays for the
bytes that cross its link. So a model is summarised as work per class:

- ``conv``: CONV_2D multiply-accumulates;
- ``depthwise``: DEPTHWISE_CONV_2D multiply-accumulates;
- ``fully_connected``: FULLY_CONNECTED and BATCH_MATMUL multiply-accumulates;
- ``pooling``: elements read by average/max pooling and reductions (MEAN, REDUCE_*, SUM);
- ``elementwise``: elements written by every other op that computes or copies (ADD, MUL,
  activations, CONCATENATION, PAD, SOFTMAX, QUANTIZE ...); ops that only relabel a shape
  (RESHAPE, SQUEEZE, EXPAND_DIMS) write nothing;

plus the op count, the constant bytes (weights) and the bytes of the model's inputs and
outputs. With an Edge TPU verdict, the work splits into what the Edge TPU takes and what
falls back to the CPU. Pure arithmetic on the inspection report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgekd.modelfile.inspect import ModelReport, OperatorInfo

CLASSES = ("conv", "depthwise", "fully_connected", "pooling", "elementwise")
MAC_CLASSES = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "fully_connected"}
MAC_CLASSES["BATCH_MATMUL"] = "fully_connected"
POOLING_OPS = frozenset(
    {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}
)
# Ops that change a tensor's shape but not its bytes: the interpreter aliases or copies nothing worth counting.
SHAPE_ONLY_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4, "int64": 8, "bool": 1}


@dataclass(frozen=True)
class Workload:
    """Work per operator class, and the bytes that matter to an accelerator."""

    work: dict[str, int]
    ops: int
    weight_bytes: int = 0
    io_bytes: int = 0

    @property
    def macs(self) -> int:
        return self.work.get("conv", 0) + self.work.get("depthwise", 0) + self.work.get("fully_connected", 0)

    def as_dict(self) -> dict:
        return {"work": dict(self.work), "ops": self.ops, "weight_bytes": self.weight_bytes, "io_bytes": self.io_bytes}

    @staticmethod
    def from_dict(document: dict) -> Workload:
        work = {name: int(document.get("work", {}).get(name, 0)) for name in CLASSES}
        return Workload(
            work, int(document.get("ops", 0)), int(document.get("weight_bytes", 0)), int(document.get("io_bytes", 0))
        )


@dataclass(frozen=True)
class SplitWorkload:
    """A model's workload in all, and split between an Edge TPU and the CPU it falls back to."""

    total: Workload
    edgetpu: Workload | None = None
    cpu_fallback: Workload | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        document = {"total": self.total.as_dict()}
        if self.edgetpu is not None:
            document["edgetpu"] = self.edgetpu.as_dict()
            document["cpu_fallback"] = self.cpu_fallback.as_dict()
        return document


def _elements(report: ModelReport, index: int) -> int:
    shape = report.tensors[index].shape if 0 <= index < len(report.tensors) else ()
    return math.prod(shape[1:]) if len(shape) > 1 else (math.prod(shape) if shape else 1)


def _tensor_bytes(tensor) -> int:
    count = math.prod(tensor.shape) if tensor.shape else 1
    return count * DTYPE_BYTES.get(tensor.dtype, 4)


def _bytes(report: ModelReport, index: int) -> int:
    return _tensor_bytes(report.tensors[index])


def op_work(op: OperatorInfo, report: ModelReport) -> tuple[str | None, int]:
    """The class of one operator and its work in that class (MACs or elements); (None, 0) when it does none."""
    if op.op in MAC_CLASSES:
        return MAC_CLASSES[op.op], op.macs
    if op.op in SHAPE_ONLY_OPS or not op.outputs:
        return None, 0
    if op.op in POOLING_OPS:
        return "pooling", _elements(report, op.inputs[0]) if op.inputs else 0
    return "elementwise", sum(_elements(report, index) for index in op.outputs)


def _sum(ops: list[OperatorInfo], report: ModelReport, weight_bytes: int, io_bytes: int) -> Workload:
    work = dict.fromkeys(CLASSES, 0)
    for op in ops:
        name, amount = op_work(op, report)
        if name is not None:
            work[name] += amount
    return Workload(work, len(ops), weight_bytes, io_bytes)


def _io_bytes(report: ModelReport) -> int:
    return sum(_tensor_bytes(tensor) for tensor in (*report.inputs, *report.outputs))


def workload(report: ModelReport, verdict=None) -> SplitWorkload:
    """The workload of a whole model and, given an ``EdgeTpuVerdict``, of the part each side runs.

    The Edge TPU side carries the weights of its ops (what must sit in, or stream into, its
    memory) and the bytes of the model's inputs and outputs (what crosses the link).
    """
    total = _sum(report.operators, report, report.weight_bytes, _io_bytes(report))
    if verdict is None:
        return SplitWorkload(total)
    on_tpu = {v.index for v in verdict.ops if v.on_edgetpu}
    tpu_ops = [op for i, op in enumerate(report.operators) if i in on_tpu]
    cpu_ops = [op for i, op in enumerate(report.operators) if i not in on_tpu]
    constants = {
        index
        for op in tpu_ops
        for index in op.inputs
        if 0 <= index < len(report.tensors) and report.tensors[index].is_constant
    }
    # The file stores a shared constant once (report.weight_bytes); so does the Edge TPU.
    tpu_weights = min(report.weight_bytes, sum(_bytes(report, index) for index in constants))
    notes = []
    if any(name for op in cpu_ops if (name := op_work(op, report)[0])):
        notes.append(f"{sum(1 for op in cpu_ops if op_work(op, report)[0])} computing op(s) fall back to the CPU")
    tpu = _sum(tpu_ops, report, tpu_weights, total.io_bytes if tpu_ops else 0)
    cpu = _sum(cpu_ops, report, report.weight_bytes - tpu_weights, 0)
    return SplitWorkload(total, tpu, cpu, notes)


def split_from_dict(document: dict) -> SplitWorkload:
    """The inverse of ``SplitWorkload.as_dict`` (a results document carries it as a model record's ``workload``)."""
    total = Workload.from_dict(document["total"])
    if "edgetpu" not in document:
        return SplitWorkload(total)
    return SplitWorkload(total, Workload.from_dict(document["edgetpu"]), Workload.from_dict(document["cpu_fallback"]))
