"""Runners by transport name; a profile whose transport has none gets a clear error."""

from __future__ import annotations

from edgekd.bench.adb import AdbRunner
from edgekd.bench.runners import LocalRunner, Runner
from edgekd.bench.ssh import SshRunner
from edgekd.errors import BenchmarkError, known_names
from edgekd.profiles.schema import DeviceProfile

_RUNNERS: dict[str, Runner] = {"local": LocalRunner(), "ssh": SshRunner(), "adb": AdbRunner()}


def get_runner(profile: DeviceProfile) -> Runner:
    """The runner for the transport of ``profile``; a BenchmarkError says why a device has none."""
    if profile.is_microcontroller:
        raise BenchmarkError(
            f"device {profile.name!r} is a microcontroller flashed by its firmware toolchain; edgekd cannot run "
            f"benchmarks there. Check the fit with `edgekd inspect MODEL --device {profile.name}` and build the "
            f"firmware from `edgekd export MODEL --format c --device {profile.name}`"
        )
    transport = profile.transport.type.value
    if transport not in _RUNNERS:
        raise BenchmarkError(
            f"device {profile.name!r} is reached over {transport!r}, and this version of edgekd has no {transport} "
            f"runner yet (runners: {known_names(_RUNNERS)}); its profile can still be shown with "
            f"`edgekd devices show {profile.name}`"
        )
    return _RUNNERS[transport]


def has_runner(profile: DeviceProfile) -> bool:
    """Whether ``profile``'s device can be benchmarked by this version of edgekd."""
    return profile.transport.type.value in _RUNNERS
