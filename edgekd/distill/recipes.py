"""Recipes: how a student is trained (an objective and augmentations, or labels alone) and the ones ``auto`` tries.

A recipe spec is ``METHOD[:key=value,...]``: ``METHOD`` is a method spec (``kd``,
``dist``, ``kd+fitnet``) or ``control`` (labels alone, no teacher); the keys are the
method's parameters as ``--param`` takes them, plus ``augment=NAME`` (repeatable) for an
augmentation that teacher and student see alike.

>>> parse_recipe("kd:temperature=4,alpha=0.5", 10).describe()["temperature"]
4.0
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.distill.augment import Augmentation, parse_augmentations
from edgekd.distill.losses import Objective, make_objective
from edgekd.errors import ConfigError

CONTROL = "control"
AUTO = "auto"
AUGMENT_KEY = "augment"

# What ``--method auto`` tries by default, scored on validation at the rungs of a successive
# halving (``edgekd.distill.selection.select_recipe``): Hinton KD at a low and a high temperature,
# with and without the hard-label term; DIST (relations rather than exact probabilities, robust to
# a teacher much larger than its student); function matching (Beyer et al. 2022: the same
# augmented view to teacher and student), with mixup at T=1 and with moved views at Hinton's T=4
# and hard-label weight 0.5, which make more of a small labelled set. The moved view depends on
# the data (``default_candidates``): shifts for signals, this list's own. Left out: the control
# (it trains first on the full budget, the teacher check, and no choice read a short one) and
# Hinton KD at T=4 without labels, which no run chose, on MNIST-1D or on any of 14 real-data runs
# (seven cases, two seeds each), and which cost a sixth of the candidates' steps.
DEFAULT_CANDIDATES = (
    "kd:temperature=1,alpha=0",
    "kd:temperature=1,alpha=0.5",
    "kd:temperature=4,alpha=0.5",
    "dist",
    "kd:temperature=1,alpha=0,augment=mixup",
    "kd:temperature=4,alpha=0.5,augment=shift",
)
SHIFT_CANDIDATE = "kd:temperature=4,alpha=0.5,augment=shift"
# The moved view per kind of data: images move in space (a random crop); audio features along
# time only, with SpecAugment's time and frequency masks (a shift would roll the coefficients
# too: on MFCCs that candidate scored 20-33% on validation against 50-62% for the others).
MOVED_VIEW = {
    "signal": SHIFT_CANDIDATE,
    "image": "kd:temperature=4,alpha=0.5,augment=crop",
    "audio": "kd:temperature=4,alpha=0.5,augment=time_shift,augment=time_mask,augment=freq_mask",
}


def default_candidates(modality: str | None = None) -> tuple[str, ...]:
    """``auto``'s candidates for a kind of data (``Dataset.modality``; None: before the data is known)."""
    if modality is None:
        return DEFAULT_CANDIDATES
    return tuple(MOVED_VIEW[modality] if spec == SHIFT_CANDIDATE else spec for spec in DEFAULT_CANDIDATES)


# What trains instead of the candidates when the teacher is not clearly better than the control
# on validation (the control ships then, whatever this scores): Hinton's usual setting, whose
# hard-label term keeps the student close to the labels where the teacher is wrong. It trains
# so the report can show what the teacher would have taught, class by class, at one run's cost.
WEAK_TEACHER_RECIPE = "kd:temperature=4,alpha=0.5"


@dataclass(frozen=True)
class Recipe:
    """One way to train the student: an objective and the augmentations it sees, or the control (no objective)."""

    spec: str
    objective: Objective | None
    augmentations: tuple[Augmentation, ...] = ()

    @property
    def is_control(self) -> bool:
        return self.objective is None

    @property
    def needs_online_teacher(self) -> bool:
        """Augmented inputs change every step, so the teacher must see each view as the student does."""
        return bool(self.augmentations) and not self.is_control

    def describe(self) -> dict:
        if self.objective is None:
            return {"recipe": self.spec, "method": CONTROL}
        return {"recipe": self.spec, **self.objective.describe(), "augment": [a.name for a in self.augmentations]}


def split_recipe(spec: str) -> tuple[str, dict[str, float | str], list[str]]:
    """``kd:temperature=4,augment=mixup`` → ("kd", {"temperature": 4.0}, ["mixup"])."""
    method, _, argument = (spec or "").strip().partition(":")
    params: dict[str, float | str] = {}
    augment: list[str] = []
    for item in filter(None, (part.strip() for part in argument.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"cannot parse {item!r} in recipe {spec!r}; write e.g. kd:temperature=4,alpha=0.5")
        if key == AUGMENT_KEY:
            augment.append(value)
            continue
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value  # a layer name; the method checks its type
    if not method.strip():
        raise ConfigError(f"recipe {spec!r} names no method; e.g. kd:temperature=4 or control")
    return method.strip(), params, augment


def parse_recipe(
    spec: str, num_classes: int | None, base_params: dict | None = None, base_augment: tuple[str, ...] = ()
) -> Recipe:
    """A checked recipe; ``base_params`` and ``base_augment`` (the run's own settings) apply under the spec's own."""
    method, params, augment = split_recipe(spec)
    if method == CONTROL:
        if params or augment:
            raise ConfigError(f"recipe {spec!r}: the control trains on labels alone and takes no parameters")
        return Recipe(spec, None)
    if method == AUTO:
        raise ConfigError(f"recipe {spec!r}: auto chooses among recipes and cannot be one of them")
    objective = make_objective(method, num_classes, {**(base_params or {}), **params})
    return Recipe(spec, objective, parse_augmentations([*base_augment, *augment]))


def parse_candidates(specs: tuple[str, ...] | list[str], num_classes: int | None) -> tuple[Recipe, ...]:
    """The candidates ``auto`` tries, checked: at least one distillation recipe, no repeats."""
    if len(set(specs)) != len(specs):
        raise ConfigError(f"the candidate recipes name one recipe twice: {', '.join(specs)}")
    recipes = tuple(parse_recipe(spec, num_classes) for spec in specs)
    if all(recipe.is_control for recipe in recipes):
        raise ConfigError("the candidate recipes need at least one that distils (e.g. kd), not only the control")
    return recipes
