"""Device estimates for the models of a results document: the calibrated model on each record's workload.

A .tflite record carries its work per operator class (``workload``, written by the quantize
stage); the estimate is ``edgekd.profiles.estimate`` on that workload and the record's mode.
A record without it (a run made before edgekd recorded it) or a device without calibration
gets the reason instead of a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.errors import ProfileError
from edgekd.modelfile.workload import split_from_dict
from edgekd.profiles.estimate import Estimate, NoEstimate, estimate


@dataclass(frozen=True)
class RecordEstimate:
    """A model record on a device: the estimate, or why there is none."""

    role: str
    device: str
    estimate: Estimate | None
    reason: str | None = None


def record_mode(record: dict) -> str | None:
    return record.get("detected_mode", record.get("mode"))


def estimate_record(role: str, record: dict, device: str) -> RecordEstimate:
    """``record`` (a results document's model record) estimated on ``device``."""
    from edgekd.profiles.loader import get_profile

    try:
        profile = get_profile(device).profile
    except ProfileError as exc:
        return RecordEstimate(role, device, None, str(exc))
    if not str(record.get("format", "")).startswith("tflite"):
        return RecordEstimate(role, device, None, f"{role} is not a .tflite file")
    mode = record_mode(record)
    if mode and not profile.supports(mode):
        return RecordEstimate(role, device, None, f"{device} runs only {', '.join(profile.quantization.supported)}")
    if not record.get("workload"):
        return RecordEstimate(
            role,
            device,
            None,
            f"{role}'s record holds no per-class workload (the run predates it); estimate the file with "
            f"`edgekd inspect FILE.tflite --device {device}`",
        )
    try:
        return RecordEstimate(role, device, estimate(profile, split_from_dict(record["workload"]), mode))
    except NoEstimate as exc:
        return RecordEstimate(role, device, None, str(exc))


def error_against(estimated_ms: float, measured_ms: float) -> float:
    """How far an estimate was off a measurement, signed, as a fraction of the measurement."""
    return (estimated_ms - measured_ms) / measured_ms
