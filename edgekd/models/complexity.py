"""Multiply-accumulate and parameter counts of Keras models (Keras 3 and tf_keras alike).

MACs count one multiply-accumulate per weight use for one sample (batch 1): dense,
convolution (1-D/2-D, grouped), depthwise and separable convolution. Element-wise ops,
pooling and activations are not counted: they are small next to these on the models edgekd
builds, and the same convention is used for .tflite files in ``edgekd.modelfile.inspect``,
so Keras and TFLite figures agree.
"""

from __future__ import annotations

import math

import numpy as np

_WEIGHTED = {
    "Dense",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
}


def _shape(tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in tuple(tensor.shape)[1:])


def layer_macs(layer) -> int:
    """MACs for one sample through ``layer``; 0 for layers that do not multiply weights."""
    kind = type(layer).__name__
    if kind not in _WEIGHTED:
        # Nested models count through their own layers; everything else is weight-free here.
        return sum(layer_macs(inner) for inner in getattr(layer, "layers", ()))
    out_shape = _shape(layer.output)
    in_shape = _shape(layer.input)
    outputs = math.prod(out_shape)
    if kind == "Dense":
        return outputs * in_shape[-1]
    kernel = math.prod(layer.kernel_size)
    in_channels = in_shape[-1]
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        return outputs * kernel * in_channels // int(getattr(layer, "groups", 1) or 1)
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return outputs * kernel
    # SeparableConv: depthwise over every input channel, then a 1x1 pointwise projection.
    multiplier = int(layer.depth_multiplier)
    spatial = math.prod(out_shape[:-1])
    return spatial * kernel * in_channels * multiplier + outputs * in_channels * multiplier


def model_macs(model) -> int:
    """Total MACs for one sample."""
    return int(sum(layer_macs(layer) for layer in model.layers))


def counted_macs(model) -> int:
    """MACs for one sample: counted from the layers, or from a float32 .tflite when the model hides them.

    A SavedModel (loaded as a TFSMLayer) has no layers to count; its plain float conversion does.
    """
    macs = model_macs(model)
    if macs:
        return macs
    from edgekd.errors import ConversionError
    from edgekd.frameworks import tflite_converter
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.native_output import captured_native_output

    with captured_native_output():
        try:
            flatbuffer = tflite_converter(model).convert()
        except Exception as exc:
            detail = " ".join(str(exc).split())[:400]
            raise ConversionError(
                f"cannot count the model's MACs: its float32 TFLite conversion failed: {detail}"
            ) from None
    return inspect_tflite(flatbuffer).macs


def model_params(model) -> int:
    """Number of weights (trainable and not), as Keras counts them."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights))


# Weight tensors a full-integer conversion stores at one byte per element (biases are int32,
# and BatchNorm folds into the convolution before it, so neither is counted).
_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")
# Layers that become one TFLite op each whose input and output are distinct tensors alive
# together. Separable convolutions become two ops with a tensor between, and reshapes,
# activations and BatchNorm can run in place or fuse into the op before them: all left out.
_ONE_OP = _WEIGHTED - {"SeparableConv1D", "SeparableConv2D"}


def _leaf_layers(model):
    for layer in model.layers:
        if getattr(layer, "layers", None):
            yield from _leaf_layers(layer)
        else:
            yield layer


def int8_weight_bytes(model) -> int:
    """A lower bound on an int8 .tflite's size: its kernels at one byte per weight.

    The file also holds biases, quantization parameters and the graph, so it is always larger;
    a candidate whose kernels alone exceed a flash budget is over it without being converted.
    """
    return int(
        sum(
            math.prod(getattr(layer, name).shape)
            for layer in _leaf_layers(model)
            if type(layer).__name__ in _WEIGHTED
            for name in _KERNELS
            if getattr(layer, name, None) is not None
        )
    )


def int8_activation_bytes(model) -> int:
    """A lower bound on an int8 model's tensor arena (batch 1): the largest input plus output of one op.

    An interpreter keeps an op's input and output alive together while it runs, and TFLite
    Micro's arena holds every non-persistent tensor, so it needs at least this much (plus
    scratch buffers and the runtime's own allocations). Only dense, convolution and pooling
    layers are counted: each becomes one op on distinct tensors.
    """
    largest = 0
    for layer in _leaf_layers(model):
        kind = type(layer).__name__
        if kind not in _ONE_OP and "Pooling" not in kind:
            continue
        try:
            largest = max(largest, math.prod(_shape(layer.input)) + math.prod(_shape(layer.output)))
        except (AttributeError, ValueError, TypeError):  # a layer used twice has no single input
            continue
    return int(largest)
