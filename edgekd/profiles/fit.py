"""Fit the device latency model to published points (leave-one-model-out validation: edgekd.profiles.validation).

The model, per calibration device ``d``, precision ``p`` and published model with work
``x`` (per operator class, see ``edgekd.modelfile.workload``)::

    time = floor_d + scale_{d,p} * (sum_c weight_{g,c} * x_c + weight_{g,op} * ops + weight_{g,invoke})

``weight_{g,c}`` is the relative cost of a unit of class ``c`` (a convolution MAC is 1) and
is shared by every device ``g`` of one kernel library, so a device with four points fits one
or two numbers of its own while the library's relative costs draw on every device that runs
it. A weak prior pulls each class's relative cost toward 1 (a MAC is a MAC, an element moved
costs a MAC) unless the points say otherwise. Microcontrollers are fitted in cycles (latency x
the board's clock), so one Cortex-M4 calibration serves every M4 board at its own clock.

The per-invoke floor of a CPU or microcontroller runtime is the last two terms: a cost per op
(dispatch, a thread pool's wake-up and barrier) and a cost per invoke, in MAC-equivalents of
the library, so a faster device of the same library has a proportionally smaller floor. They
are fitted only for the libraries whose published points include models small enough to show
them (``libraries.NAME.floor`` in measurements.yaml, and why); elsewhere the floor is not
known and estimates say so. A device may take its floor from another calibration device on
the same board (``floor_from``): its points are fitted after that device's per-op and
per-invoke time is taken off.

An Edge TPU's classes are its MACs and the weight bytes beyond its on-chip cache (streamed
over its link at every inference), and it has a per-invoke floor of its own: its published
points show one (MobileNet v1 and v2, 569 M and 301 M MACs, both take about 2.5 ms).

The fit minimises relative errors (a 10% miss on a 2 ms model weighs what it does on a 2 s
one), by alternating non-negative least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekd.modelfile.workload import CLASSES, Workload
from edgekd.profiles.calibration import Calibration, CalibrationDevice, CalibrationError, PublishedModel

FLOOR_FEATURES = ("ops", "invoke")
CPU_FEATURES = (*CLASSES, *FLOOR_FEATURES)
EDGETPU_FEATURES = ("macs", "streamed_bytes")
# Coral, "Compiling a model" / parameter data caching (coral.ai/docs/edgetpu/compiler): "The Edge TPU has
# roughly 8 MB of SRAM that can cache the model's parameter data"; weights beyond it stream at every inference.
EDGETPU_CACHE_BYTES = 8 * 2**20
# Prior relative costs (a MAC is a MAC; an element a MAC-equivalent; an Edge TPU byte ~ a few thousand MACs of a
# 4 TOPS array fed by a link of some hundreds of MB/s) and their weight against a 1 (100%) relative miss squared.
# The floor terms have no prior: they are fitted only where small published models show them.
PRIOR = dict.fromkeys(CLASSES, 1.0)
EDGETPU_PRIOR = {"macs": 1.0, "streamed_bytes": 3000.0}
PRIOR_WEIGHT = 1e-4
FLOOR_MIN_POINTS = 3
ITERATIONS = 50


def feature_names(kind: str) -> tuple[str, ...]:
    return EDGETPU_FEATURES if kind == "edgetpu" else CPU_FEATURES


def features(kind: str, work: Workload) -> np.ndarray:
    """The feature vector of one workload for a device of ``kind`` (for an Edge TPU: its own part)."""
    if kind == "edgetpu":
        return np.array([work.macs, max(0, work.weight_bytes - EDGETPU_CACHE_BYTES)], dtype=float)
    return np.array([*(work.work.get(name, 0) for name in CLASSES), work.ops, 1.0], dtype=float)


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
    """A device's fitted floor (Edge TPU) and per-precision scale, in its unit (ms, or cycles on an MCU)."""

    floor: float
    scales: dict[str, float]
    floor_fitted: bool
    points: int
    # Another calibration device on the same board whose per-op and per-invoke time this one takes (or None).
    floor_from: str | None = None

    @property
    def reference(self) -> str | None:
        """The precision whose scale times the per-op and per-invoke costs: int8 where the device has it."""
        return reference_precision(self.scales)


