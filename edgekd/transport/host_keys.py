"""Trusting an SSH device's host key explicitly: by its fingerprint, never blindly.

The user reads the fingerprint on the device (``ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub``)
and passes it; edgekd fetches the key with ssh-keyscan and adds it to the profile's
known_hosts only if the fingerprints match.
"""

from __future__ import annotations

import subprocess
import tempfile

from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import NoAnswer, TransportError
from edgekd.transport.ssh import SshTarget


def _fingerprints(key_lines: list[str]) -> dict[str, str]:
    """SHA256 fingerprint -> known_hosts line, computed by ssh-keygen."""
    result = {}
    for line in key_lines:
        with tempfile.NamedTemporaryFile("w", suffix=".pub") as handle:
            handle.write(line + "\n")
            handle.flush()
            completed = subprocess.run(["ssh-keygen", "-lf", handle.name], capture_output=True, text=True, check=False)  # noqa: S603,S607 - OpenSSH tool on PATH, our own temp file
        if completed.returncode == 0:
            result[completed.stdout.split()[1]] = line
    return result


def trust_host_key(profile: DeviceProfile, fingerprint: str) -> str:
    """Add the device's host key to its known_hosts if it matches ``fingerprint``; returns the line added."""
    target = SshTarget.from_profile(profile)
    if not fingerprint.startswith("SHA256:"):
        raise TransportError(
            f"fingerprint {fingerprint!r} should look like SHA256:...; read it on the device with "
            "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"
        )
    offered = _fingerprints(_scan(target, profile.name))
    if fingerprint not in offered:
        raise TransportError(
            f"{profile.name}: the host key at {target.address} has fingerprint(s) {', '.join(sorted(offered))}, "
            f"not {fingerprint}; nothing was trusted (check you are talking to the right device)"
        )
    line = offered[fingerprint]
    target.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    with open(target.known_hosts, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    return line


def _scan(target: SshTarget, device: str) -> list[str]:
    """The known_hosts lines ssh-keyscan reads from the device: what it offers, not yet trusted."""
    try:
        scan = subprocess.run(  # noqa: S603 - argv list; host and port come from a validated profile
            # "--": the host is never read as an option, whatever the profile holds.
            ["ssh-keyscan", "-p", str(target.port), "-T", "10", "--", target.host],  # noqa: S607 - OpenSSH tool on PATH
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NoAnswer(f"{device}: ssh-keyscan got no answer from {target.address}") from None
    lines = [line for line in scan.stdout.splitlines() if line and not line.startswith("#")]
    if not lines:
        raise TransportError(f"{device}: no host key could be read from {target.address}; is sshd running?")
    return lines
