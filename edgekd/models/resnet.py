"""``resnet``: a small residual network in the shape of MLPerf Tiny's image-classification model (ResNet-8).

MLPerf Tiny's reference (Banbury et al. 2021, "MLPerf Tiny Benchmark", and the
``training/image_classification`` model of mlcommons/tiny) is a 3×3 stem of 16 channels,
then three stacks of two 3×3 convolutions with 16, 32 and 64 channels (the second and
third stride by 2 and add a 1×1 strided convolution on the shortcut), BatchNorm and ReLU
throughout, global average pooling and a dense layer: about 78 K parameters and 12.5 M
MACs on 32×32×3 inputs with ``width=1``. ``stacks`` sets how many stacks, ``width``
scales channels, ``resolution`` average-pools the input first.
"""

from __future__ import annotations

from edgekd.frameworks import Framework
from edgekd.models.blocks import channels, classifier_head, conv_bn, inputs_as_image
from edgekd.models.builders import Builder, register

STEM_CHANNELS = 16


def build_resnet(keras, input_shape, num_classes, width, stacks, resolution, name="student_resnet", dropout=0.0):
    inputs, x, view = inputs_as_image(keras, input_shape, resolution)
    x = conv_bn(keras, x, channels(width, STEM_CHANNELS), view.kernel(3), 1, "stem")
    for index in range(1, max(1, int(round(stacks))) + 1):
        filters = channels(width, STEM_CHANNELS * 2 ** (index - 1))
        stride = 1 if index == 1 else 2
        name = f"stack{index}"
        h = conv_bn(keras, x, filters, view.kernel(3), stride, f"{name}_conv1")
        h = conv_bn(keras, h, filters, view.kernel(3), 1, f"{name}_conv2", None)
        shortcut = x
        if stride != 1 or int(x.shape[-1]) != filters:
            shortcut = conv_bn(keras, x, filters, 1, stride, f"{name}_shortcut", None)
        x = keras.layers.Add(name=f"{name}_add")([shortcut, h])
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return keras.Model(inputs, classifier_head(keras, x, num_classes, dropout), name=name)


register(
    Builder(
        "resnet",
        "student: ResNet-8 style (MLPerf Tiny image classification): residual stacks with BatchNorm; "
        "width, stacks, resolution",
        Framework.TF_KERAS,
        {"width": 1.0, "stacks": 3.0, "resolution": 1.0},
        "width",
        build_resnet,
    )
)