def reference_precision(precisions) -> str | None:
    """int8 where present, else the first: the per-op dispatch does not depend on the precision, so one scale."""
    return "int8" if "int8" in precisions else (sorted(precisions)[0] if precisions else None)


def split(weights: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(the work of the op classes, the per-op and per-invoke work) of features ``x``, weighted."""
    if len(x) != len(CPU_FEATURES):
        return float(weights @ x), 0.0
    cut = len(CLASSES)
    return float(weights[:cut] @ x[:cut]), float(weights[cut:] @ x[cut:])


@dataclass(frozen=True)
class GroupFit:
    kind: str
    weights: dict[str, float]
    devices: dict[str, DeviceFit]
    # Whether the library's per-op and per-invoke costs were fitted (CPUs and microcontrollers).
    floor_terms: bool = False


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
        body, floor = split(np.array([group.weights[f] for f in feature_names(group.kind)]), x)
        time = device.scales[precision] * body + device.scales[device.reference] * floor
        return self.offset(name, precision, x) + device.floor + time

    def offset(self, name: str, precision: str, x: np.ndarray) -> float:
        """The per-op and per-invoke time ``name`` takes from its ``floor_from`` device (0 without one)."""
        found = self.device(name)
        source = found[1].floor_from if found else None
        return (self.floor(source, precision, x, fallback=True) or 0.0) if source else 0.0

    def floor(self, name: str, precision: str, x: np.ndarray, fallback: bool = False) -> float | None:
        """The per-invoke floor of a model with features ``x`` on ``name`` (its unit), or None when not known.

        The floor is the same in every precision (the interpreter's dispatch and a thread pool's
        barrier do not depend on it): the library's per-op and per-invoke costs times the device's
        scale in its reference precision. With ``fallback``, a device without points in
        ``precision`` gives it too (a floor measured with float models stands for int8 ones).
        """
        found = self.device(name)
        if found is None or not found[1].scales:
            return None
        group, device = found
        if precision not in device.scales:
            if not fallback:
                return None
            precision = sorted(device.scales)[0]
        if device.floor_from:
            return self.floor(device.floor_from, precision, x, fallback=True)
        if group.kind == "edgetpu":
            return device.floor if device.floor_fitted else None
        if not group.floor_terms:
            return None
        terms = sum(group.weights[name] * x[CPU_FEATURES.index(name)] for name in FLOOR_FEATURES)
        return device.scales[device.reference] * terms


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares (Lawson-Hanson, SciPy's), on columns scaled to unit norm for conditioning."""
    from scipy.optimize import nnls

    norms = np.linalg.norm(a, axis=0)
    norms[norms == 0] = 1.0
    return nnls(a / norms, b)[0] / norms


# rows: (device, precision, features, measured time in the device's unit, time already accounted for)
Row = tuple[str, str, np.ndarray, float, float]


def _fit_group(kind: str, rows: list[Row], prior: dict[str, float], floor_terms: bool, floor_from) -> GroupFit:
    names = feature_names(kind)
    free = [n for n in names[1:] if n not in FLOOR_FEATURES or floor_terms]
    weights = np.array([prior.get(n, 0.0) for n in names])
    devices = sorted({r[0] for r in rows})
    fits: dict[str, DeviceFit] = {}
    for _ in range(ITERATIONS):
        previous = weights.copy()
        fits = {d: _fit_device(d, rows, weights, kind == "edgetpu", floor_from.get(d)) for d in devices}
        weights = _fit_weights(rows, fits, weights, names, free, prior)
        if np.allclose(weights, previous, rtol=1e-6, atol=0):
            break
    fits = {d: _fit_device(d, rows, weights, kind == "edgetpu", floor_from.get(d)) for d in devices}
    weights, fits = _refine(rows, fits, weights, names, free, prior)
    return GroupFit(kind, dict(zip(names, (float(w) for w in weights), strict=True)), fits, floor_terms)


def _refine(rows, fits: dict[str, DeviceFit], weights: np.ndarray, names, free, prior):
    """Finish the alternating fit jointly (bounded least squares on every parameter at once).

    Alternating least squares on a product of scale and weights crawls near the optimum; stopped
    early it leaves an answer that depends on the iteration count. Trust-region least squares
    from that start reaches the optimum of the same relative-error objective.
    """
    from scipy.optimize import least_squares

    columns = [names.index(n) for n in free]
    keys = [(d, p) for d, fit in fits.items() for p in sorted(fit.scales)]
    floors = [d for d, fit in fits.items() if fit.floor_fitted]
    start = np.array(
        [*(weights[i] for i in columns), *(fits[d].scales[p] for d, p in keys), *(fits[d].floor for d in floors)]
    )
    if not keys or not len(rows):
        return weights, fits
    strength = np.sqrt(PRIOR_WEIGHT)
    index = {key: i for i, key in enumerate(keys)}
    usable = [r for r in rows if (r[0], r[1]) in index]

    def unpack(values):
        w = weights.copy()
        w[columns] = values[: len(columns)]
        scales = values[len(columns) : len(columns) + len(keys)]
        floor = dict(zip(floors, values[len(columns) + len(keys) :], strict=True))
        return w, scales, floor

    reference = {d: fit.reference for d, fit in fits.items()}

    def residuals(values):
        w, scales, floor = unpack(values)
        out = []
        for device, precision, x, y, offset in usable:
            body, terms = split(w, x)
            ref = (device, reference[device]) if (device, reference[device]) in index else (device, precision)
            time = scales[index[(device, precision)]] * body + scales[index[ref]] * terms
            out.append((offset + floor.get(device, 0.0) + time - y) / y)
        out += [strength * (w[names.index(n)] / prior[n] - 1.0) for n in free if n in prior]
        return np.array(out)

    scale = np.where(start > 0, start, 1.0)
    solution = least_squares(residuals, start, bounds=(0, np.inf), x_scale=scale, xtol=1e-12, ftol=1e-12).x
    w, scales, floor = unpack(solution)
    refined = {
        d: DeviceFit(
            floor.get(d, fit.floor),
            {p: float(scales[index[(d, p)]]) for p in fit.scales},
            fit.floor_fitted,
            fit.points,
            fit.floor_from,
        )
        for d, fit in fits.items()
    }
    return w, refined


def _fit_device(device: str, rows, weights: np.ndarray, floor: bool = True, floor_from: str | None = None):
    """Floor (when ``floor`` and there are enough points) and per-precision scales of one device, given weights.

    The per-op and per-invoke work of every row runs at the reference precision's scale.
    """
    mine = [r for r in rows if r[0] == device]
    precisions = sorted({r[1] for r in mine})
    reference = reference_precision(precisions)
    with_floor = floor and len(mine) >= FLOOR_MIN_POINTS
    columns = (["floor"] if with_floor else []) + precisions
    a = np.zeros((len(mine), len(columns)))
    b = np.ones(len(mine))
    for i, row in enumerate(mine):
        _, precision, x, y = row[:4]
        offset = row[4] if len(row) > 4 else 0.0
        if with_floor:
            a[i, 0] = 1.0 / y
        body, terms = split(weights, x)
        a[i, columns.index(precision)] += body / y
        a[i, columns.index(reference)] += terms / y
        b[i] = 1.0 - offset / y
    solution = _nnls(a, b)
    values = dict(zip(columns, solution, strict=True))
    scales = {p: float(values[p]) for p in precisions if values[p] > 0}
    return DeviceFit(float(values.get("floor", 0.0)), scales, with_floor, len(mine), floor_from)


def _fit_weights(rows, fits: dict[str, DeviceFit], weights: np.ndarray, names, free, prior) -> np.ndarray:
    """The library's relative costs given the devices' scales (conv fixed at 1; ``free`` ones fitted, others kept)."""
    columns = [names.index(n) for n in free]
    a_rows, b_rows = [], []
    for device, precision, x, y, offset in rows:
        fit = fits[device]
        scale = fit.scales.get(precision, 0.0)
        per_feature = np.array([fit.scales.get(fit.reference, 0.0) if n in FLOOR_FEATURES else scale for n in names])
        fixed = sum(weights[i] * per_feature[i] * x[i] for i in range(len(names)) if i not in columns)
        a_rows.append(per_feature[columns] * x[columns] / y)
        b_rows.append(1.0 - (offset + fit.floor + fixed) / y)
    strength = np.sqrt(PRIOR_WEIGHT)
    for j, name in enumerate(free):
        if name in prior:
            row = np.zeros(len(free))
            row[j] = strength / prior[name]
            a_rows.append(row)
            b_rows.append(strength)
    solution = _nnls(np.array(a_rows), np.array(b_rows))
    updated = weights.copy()
    updated[columns] = solution
    return updated


def _order(calibration: Calibration, groups: set[str]) -> list[str]:
    """Groups in an order that fits each ``floor_from`` source before the devices that take its floor."""
    ordered: list[str] = []

    def visit(group: str, seen: tuple[str, ...] = ()) -> None:
        if group in ordered:
            return
        if group in seen:
            raise CalibrationError(f"floor_from forms a cycle through {group!r} in the calibration devices")
        for name, device in calibration.devices.items():
            if group_of(name, device) == group and device.floor_from:
                source = calibration.devices[device.floor_from]
                visit(group_of(device.floor_from, source), (*seen, group))
        ordered.append(group)

    for group in sorted(groups):
        visit(group)
    return [g for g in ordered if g in groups]


def fit(calibration: Calibration, exclude_models: frozenset[str] = frozenset(), start: Fit | None = None) -> Fit:
    """Fit every calibration device's floor and scales, and each library's relative costs.

    With ``start`` (a fit of the same data with more points), groups that lose no point (and
    whose floor source kept its fit) keep its result; the others are fitted afresh.
    """
    points = [p for p in calibration.points if p.model not in exclude_models]
    if not points:
        raise CalibrationError("too few points to fit: the calibration data holds no point")
    by_group: dict[str, list] = {}
    for point in points:
        device = calibration.devices[point.device]
        by_group.setdefault(group_of(point.device, device), []).append(point)
    done = Fit({}, calibration)
    refitted: set[str] = set()
    for group in _order(calibration, set(by_group)):
        members = by_group[group]
        first = calibration.devices[members[0].device]
        floor_from = {p.device: calibration.devices[p.device].floor_from for p in members}
        sources = {group_of(s, calibration.devices[s]) for s in floor_from.values() if s}
        previous = start.groups.get(group) if start is not None else None
        if (
            previous is not None
            and sum(d.points for d in previous.devices.values()) == len(members)
            and not sources & refitted
        ):
            done.groups[group] = previous
            continue
        rows = []
        for point in members:
            device = calibration.devices[point.device]
            x = model_features(device.kind, calibration.models[point.model])
            offset = done.floor(device.floor_from, point.precision, x, fallback=True) if device.floor_from else 0.0
            rows.append((point.device, point.precision, x, to_unit(device, point.latency_ms), offset or 0.0))
        prior = EDGETPU_PRIOR if first.kind == "edgetpu" else PRIOR
        # A group that lost points starts again from the prior: starting from weights fitted with the
        # held-out model would leak it into its own validation.
        terms = first.kind != "edgetpu" and calibration.library_floor(first.library)
        done.groups[group] = _fit_group(first.kind, rows, prior, terms, floor_from)
        refitted.add(group)
    return done


def from_unit(device: CalibrationDevice, value: float, clock_mhz: float | None = None) -> float:
    """Milliseconds from the device's unit; cycles run at ``clock_mhz`` (default: the device's own clock)."""
    if device.kind != "mcu":
        return value
    return value / ((clock_mhz or device.clock_mhz) * 1e3)
