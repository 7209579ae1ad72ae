"""Energy per inference of an estimate: the estimated latency times the power a source measured under load.

The power is the profile's ``power_model.active_watts`` (with its idle watts, for the share
above idle), or the calibration board's: a ``power_w`` its source measured, or the median of
energy / latency over its published energy runs (MLPerf Tiny's µJ per inference at the
board's supply). Figures measured on another board say so.
"""

from __future__ import annotations

import statistics

from edgekd.profiles.schema import DeviceProfile
from edgekd.profiles.validation import builtin_validated


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


def estimate_energy(profile: DeviceProfile, name: str, latency: float, interval):
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


def energy_available(profile: DeviceProfile) -> bool:
    """Whether an estimate on ``profile`` would carry an energy: a power figure in the profile or its calibration."""
    if profile.power_model.active_watts is not None:
        return True
    if profile.estimate is None:
        return False
    return calibration_power(builtin_validated().fit.calibration, profile.estimate.calibration)[0] is not None
