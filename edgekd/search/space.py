"""What a search tries: each student family with a few sizes of each of its options.

Every option's choices are listed smallest first, and a model's cost (MACs, parameters,
memory, latency) grows with each option, so a family's smallest candidate (every option
at its first choice) bounds what the family can reach: a budget its smallest candidates
all exceed is one no candidate meets, said before anything trains.

Choices are discrete (categorical for the sampler): the sizes a user would pick, and a
repeat of an earlier candidate is recognised and not trained twice.

>>> Candidate("conv", {"width": 0.5}).spec
'conv:width=0.5'
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.errors import ConfigError, known_names

# family -> option -> choices, smallest model first. Widths below 1/4 leave fewer than the
# channel floor edgekd's auto-sizing keeps (edgekd.models.blocks.MIN_CHANNELS) in most families.
# Widths reach 2 in every family: auto-sizing went to 1.68 on 8x8 digits (a 44 K-MAC MobileNet),
# and a space that stopped at 1 could not hold a student as large as the one it should beat.
SPACE: dict[str, dict[str, tuple[float, ...]]] = {
    "conv": {"width": (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)},
    "mlp": {"hidden": (8.0, 16.0, 32.0, 64.0, 128.0)},
    "mobilenet": {
        "width": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
        "blocks": (1.0, 2.0, 3.0, 4.0),
        "resolution": (0.25, 0.5, 1.0),
    },
    "resnet": {"width": (0.25, 0.5, 1.0, 1.5, 2.0), "stacks": (1.0, 2.0, 3.0), "resolution": (0.25, 0.5, 1.0)},
    "dscnn": {"width": (0.25, 0.5, 1.0, 1.5, 2.0), "blocks": (1.0, 2.0, 3.0, 4.0), "resolution": (0.5, 1.0)},
}


def family_names() -> list[str]:
    return sorted(SPACE)


def check_families(families: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The families to search (all when empty), each known."""
    unknown = [name for name in families if name not in SPACE]
    if unknown:
        raise ConfigError(f"unknown student family {unknown[0]!r} to search; known: {known_names(SPACE)}")
    if len(set(families)) != len(families):
        raise ConfigError(f"the families to search name one twice: {', '.join(families)}")
    return tuple(families) or tuple(family_names())


@dataclass(frozen=True)
class Candidate:
    """One student: a family and its options, written as the builder spec ``--student`` takes."""

    family: str
    options: dict[str, float]

    @property
    def spec(self) -> str:
        return f"{self.family}:" + ",".join(f"{key}={value:g}" for key, value in sorted(self.options.items()))

    def build(self, input_shape: tuple[int, ...], num_classes: int):
        from edgekd.models.builders import get_builder

        return get_builder(self.family).build(input_shape, num_classes, **self.options)

    @staticmethod
    def parse(spec: str) -> Candidate:
        """The candidate a spec names, on the space's grid or off it (the exact auto student).

        >>> Candidate.parse("conv:width=1.68176").options
        {'width': 1.68176}
        """
        from edgekd.models.students import parse_builder_spec

        family, options = parse_builder_spec(spec)
        return Candidate(family, options)


def smallest(family: str) -> Candidate:
    """The family's cheapest candidate: every option at its first choice."""
    return Candidate(family, {option: choices[0] for option, choices in SPACE[family].items()})


def suggest(trial, families: tuple[str, ...]) -> Candidate:
    """The candidate an Optuna trial asks for; option names carry their family, since choices differ by family."""
    family = trial.suggest_categorical("family", list(families))
    options = {
        option: float(trial.suggest_categorical(f"{family}.{option}", list(choices)))
        for option, choices in SPACE[family].items()
    }
    return Candidate(family, options)


def from_params(params: dict) -> Candidate:
    """The candidate an Optuna trial's stored parameters describe."""
    family = params["family"]
    prefix = f"{family}."
    return Candidate(
        family, {key[len(prefix) :]: float(value) for key, value in params.items() if key.startswith(prefix)}
    )
