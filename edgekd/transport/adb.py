"""adb: ``adb shell`` for commands and ``adb push`` for files, on the device with the profile's serial.

adb's shell protocol (Android 7+) returns the remote exit status. ``adb push`` takes a local
file: a file is pushed by its absolute path (a name starting with '-' is never read as an
option), bytes through a private temporary copy, so the user's file name never matters.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import UPLOAD_TIMEOUT_S, Answer, Channel, NoAnswer, TransportError

# What adb prints when it cannot talk to the device at all, as opposed to a command failing there.
_UNREACHABLE = re.compile(r"no devices/emulators found|device offline|unauthorized|device '[^']*' not found")


def run_adb(
    executable: str, device: str, serial: str | None, args: list[str], timeout: float
) -> subprocess.CompletedProcess:
    """One adb call on the device with ``serial``; a missing adb or a silent device is a TransportError."""
    if shutil.which(executable) is None:
        raise TransportError("adb is not installed; install it (Debian: apt-get install adb) and enable USB debugging")
    prefix = ["-s", serial] if serial else []
    try:
        return subprocess.run(  # noqa: S603 - argv list, no shell; remote commands are quoted word by word
            [executable, *prefix, *args], capture_output=True, text=True, errors="replace", timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise NoAnswer(f"{device}: adb {args[0]} gave no answer within {timeout:.0f} s") from None


class AdbChannel(Channel):
    """Commands through ``adb shell``, files through ``adb push``."""

    # Android has no writable home for a shell user; this folder is the one it may write.
    home = "/data/local/tmp"

    def __init__(self, device: str, serial: str | None, executable: str = "adb"):
        super().__init__(device)
        self.serial = serial
        self.executable = executable

    @classmethod
    def from_profile(cls, profile: DeviceProfile, executable: str = "adb") -> AdbChannel:
        return cls(profile.name, profile.transport.serial, executable)

    def _adb(self, args: list[str], timeout: float) -> Answer:
        completed = run_adb(self.executable, self.device, self.serial, args, timeout)
        if _UNREACHABLE.search(completed.stderr.lower()):
            raise TransportError(f"{self.device}: adb cannot reach the device: {completed.stderr.strip()[:200]}")
        return Answer(completed.returncode, completed.stdout, completed.stderr)

    def run(self, command: str, timeout: float = 60) -> Answer:
        return self._adb(["shell", command], timeout)

    def upload(self, source: bytes | Path, remote: str) -> Answer:
        if not isinstance(source, bytes):
            return self._adb(["push", str(Path(source).absolute()), remote], UPLOAD_TIMEOUT_S)
        with tempfile.TemporaryDirectory(prefix="edgekd-push-") as folder:
            local = Path(folder) / "upload"
            local.write_bytes(source)
            return self.upload(local, remote)
