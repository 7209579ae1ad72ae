"""Whether a device can run a .tflite: checked before a model is benchmarked, deployed or exported for it."""

from __future__ import annotations

from edgekd.errors import ProfileError
from edgekd.modelfile.checks import detected_mode
from edgekd.modelfile.inspect import ModelReport, check_tflite_bytes, inspect_tflite
from edgekd.profiles.loader import ProfileEntry


def check_device_can_run(entry: ProfileEntry, data: bytes, source: str) -> ModelReport:
    """Refuse a model whose quantization the device cannot run, with the profile's reason; returns its report."""
    from edgekd.modelfile.verify import verify_model

    check_tflite_bytes(data, source)
    # Loaded and run once in a sandboxed child first: a damaged or hostile file fails here, cleanly.
    verification = verify_model(data, source, run_once=True)
    profile = entry.profile
    report = inspect_tflite(data, source)
    if verification.note:
        report.notes.append(verification.note)
    mode = detected_mode(report)
    if not profile.supports(mode):
        reason = f": {profile.quantization.reason}" if profile.quantization.reason else ""
        raise ProfileError(
            f"{source} is a {mode} model and device {profile.name} runs only {', '.join(profile.quantization.supported)}"
            f"{reason}"
        )
    return report
