"""Quantization-aware training with TFMOT, optionally still distilling from the teacher.

QAT inserts fake-quantization into a tf_keras model and fine-tunes it, so the weights adapt
to int8 rounding before conversion. With a teacher, the quantized student keeps learning
from the teacher's soft targets (cached once, through the same training run as
distillation) instead of the labels alone. TFMOT 0.8.1 accepts only tf_keras models and is imported lazily, with its
process-wide ``TF_USE_LEGACY_KERAS`` side effect undone.
"""

from __future__ import annotations

import os
from types import ModuleType

from edgekd.data.dataset import Dataset
from edgekd.distill.distiller import DistillationSettings, TrainingRun, as_objective, check_model_fits_data
from edgekd.distill.losses import DistillationLoss
from edgekd.distill.recipes import CONTROL, Recipe
from edgekd.distill.trainer import TrainingBudget, TrainingHistory
from edgekd.errors import ConversionError
from edgekd.frameworks import Framework, framework_of
from edgekd.native_output import captured_native_output
from edgekd.progress import SILENT, Reporter


def tfmot() -> ModuleType:
    """Import TFMOT without letting it switch ``tf.keras`` for the rest of the process."""
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        with captured_native_output():
            import tensorflow_model_optimization
    finally:
        if before is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = before
    return tensorflow_model_optimization


def quantize_annotated(model):
    """The model with TFMOT's fake-quantization inserted; refuses what TFMOT cannot quantize, naming why."""
    if framework_of(model) is not Framework.TF_KERAS:
        raise ConversionError(
            "quantization-aware training needs a tf_keras model: TFMOT 0.8.1 rejects Keras 3 models. Students edgekd "
            "builds are tf_keras (distil one with `edgekd distill` and quantize its student_kd.keras), or rebuild "
            "your model with tf_keras"
        )
    try:
        return tfmot().quantization.keras.quantize_model(model)
    except (RuntimeError, ValueError) as exc:
        raise ConversionError(
            f"TFMOT cannot quantize this model: {' '.join(str(exc).split())[:250]}; use post-training `mode` int8 instead"
        ) from None


def quantization_aware_training(
    model,
    dataset: Dataset,
    epochs: int,
    seed: int,
    teacher=None,
    loss: DistillationLoss | None = None,
    batch_size: int = 128,
    learning_rate: float = 1e-4,
    reporter: Reporter = SILENT,
    steps: int | None = None,
) -> tuple[object, TrainingHistory]:
    """Fine-tune a fake-quantized copy of ``model``; with ``teacher`` and ``loss``, by distillation.

    The same training run as distillation (``TrainingRun.train``): with a teacher, the
    quantized student learns from its cached outputs on the labelled and transfer sets;
    without, from the labels. ``steps`` overrides ``epochs`` so that runs with and without
    a transfer set can get the same number of optimizer steps.
    """
    check_model_fits_data(model, dataset, "model")
    quantized = quantize_annotated(model)
    settings = DistillationSettings(epochs, batch_size, learning_rate, seed, train_control=False)
    if teacher is not None:
        check_model_fits_data(teacher, dataset.for_teacher(), "teacher")
        recipe = Recipe(loss.name, as_objective(loss))
        description = f"quantization-aware training with {loss.name} from the teacher"
    else:
        recipe, description = Recipe(CONTROL, None), "quantization-aware training"
    run = TrainingRun.prepare([teacher] if teacher is not None else [], dataset, (1.0,), settings)
    budget = TrainingBudget(steps, batch_size, learning_rate) if steps else run.budget(labelled_only=teacher is None)
    history, _, _ = run.train(quantized, recipe, budget, "qat", description, reporter)
    return quantized, history
