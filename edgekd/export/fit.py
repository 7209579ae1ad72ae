"""Does a model fit a microcontroller? Flash for the model, RAM for the tensor arena, against the profile's limits."""

from __future__ import annotations

from edgekd.bench.tflm import TflmArena, TflmError
from edgekd.export.arena import ArenaEstimate, estimate_arena, tensor_arena
from edgekd.modelfile.inspect import ModelReport
from edgekd.profiles.schema import DeviceProfile, Interpreter

# What the fit carries from the arena figure to say where it came from.
ARENA_LABEL = ("source", "method", "not_measured_because")
NOTE = "the firmware itself needs flash and RAM too: leave room beside these figures"


def device_arena(
    data: bytes, report: ModelReport, source: str, profile: DeviceProfile
) -> tuple[TflmArena | ArenaEstimate, TflmError | None]:
    """The arena on this device: measured by TFLM where the device runs TFLM, else the activation estimate."""
    if profile.runtime.interpreter is Interpreter.TFLITE_MICRO:
        return tensor_arena(data, report, source)
    return estimate_arena(report), None


def fit_report(
    report: ModelReport, arena: TflmArena | ArenaEstimate, profile: DeviceProfile, tflm_error: TflmError | None = None
) -> dict:
    """``fits`` and the figures behind it; limits a profile does not give are reported as unknown.

    ``tflm_error`` is TFLM's refusal of the model (an op it lacks): the model does not fit, whatever its size.
    """
    flash = profile.hardware.flash_kb * 1024 if profile.hardware.flash_kb else None
    ram = profile.hardware.ram_kb * 1024 if profile.hardware.ram_kb else None
    problems = [str(tflm_error)] if tflm_error is not None else []
    if flash is not None and report.size_bytes > flash:
        problems.append(f"the model needs {report.size_bytes:,} bytes of flash and {profile.name} has {flash:,}")
    if ram is not None and arena.bytes > ram:
        needs = "measured by TFLite Micro" if arena.measured else "estimated"
        problems.append(f"its tensor arena needs {arena.bytes:,} bytes ({needs}) of RAM and {profile.name} has {ram:,}")
    known = flash is not None or ram is not None
    label = {key: value for key, value in arena.as_dict().items() if key in ARENA_LABEL}
    return {
        "device": profile.name,
        "fits": not problems if known or problems else None,
        "flash": {"needed": report.size_bytes, "available": flash},
        "ram": {"needed": arena.bytes, "available": ram, **label},
        "problems": problems,
        "note": NOTE,
    }
