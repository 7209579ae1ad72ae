"""``resnet_teacher``: the teacher ``--train-teacher`` builds, a residual network with BatchNorm sized for the input.

The same shape as the ``resnet`` student family (MLPerf Tiny's ResNet-8: a 3×3 stem, stacks
of two 3×3 convolutions with a shortcut, BatchNorm and ReLU, global average pooling), built
in Keras 3 like every teacher, with dropout before its head, and with as many stacks as the
input has room for: each stack after the first halves the spatial sides, until the smallest
side is down to 4 (a 1-second MFCC clip gets 3 stacks, a 32×32 image 4, an 8×8 scan 2), with
16, 32, 64 and 128 channels at width 1: 16 M MACs on a 32×32 RGB image. An auto student
gets 1/20 of that. Width 2 quadruples the MACs and cost 4.4× the time per step on 2 CPU cores
(1.3 s per batch of 128 on 32×32 RGB), too slow for the small data sets it is meant for.
"""

from __future__ import annotations

import math

from edgekd.models.builders import Builder, register
from edgekd.models.frameworks import Framework
from edgekd.models.resnet import build_resnet

# The spatial side a teacher's last stack works at: below it, a 3×3 convolution sees mostly padding.
SMALLEST_SIDE = 4
MAX_STACKS = 4
DROPOUT = 0.2


def stacks_for(input_shape: tuple[int, ...]) -> int:
    """Stacks for an input: one, plus one per halving of the smallest spatial side down to ``SMALLEST_SIDE``."""
    sides = input_shape[:-1]
    smallest = min(sides) if len(sides) == 2 else sides[0]
    halvings = max(0, math.ceil(math.log2(max(smallest, 1) / SMALLEST_SIDE)))
    return max(1, min(MAX_STACKS, 1 + halvings))


def build_teacher(keras, input_shape, num_classes, width, stacks):
    # ``stacks`` 0 (the default): as many as the input has room for.
    stacks = int(round(stacks)) or stacks_for(input_shape)
    return build_resnet(keras, input_shape, num_classes, width, stacks, 1.0, name="teacher_resnet", dropout=DROPOUT)


register(
    Builder(
        "resnet_teacher",
        "teacher: ResNet-8 style residual stacks with BatchNorm and dropout, as many stacks as the input has room "
        "for; width (1: 16, 32, 64 ... channels)",
        Framework.KERAS3,
        {"width": 1.0},
        "width",
        lambda keras, shape, classes, width: build_teacher(keras, shape, classes, width, 0),
    )
)
