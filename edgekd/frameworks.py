"""The one place that decides which Keras each kind of model uses.

- Users' models (teachers, or students they bring) are **Keras 3** files: TensorFlow 2.16+
  saves ``.keras`` files that ``tf_keras`` cannot read.
- Students edgekd builds are **tf_keras** (Keras 2) models, because TFMOT 0.8.1 (QAT,
  pruning, clustering) accepts only those.

Both run on the same TensorFlow, side by side in one process; edgekd never touches
``tf.keras`` or ``TF_USE_LEGACY_KERAS`` so the choice here is the only one. TensorFlow and
both Keras packages are imported lazily so that ``edgekd --help`` and ``edgekd inspect``
stay fast.
"""

from __future__ import annotations

import enum
import functools
import os
from types import ModuleType

from edgekd.native_output import captured_native_output


class Framework(str, enum.Enum):
    """Which Keras implementation a model belongs to."""

    KERAS3 = "keras3"
    TF_KERAS = "tf_keras"


@functools.cache
def tensorflow() -> ModuleType:
    """Import TensorFlow once, keeping its start-up chatter (CUDA probing, oneDNN) off the terminal.

    Cached, so calling it from inside traced loss functions costs nothing (and AutoGraph
    does not try to convert it).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with captured_native_output():
        import tensorflow as tf

        # Device discovery prints CUDA probing errors on machines without a GPU; do it here, quietly.
        tf.config.list_physical_devices()
        # TensorFlow's Python warnings (tf.function retracing when each new model predicts) are
        # about TensorFlow's internals, not the user's run; edgekd reports what matters itself.
        tf.get_logger().setLevel("ERROR")
        _split_cpu(tf)
    return tf


def _split_cpu(tf) -> None:
    """``EDGEKD_CPU_DEVICES=N``: N logical CPU devices, so a mirrored strategy can replicate without GPUs."""
    wanted = os.environ.get("EDGEKD_CPU_DEVICES", "").strip()
    if not wanted:
        return
    from edgekd.errors import ConfigError

    if not wanted.isdigit() or int(wanted) < 1:
        raise ConfigError(f"EDGEKD_CPU_DEVICES must be a positive whole number, got {wanted!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(wanted))


def keras_module(framework: Framework) -> ModuleType:
    """The Keras package for ``framework``."""
    tensorflow()
    if framework is Framework.KERAS3:
        import keras

        return keras
    import tf_keras

    return tf_keras


def user_keras() -> ModuleType:
    """Keras 3: for teachers and user-supplied models."""
    return keras_module(Framework.KERAS3)


def student_keras() -> ModuleType:
    """tf_keras: for the students edgekd builds, so they can go through TFMOT later."""
    return keras_module(Framework.TF_KERAS)


def framework_of(model) -> Framework:
    """Tell which Keras a live model object comes from (subclasses count as their Keras base)."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith("tf_keras"):
            return Framework.TF_KERAS
        if cls.__module__.startswith("keras"):
            return Framework.KERAS3
    return Framework.KERAS3


def tflite_converter(model, static_batch: bool = True):
    """A ``TFLiteConverter`` for ``model`` from whichever Keras built it, not yet configured or run.

    ``static_batch`` fixes a tf_keras model's batch axis at 1 (what microcontrollers and the
    Edge TPU compiler need); Keras 3 models convert from their own signature.
    """
    tf = tensorflow()
    if static_batch and framework_of(model) is Framework.TF_KERAS:
        spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)

        def serve(inputs):
            return model(inputs, training=False)

        function = tf.function(serve, autograph=False).get_concrete_function(spec)
        return tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    return tf.lite.TFLiteConverter.from_keras_model(model)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, numpy, TensorFlow and both Keras packages, so model initialisation repeats.

    ``deterministic`` also makes every TensorFlow op deterministic for the rest of the process
    (``tf.config.experimental.enable_op_determinism``): training then repeats bit for bit on
    one machine and library set, at some cost in speed.
    """
    for framework in Framework:
        keras_module(framework).utils.set_random_seed(seed)
    if deterministic:
        tensorflow().config.experimental.enable_op_determinism()
