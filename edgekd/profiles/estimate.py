"""Latency and energy of a model on a device nothing was run on: the calibrated model, its interval and its basis.

A profile names, in ``estimate.calibration``, the calibration device whose published points
it stands on (itself, or a board of the same core and kernel library at another clock). The
estimate is that device's fitted floor plus its per-precision scale times the model's work
per operator class (``edgekd.profiles.fit``); on a microcontroller the fitted cycles run at
this board's clock; on an Edge TPU the ops it does not take run on the CPU the profile's
``estimate.cpu_fallback`` names. The interval is the worst held-out error of that
calibration (``edgekd.profiles.validation``), and the basis says which points, which
runtime, and how far the figure is extrapolated. Energy is the estimated latency times the
power a source measured under load (the profile's ``power_model``, or the calibration
board's MLPerf Tiny energy runs), above idle where idle is known.

A profile without a calibration, or a precision its calibration has no points for, gets a
``NoEstimate`` with the reason: never a bare MACs figure.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from edgekd.errors import EdgekdError
from edgekd.modelfile.workload import CLASSES, SplitWorkload, Workload
from edgekd.profiles.calibration import precision_of
from edgekd.profiles.energy import calibration_power, energy_available, estimate_energy  # noqa: F401 (re-exported)
from edgekd.profiles.fit import features, from_unit
from edgekd.profiles.schema import DeviceProfile
from edgekd.profiles.user_calibration import load_user
from edgekd.profiles.validation import Validated, builtin_validated

# The op count a latency budget's MAC hint assumes for the floor (a small student's).
SIZING_OPS = 10


class NoEstimate(EdgekdError):
    """A device or precision the calibration cannot speak for; the message says why in one line."""


@dataclass(frozen=True)
class Estimate:
    """An estimated latency and energy per inference, with an interval from held-out error and a basis."""

    device: str
    precision: str
    latency_ms: float
    latency_interval_ms: tuple[float, float]
    energy_mj: float | None
    energy_interval_mj: tuple[float, float] | None
    above_idle_mj: float | None
    floor_ms: float | None
    error_median: float
    error_worst: float
    basis: str
    power_basis: str | None
    # Far below every published model on its device: the held-out error does not cover it (see the basis).
    outside_range: bool = False
    # The basis in a phrase, for the compute answer: points, runtime, held-out error.
    summary: str = ""
    # Outside the range: the latency of the smallest published model on the device (the interval's upper end).
    smallest_published_ms: float | None = None

    def as_dict(self) -> dict:
        return {
            "latency_ms": round(self.latency_ms, 6),
            "latency_interval_ms": [round(v, 6) for v in self.latency_interval_ms],
            "energy_mj": round(self.energy_mj, 9) if self.energy_mj is not None else None,
            "energy_interval_mj": [round(v, 9) for v in self.energy_interval_mj] if self.energy_interval_mj else None,
            "above_idle_mj": round(self.above_idle_mj, 9) if self.above_idle_mj is not None else None,
            "floor_ms": round(self.floor_ms, 6) if self.floor_ms is not None else None,
            "error": {"median": round(self.error_median, 4), "worst": round(self.error_worst, 4)},
            "source": "estimated",
            "basis": self.basis,
            "power_basis": self.power_basis,
            "outside_published_range": self.outside_range,
        }


def estimate(
    profile: DeviceProfile, split: SplitWorkload, mode: str | None, validated: Validated | None = None
) -> Estimate:
    """The estimate for a model (its workload, and the mode its file is in) on ``profile``; ``NoEstimate`` if none."""
    source = profile.estimate
    precision = precision_of(mode)
    user = load_user(profile.name)
    if user is not None and precision in user.scales:
        return _user_estimate(profile, user, split, precision, validated)
    if source is None:
        raise NoEstimate(
            f"{profile.name}: no calibration: no published measurements stand behind an estimate for this device "
            "(its profile names no estimate.calibration); measure it with `edgekd bench`"
        )
    if precision is None:
        raise NoEstimate(f"{profile.name}: no published points for {mode} models; only int8 and float32 are calibrated")
    validated = validated or builtin_validated()
    calibration = validated.fit.calibration
    device = calibration.device(source.calibration)
    found = validated.fit.device(source.calibration)
    if found is None or precision not in found[1].scales:
        covered = ", ".join(sorted(found[1].scales)) if found else "nothing"
        raise NoEstimate(
            f"{profile.name}: no calibration for {precision} models: the published points on {source.calibration} "
            f"cover {covered}"
        )
    group, fitted = found
    clock = profile.hardware.clock_ghz * 1e3 if device.kind == "mcu" else None
    speedup = source.speedup or 1.0
    x = features(device.kind, split.total)
    if device.kind == "edgetpu":
        total_unit, cpu_note = _edgetpu_time(profile, split, validated)
    else:
        total_unit = validated.fit.predict(source.calibration, precision, x)
        cpu_note = ""
    latency = from_unit(device, total_unit, clock) / speedup
    floor_unit = validated.fit.floor(source.calibration, precision, x)
    floor = from_unit(device, floor_unit, clock) / speedup if floor_unit is not None else None
    bound = _smallest_published(calibration, source.calibration, precision, clock) / speedup
    outside = _range_note(calibration, source.calibration, split.total.macs, bound, floor, device.kind)
    errors = (
        validated.below_range_error(source.calibration)
        if outside and floor is not None
        else validated.device_error(source.calibration)
    )
    worst = errors.worst if errors.worst is not None else 1.0
    median = errors.median if errors.median is not None else 1.0
    interval = (latency / (1 + worst), latency * (1 + worst))
    basis = _basis(profile, device, fitted, source, errors, calibration, floor is not None) + cpu_note
    if outside:
        basis += outside
        if floor is None:
            # Without a floor the held-out error says nothing this far below the published models: the interval
            # runs up to the smallest published model's latency, which a model doing less work should not exceed.
            interval = (interval[0], max(interval[1], bound))
    energy, energy_interval, above_idle, power_basis = estimate_energy(profile, source.calibration, latency, interval)
    return Estimate(
        profile.name,
        precision,
        latency,
        interval,
        energy,
        energy_interval,
        above_idle,
        floor,
        median,
        worst,
        basis,
        power_basis,
        bool(outside),
        _summary(calibration, source, device, errors),
        bound if outside else None,
    )


def _user_estimate(profile: DeviceProfile, user, split: SplitWorkload, precision: str, validated) -> Estimate:
    """An estimate from the user's own calibration of this device (``edgekd devices calibrate``)."""
    latency = user.predict_ms(precision, features(user.kind, split.total))
    errors = user.errors
    scope = f"your {len(errors)} held-out prediction(s)"
    if len(errors) < 3 and profile.estimate is not None:
        built_in = (validated or builtin_validated()).device_error(profile.estimate.calibration)
        errors, scope = built_in.errors, f"the built-in calibration's {built_in.scope} (yours has too few points)"
    worst = max(errors) if errors else 1.0
    median = statistics.median(errors) if errors else 1.0
    interval = (latency / (1 + worst), latency * (1 + worst))
    floor = user.floor_ms if user.floor_fitted else None
    basis = (
        f"your calibration of {profile.name}: {user.points} measured point(s) from {', '.join(user.runs)}, fitted "
        f"{user.fitted_on} (edgekd devices calibrate); held-out error median {100 * median:.0f}%, worst "
        f"{100 * worst:.0f}% over {scope}"
    )
    name = profile.estimate.calibration if profile.estimate is not None else profile.name
    energy, energy_interval, above_idle, power_basis = estimate_energy(profile, name, latency, interval)
    return Estimate(
        profile.name,
        precision,
        latency,
        interval,
        energy,
        energy_interval,
        above_idle,
        floor,
        median,
        worst,
        basis,
        power_basis,
    )


