"""An estimate of the tensor arena a TFLite Micro interpreter needs: the largest set of activations alive at once.

Method: walk the operators in the file's order; an activation (a tensor without data in the
file) is alive from the op that produces it (or from the start, for graph inputs) to the
last op that reads it (or to the end, for graph outputs). The estimate is the largest total
size alive at any op. TFLM's memory planner packs buffers into about this much; its own
bookkeeping, alignment padding and per-op scratch buffers come on top and are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgekd.quantize.inspect import ModelReport

DTYPE_BYTES = {
    "float32": 4,
    "float16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "int16": 2,
    "uint16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
}

METHOD = (
    "largest total of activation tensors alive at once, op by op in the file's order "
    "(TFLM bookkeeping, alignment and per-op scratch buffers not counted)"
)


@dataclass(frozen=True)
class ArenaEstimate:
    bytes: int
    peak_op: int | None
    method: str = METHOD

    def as_dict(self) -> dict:
        return {"bytes": self.bytes, "peak_op": self.peak_op, "method": self.method}


def tensor_bytes(dtype: str, shape: tuple[int, ...]) -> int:
    return DTYPE_BYTES.get(dtype, 4) * math.prod(max(1, d) for d in shape)


def estimate_arena(report: ModelReport) -> ArenaEstimate:
    ops = report.operators
    if not ops:
        return ArenaEstimate(sum(tensor_bytes(t.dtype, t.shape) for t in report.inputs + report.outputs), None)
    first, last = {}, {}
    for index, op in enumerate(ops):
        for tensor in op.outputs:
            first.setdefault(tensor, index)
        for tensor in op.inputs:
            if tensor >= 0:
                last[tensor] = index
    peak, peak_op = 0, 0
    for index in range(len(ops)):
        alive = 0
        for tensor, info in enumerate(report.tensors):
            if info.is_constant or (tensor not in first and tensor not in last):
                continue
            begin = first.get(tensor, 0)  # graph inputs are there from the start
            end = last.get(tensor, len(ops) - 1)  # graph outputs stay to the end
            if begin <= index <= end:
                alive += tensor_bytes(info.dtype, info.shape)
        if alive > peak:
            peak, peak_op = alive, index
    return ArenaEstimate(peak, peak_op)
