"""``--student auto``: the largest student of a family that fits a budget, never a degenerate one.

The budget is a MAC count (a fraction of the teacher's, by default) and optionally a
parameter count; a device budget reaches here as those two figures. The family follows
the input: images (and spectrograms) get ``mobilenet``, which trains reliably thanks to
BatchNorm; signals get ``conv``. The search scales the family's width and, for families
that have it, lowers the input resolution, and keeps the candidate with the most MACs
within budget.

Floors keep the result a model that can learn: at least ``MIN_CHANNELS`` channels in the
first layer and ``MIN_PARAMS_PER_FEATURE`` parameters per input feature. A budget that
only a model below the floors fits is refused; one that forces a model near them gets a
warning (a 545-parameter student for 32×32 RGB images stays at chance whatever its
teacher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgekd.errors import ModelError
from edgekd.models.blocks import MIN_CHANNELS
from edgekd.models.builders import Builder, get_builder
from edgekd.models.complexity import model_macs, model_params

FAMILY_BY_RANK = {2: "conv", 3: "mobilenet"}
# Input resolutions tried, highest first, for families with a ``resolution`` option.
RESOLUTIONS = (1.0, 0.5, 0.25)
# Width multipliers tried: 1/16x to 8x in eighth-octave steps.
WIDTHS = tuple(2 ** (k / 8) for k in range(-32, 25))
# At least one weight per input value: below that a model cannot even look at every input once.
MIN_PARAMS_PER_FEATURE = 1.0
# A model below twice the channel floor, or below four parameters per input value, is very small.
SMALL_FACTOR = 2.0
SMALL_PARAMS_PER_FEATURE = 4.0


@dataclass(frozen=True)
class SizeBudget:
    """What a student may cost: MACs per inference and, optionally, parameters."""

    max_macs: int
    max_params: int | None = None
    # Where the MAC figure came from, for messages ("1/20 of the teacher's 903,808 MACs").
    origin: str = ""

    def admits(self, macs: int, params: int) -> bool:
        return macs <= self.max_macs and (self.max_params is None or params <= self.max_params)

    def __str__(self) -> str:
        params = f" and {self.max_params:,} parameters" if self.max_params is not None else ""
        origin = f" ({self.origin})" if self.origin else ""
        return f"{self.max_macs:,} MACs{params}{origin}"


@dataclass(frozen=True)
class SizedStudent:
    """The student auto-sizing chose, with its options and any warning about its size."""

    model: object
    builder: str
    options: dict[str, float]
    macs: int
    params: int
    warnings: tuple[str, ...] = field(default=())

    def describe(self, budget: SizeBudget) -> dict:
        return {
            "spec": "auto",
            "builder": self.builder,
            "options": self.options,
            "macs": self.macs,
            "params": self.params,
            "mac_budget": budget.max_macs,
            "param_budget": budget.max_params,
            "warnings": list(self.warnings),
        }


def first_layer_channels(model) -> int:
    """Output channels (or units) of the first layer that has weights."""
    for layer in model.layers:
        if hasattr(layer, "filters"):
            return int(layer.filters)
        if hasattr(layer, "units"):
            return int(layer.units)
    return 0


def family_for(input_shape: tuple[int, ...]) -> str:
    if len(input_shape) not in FAMILY_BY_RANK:
        raise ModelError(
            f"auto students take inputs shaped (length, channels) or (height, width, channels); got {input_shape}"
        )
    return FAMILY_BY_RANK[len(input_shape)]


def _candidates(builder: Builder):
    """Option sets per resolution (highest first), each list in growing width: MACs grow along a list."""
    resolutions = RESOLUTIONS if "resolution" in builder.defaults else (None,)
    base = builder.defaults[builder.size_option]
    for resolution in resolutions:
        extra = {"resolution": resolution} if resolution is not None else {}
        yield [{builder.size_option: round(base * scale, 4), **extra} for scale in WIDTHS]


def auto_student(
    input_shape: tuple[int, ...], num_classes: int, budget: SizeBudget, family: str | None = None
) -> SizedStudent:
    """The candidate with the most MACs within ``budget`` that respects the floors (ties: higher resolution)."""
    builder = get_builder(family or family_for(input_shape))
    features = math.prod(input_shape)
    best, smallest = None, None
    for growing in _candidates(builder):
        for options in growing:
            model = builder.build(input_shape, num_classes, **options)
            macs, params = model_macs(model), model_params(model)
            if first_layer_channels(model) < MIN_CHANNELS or params < MIN_PARAMS_PER_FEATURE * features:
                continue
            if smallest is None or macs < smallest[0]:
                smallest = (macs, params)
            if not budget.admits(macs, params):
                break  # wider is only costlier
            if best is None or macs > best.macs:
                best = SizedStudent(model, builder.name, options, macs, params)
    if best is None:
        floor = (
            f"the smallest {builder.name!r} student that can learn needs {smallest[0]:,} MACs and {smallest[1]:,} "
            f"parameters (at least {MIN_CHANNELS} channels in its first layer)"
            if smallest
            else f"no {builder.name!r} student has at least {MIN_CHANNELS} channels in its first layer"
        )
        raise ModelError(
            f"the student budget of {budget} is too small for input {tuple(input_shape)}: {floor}; raise "
            "student.max_mac_fraction (or the device budget), or give an explicit student spec"
        )
    return SizedStudent(
        best.model, best.builder, best.options, best.macs, best.params, _size_warnings(best, features, budget)
    )


def _size_warnings(student: SizedStudent, features: int, budget: SizeBudget) -> tuple[str, ...]:
    channels = first_layer_channels(student.model)
    if channels >= SMALL_FACTOR * MIN_CHANNELS and student.params >= SMALL_PARAMS_PER_FEATURE * features:
        return ()
    return (
        f"the budget of {budget} only allows a very small student ({student.params:,} parameters, "
        f"{channels} channels in its first layer, {student.macs:,} MACs); it may learn little: raise "
        "student.max_mac_fraction, or give an explicit student spec",
    )