def _edgetpu_time(profile: DeviceProfile, split: SplitWorkload, validated: Validated) -> tuple[float, str]:
    source = profile.estimate
    if split.edgetpu is None or split.edgetpu.ops == 0:
        raise NoEstimate(
            f"{profile.name}: the model has no op the Edge TPU would take (see `edgekd inspect --edgetpu`)"
        )
    on_tpu = validated.fit.predict(source.calibration, "int8", features("edgetpu", split.edgetpu))
    cpu = split.cpu_fallback
    if cpu is None or cpu.macs + sum(cpu.work.values()) == 0:
        return on_tpu, ""
    if source.cpu_fallback is None:
        raise NoEstimate(
            f"{profile.name}: {cpu.ops} op(s) fall back to the CPU and the profile names no calibrated CPU for them "
            "(estimate.cpu_fallback)"
        )
    fallback_device = validated.fit.calibration.device(source.cpu_fallback)
    on_cpu = validated.fit.predict(source.cpu_fallback, "int8", features(fallback_device.kind, cpu))
    if on_cpu is None:
        raise NoEstimate(f"{profile.name}: the CPU fallback {source.cpu_fallback} has no int8 calibration")
    cpu_ms = from_unit(fallback_device, on_cpu)
    return on_tpu + cpu_ms, (
        f"; {cpu.ops} op(s) the Edge TPU does not take run on the CPU ({source.cpu_fallback}'s calibration): "
        f"{cpu_ms:.3g} ms of the total"
    )


