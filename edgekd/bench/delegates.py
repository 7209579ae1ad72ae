"""What a delegate will make of a model, known before it runs: ops it leaves to the CPU, types it computes in.

Only documented behaviour is checked. The GPU delegate's op list and its float16/float32
arithmetic come from TFLite's "GPU delegates for TensorFlow Lite" page; the runtime's own
log ("op code #N cannot be handled by this delegate") stays the final word, since newer
delegates take more ops.
"""

from __future__ import annotations

from edgekd.modelfile.checks import detected_mode
from edgekd.modelfile.inspect import ModelReport
from edgekd.profiles.schema import Delegate

# TFLite GPU delegate, ops supported at 16- and 32-bit float (tensorflow.org/lite/performance/gpu).
GPU_OPS = frozenset(
    {
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXP",
        "FULLY_CONNECTED",
        "LOGICAL_AND",
        "LOGISTIC",
        "LSTM",
        "MAX_POOL_2D",
        "MAXIMUM",
        "MINIMUM",
        "MUL",
        "PAD",
        "PRELU",
        "RELU",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "SOFTMAX",
        "STRIDED_SLICE",
        "SUB",
        "TRANSPOSE_CONV",
    }
)
# Conversions at the graph's edge: the delegate's quantized-model support handles them.
EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def delegate_warnings(report: ModelReport, delegate: Delegate) -> list[str]:
    if delegate is not Delegate.GPU:
        return []
    warnings = []
    outside = sorted({op.op for op in report.operators} - GPU_OPS - EDGE_OPS)
    if outside:
        warnings.append(
            f"the GPU delegate's documented op list lacks {', '.join(outside)}: those ops run on the CPU, and the "
            "CPU/GPU hand-offs often make a split graph slower than the CPU alone"
        )
    mode = detected_mode(report)
    if mode in ("int8", "int16x8", "dynamic"):
        warnings.append(
            f"the GPU delegate computes in float16/float32, so this {mode} model is dequantized there: expect its "
            "latency near the float model's, not int8 speed-ups (float16 is the GPU's natural format)"
        )
    return warnings
