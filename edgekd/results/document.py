"""The results.json document: what every command that produces artifacts writes.

Schema (documented in docs/results.md): ``schema_version``, ``kind``, ``created``,
``edgekd_version``, ``versions``, ``seeds``, ``config``, ``data``, ``models`` (role →
record), ``distillation``, ``benchmarks`` (list), ``timings_s``. Documents are checked when
read (:func:`parse_document`): a results.json may come from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from edgekd.errors import EdgekdError
from edgekd.inputs import read_regular_file

# The document's header is written with the records, a floor below (re-exported: its names stay here).
from edgekd.records import RESULTS_SCHEMA_VERSION, library_versions, new_document  # noqa: F401
from edgekd.untrusted import for_terminal
from edgekd.validation import parse_json, validate


def model_record(
    role: str,
    *,
    accuracy: float | None,
    accuracy_source: str,
    params: int | None,
    macs: int | None,
    size_bytes: int,
    path: str,
    fmt: str,
    **extra,
) -> dict:
    """One entry of ``models``: every figure with where it came from."""
    return {
        "role": role,
        "accuracy": None if accuracy is None else round(float(accuracy), 6),
        "accuracy_source": accuracy_source,
        "params": params,
        "macs": macs,
        "size_bytes": int(size_bytes),
        "path": path,
        "format": fmt,
        **extra,
    }


class DocumentError(EdgekdError):
    """A results document (results.json, or a run in the store) that this edgekd cannot read."""


# The shape readers rely on (tables, comparisons, reports, plots). Types are strict, so a
# string where a number belongs is refused here rather than failing in a format string;
# fields edgekd adds over time and the readers do not use pass through unchecked.
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _ModelRecord(_Open):
    format: str | None = None
    accuracy: float | None = None
    accuracy_source: str | None = None
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    path: str | None = None
    mode: str | None = None
    detected_mode: str | None = None
    warnings: list[str] = []


class _Energy(_Open):
    value_mj: float | None = None
    source: str | None = None
    reason: str | None = None


class _DeviceAccuracy(_Open):
    """``bench --accuracy``: the device's outputs against the host's (``edgekd.bench.accuracy.DeviceAccuracy``)."""

    runtime: str
    samples: int
    accuracy: float
    host_accuracy: float
    agreement_with_host: float
    largest_difference: float
    largest_difference_steps: int | None = None


class _Overhead(_Open):
    """The per-invoke floor: a one-op model's p50 on the same device (``edgekd.bench.overhead``)."""

    p50_ms: float
    runs: int
    share_of_p50: float | None = None


class _Window(_Open):
    p50_ms: float | None = None
    mean_ms: float | None = None
    max_temp_c: float | None = None


class _Sustained(_Open):
    """``bench --sustained``: the windows and the drift from the first to the last (``edgekd.bench.thermal``)."""

    seconds: float
    windows: list[_Window]
    drift_pct: float | None = None
    drift_of: Literal["p50_ms", "mean_ms"] = "mean_ms"
    temperature_rise_c: float | None = None

    @model_validator(mode="after")
    def _ends_hold_what_the_drift_reads(self) -> _Sustained:
        # Readers print the first and last window's figure the drift is of, and their temperatures with a rise.
        for end, window in (("first", self.windows[:1]), ("last", self.windows[-1:])):
            if window and getattr(window[0], self.drift_of) is None:
                raise ValueError(f"the {end} window has no {self.drift_of}")
            if window and self.temperature_rise_c is not None and window[0].max_temp_c is None:
                raise ValueError(f"a temperature rise is given but the {end} window has no max_temp_c")
        return self


class _Cooldown(_Open):
    target_c: float
    waited_s: float
    reached: bool
    start_c: float | None = None
    end_c: float | None = None


class _OpTime(_Open):
    op: str
    count: int
    ms: float
    share: float
    on_delegate: bool


class _OpProfile(_Open):
    """``bench --profile-ops``: op types by time, or the ``error`` that left the model without a profile."""

    error: str | None = None
    ops: list[_OpTime] = []
    nodes_executed: int | None = None
    delegated_nodes: int | None = None
    model_nodes: int | None = None
    delegate: str | None = None


class _Benchmark(_Open):
    model: str
    device: str
    ok: bool
    runs: int | None = None
    size_bytes: int | None = None
    latency_ms: dict[str, float | None] | None = None
    latency_source: str | None = None
    energy: _Energy | None = None
    environment: dict[str, Any] | None = None
    error: str | None = None
    warnings: list[str] = []
    accuracy: _DeviceAccuracy | None = None
    invoke_overhead: _Overhead | None = None
    sustained: _Sustained | None = None
    cooldown: _Cooldown | None = None
    op_profile: _OpProfile | None = None
    emulated_of: str | None = None
    runner: str | None = None


