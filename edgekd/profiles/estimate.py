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
from edgekd.profiles.fit import features, from_unit
from edgekd.profiles.schema import DeviceProfile
from edgekd.profiles.user_calibration import load_user
from edgekd.profiles.validation import Validated, builtin_validated
from edgekd.quantize.workload import SplitWorkload

PRECISION_OF_MODE = {"int8": "int8", "qat": "int8", "float32": "float32"}


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


def precision_of(mode: str | None) -> str | None:
    return PRECISION_OF_MODE.get(mode or "")


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
    if device.kind == "edgetpu":
        total_unit, cpu_note = _edgetpu_time(profile, split, validated)
    else:
        total_unit = validated.fit.predict(source.calibration, precision, features(device.kind, split.total))
        cpu_note = ""
    latency = from_unit(device, total_unit, clock) / (source.speedup or 1.0)
    floor = from_unit(device, fitted.floor, clock) / (source.speedup or 1.0) if fitted.floor_fitted else None
    errors = validated.device_error(source.calibration)
    worst = errors.worst if errors.worst is not None else 1.0
    median = errors.median if errors.median is not None else 1.0
    interval = (latency / (1 + worst), latency * (1 + worst))
    basis = _basis(profile, device, fitted, source, errors, calibration, group.kind) + cpu_note
    bound = _smallest_published(calibration, source.calibration, precision, clock) / (source.speedup or 1.0)
    outside = _range_note(calibration, source.calibration, split.total.macs, bound)
    if outside:
        # The held-out error says nothing this far below the published models: the interval runs from the
        # fitted floor (or the model's own figure) up to the smallest published model's latency.
        basis += outside
        interval = (min(interval[0], floor if floor is not None else interval[0]), max(interval[1], bound))
    energy, energy_interval, above_idle, power_basis = _energy(profile, source.calibration, latency, interval)
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
    energy, energy_interval, above_idle, power_basis = _energy(profile, name, latency, interval)
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


def _range_note(calibration, name: str, macs: int, bound_ms: float) -> str:
    smallest = min(calibration.models[p.model].total.macs for p in calibration.points_on(name))
    if macs * OUTSIDE_RANGE >= smallest:
        return ""
    return (
        f"; outside the published range: the smallest published model on {name} has {smallest:,} MACs and this one "
        f"{macs:,}, so no published point checks a model this small (nor the per-invoke floor, which dominates "
        f"small models); the interval runs up to that model's {bound_ms:.3g} ms, which a model doing less work "
        "should not exceed"
    )


def _summary(calibration, source, device, errors) -> str:
    """``from 6 published points on rpi4 (XNNPACK ...); held-out error median 5%, worst 15%``."""
    points = calibration.points_on(source.calibration)
    cited = ", ".join(sorted({p.source for p in points}))
    text = f"from {len(points)} published point(s) on {source.calibration} ({cited})"
    if device.kind == "mcu":
        text += f" at {device.clock_mhz:g} MHz, run at this board's clock"
    if source.speedup:
        text += f", divided by a published ratio of {source.speedup:g}"
    if errors.median is not None:
        text += f"; held-out error median {100 * errors.median:.0f}%, worst {100 * errors.worst:.0f}%"
    return text


def _basis(profile, device, fitted, source, errors, calibration, kind) -> str:
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
    if not fitted.floor_fitted:
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


def calibration_power(calibration, name: str) -> tuple[float | None, float | None, str | None]:
    """(power under load, idle power, where from) of a calibration device, from its fields or its energy points."""
    device = calibration.devices[name]
    if device.power_w is not None:
        cite = calibration.sources[device.power_source].cite
        return device.power_w, device.idle_w, f"{device.power_w:g} W measured under load on {name} ({cite})"
    with_energy = [p for p in calibration.points_on(name) if p.energy_mj is not None]
    if not with_energy:
        return None, None, None
    watts = statistics.median(p.energy_mj / p.latency_ms for p in with_energy)
    cited = sorted({p.source for p in with_energy})
    return (
        watts,
        None,
        (
            f"{1e3 * watts:.3g} mW: the median of energy / latency over {len(with_energy)} published energy run(s) on "
            f"{name} ({', '.join(cited)})"
        ),
    )


def _energy(profile: DeviceProfile, name: str, latency: float, interval):
    model = profile.power_model
    if model.active_watts is not None:
        watts, idle = model.active_watts, model.idle_watts
        cited = [line for line in profile.sources if line.split(":", 1)[0].strip().lower().startswith("power")]
        basis = f"{watts:g} W from profile {profile.name} power_model.active_watts" + (
            f" ({model.notes})" if model.notes else ""
        )
        if cited:
            basis += f"; source: {'; '.join(cited)}"
    elif name in builtin_validated().fit.calibration.devices:
        if profile.estimate is not None and profile.estimate.power_from:
            name = profile.estimate.power_from
        watts, idle, basis = calibration_power(builtin_validated().fit.calibration, name)
        if watts is not None and name != profile.name:
            basis += f"; measured on that board, not on {profile.name}"
    else:
        watts = None
    if watts is None:
        return None, None, None, None
    energy = watts * latency
    above = max(0.0, watts - idle) * latency if idle is not None else None
    return energy, (watts * interval[0], watts * interval[1]), above, basis


def describe(found: Estimate) -> str:
    """``1.23 ms (0.9-1.6 ms), 6.6 mJ`` — the figures of an estimate in one phrase."""
    from edgekd.bench.overhead import readable_time

    low, high = found.latency_interval_ms
    text = f"{readable_time(found.latency_ms)} ({readable_time(low)}-{readable_time(high)})"
    if found.outside_range:
        text = f"{readable_time(found.latency_ms)} (at most {readable_time(high)})"
    if found.energy_mj is not None:
        text += f", {found.energy_mj:.3g} mJ"
    return text


def estimate_report(profile: DeviceProfile, report, validated: Validated | None = None) -> Estimate:
    """The estimate for an inspected .tflite (``edgekd.quantize.inspect.ModelReport``) on ``profile``."""
    from edgekd.quantize.checks import detected_mode
    from edgekd.quantize.edgetpu import edgetpu_verdict
    from edgekd.quantize.workload import workload

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


def energy_available(profile: DeviceProfile) -> bool:
    """Whether an estimate on ``profile`` would carry an energy: a power figure in the profile or its calibration."""
    if profile.power_model.active_watts is not None:
        return True
    if profile.estimate is None:
        return False
    return calibration_power(builtin_validated().fit.calibration, profile.estimate.calibration)[0] is not None


def macs_within(profile: DeviceProfile, latency_ms: float, precision: str = "int8") -> int | None:
    """How many convolution MACs fit in ``latency_ms`` on ``profile`` after its floor (None without calibration).

    A sizing hint (a student's MAC budget from a latency budget), not an estimate: other op
    classes cost more or less per unit than a convolution MAC.
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
    per_mac = fitted.scales[precision] * group.weights["conv"]
    return max(0, int((budget - fitted.floor) / per_mac))