# A model this many times smaller than every published model on its device is outside what the points check.
OUTSIDE_RANGE = 10


def _smallest_published(calibration, name: str, precision: str, clock_mhz: float | None) -> float:
    """The latency of the smallest published model on ``name`` (in ``precision`` where it has one), at this clock."""
    points = calibration.points_on(name)
    same = [p for p in points if p.precision == precision] or points
    smallest = min(same, key=lambda p: calibration.models[p.model].total.macs)
    device = calibration.devices[name]
    if device.kind == "mcu" and clock_mhz:
        return smallest.latency_ms * device.clock_mhz / clock_mhz
    return smallest.latency_ms


def _range_note(calibration, name: str, macs: int, bound_ms: float, floor, kind: str) -> str:
    from edgekd.readable import readable_time

    smallest = min(calibration.models[p.model].total.macs for p in calibration.points_on(name))
    if macs * OUTSIDE_RANGE >= smallest:
        return ""
    if floor is not None:
        carried = (
            f"the per-invoke floor fitted to its published points ({readable_time(floor)})"
            if kind == "edgetpu"
            else "the per-op and per-invoke costs fitted on small published models"
        )
        return (
            f"; below the published range (the smallest published model on {name} has {smallest:,} MACs, this one "
            f"{macs:,}): {carried} carry the estimate, an extrapolation to a model this small"
        )
    return (
        f"; outside the published range: the smallest published model on {name} has {smallest:,} MACs and this one "
        f"{macs:,}, so no published point checks a model this small (nor the per-invoke floor, which dominates "
        f"small models); the interval runs up to that model's {bound_ms:.3g} ms, which a model doing less work "
        "should not exceed"
    )


def _summary(calibration, source, device, errors) -> str:
    """``94 published points on rpi4-tflite, held-out error median 9%``: the basis in a phrase."""
    points = calibration.points_on(source.calibration)
    text = f"{len(points)} published points on {source.calibration}"
    if device.kind == "mcu":
        text += f" at {device.clock_mhz:g} MHz"
    if source.speedup:
        text += f" / {source.speedup:g}"
    if errors.median is not None:
        text += f", held-out error median {100 * errors.median:.0f}%"
    return text


