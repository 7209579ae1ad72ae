"""How far the device latency model misses published points it did not see: per device, from leave-one-model-out.

The error table ``scripts/calibrate_devices.py`` prints and the interval every estimate
carries both come from here, computed from the calibration data each time it is read
(once per process), never typed in.
"""

from __future__ import annotations

import functools
import statistics
from dataclasses import dataclass

from edgekd.profiles.calibration import Calibration, builtin_calibration
from edgekd.profiles.fit import Fit, fit, from_unit, model_features


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


# An interval needs a few held-out predictions; with fewer, the device borrows its library's (or its kind's).
MIN_HELD_OUT = 3


@dataclass(frozen=True)
class DeviceError:
    """The held-out errors behind a device's interval, and where they come from."""

    errors: tuple[float, ...]
    scope: str  # "this device", "its kernel library (...)", "devices of its kind (...)"

    @property
    def median(self) -> float | None:
        return statistics.median(self.errors) if self.errors else None

    @property
    def worst(self) -> float | None:
        return max(self.errors) if self.errors else None


@dataclass(frozen=True)
class Validated:
    fit: Fit
    held_out: tuple[Validation, ...]

    def device_error(self, name: str) -> DeviceError:
        """The errors an interval on ``name`` stands on: its own when it has enough, else its library's or kind's."""
        calibration = self.fit.calibration
        own = tuple(v.error for v in self.held_out if v.device == name)
        if len(own) >= MIN_HELD_OUT:
            return DeviceError(own, "this device")
        device = calibration.devices[name]
        library = [n for n, d in calibration.devices.items() if d.library == device.library]
        shared = tuple(v.error for v in self.held_out if v.device in library)
        if len(shared) >= MIN_HELD_OUT:
            return DeviceError(shared, f"the devices of its kernel library ({device.library}: {', '.join(library)})")
        kind = tuple(v.error for v in self.held_out if calibration.devices[v.device].kind == device.kind)
        return DeviceError(kind, f"every {device.kind} calibration device")

    def below_range_error(self, name: str) -> DeviceError:
        """For a model below every published one: the device's errors and those of the devices its floor stands on.

        Such an estimate is mostly floor, so its interval takes in how far the floor's own
        published models (the small ones) were missed when held out.
        """
        calibration = self.fit.calibration
        own = self.device_error(name)
        found = self.fit.device(name)
        if found is None:
            return own
        group, device_fit = found
        if device_fit.floor_from:
            sources = [device_fit.floor_from]
        elif group.floor_terms:
            library = calibration.devices[name].library
            sources = [n for n, d in calibration.devices.items() if d.library == library and n != name]
        else:
            return own
        extra = tuple(v.error for v in self.held_out if v.device in sources)
        if not extra:
            return own
        return DeviceError(own.errors + extra, f"{own.scope} and of {', '.join(sources)}, whose points set its floor")


def validate_calibration(calibration: Calibration) -> Validated:
    return Validated(fit(calibration), tuple(leave_one_model_out(calibration)))


@functools.cache
def builtin_validated() -> Validated:
    """The shipped calibration, fitted and validated (once per process)."""
    return validate_calibration(builtin_calibration())


def floor_text(fitted: Fit, name: str) -> str:
    """A device's per-invoke floor in words: ``0.41 ms + 38 µs per op (int8)``, where it came from, or not fitted."""
    calibration = fitted.calibration
    device = calibration.devices[name]
    found = fitted.device(name)
    if found is None:
        return "n/a"
    group, device_fit = found
    if device_fit.floor_from:
        return f"from {device_fit.floor_from}"
    if group.kind == "edgetpu":
        return f"{device_fit.floor:.3g} ms" if device_fit.floor_fitted else "not fitted (fewer than 3 points)"
    if not group.floor_terms:
        return "not fitted (no published model small enough)"
    scale = device_fit.scales[device_fit.reference]
    invoke, per_op = scale * group.weights["invoke"], scale * group.weights["ops"]
    text = (lambda v: f"{v:,.0f} cycles") if device.kind == "mcu" else _ms
    parts = ([text(invoke)] if invoke >= 0.01 * per_op else []) + [f"{text(per_op)} per op"]
    return " + ".join(parts)


def _ms(value: float) -> str:
    return f"{value:.3g} ms" if value >= 1 else f"{1e3 * value:.3g} µs"


def device_table(calibration: Calibration) -> tuple[list[dict], list[Validation]]:
    """One row per calibration device: points, fitted floor, held-out count, median and worst held-out error."""
    validated = validate_calibration(calibration)
    rows = []
    for name, device in calibration.devices.items():
        errors = [v.error for v in validated.held_out if v.device == name]
        rows.append(
            {
                "device": name,
                "description": device.description,
                "library": device.library,
                "points": len(calibration.points_on(name)),
                "floor": floor_text(validated.fit, name),
                "held_out": len(errors),
                "median_error": statistics.median(errors) if errors else None,
                "worst_error": max(errors) if errors else None,
            }
        )
    return rows, list(validated.held_out)
