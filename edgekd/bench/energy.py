"""Energy per inference, measured where a reading exists, otherwise estimated and labelled so.

Every figure carries its ``source`` (``measured`` or ``estimated``) and the ``method`` that
produced it; when neither is possible the reason is recorded instead of a number.
"""

from __future__ import annotations

from edgekd.profiles.schema import DeviceProfile


def energy_per_inference(
    profile: DeviceProfile,
    mean_latency_ms: float,
    measured_power_w: float | None = None,
    reader_error: str | None = None,
) -> dict:
    """Millijoules per inference as ``{value_mj, source, method}``, or ``{value_mj: None, reason}``.

    energy = mean power during the measured runs x mean latency. Above idle (when the idle
    power is known) is reported too: it is the part the model itself costs.
    """
    seconds = mean_latency_ms / 1e3
    model = profile.power_model
    if measured_power_w is not None:
        result = {
            "value_mj": measured_power_w * seconds * 1e3,
            "source": "measured",
            "power_w": measured_power_w,
            "method": (
                "mean of the external meter's log between the benchmark's start and finish (loading and warm-up "
                "included) x mean latency"
                if profile.power.reader == "external_csv"
                else f"mean power from {profile.power.reader} during the measured runs x mean latency"
            ),
        }
    elif model.active_watts is not None:
        result = {
            "value_mj": model.active_watts * seconds * 1e3,
            "source": "estimated",
            "power_w": model.active_watts,
            "method": f"profile {profile.name} power_model.active_watts x measured mean latency",
        }
    else:
        reading = reader_error or f"power.reader is {profile.power.reader!r}"
        reason = f"no power reading ({reading}) and no power_model.active_watts in profile {profile.name}"
        return {"value_mj": None, "source": None, "reason": reason}
    if model.idle_watts is not None:
        result["above_idle_mj"] = max(0.0, result["power_w"] - model.idle_watts) * seconds * 1e3
    result["value_mj"] = round(result["value_mj"], 9)
    return result