def _basis(profile, device, fitted, source, errors, calibration, floor_known: bool) -> str:
    points = calibration.points_on(source.calibration)
    cited = sorted({p.source for p in points})
    parts = [
        f"{len(points)} published point(s) on {source.calibration} ({device.description}; sources: {', '.join(cited)})"
    ]
    if device.kind == "mcu":
        parts.append(
            f"cycles at {device.clock_mhz:g} MHz there, run at this board's {profile.hardware.clock_ghz * 1e3:g} MHz"
        )
    if source.speedup:
        parts.append(f"extrapolated: divided by {source.speedup:g} ({source.speedup_source})")
    if len(points) < 3:
        library = [n for n, d in calibration.devices.items() if d.library == device.library and n != source.calibration]
        parts.append(
            f"extrapolated: only {len(points)} point(s) set its scale; the relative cost of each op class comes from "
            f"its kernel library {device.library}" + (f" ({', '.join(library)})" if library else " (a prior of 1)")
        )
    if fitted.floor_from:
        where = "the same core and runtime, in cycles" if device.kind == "mcu" else "the same board"
        parts.append(
            f"per-invoke and per-op costs from {fitted.floor_from} on {where} "
            f"({calibration.devices[fitted.floor_from].description}): this device's published models are too large "
            "to show its own"
        )
    elif floor_known and device.kind != "edgetpu":
        small = sorted(
            {p.device for p in calibration.points if calibration.devices[p.device].library == device.library}
        )
        parts.append(
            f"per-invoke and per-op costs fitted for its kernel library {device.library} on the small published "
            f"models of {', '.join(small)}, in units of this device's speed"
        )
    elif not floor_known:
        parts.append(
            "per-invoke floor not known (the published models are too large to tell it apart)"
            if device.kind != "edgetpu"
            else "per-invoke floor not known (too few points to fit it)"
        )
    median = f"{100 * errors.median:.0f}%" if errors.median is not None else "n/a"
    worst = f"{100 * errors.worst:.0f}%" if errors.worst is not None else "n/a"
    parts.append(
        f"held-out error median {median}, worst {worst} over {len(errors.errors)} prediction(s) of {errors.scope}"
    )
    return "; ".join(parts)


def describe(found: Estimate) -> str:
    """``1.23 ms (0.9-1.6 ms), 6.6 mJ`` — the figures of an estimate in one phrase."""
    from edgekd.readable import readable_time

    low, high = found.latency_interval_ms
    text = f"{readable_time(found.latency_ms)} ({readable_time(low)}-{readable_time(high)})"
    if found.outside_range and found.floor_ms is None:
        text = f"{readable_time(found.latency_ms)} (at most {readable_time(high)})"
    if found.energy_mj is not None:
        text += f", {found.energy_mj:.3g} mJ"
    return text


def estimate_report(profile: DeviceProfile, report, validated: Validated | None = None) -> Estimate:
    """The estimate for an inspected .tflite (``edgekd.modelfile.inspect.ModelReport``) on ``profile``."""
    from edgekd.modelfile.checks import detected_mode
    from edgekd.modelfile.edgetpu import edgetpu_verdict
    from edgekd.modelfile.workload import workload

    validated = validated or builtin_validated()
    calibration = validated.fit.calibration
    verdict = None
    if profile.estimate is not None:
        device = calibration.device(profile.estimate.calibration)
        if device.kind == "edgetpu":
            verdict = edgetpu_verdict(report)
            if verdict.model_problems:
                raise NoEstimate(f"{profile.name}: the Edge TPU cannot run this model: {verdict.model_problems[0]}")
    return estimate(profile, workload(report, verdict), detected_mode(report), validated)


def macs_within(profile: DeviceProfile, latency_ms: float, precision: str = "int8") -> int | None:
    """How many convolution MACs fit in ``latency_ms`` on ``profile`` after its floor (None without calibration).

    A sizing hint (a student's MAC budget from a latency budget), not an estimate: other op
    classes cost more or less per unit than a convolution MAC, and the floor is that of a
    model of ``SIZING_OPS`` ops.
    """
    source = profile.estimate
    if source is None:
        return None
    validated = builtin_validated()
    found = validated.fit.device(source.calibration)
    if found is None or precision not in found[1].scales or found[0].kind == "edgetpu":
        return None
    device = validated.fit.calibration.device(source.calibration)
    group, fitted = found
    budget = latency_ms * (source.speedup or 1.0)
    if device.kind == "mcu":
        budget *= profile.hardware.clock_ghz * 1e6
    typical = features(device.kind, Workload(dict.fromkeys(CLASSES, 0), SIZING_OPS))
    floor = validated.fit.predict(source.calibration, precision, typical) or 0.0
    per_mac = fitted.scales[precision] * group.weights["conv"]
    return max(0, int((budget - floor) / per_mac))
