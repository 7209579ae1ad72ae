"""Turn a ``--student`` SPEC into a model: ``auto``, ``builder[:key=value,...]`` or a Keras file."""

from __future__ import annotations

from pathlib import Path

from edgekd.errors import ModelError, known_names
from edgekd.frameworks import Framework
from edgekd.models.builders import builder_names, get_builder
from edgekd.models.complexity import model_macs
from edgekd.models.io import load_model
from edgekd.models.sizing import SizeBudget, auto_student


def parse_builder_spec(spec: str) -> tuple[str, dict[str, float]]:
    """``conv:width=1.5`` → ("conv", {"width": 1.5})."""
    name, _, argument = spec.partition(":")
    options: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in argument.split(","))):
        key, sep, value = item.partition("=")
        try:
            options[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ModelError(f"cannot parse {item!r} in student spec {spec!r}; write e.g. conv:width=1.5")
    return name.strip(), options


def resolve_student(
    spec: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    teacher_macs: int,
    max_mac_fraction: float,
    trust: bool = False,
    max_params: int | None = None,
) -> tuple[object, dict]:
    """Build or load the student; returns (model, description for results)."""
    spec = (spec or "auto").strip()
    if spec.endswith(".keras") or spec.endswith(".h5") or Path(spec).exists():
        model = load_model(spec, trust=trust)
        return model, {"spec": spec, "source": "file"}
    if spec == "auto":
        budget = SizeBudget(
            int(teacher_macs * max_mac_fraction),
            max_params,
            origin=f"{max_mac_fraction:g} of the teacher's {teacher_macs:,} MACs",
        )
        sized = auto_student(input_shape, num_classes, budget)
        return sized.model, sized.describe(budget)
    name, options = parse_builder_spec(spec)
    builder = get_builder(name)
    if builder.framework is not Framework.TF_KERAS:
        raise ModelError(
            f"builder {name!r} builds teachers, not students; student builders: {known_names(builder_names(Framework.TF_KERAS))}"
        )
    model = builder.build(input_shape, num_classes, **options)
    return model, {"spec": spec, "builder": name, "options": options, "macs": model_macs(model)}