class _Budget(_Open):
    steps: int
    batch_size: int


class _Term(_Open):
    method: str
    weight: float


class _Feature(_Open):
    key: str
    teacher_layer: str
    student_layer: str
    teacher_shape: list[int | None]
    student_shape: list[int | None]
    adapter: bool


class _Ensemble(_Open):
    teachers: list[dict[str, Any]]
    weights: list[float]

    @model_validator(mode="after")
    def _one_weight_per_teacher(self) -> _Ensemble:
        if len(self.teachers) != len(self.weights):
            raise ValueError(f"{len(self.teachers)} teachers but {len(self.weights)} weights")
        return self


class _Strategy(_Open):
    name: str
    replicas: int


class _RecipeScore(_Open):
    recipe: str
    val_accuracy: float
    val_loss: float
    steps: int
    seconds: float
    stopped: str | None = None


class _Selection(_Open):
    """The recipes ``auto`` tried on a short budget (``edgekd.distill.summary.distillation_summary``)."""

    candidates: list[_RecipeScore]
    chosen: str
    fraction_of_budget: float
    rungs: list[float] = []
    seconds: float
    left_out: str | None = None


class _Shipped(_Open):
    role: str
    reason: str


class _Distillation(_Open):
    method: str
    verdict: str
    budget: _Budget
    selection: _Selection | None = None
    shipped: _Shipped | None = None
    transfer_samples: int | None = None
    student_mac_fraction: float | None = None
    accuracy_kept: float | None = None
    gain_over_control_points: float | None = None
    terms: list[_Term] | None = None
    teacher_outputs: str | None = None
    teacher_outputs_reason: str | None = None
    augment: list[str] | None = None
    ensemble: _Ensemble | None = None
    features: list[_Feature] = []
    strategy: _Strategy | None = None


class _History(_Open):
    loss: list[float] = []
    val_accuracy: list[float] = []
    steps_per_checkpoint: int | None = None
    stopped_early: bool = False
    resumed_from: list[int] | None = None


class _Data(_Open):
    name: str | None = None
    input_shape: list[int | None] = []
    num_classes: int | None = None
    train_samples: int | None = None
    test_samples: int | None = None
    unlabeled_samples: int | None = None


class ResultsDocument(_Open):
    """The checked shape of a results document (see :func:`new_document` for what is written)."""

    schema_version: int
    kind: str
    created: str | None = None
    edgekd_version: str | None = None
    versions: dict[str, str] = {}
    data: _Data | None = None
    models: dict[str, _ModelRecord] = {}
    benchmarks: list[_Benchmark] = []
    distillation: _Distillation | None = None
    training: dict[str, _History] = {}
    timings_s: dict[str, float] = {}


# Real documents nest about five levels deep; far deeper ones exhaust the recursion of
# whatever walks them (repr, json.dumps) and are refused when read.
MAX_NESTING = 64
# A results.json of a thousand benchmarks with sustained windows is a few MiB.
MAX_RESULTS_BYTES = 256 << 20


def nesting_depth(value: Any) -> int:
    """How deeply ``value`` nests (1 for a scalar), counted without recursion and only up to past MAX_NESTING."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return deepest


def parse_document(document: Any, source: str) -> dict:
    """``document`` if it is a results document this edgekd reads, else one ``DocumentError`` naming the field."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise DocumentError(f"{source} is not an edgekd results file (no schema_version)")
    if nesting_depth(document) > MAX_NESTING:
        raise DocumentError(f"{source} is nested more than {MAX_NESTING} levels deep; it is not an edgekd results file")
    version = document["schema_version"]
    if version != RESULTS_SCHEMA_VERSION or isinstance(version, bool):
        raise DocumentError(
            f"{source} (schema {for_terminal(repr(version))}) holds results of another schema version; this edgekd "
            f"reads schema {RESULTS_SCHEMA_VERSION}: re-run it with this version, or read it with the edgekd that wrote it"
        )
    validate(ResultsDocument, document, source, DocumentError)
    return document


def read_results_file(path: Path) -> dict:
    """A results.json file, parsed and checked (see :func:`parse_document`)."""
    data = read_regular_file(path, "results file", DocumentError, limit=MAX_RESULTS_BYTES)
    return parse_document(parse_json(data, str(path), DocumentError, "an edgekd results file"), str(path))
