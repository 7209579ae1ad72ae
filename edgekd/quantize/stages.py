"""Quantization stages beyond a plain conversion: QAT (+KD), per-layer error, Edge TPU compilation.

Called by ``edgekd quantize``; each returns what the results document records.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.data.dataset import Dataset
from edgekd.data.representative import representative_samples
from edgekd.distill.losses import make_loss
from edgekd.distill.trainer import TrainingHistory
from edgekd.models.io import load_model
from edgekd.progress import Reporter
from edgekd.quantize.debug import layer_errors
from edgekd.quantize.edgetpu import edgetpu_verdict
from edgekd.quantize.edgetpu_compiler import HOW_TO_GET, compile_for_edgetpu, compiler_available
from edgekd.quantize.inspect import inspect_tflite
from edgekd.quantize.modes import QuantizeOptions
from edgekd.quantize.qat import quantization_aware_training


def layer_error_stage(
    model, mode: str, dataset: Dataset, count: int, seed: int, options: QuantizeOptions, reporter: Reporter
) -> list[dict]:
    """Per-layer quantization error on ``count`` training samples, worst layer first."""
    with reporter.stage("measuring per-layer quantization error", "debug"):
        errors = layer_errors(model, mode, representative_samples(dataset.x_train, count, seed), options)
    return [e.as_dict() for e in errors]


def qat_stage(
    model,
    teacher_path: Path | None,
    dataset: Dataset,
    epochs: int,
    temperature: float,
    alpha: float,
    seed: int,
    trust_model: bool,
    reporter: Reporter,
) -> tuple[object, TrainingHistory, dict]:
    """Quantization-aware training, distilling from ``teacher_path`` when given; returns (model, history, record)."""
    teacher = load_model(teacher_path, trust=trust_model) if teacher_path else None
    loss = make_loss("kd", dataset.num_classes, temperature=temperature, alpha=alpha) if teacher is not None else None
    quantized, history = quantization_aware_training(model, dataset, epochs, seed, teacher, loss, reporter=reporter)
    description = {
        "epochs": epochs,
        "teacher": str(teacher_path) if teacher_path else None,
        "distillation": loss.describe() if loss else None,
    }
    return quantized, history, description


def edgetpu_stage(tflite_path: Path, reporter: Reporter) -> dict:
    """Edge TPU verdict from the rules, and the real compiler's result when it is installed."""
    result = {"verdict": edgetpu_verdict(inspect_tflite(tflite_path.read_bytes())).as_dict()}
    if not compiler_available():
        reporter.say(f"edgekd: note: {HOW_TO_GET}")
        result["compiler"] = None
        result["compiler_note"] = HOW_TO_GET
        return result
    with reporter.stage("compiling for the Edge TPU with edgetpu_compiler", "edgetpu"):
        compiled_path, log = compile_for_edgetpu(tflite_path, tflite_path.parent)
    result["compiler"] = {**vars(log), "path": str(compiled_path)}
    return result
