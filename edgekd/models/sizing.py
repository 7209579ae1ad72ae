"""``--student auto``: the largest student of a family that fits a budget, never a degenerate one.

The budget is a MAC count (a fraction of the teacher's, by default) and optionally a
parameter count; a device budget reaches here as those two figures. The family follows
the input: images (and spectrograms) get ``mobilenet``, which trains reliably thanks to
BatchNorm; signals get ``conv``. The search scales the family's width and, for families
that have it, lowers the input resolution, and keeps the candidate with the most MACs
within budget.

Floors keep the result a model that can learn: at least ``MIN_CHANNELS`` channels in the
first layer and ``MIN_PARAMS_PER_FEATURE`` parameters per input value it sees. A budget that
only a model below the floors fits is refused; one that forces a model near them gets a
warning (a 545-parameter student for 32×32 RGB images stays at chance whatever its
teacher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from edgekd.errors import ModelError
from edgekd.models.blocks import MIN_CHANNELS
from edgekd.models.builders import Builder, get_builder
from edgekd.models.complexity import model_macs, model_params

FAMILY_BY_RANK = {2: "conv", 3: "mobilenet"}
# Input resolutions tried, highest first, for families with a ``resolution`` option.
RESOLUTIONS = (1.0, 0.5, 0.25)
# Width multipliers tried: 1/16x to 8x in eighth-octave steps.
WIDTHS = tuple(2 ** (k / 8) for k in range(-32, 25))
# At least one weight per input value the layers see (after any input downsampling): below
# that a model cannot even look at every input once.
MIN_PARAMS_PER_FEATURE = 1.0
# Within this of the channel floor, or below this many parameters per input value seen, a
# model is very small: it gets a warning.
SMALL_CHANNELS = 12
SMALL_PARAMS_PER_FEATURE = 2.0


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


def _resolutions(builder: Builder) -> tuple[float | None, ...]:
    return RESOLUTIONS if "resolution" in builder.defaults else (None,)


class _Search:
    """Builds candidates of one family on demand (each build costs a fraction of a second) and remembers them."""

    def __init__(self, builder: Builder, input_shape: tuple[int, ...], num_classes: int):
        self.builder, self.input_shape, self.num_classes = builder, input_shape, num_classes
        self._built: dict[tuple, SizedStudent] = {}

    def options(self, resolution: float | None, index: int) -> dict[str, float]:
        base = self.builder.defaults[self.builder.size_option]
        options = {self.builder.size_option: round(base * WIDTHS[index], 4)}
        return options | ({"resolution": resolution} if resolution is not None else {})

    def at(self, resolution: float | None, index: int) -> SizedStudent:
        key = (resolution, index)
        if key not in self._built:
            options = self.options(resolution, index)
            model = self.builder.build(self.input_shape, self.num_classes, **options)
            self._built[key] = SizedStudent(model, self.builder.name, options, model_macs(model), model_params(model))
        return self._built[key]

    def features(self, student: SizedStudent) -> float:
        """Input values the layers see: the input's, over the downsampling of its spatial axes."""
        resolution = student.options.get("resolution", 1.0)
        return math.prod(self.input_shape) * resolution ** (len(self.input_shape) - 1)

    def above_floors(self, student: SizedStudent) -> bool:
        return first_layer_channels(
            student.model
        ) >= MIN_CHANNELS and student.params >= MIN_PARAMS_PER_FEATURE * self.features(student)

    def first(self, predicate, low: int = 0) -> int:
        """The first width index from ``low`` where ``predicate`` holds (it stays true for wider models), or len(WIDTHS)."""
        high = len(WIDTHS)
        while low < high:
            middle = (low + high) // 2
            if predicate(middle):
                high = middle
            else:
                low = middle + 1
        return low


def auto_student(
    input_shape: tuple[int, ...], num_classes: int, budget: SizeBudget, family: str | None = None
) -> SizedStudent:
    """The widest model within ``budget`` that respects the floors, at the highest input resolution that avoids a very small one.

    MACs, parameters and channels all grow with the width, so each resolution is searched by
    bisection. A lower resolution is tried only when the higher one leaves a very small model.
    """
    search = _Search(get_builder(family or family_for(input_shape)), input_shape, num_classes)
    found, smallest = [], None
    for resolution in _resolutions(search.builder):
        floor = search.first(lambda i, r=resolution: search.above_floors(search.at(r, i)))
        if floor == len(WIDTHS):
            continue
        if smallest is None or search.at(resolution, floor).macs < smallest.macs:
            smallest = search.at(resolution, floor)
        over = search.first(
            lambda i, r=resolution: not budget.admits(search.at(r, i).macs, search.at(r, i).params), floor
        )
        if over == floor:
            continue
        best = search.at(resolution, over - 1)
        found.append(best)
        if not _size_warnings(best, search.features(best), budget):
            break
    if not found:
        floor = (
            f"the smallest {search.builder.name!r} student that can learn needs {smallest.macs:,} MACs and "
            f"{smallest.params:,} parameters (at least {MIN_CHANNELS} channels in its first layer)"
            if smallest
            else f"no {search.builder.name!r} student has at least {MIN_CHANNELS} channels in its first layer"
        )
        raise ModelError(
            f"the student budget of {budget} is too small for input {tuple(input_shape)}: {floor}; raise "
            "`student.max_mac_fraction` (or `student.max_params`), or give an explicit student spec"
        )
    # Every resolution left a very small model: the one that keeps the most arithmetic.
    last = found[-1]
    best = last if not _size_warnings(last, search.features(last), budget) else max(found, key=lambda s: s.macs)
    return replace(best, warnings=_size_warnings(best, search.features(best), budget))


def _size_warnings(student: SizedStudent, features: float, budget: SizeBudget) -> tuple[str, ...]:
    channels = first_layer_channels(student.model)
    if channels >= SMALL_CHANNELS and student.params >= SMALL_PARAMS_PER_FEATURE * features:
        return ()
    return (
        f"the budget of {budget} only allows a very small student ({student.params:,} parameters, "
        f"{channels} channels in its first layer, {student.macs:,} MACs); it may learn little: raise "
        "`student.max_mac_fraction` (or `student.max_params`), or give an explicit student spec",
    )
