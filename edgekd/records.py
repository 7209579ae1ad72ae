"""The typed results stages return: a model record, the distillation summary and the run.

Stages build these frozen records; ``RunResult.to_document`` is the one place they become
the results.json document (its shape is documented in docs/results.md and checked when read
by ``edgekd.results.document.ResultsDocument``). Benchmarks are
``edgekd.bench.benchmark.BenchmarkResult``. Several stages (distill, quantize, the pipeline)
produce these, so they live on a floor below all of them, with the document's header.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from edgekd.version import __version__

RESULTS_SCHEMA_VERSION = 1
_PACKAGES = ("tensorflow", "keras", "tf-keras", "ai-edge-litert", "numpy", "mnist1d")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "edgekd": __version__}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def new_document(kind: str, config: dict | None = None, seeds: dict | None = None) -> dict:
    """An empty results document stamped with time, versions and machine."""
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "kind": kind,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "edgekd_version": __version__,
        "versions": library_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "seeds": seeds or {},
        "config": config or {},
        "data": {},
        "models": {},
        "benchmarks": [],
        "timings_s": {},
    }


def _present(record, names) -> dict:
    """The fields of ``record`` named in ``names`` that hold a value (optional fields left out of the JSON)."""
    return {name: getattr(record, name) for name in names if getattr(record, name) is not None}


@dataclass(frozen=True)
class TfliteChecks:
    """What edgekd checked of a .tflite against the Keras model it was converted from."""

    mode: str
    detected_mode: str
    gzip_bytes: int
    weight_bytes: int
    agreement_with_keras: float
    accuracy_drop_points: float
    converted_from: str | None
    float_ops: tuple[str, ...]
    warnings: tuple[str, ...]
    input: dict
    output: dict
    # Set by ``edgekd quantize`` when the model was pruned/clustered or fine-tuned with QAT first.
    compression: dict | None = None
    qat: dict | None = None
    # Work per operator class, whole and as an Edge TPU would split it (edgekd.modelfile.workload): what the
    # device estimates of compare, the compute answer and the report are computed from.
    workload: dict | None = None

    def as_dict(self) -> dict:
        optional = ("compression", "qat", "workload")
        document = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in optional}
        document["float_ops"], document["warnings"] = list(self.float_ops), list(self.warnings)
        return document | _present(self, optional)


@dataclass(frozen=True)
class ModelRecord:
    """One entry of results.json's ``models``: every figure with where it came from."""

    role: str
    accuracy: float | None
    accuracy_source: str
    params: int | None
    macs: int | None
    size_bytes: int
    path: str
    format: str
    did_not_learn: bool = False
    # Keras models: loaded or trained, how a student was sized, and for the shipped student why.
    source: str | None = None
    student: dict | None = None
    shipped_from: str | None = None
    reason: str | None = None
    # A trained teacher: how it trained (augmentations, label smoothing, early stopping).
    recipe: dict | None = None
    # .tflite files only.
    tflite: TfliteChecks | None = None
    # Keras models: a hash of the file's bytes (``edgekd.models.io.model_fingerprint``), so a later
    # command can tell the file it reads is the one this run wrote or read.
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.accuracy is not None:
            object.__setattr__(self, "accuracy", round(float(self.accuracy), 6))

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.tflite.warnings if self.tflite is not None else ()

    @property
    def agreement_with_keras(self) -> float | None:
        return self.tflite.agreement_with_keras if self.tflite is not None else None

    def with_tflite(self, **changes) -> ModelRecord:
        """The same record with some .tflite checks changed (QAT or compression details added)."""
        return replace(self, tflite=replace(self.tflite, **changes))

    def as_dict(self) -> dict:
        document = {
            "role": self.role,
            "accuracy": self.accuracy,
            "accuracy_source": self.accuracy_source,
            "params": self.params,
            "macs": self.macs,
            "size_bytes": int(self.size_bytes),
            "path": self.path,
            "format": self.format,
            "did_not_learn": self.did_not_learn,
        }
        document |= _present(self, ("source", "student", "shipped_from", "reason", "recipe", "fingerprint"))
        return document | (self.tflite.as_dict() if self.tflite is not None else {})


@dataclass(frozen=True)
class DistillationSummary:
    """What distillation did and whether it helped: the method, the budget, the verdict and the shipped model."""

    # The objective as its losses describe themselves (method, parameters or terms).
    objective: dict
    recipe: str
    transfer_samples: int
    budget: dict
    student_mac_fraction: float | None
    accuracy_kept: float | None
    shipped: dict
    verdict: str
    gain_over_control_points: float | None = None
    selection: dict | None = None
    teacher_outputs: str | None = None
    # Why the teachers ran online when caching was possible (their outputs past the cache budget).
    teacher_outputs_reason: str | None = None
    augment: tuple[str, ...] = ()
    strategy: dict | None = None
    features: tuple[dict, ...] = ()
    ensemble: dict | None = None
    # The teacher against the control on validation, before distillation (edgekd.distill.choice.TeacherCheck).
    teacher_check: dict | None = None
    # Per-class test accuracy of the teacher, the distilled student and the control, with flagged classes.
    per_class: dict | None = None

    def as_dict(self) -> dict:
        document = {**self.objective, "recipe": self.recipe, "transfer_samples": self.transfer_samples}
        document |= {
            "budget": self.budget,
            "student_mac_fraction": self.student_mac_fraction,
            "accuracy_kept": self.accuracy_kept,
            "shipped": self.shipped,
        }
        document |= _present(self, ("selection", "gain_over_control_points"))
        document["verdict"] = self.verdict
        document |= _present(
            self, ("teacher_outputs", "teacher_outputs_reason", "strategy", "ensemble", "teacher_check", "per_class")
        )
        document["augment"] = list(self.augment)
        if self.features:
            document["features"] = list(self.features)
        return document


@dataclass(frozen=True)
class RunResult:
    """A finished run (``edgekd run``, ``demo``, ``distill`` or ``quantize``) as the Python API returns it."""

    kind: str
    config: dict
    seeds: dict
    data: dict
    models: dict[str, ModelRecord]
    distillation: DistillationSummary | None = None
    # Training histories by role (TrainingHistory.as_dict()).
    training: dict[str, dict] = field(default_factory=dict)
    benchmarks: tuple = ()
    timings_s: dict[str, float] = field(default_factory=dict)
    # Anything else a stage reports (quantize: compression, layer_errors, edgetpu).
    extra: dict[str, Any] = field(default_factory=dict)
    # Where the run's files are (None until they are in place).
    out: Path | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    def to_document(self) -> dict:
        """The results.json document: the one place records become JSON."""
        document = new_document(self.kind, self.config, self.seeds)
        document["created"] = self.created
        document["data"] = self.data
        document["models"] = {role: record.as_dict() for role, record in self.models.items()}
        if self.distillation is not None:
            document["distillation"] = self.distillation.as_dict()
        if self.training:
            document["training"] = self.training
        document["benchmarks"] = [_benchmark_dict(b) for b in self.benchmarks]
        document["timings_s"] = self.timings_s
        return document | self.extra

    @property
    def verdict(self) -> str | None:
        return self.distillation.verdict if self.distillation is not None else None


def _benchmark_dict(benchmark) -> dict:
    return benchmark if isinstance(benchmark, dict) else benchmark.as_dict()
