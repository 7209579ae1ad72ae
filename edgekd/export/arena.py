"""The tensor arena a TFLite Micro interpreter needs: measured by TFLM itself, or estimated when it cannot be.

:func:`tensor_arena` asks TFLM's recording allocator (:mod:`edgekd.bench.tflm`); only when
TFLM is not installed or cannot load the model does it fall back to :func:`estimate_arena`,
labelled as an estimate with the reason. The estimate undercounts: for the int8 conv
student the tests convert it gives 320 bytes where TFLM records 2,352, because it leaves out
everything that lives as long as the model.

Estimate method: walk the operators in the file's order; an activation (a tensor without data in the
file) is alive from the op that produces it (or from the start, for graph inputs) to the
last op that reads it (or to the end, for graph outputs). The estimate is the largest total
size alive at any op. TFLM's memory planner packs buffers into about this much; its own
bookkeeping, alignment padding and per-op scratch buffers come on top and are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from edgekd.bench.tflm import TflmArena, TflmError, TflmNotInstalled, run_tflm
from edgekd.modelfile.inspect import ModelReport

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
    "estimated: the largest total of activation tensors alive at once, op by op in the file's order "
    "(TFLM bookkeeping, alignment and per-op scratch buffers not counted)"
)


@dataclass(frozen=True)
class ArenaEstimate:
    bytes: int
    peak_op: int | None
    method: str = METHOD
    # Why TFLM did not measure it (not installed, cannot load the model); None when nobody asked TFLM.
    not_measured_because: str | None = None

    measured = False

    def as_dict(self) -> dict:
        document = {"bytes": self.bytes, "source": "estimated", "peak_op": self.peak_op, "method": self.method}
        if self.not_measured_because:
            document["not_measured_because"] = self.not_measured_because
        return document


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


def tensor_arena(data: bytes, report: ModelReport, source: str) -> tuple[TflmArena | ArenaEstimate, TflmError | None]:
    """TFLM's measured arena for the model in ``data``; when TFLM cannot give it, the estimate and TFLM's reason.

    The reason comes back as the error itself, so that a caller that must refuse (a fit verdict
    before flashing) can raise it, and one that reports (``inspect``) can show it. A host
    without ``tflite-micro`` is no fault of the model: the estimate comes back, labelled, and no error.
    """
    try:
        return run_tflm(data, source).arena, None
    except TflmNotInstalled as exc:
        return replace(estimate_arena(report), not_measured_because=str(exc)), None
    except TflmError as exc:
        return replace(estimate_arena(report), not_measured_because=str(exc)), exc
