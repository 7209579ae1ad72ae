"""Edge TPU readiness from the rules Coral documents, and the edgetpu_compiler's own log.

Rules (coral.ai, "TensorFlow models on the Edge TPU"): the model must be fully 8-bit
quantized with static shapes, tensors may have at most 3 innermost dimensions larger than 1,
and only listed ops map, some with limits. The compiler partitions the graph once: the first
op it cannot map, and every op after it, run on the CPU.

The op table below is Coral's early published table (coral.ai/docs/edgetpu/models-intro,
"Supported operations", in the first version this project could verify), plus TRANSPOSE_CONV,
which the current table lists (google-coral/edgetpu#684), plus the ops and limits of the later
table as Axis publishes it for the ARTPEC-7, whose deep-learning unit is an Edge TPU fed by
edgetpu_compiler (developer.axis.com, ARTPEC-7 "Supported ops"): EXPAND_DIMS, PACK, PRELU, REDUCE_MAX,
REDUCE_MIN and the unidirectional LSTM, each marked with that source. Coral's own current
table could not be read here; an op outside all of these is reported as "not in the table
known to edgekd" with a pointer to the real compiler, not as a certainty.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from edgekd.errors import ModelError
from edgekd.modelfile.checks import BOUNDARY_OPS
from edgekd.modelfile.inspect import ModelReport, OperatorInfo

TABLE_SOURCE = (
    "Coral's early published Edge TPU op table (coral.ai/docs/edgetpu/models-intro) + TRANSPOSE_CONV "
    "(google-coral/edgetpu#684) + the later table's ops as Axis publishes it for the ARTPEC-7's Edge TPU"
)
LATER_TABLE = "later table, as Axis publishes it for the ARTPEC-7's Edge TPU"
EIGHT_BIT = {"int8", "uint8"}
# int32 holds biases and shape constants in fully quantized models.
ALLOWED_TYPES = EIGHT_BIT | {"int32"}

Limit = Callable[[OperatorInfo, ModelReport], str | None]


def _output_1d(op: OperatorInfo, report: ModelReport) -> str | None:
    shape = report.tensors[op.outputs[0]].shape
    non_batch = [d for d in shape[1:] if d != 1]
    return None if len(non_batch) <= 1 else f"output shape {list(shape)} is not one-dimensional"


def _softmax_limit(op: OperatorInfo, report: ModelReport) -> str | None:
    shape = report.tensors[op.inputs[0]].shape
    elements = 1
    for d in shape[1:]:
        elements *= d
    if len([d for d in shape[1:] if d != 1]) > 1:
        return f"input shape {list(shape)} is not one-dimensional"
    return None if elements <= 16_000 else f"{elements} elements exceed the 16,000 limit"


def _squeeze_limit(op: OperatorInfo, report: ModelReport) -> str | None:
    shape = list(report.tensors[op.inputs[0]].shape)
    out = [d for d in report.tensors[op.outputs[0]].shape]
    # Only leading 1s may be removed (no relayout).
    while shape and shape[0] == 1 and len(shape) > len(out):
        shape.pop(0)
    return None if shape == out else f"squeezes a non-leading dimension of {list(report.tensors[op.inputs[0]].shape)}"


@dataclass(frozen=True)
class OpRule:
    limitation: str | None = None
    check: Limit | None = None
    # Where the rule comes from when it is not Coral's early table.
    source: str | None = None


EDGETPU_OPS: dict[str, OpRule] = {
    **{
        name: OpRule()
        for name in (
            "LOGISTIC",
            "RELU",
            "RELU6",
            "RELU_N1_TO_1",
            "TANH",
            "ADD",
            "MAXIMUM",
            "MINIMUM",
            "MUL",
            "SUB",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "L2_NORMALIZATION",
            "RESHAPE",
            "SLICE",
            "SPACE_TO_DEPTH",
            "SPLIT",
            "TRANSPOSE_CONV",
        )
    },
    "AVERAGE_POOL_2D": OpRule("no fused activation function (not checked by edgekd)"),
    "MAX_POOL_2D": OpRule("no fused activation function (not checked by edgekd)"),
    "CONCATENATION": OpRule(
        "no fused activation; a constant input only as an all-zero second input (not checked by edgekd)"
    ),
    "FULLY_CONNECTED": OpRule("default weight format; one-dimensional output", _output_1d),
    "MEAN": OpRule(
        "reduction along x and/or y only in the early table; the later one allows z when it is a multiple of 4, "
        "never the batch (not checked by edgekd)"
    ),
    "PAD": OpRule("padding along x and/or y only in the early table; never the batch (not checked by edgekd)"),
    "RESIZE_BILINEAR": OpRule("3-D input/output; may stay on the CPU for precision"),
    "RESIZE_NEAREST_NEIGHBOR": OpRule("3-D input/output; may stay on the CPU for precision"),
    "SOFTMAX": OpRule("1-D input of at most 16,000 elements", _softmax_limit),
    "SQUEEZE": OpRule("only leading 1s", _squeeze_limit),
    "STRIDED_SLICE": OpRule("all strides 1, no ellipsis or new-axis mask (not checked by edgekd)"),
    "EXPAND_DIMS": OpRule(source=LATER_TABLE),
    "PACK": OpRule("no packing in the batch dimension (not checked by edgekd)", source=LATER_TABLE),
    "PRELU": OpRule("alpha one-dimensional (not checked by edgekd)", source=LATER_TABLE),
    "REDUCE_MAX": OpRule("not along the batch dimension (not checked by edgekd)", source=LATER_TABLE),
    "REDUCE_MIN": OpRule("not along the batch dimension (not checked by edgekd)", source=LATER_TABLE),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpRule("unidirectional LSTM only", source=LATER_TABLE),
}


@dataclass
class OpVerdict:
    index: int
    op: str
    on_edgetpu: bool
    reason: str


@dataclass
class EdgeTpuVerdict:
    model_problems: list[str]
    ops: list[OpVerdict]
    notes: list[str] = field(default_factory=list)

    @property
    def first_cpu_op(self) -> OpVerdict | None:
        return next((v for v in self.ops if not v.on_edgetpu and v.op not in BOUNDARY_OPS), None)

    @property
    def mapped(self) -> int:
        return sum(v.on_edgetpu for v in self.ops)

    def summary(self) -> str:
        if self.model_problems:
            return f"not Edge TPU ready: {self.model_problems[0]}"
        first = self.first_cpu_op
        compute = [v for v in self.ops if v.op not in BOUNDARY_OPS]
        if first is None:
            return f"all {len(compute)} compute ops would map to the Edge TPU (one subgraph)"
        return (
            f"{self.mapped} of {len(compute)} compute ops would map; the graph splits at op #{first.index} {first.op} "
            f"({first.reason}): it and everything after it run on the CPU"
        )

    def as_dict(self) -> dict:
        return {
            "summary": self.summary(),
            "model_problems": self.model_problems,
            "ops": [vars(v) for v in self.ops],
            "op_table": TABLE_SOURCE,
            "notes": self.notes,
        }


def edgetpu_verdict(report: ModelReport) -> EdgeTpuVerdict:
    """Which ops would map to the Edge TPU, where the graph would split, and why."""
    problems = []
    compute_ops = [op for op in report.operators if op.op not in BOUNDARY_OPS]
    touched = {i for op in compute_ops for i in (*op.inputs, *op.outputs) if 0 <= i < len(report.tensors)}
    float_types = sorted({report.tensors[i].dtype for i in touched} - ALLOWED_TYPES)
    if float_types:
        problems.append(
            f"not fully 8-bit quantized (compute tensors of type {', '.join(float_types)}); convert with `mode` int8"
        )
    dynamic = sorted({report.tensors[i].name for i in touched if -1 in report.tensors[i].shape_signature[1:]})
    if dynamic:
        problems.append(f"dynamic shapes in {', '.join(dynamic[:3])}; the Edge TPU needs static tensor sizes")
    notes = []
    if any(t.shape_signature[:1] == (-1,) for t in report.inputs):
        notes.append(
            "the batch dimension is dynamic (-1) in the signature and 1 in the stored shape; "
            "if edgetpu_compiler refuses it, convert with a fixed batch of 1"
        )
    verdicts: list[OpVerdict] = []
    split = False
    for index, op in enumerate(report.operators):
        if op.op in BOUNDARY_OPS:
            verdicts.append(OpVerdict(index, op.op, False, "quantize/dequantize at the graph edge runs on the CPU"))
            continue
        reason = _why_not(op, report)
        if split:
            verdicts.append(OpVerdict(index, op.op, False, "after the split: the compiler partitions once"))
        elif reason:
            split = True
            verdicts.append(OpVerdict(index, op.op, False, reason))
        else:
            rule = EDGETPU_OPS[op.op]
            limit = f" (limit: {rule.limitation})" if rule.limitation else ""
            source = f" [{rule.source}]" if rule.source else ""
            verdicts.append(OpVerdict(index, op.op, True, f"maps{limit}{source}"))
    if problems:
        for verdict in verdicts:
            verdict.on_edgetpu = False
    return EdgeTpuVerdict(problems, verdicts, notes)


def _why_not(op: OperatorInfo, report: ModelReport) -> str | None:
    rule = EDGETPU_OPS.get(op.op)
    if rule is None:
        return (
            "not in the op table known to edgekd; newer edgetpu_compiler versions may map it "
            "(confirm with `edgekd quantize --edgetpu`)"
        )
    for i in (*op.inputs, *op.outputs):
        # The rule is about activations: conv filters are [out, kh, kw, in] by design.
        if 0 <= i < len(report.tensors) and not report.tensors[i].is_constant:
            shape = report.tensors[i].shape
            if len(shape) > 3 and any(d != 1 for d in shape[:-3]):
                return f"tensor {list(shape)} has more than 3 innermost dimensions larger than 1"
    return rule.check(op, report) if rule.check else None


@dataclass(frozen=True)
class CompilerLog:
    version: str
    subgraphs: int
    total_ops: int
    edgetpu_ops: int
    cpu_ops: int
    on_chip_memory: str | None
    off_chip_memory: str | None
    op_status: list[tuple[str, int, str]]


def parse_compiler_log(text: str) -> CompilerLog:
    """Parse edgetpu_compiler's summary and its 'Operator Count Status' table."""

    def field_value(pattern: str) -> str | None:
        match = re.search(pattern, text)
        return match.group(1).strip() if match else None

    version = field_value(r"Edge TPU Compiler version (\S+)")
    if version is None:
        raise ModelError("this is not an edgetpu_compiler log (no 'Edge TPU Compiler version' line)")
    numbers = {
        key: field_value(pattern)
        for key, pattern in {
            "subgraphs": r"Number of Edge TPU subgraphs: (\d+)",
            "total": r"Total number of operations: (\d+)",
            "edgetpu": r"Number of operations that will run on Edge TPU: (\d+)",
            "cpu": r"Number of operations that will run on CPU: (\d+)",
        }.items()
    }
    table = []
    in_table = False
    for line in text.splitlines():
        if re.match(r"\s*Operator\s+Count\s+Status", line):
            in_table = True
            continue
        if in_table:
            match = re.match(r"\s*([A-Z_0-9]+)\s+(\d+)\s+(.+?)\s*$", line)
            if match:
                table.append((match.group(1), int(match.group(2)), match.group(3)))
            elif line.strip():
                break
    total = int(numbers["total"] or 0)
    edgetpu = int(numbers["edgetpu"] or (total if numbers["cpu"] is None else 0))
    return CompilerLog(
        version=version,
        subgraphs=int(numbers["subgraphs"] or 0),
        total_ops=total,
        edgetpu_ops=edgetpu,
        cpu_ops=int(numbers["cpu"] or max(0, total - edgetpu)),
        on_chip_memory=field_value(r"On-chip memory used for caching model parameters: (\S+)"),
        off_chip_memory=field_value(r"Off-chip memory used for streaming uncached model parameters: (\S+)"),
        op_status=table,
    )
