"""The host itself: the same shell lines, run by ``sh`` from the home folder, as a device's login shell would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import Answer, Channel, NoAnswer, TransportError


class LocalChannel(Channel):
    """Commands through ``/bin/sh -c`` in the home folder; uploads are file writes (relative to the home folder)."""

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> LocalChannel:
        return cls(profile.name)

    def user_path(self, path: str) -> str:
        """On this machine a relative path starts in the current folder, as every local tool has it, not at home."""
        return str(Path(path).expanduser().absolute()) + ("/" if path.endswith("/") else "")

    def run(self, command: str, timeout: float = 60) -> Answer:
        try:
            completed = subprocess.run(  # noqa: S603 - fixed argv; every word of ``command`` is quoted
                ["/bin/sh", "-c", command],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
                cwd=Path.home(),
            )
        except subprocess.TimeoutExpired:
            raise NoAnswer(f"{self.device}: no answer within {timeout:.0f} s") from None
        except OSError as exc:
            raise TransportError(f"{self.device}: cannot run a shell in {Path.home()}: {exc.strerror}") from None
        return Answer(completed.returncode, completed.stdout, completed.stderr)

    def upload(self, source: bytes | Path, remote: str) -> Answer:
        target = Path(remote) if Path(remote).is_absolute() else Path.home() / remote
        try:
            if isinstance(source, bytes):
                target.write_bytes(source)
            else:
                shutil.copyfile(source, target)
        except OSError as exc:
            return Answer(1, "", f"{exc.strerror}: {target}")
        return Answer(0, "", "")
