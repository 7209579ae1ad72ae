"""The fixed cost of one invoke on a device: a one-op model, benchmarked in the same session as the real ones.

A model of a few thousand MACs runs in a microsecond on a desktop CPU; most of that can be the
interpreter's own work per invoke (walking the graph, the delegate's dispatch, the agent's
clock), not arithmetic. Benchmarking a model that does almost nothing (one ADD of a single
float) on the same device, with the same runner and settings, measures that floor, so a
report can say how much of a small model's latency is overhead. The model is written here
with the schema that ships with ai-edge-litert: no TensorFlow needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.readable import readable_time

# Past this share of a model's p50, the floor rather than the model sets its latency.
OVERHEAD_DOMINATES = 0.5


def one_op_model() -> bytes:
    """A valid .tflite holding one float32 ADD (y = x + x) of a single element: the cheapest real invoke."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    def tensor(name: bytes, buffer: int):
        value = schema.TensorT()
        value.shape, value.type, value.buffer, value.name = [1, 1], schema.TensorType.FLOAT32, buffer, name
        return value

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    add = schema.OperatorT()
    add.opcodeIndex, add.inputs, add.outputs = 0, [0, 0], [1]
    add.builtinOptionsType = schema.BuiltinOptions.AddOptions
    add.builtinOptions = schema.AddOptionsT()
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs = [tensor(b"x", 1), tensor(b"y", 2)], [0], [1]
    graph.operators, graph.name = [add], b"main"
    model = schema.ModelT()
    model.version, model.description = 3, b"edgekd one-op model: the per-invoke floor"
    model.operatorCodes, model.subgraphs = [code], [graph]
    model.buffers = [schema.BufferT() for _ in range(3)]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


@dataclass(frozen=True)
class InvokeOverhead:
    """The one-op model's p50 on a device: what every invoke costs there before any arithmetic."""

    p50_ms: float
    runs: int

    def share_of(self, p50_ms: float | None) -> float | None:
        """The fraction of a model's p50 that the floor accounts for (capped at 1), or None without a p50."""
        if not p50_ms:
            return None
        return min(1.0, self.p50_ms / p50_ms)

    def as_dict(self) -> dict:
        return {
            "p50_ms": self.p50_ms,
            "runs": self.runs,
            "source": "measured: a one-op model (one float ADD) benchmarked in the same session",
        }


def overhead_sentence(model: str, device: str, p50_ms: float, overhead: InvokeOverhead) -> str:
    """``student_int8 on host: p50 1.00 µs, of which 0.62 µs (62%) is the per-invoke floor: overhead dominates``."""
    share = overhead.share_of(p50_ms) or 0.0
    verdict = (
        "overhead dominates: a smaller model would hardly run faster here"
        if share >= OVERHEAD_DOMINATES
        else "the arithmetic dominates"
    )
    return (
        f"{model} on {device}: p50 {readable_time(p50_ms)}, of which {readable_time(overhead.p50_ms)} "
        f"({100 * share:.0f}%) is the per-invoke floor of a one-op model measured in the same session; {verdict}"
    )
