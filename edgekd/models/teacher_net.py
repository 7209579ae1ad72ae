"""``resnet_teacher``: the teacher ``--train-teacher`` builds, a residual network with BatchNorm sized for the input.

The same shape as the ``resnet`` student family (MLPerf Tiny's ResNet-8: a 3×3 stem, stacks
of two 3×3 convolutions with a shortcut, BatchNorm and ReLU, global average pooling), built
in Keras 3 like every teacher, with dropout before its head, and with as many stacks as the
input has room for: each stack after the first halves the spatial sides, until the smallest
side is down to 4 (a 1-second MFCC clip gets 3 stacks, a 32×32 image 4, an 8×8 scan 2), and
as wide as brings it to about ``TARGET_MACS`` (16, 32, 64, 128 channels at width 1, up to 4×
that on a small input): an 8×8 scan's teacher at width 1 has 0.53 M MACs and scored 97.2% on
validation, no better than its 1/20-size student; at width 3 (4.7 M MACs) it scored 97.9%
and 99.4% on the test split. Wider than needed costs time for nothing: width 2 on 32×32 RGB
took 1.3 s per batch of 128 on 2 CPU cores, 4.4× width 1.
"""

from __future__ import annotations

import math

from edgekd.frameworks import Framework
from edgekd.models.builders import Builder, register
from edgekd.models.resnet import build_resnet

# The spatial side a teacher's last stack works at: below it, a 3×3 convolution sees mostly padding.
SMALLEST_SIDE = 4
MAX_STACKS = 4
DROPOUT = 0.2
# The MACs a teacher is widened towards (width 1 to MAX_WIDTH): ResNet-8's on a 32×32 RGB image is 16 M.
TARGET_MACS = 8_000_000
MAX_WIDTH = 4.0


def stacks_for(input_shape: tuple[int, ...]) -> int:
    """Stacks for an input: one, plus one per halving of the smallest spatial side down to ``SMALLEST_SIDE``."""
    sides = input_shape[:-1]
    smallest = min(sides) if len(sides) == 2 else sides[0]
    halvings = max(0, math.ceil(math.log2(max(smallest, 1) / SMALLEST_SIDE)))
    return max(1, min(MAX_STACKS, 1 + halvings))


def sized_for(keras, input_shape: tuple[int, ...], num_classes: int) -> dict[str, float]:
    """The width that brings the teacher to about ``TARGET_MACS`` (MACs grow with the square of the width), 1 to 4."""
    from edgekd.models.complexity import model_macs

    narrow = model_macs(build_teacher(keras, input_shape, num_classes, 1.0))
    return {"width": round(min(MAX_WIDTH, max(1.0, math.sqrt(TARGET_MACS / max(narrow, 1)))), 2)}


def build_teacher(keras, input_shape, num_classes, width):
    stacks = stacks_for(input_shape)
    return build_resnet(keras, input_shape, num_classes, width, stacks, 1.0, name="teacher_resnet", dropout=DROPOUT)


register(
    Builder(
        "resnet_teacher",
        "teacher: ResNet-8 style residual stacks with BatchNorm and dropout, as many stacks as the input has room "
        "for; width (1: 16, 32, 64 ... channels; by default as wide as brings it near 8 M MACs, at most 4)",
        Framework.KERAS3,
        {"width": 1.0},
        "width",
        build_teacher,
        sized_for,
    )
)
