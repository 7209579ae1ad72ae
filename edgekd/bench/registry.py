"""Runners by transport name; a profile whose transport has none gets a clear error."""

from __future__ import annotations

from edgekd.bench.adb import AdbRunner
from edgekd.bench.micro import MicroRunner, no_latency_on
from edgekd.bench.runners import LocalRunner, Runner
from edgekd.bench.ssh import SshRunner
from edgekd.errors import BenchmarkError, known_names
from edgekd.profiles.schema import DeviceProfile

_RUNNERS: dict[str, Runner] = {"local": LocalRunner(), "ssh": SshRunner(), "adb": AdbRunner()}


# Microcontrollers are never reached: their runner runs TFLite Micro on the host, for outputs only.
_MICRO = MicroRunner()


def get_runner(profile: DeviceProfile, outputs_only: bool = False) -> Runner:
    """The runner for the transport of ``profile``; a BenchmarkError says why a device has none.

    ``outputs_only``: the caller wants the model's outputs (accuracy), not latency; a
    microcontroller then has a runner, TFLite Micro on the host.
    """
    if profile.is_microcontroller:
        if not outputs_only:
            raise no_latency_on(profile)
        return _MICRO
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
