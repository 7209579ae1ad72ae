"""``dscnn``: the depthwise-separable CNN of MLPerf Tiny's keyword-spotting task (Zhang et al. 2017, "Hello Edge").

MLPerf Tiny's reference (``training/keyword_spotting`` of mlcommons/tiny) takes 49×10
MFCC frames: a 10×4 convolution of 64 channels striding by 2, four blocks of depthwise 3×3
+ pointwise 64, BatchNorm and ReLU after each, dropout, global average pooling and a
dense layer: about 23 K parameters and 2.7 M MACs with ``width=1``. The first kernel is
clipped to the input's size, so the family also serves images and signals.
"""

from __future__ import annotations

from edgekd.frameworks import Framework
from edgekd.models.blocks import channels, classifier_head, conv_bn, depthwise_bn, inputs_as_image
from edgekd.models.builders import Builder, register

CHANNELS = 64
FIRST_KERNEL = (10, 4)


def build_dscnn(keras, input_shape, num_classes, width, blocks, resolution):
    inputs, x, view = inputs_as_image(keras, input_shape, resolution)
    height, length = int(x.shape[1]), int(x.shape[2])
    kernel = (1, min(FIRST_KERNEL[0], length)) if view.signal else (min(FIRST_KERNEL[0], height), min(4, length))
    filters = channels(width, CHANNELS)
    x = conv_bn(keras, x, filters, kernel, 2, "conv1")
    x = keras.layers.Dropout(0.2, name="conv1_dropout")(x)
    for index in range(1, max(1, int(round(blocks))) + 1):
        x = depthwise_bn(keras, x, view.kernel(3), 1, f"block{index}_depthwise")
        x = conv_bn(keras, x, filters, 1, 1, f"block{index}_pointwise")
    return keras.Model(inputs, classifier_head(keras, x, num_classes, dropout=0.4), name="student_dscnn")


register(
    Builder(
        "dscnn",
        "student: DS-CNN (MLPerf Tiny keyword spotting): a strided 10x4 convolution and depthwise-separable "
        "blocks with BatchNorm; width, blocks, resolution",
        Framework.TF_KERAS,
        {"width": 1.0, "blocks": 4.0, "resolution": 1.0},
        "width",
        build_dscnn,
    )
)
