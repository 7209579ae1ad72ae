"""Fit the device latency model to published points, and validate it by leaving one model out.

The model, per calibration device ``d``, precision ``p`` and published model with work
``x`` (per operator class, see ``edgekd.quantize.workload``)::

    time = floor_d + scale_{d,p} * sum_c weight_{g,c} * x_c

``weight_{g,c}`` is the relative cost of a unit of class ``c`` (a convolution MAC is 1) and
is shared by every device ``g`` of one kernel library, so a device with four points fits one
or two numbers of its own while the library's relative costs draw on every device that runs
it. A weak prior pulls each relative cost toward 1 (a MAC is a MAC, an element moved costs a
MAC) unless the points say otherwise. Microcontrollers are fitted in cycles (latency x the
board's clock), so one Cortex-M4 calibration serves every M4 board at its own clock.

An Edge TPU's classes are its MACs and the weight bytes beyond its on-chip cache (streamed
over its link at every inference), and it has a per-invoke floor: its published points show
one (MobileNet v1 and v2, 569 M and 301 M MACs, both take about 2.5 ms). CPUs and
microcontrollers get no floor: every published model on them is large enough that a
per-invoke cost cannot be told from the rest, and fitting one made the held-out errors worse
(docs/devices.md); their estimates say the floor is not known. (A per-op dispatch cost, the
input/output bytes and an Edge TPU cost per element moved were tried too, and left out: they
did not lower the held-out error.)

The fit minimises relative errors (a 10% miss on a 2 ms model weighs what it does on a 2 s
one), by alternating non-negative least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.profiles.calibration import Calibration, CalibrationDevice, CalibrationError, PublishedModel
from edgekd.quantize.workload import CLASSES, Workload

EDGETPU_FEATURES = ("macs", "streamed_bytes")
# Coral, "Compiling a model" / parameter data caching (coral.ai/docs/edgetpu/compiler): "The Edge TPU has
# roughly 8 MB of SRAM that can cache the model's parameter data"; weights beyond it stream at every inference.
EDGETPU_CACHE_BYTES = 8 * 2**20
# Prior relative costs (a MAC is a MAC; an element a MAC-equivalent; an Edge TPU byte ~ a few thousand MACs of a
# 4 TOPS array fed by a link of some hundreds of MB/s) and their weight against a 1 (100%) relative miss squared.
PRIOR = dict.fromkeys(CLASSES, 1.0)
EDGETPU_PRIOR = {"macs": 1.0, "streamed_bytes": 3000.0}
PRIOR_WEIGHT = 1e-4
FLOOR_MIN_POINTS = 3
ITERATIONS = 200


def feature_names(kind: str) -> tuple[str, ...]:
    return EDGETPU_FEATURES if kind == "edgetpu" else CLASSES


def has_floor(kind: str) -> bool:
    """Whether devices of ``kind`` get a fitted per-invoke floor (see the module's docstring)."""
    return kind == "edgetpu"


def features(kind: str, work: Workload) -> np.ndarray:
    """The feature vector of one workload for a device of ``kind`` (for an Edge TPU: its own part)."""
    if kind == "edgetpu":
        return np.array([work.macs, max(0, work.weight_bytes - EDGETPU_CACHE_BYTES)], dtype=float)
    return np.array([work.work.get(name, 0) for name in CLASSES], dtype=float)


def model_features(kind: str, model: PublishedModel) -> np.ndarray:
    return features(kind, model.edgetpu if kind == "edgetpu" and model.edgetpu is not None else model.total)


def unit(device: CalibrationDevice) -> str:
    return "cycles" if device.kind == "mcu" else "ms"


def to_unit(device: CalibrationDevice, latency_ms: float) -> float:
    return latency_ms * device.clock_mhz * 1e3 if device.kind == "mcu" else latency_ms


def group_of(name: str, device: CalibrationDevice) -> str:
    """Devices that share relative costs: one kernel library; an Edge TPU's link costs are its own."""
    return f"{device.library}@{name}" if device.kind == "edgetpu" else device.library


@dataclass(frozen=True)
class DeviceFit:
    """A device's fitted floor and per-precision scale, in its unit (ms, or cycles on a microcontroller)."""

    floor: float
    scales: dict[str, float]
    floor_fitted: bool
    points: int


@dataclass(frozen=True)
class GroupFit:
    kind: str
    weights: dict[str, float]
    devices: dict[str, DeviceFit]


@dataclass(frozen=True)
class Fit:
    groups: dict[str, GroupFit]
    calibration: Calibration

    def device(self, name: str) -> tuple[GroupFit, DeviceFit] | None:
        for group in self.groups.values():
            if name in group.devices:
                return group, group.devices[name]
        return None

    def predict(self, name: str, precision: str, x: np.ndarray) -> float | None:
        """The time in the device's unit, or None when it has no scale for ``precision``."""
        found = self.device(name)
        if found is None or precision not in found[1].scales:
            return None
        group, device = found
        weights = np.array([group.weights[f] for f in feature_names(group.kind)])
        return device.floor + device.scales[precision] * float(weights @ x)


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares (Lawson-Hanson, SciPy's: installed with TensorFlow Model Optimization)."""
    from scipy.optimize import nnls

    return nnls(a, b)[0]


def _fit_group(kind: str, rows: list[tuple[str, str, np.ndarray, float]], prior: dict[str, float]) -> GroupFit:
    """rows: (device, precision, features, measured time in the device's unit)."""
    names = feature_names(kind)
    weights = np.array([prior[n] for n in names])
    devices = sorted({r[0] for r in rows})
    fits: dict[str, DeviceFit] = {}
    for _ in range(ITERATIONS):
        previous = weights.copy()
        fits = {device: _fit_device(device, rows, weights, has_floor(kind)) for device in devices}
        weights = _fit_weights(rows, fits, weights, names, prior)
        if np.allclose(weights, previous, rtol=1e-6, atol=0):
            break
    fits = {device: _fit_device(device, rows, weights, has_floor(kind)) for device in devices}
    return GroupFit(kind, dict(zip(names, (float(w) for w in weights), strict=True)), fits)


def _fit_device(device: str, rows, weights: np.ndarray, floor: bool = True) -> DeviceFit:
    """Floor (when ``floor`` and there are enough points) and per-precision scales of one device, given weights."""
    mine = [r for r in rows if r[0] == device]
    precisions = sorted({r[1] for r in mine})
    with_floor = floor and len(mine) >= FLOOR_MIN_POINTS
    columns = (["floor"] if with_floor else []) + precisions
    a = np.zeros((len(mine), len(columns)))
    b = np.ones(len(mine))
    for i, (_, precision, x, y) in enumerate(mine):
        if with_floor:
            a[i, 0] = 1.0 / y
        a[i, columns.index(precision)] = float(weights @ x) / y
    solution = _nnls(a, b)
    values = dict(zip(columns, solution, strict=True))
    scales = {p: float(values[p]) for p in precisions if values[p] > 0}
    return DeviceFit(float(values.get("floor", 0.0)), scales, with_floor, len(mine))


def _fit_weights(rows, fits: dict[str, DeviceFit], weights: np.ndarray, names, prior) -> np.ndarray:
    a_rows, b_rows = [], []
    for device, precision, x, y in rows:
        fit = fits[device]
        scale = fit.scales.get(precision, 0.0)
        a_rows.append(scale * x[1:] / y)
        b_rows.append(1.0 - (fit.floor + scale * x[0]) / y)
    strength = np.sqrt(PRIOR_WEIGHT)
    for i, name in enumerate(names[1:]):
        row = np.zeros(len(names) - 1)
        row[i] = strength / prior[name]
        a_rows.append(row)
        b_rows.append(strength)
    solution = _nnls(np.array(a_rows), np.array(b_rows))
    return np.concatenate([[1.0], solution])


def _rows(calibration: Calibration, exclude_models: frozenset[str]) -> tuple[dict[str, list], dict[str, str]]:
    by_group: dict[str, list] = {}
    kinds: dict[str, str] = {}
    for point in calibration.points:
        if point.model in exclude_models:
            continue
        device = calibration.devices[point.device]
        group = group_of(point.device, device)
        kinds[group] = device.kind
        x = model_features(device.kind, calibration.models[point.model])
        by_group.setdefault(group, []).append((point.device, point.precision, x, to_unit(device, point.latency_ms)))
    return by_group, kinds


def fit(calibration: Calibration, exclude_models: frozenset[str] = frozenset(), start: Fit | None = None) -> Fit:
    """Fit every calibration device's floor and scales, and each library's relative costs.

    With ``start`` (a fit of the same data with more points), groups that lose no point keep
    its result; the others are fitted afresh.
    """
    by_group, kinds = _rows(calibration, exclude_models)
    if not by_group:
        raise CalibrationError("too few points to fit: the calibration data holds no point")
    groups = {}
    for group, rows in by_group.items():
        previous = start.groups.get(group) if start is not None else None
        if previous is not None and sum(d.points for d in previous.devices.values()) == len(rows):
            groups[group] = previous
            continue
        prior = EDGETPU_PRIOR if kinds[group] == "edgetpu" else PRIOR
        # A group that lost points starts again from the prior: starting from weights fitted with the
        # held-out model would leak it into its own validation.
        groups[group] = _fit_group(kinds[group], rows, prior)
    return Fit(groups, calibration)


@dataclass(frozen=True)
class Validation:
    """One held-out point: what the model fitted without that published model predicted for it."""

    device: str
    model: str
    precision: str
    measured_ms: float
    predicted_ms: float

    @property
    def error(self) -> float:
        """Absolute percentage error as a fraction (0.12 = 12%)."""
        return abs(self.predicted_ms - self.measured_ms) / self.measured_ms


def leave_one_model_out(calibration: Calibration) -> list[Validation]:
    """Refit without each published model in turn and predict its points from the rest (never the fit error)."""
    results = []
    full = fit(calibration)
    for model in sorted({p.model for p in calibration.points}):
        held = [p for p in calibration.points if p.model == model]
        rest = [p for p in calibration.points if p.model != model]
        if not rest:
            continue
        fitted = fit(calibration, frozenset({model}), start=full)
        for point in held:
            device = calibration.devices[point.device]
            predicted = fitted.predict(
                point.device, point.precision, model_features(device.kind, calibration.models[model])
            )
            if predicted is None:
                continue  # nothing else of this device (and precision) remained to fit it
            results.append(
                Validation(point.device, model, point.precision, point.latency_ms, from_unit(device, predicted))
            )
    return results


def from_unit(device: CalibrationDevice, value: float, clock_mhz: float | None = None) -> float:
    """Milliseconds from the device's unit; cycles run at ``clock_mhz`` (default: the device's own clock)."""
    if device.kind != "mcu":
        return value
    return value / ((clock_mhz or device.clock_mhz) * 1e3)
