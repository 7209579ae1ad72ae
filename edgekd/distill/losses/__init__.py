"""Distillation losses: one small class each, registered by name, combinable with weights.

Every loss sees a ``DistillationBatch``: integer ``labels`` (``-1`` marks an unlabelled
transfer-set sample), the student's and teacher's logits, the intermediate features a
loss asked for (``FeatureRequest``), and how far training has progressed. It returns one
loss value per sample; batch-level terms (relations across the batch) are shared equally
by the batch's samples. Validation of the pairing (class counts, parameters, layer names,
feature shapes) happens before any training.

A method spec names one method or several joined by ``+`` (``kd+fitnet``); parameters are
``key`` (every method with that parameter) or ``method.key`` (that method only), and
``method.weight`` weighs a term of the sum.

The losses live by family, each with its formula and paper: ``response`` (the teacher's
outputs: kd, dkd, dist), ``feature`` (intermediate feature maps: fitnet, at) and
``relation`` (relations across a batch: rkd); ``base`` holds what they share. This module
is the registry: a new loss is one class in its family's file plus its name in the
``register`` loop below.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from edgekd.distill.losses.base import DistillationBatch, DistillationLoss, FeatureRequest
from edgekd.distill.losses.feature import AttentionTransfer, FitNet
from edgekd.distill.losses.relation import RelationalKD
from edgekd.distill.losses.response import DIST, DecoupledKD, KnowledgeDistillation
from edgekd.errors import ConfigError, known_names

__all__ = [
    "DIST",
    "AttentionTransfer",
    "DecoupledKD",
    "DistillationBatch",
    "DistillationLoss",
    "FeatureRequest",
    "FitNet",
    "KnowledgeDistillation",
    "Objective",
    "RelationalKD",
    "loss_names",
    "loss_parameters",
    "make_loss",
    "make_objective",
    "method_names",
]

_LOSSES: dict[str, type[DistillationLoss]] = {}


def register(cls: type[DistillationLoss]) -> type[DistillationLoss]:
    _LOSSES[cls.name] = cls
    return cls


for _loss in (KnowledgeDistillation, DecoupledKD, DIST, FitNet, AttentionTransfer, RelationalKD):
    register(_loss)


def loss_names() -> list[str]:
    return sorted(_LOSSES)


TERM_WEIGHT = "weight"
# The logit loss added to feature and relation methods used alone.
LOGIT_TERM = "kd"


def _loss_class(name: str) -> type[DistillationLoss]:
    if name not in _LOSSES:
        raise ConfigError(f"unknown distillation method {name!r}; known: {known_names(_LOSSES)}")
    return _LOSSES[name]


def loss_parameters(name: str) -> set[str]:
    """The parameter names of the method registered as ``name``."""
    return {f.name for f in fields(_loss_class(name))}


def _typed(name: str, key: str, value, declared: str):
    """Check a parameter's type against its field (config and CLI values arrive as float or str)."""
    if declared == "str":
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} parameter {key!r} must be a number, got {value!r}")
    return float(value)


def make_loss(name: str, num_classes: int | None, **params) -> DistillationLoss:
    """Build and check the loss registered as ``name``."""
    cls = _loss_class(name)
    declared = {f.name: f.type for f in fields(cls)}
    unknown = set(params) - set(declared)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(sorted(unknown))} for method {name!r}; known: {known_names(declared)}"
        )
    loss = cls(**{key: _typed(name, key, value, declared[key]) for key, value in params.items()})
    loss.check(num_classes)
    return loss


@dataclass(frozen=True)
class Objective:
    """A weighted sum of distillation losses: what the student minimises."""

    terms: tuple[tuple[float, DistillationLoss], ...]
    # Why a term was added to what the user named (a feature method alone trains no logits).
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "+".join(loss.name for _, loss in self.terms)

    def feature_requests(self) -> tuple[FeatureRequest, ...]:
        return tuple(request for _, loss in self.terms for request in loss.feature_requests())

    def describe(self) -> dict:
        notes = {"notes": list(self.notes)} if self.notes else {}
        if len(self.terms) == 1 and self.terms[0][0] == 1.0:
            return self.terms[0][1].describe() | notes
        return {"method": self.name, "terms": [{**loss.describe(), "weight": w} for w, loss in self.terms]} | notes


def method_names(spec: str) -> list[str]:
    """``"kd+fitnet"`` → ["kd", "fitnet"], each checked against the registry."""
    names = [part.strip() for part in (spec or "").split("+")]
    if not all(names):
        raise ConfigError(f"cannot parse method {spec!r}; write one method (kd) or several joined by + (kd+fitnet)")
    if len(set(names)) != len(names):
        raise ConfigError(f"method {spec!r} names a method twice")
    for name in names:
        _loss_class(name)
    return names


def make_objective(spec: str, num_classes: int | None, params: dict | None = None) -> Objective:
    """Build the weighted sum for a method spec; ``params`` keys are ``key`` or ``method.key``."""
    names = method_names(spec)
    per_method: dict[str, dict] = {name: {} for name in names}
    weights = {name: 1.0 for name in names}
    for key, value in (params or {}).items():
        method, dot, parameter = key.rpartition(".")
        if dot:
            if method not in per_method:
                raise ConfigError(f"parameter {key!r} is for method {method!r}, which {spec!r} does not use")
            targets = [method]
        else:
            targets = [name for name in names if parameter in loss_parameters(name) or parameter == TERM_WEIGHT]
            if not targets:
                known = sorted({p for name in names for p in loss_parameters(name)} | {TERM_WEIGHT})
                raise ConfigError(f"unknown parameter {parameter!r} for method {spec!r}; known: {', '.join(known)}")
        for target in targets:
            if parameter == TERM_WEIGHT:
                weights[target] = _typed(target, parameter, value, "float")
                if weights[target] < 0:
                    raise ConfigError(f"{target} weight must not be negative, got {value}")
            else:
                per_method[target][parameter] = value
    terms = tuple((weights[name], make_loss(name, num_classes, **per_method[name])) for name in names)
    if any(loss.trains_logits for _, loss in terms):
        return Objective(terms)
    # FitNets (stage 2), AT and RKD are each used with a logit loss in their papers; alone,
    # the logits layer would never learn (measured: rkd alone left a student below chance).
    logit_term = (1.0, make_loss(LOGIT_TERM, num_classes))
    note = f"{spec} alone trains no logits: a {LOGIT_TERM} term was added, as its paper pairs it with a logit loss"
    return Objective((logit_term, *terms), (note,))
