"""Channels by transport: how to reach the device of a profile."""

from __future__ import annotations

from edgekd.errors import ProfileError
from edgekd.profiles.schema import DeviceProfile, Transport
from edgekd.transport.adb import AdbChannel
from edgekd.transport.channel import Channel
from edgekd.transport.local import LocalChannel
from edgekd.transport.ssh import SshChannel

_CHANNELS = {
    Transport.SSH: SshChannel.from_profile,
    Transport.ADB: AdbChannel.from_profile,
    Transport.LOCAL: LocalChannel.from_profile,
}


def channel_for(profile: DeviceProfile) -> Channel:
    """The channel to the device of ``profile``; a microcontroller has none (its firmware toolchain flashes it)."""
    if profile.is_microcontroller:
        raise ProfileError(
            f"{profile.name} is a microcontroller, flashed by its firmware toolchain: edgekd does not reach it; "
            f"build its firmware from `edgekd export MODEL --format c --device {profile.name}`"
        )
    return _CHANNELS[profile.transport.type](profile)
