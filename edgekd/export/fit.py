"""Does a model fit a microcontroller? Flash for the model, RAM for the tensor arena, against the profile's limits."""

from __future__ import annotations

from edgekd.export.arena import ArenaEstimate
from edgekd.profiles.schema import DeviceProfile
from edgekd.quantize.inspect import ModelReport


def fit_report(report: ModelReport, arena: ArenaEstimate, profile: DeviceProfile) -> dict:
    """``fits`` and the figures behind it; limits a profile does not give are reported as unknown."""
    flash = profile.hardware.flash_kb * 1024 if profile.hardware.flash_kb else None
    ram = profile.hardware.ram_kb * 1024 if profile.hardware.ram_kb else None
    problems = []
    if flash is not None and report.size_bytes > flash:
        problems.append(f"the model needs {report.size_bytes:,} bytes of flash and {profile.name} has {flash:,}")
    if ram is not None and arena.bytes > ram:
        problems.append(f"its tensor arena needs about {arena.bytes:,} bytes of RAM and {profile.name} has {ram:,}")
    return {
        "device": profile.name,
        "fits": not problems if flash is not None or ram is not None else None,
        "flash": {"needed": report.size_bytes, "available": flash},
        "ram": {"needed_estimate": arena.bytes, "available": ram, "method": arena.method},
        "problems": problems,
        "note": "the firmware itself needs flash and RAM too: leave room beside these figures",
    }
