"""``mobilenet``: depthwise-separable blocks with BatchNorm and ReLU6 (Howard et al. 2017), optionally inverted residuals.

A strided stem, then ``blocks`` blocks whose channels double at every other block (each
doubling block strides by 2). With ``expansion`` 0 a block is MobileNet v1's depthwise 3×3
+ pointwise 1×1; with ``expansion`` E ≥ 1 it is MobileNet v2's inverted residual (Sandler
et al. 2018): a 1×1 expansion to E× the channels, a depthwise 3×3, a linear 1×1
projection, and a residual connection when the shape allows. ``width`` scales every
layer's channels; ``resolution`` average-pools the input first (0.5 halves each spatial
side), the cheapest way to fit a small MAC budget without starving the layers.
"""

from __future__ import annotations

from edgekd.frameworks import Framework
from edgekd.models.blocks import channels, classifier_head, conv_bn, depthwise_bn, inputs_as_image
from edgekd.models.builders import Builder, register

STEM_CHANNELS = 16


def _block_plan(blocks: int) -> list[tuple[int, int]]:
    """(base channels, stride) per block: 32/s2, 32/s1, 64/s2, 64/s1, 128/s2 …"""
    return [(32 * 2 ** (index // 2), 2 if index % 2 == 0 else 1) for index in range(blocks)]


def build_mobilenet(keras, input_shape, num_classes, width, blocks, expansion, resolution):
    inputs, x, view = inputs_as_image(keras, input_shape, resolution)
    x = conv_bn(keras, x, channels(width, STEM_CHANNELS), view.kernel(3), 2, "stem", "relu6")
    for index, (base, stride) in enumerate(_block_plan(max(1, int(round(blocks)))), start=1):
        out_channels = channels(width, base)
        name = f"block{index}"
        if expansion < 1:
            x = depthwise_bn(keras, x, view.kernel(3), stride, f"{name}_depthwise", "relu6")
            x = conv_bn(keras, x, out_channels, 1, 1, f"{name}_pointwise", "relu6")
            continue
        shortcut = x
        in_channels = int(x.shape[-1])
        h = conv_bn(keras, x, max(in_channels, int(round(in_channels * expansion))), 1, 1, f"{name}_expand", "relu6")
        h = depthwise_bn(keras, h, view.kernel(3), stride, f"{name}_depthwise", "relu6")
        h = conv_bn(keras, h, out_channels, 1, 1, f"{name}_project", None)
        x = keras.layers.Add(name=f"{name}_add")([shortcut, h]) if stride == 1 and in_channels == out_channels else h
    return keras.Model(inputs, classifier_head(keras, x, num_classes), name="student_mobilenet")


register(
    Builder(
        "mobilenet",
        "student: MobileNet-style depthwise-separable blocks with BatchNorm and ReLU6; width, blocks, "
        "expansion (0: v1 blocks, >=1: v2 inverted residuals), resolution",
        Framework.TF_KERAS,
        {"width": 1.0, "blocks": 4.0, "expansion": 0.0, "resolution": 1.0},
        "width",
        build_mobilenet,
    )
)
