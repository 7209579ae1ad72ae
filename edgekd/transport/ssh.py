"""SSH: the OpenSSH client with strict host-key checking, batch mode and bounded retries.

Uses the profile's known_hosts only (an unknown or changed host key is refused, never
accepted silently) and BatchMode (no password prompts). Every profile value stands where
ssh reads a value, never an option. A connection that fails in a way that may pass (refused,
timed out) is retried a bounded number of times when the caller asks; key problems never are.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import ProfileError
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import UPLOAD_TIMEOUT_S, Answer, Channel, NoAnswer, TransportError, remote_command

CONNECT_TIMEOUT_S = 10
# Extra attempts for a call that may be retried, and the pause before the n-th retry (n x the delay).
RETRIES = 2
RETRY_DELAY_S = 1.0
# ssh's own exit status for a failure of ssh itself (connection, authentication), never the command's.
SSH_FAILED = 255


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect, and which keys to trust."""

    host: str
    user: str | None
    port: int
    key_file: Path | None
    known_hosts: Path

    @staticmethod
    def from_profile(profile: DeviceProfile) -> SshTarget:
        """The target of a profile's ``transport`` section; a ProfileError names a missing field."""
        transport = profile.transport
        if not transport.host:
            raise ProfileError(f"device {profile.name}: transport.host is missing; ssh needs a host name or address")
        if not transport.known_hosts:
            raise ProfileError(
                f"device {profile.name}: transport.known_hosts is missing; edgekd only connects to hosts whose key "
                "you have verified and added to a known_hosts file"
            )
        return SshTarget(
            host=transport.host,
            user=transport.user,
            port=transport.port or 22,
            key_file=Path(transport.key_file).expanduser() if transport.key_file else None,
            known_hosts=Path(transport.known_hosts).expanduser(),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command_line(self, command: str) -> list[str]:
        """The ssh argv that runs ``command`` (one quoted shell line) on the device: the only place it is built.

        Every profile value stands where ssh reads a value, never an option: the user after
        ``-l``, the port after ``-p``, the key and known_hosts files inside quoted ``-o``
        values, and the host after ``--``, which ends ssh's options (a destination before it
        lets ssh parse options again after it).
        """
        argv = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={_config_path(self.known_hosts)}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            f"ConnectTimeout={CONNECT_TIMEOUT_S}",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(self.port),
        ]
        if self.key_file is not None:
            argv += ["-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={_config_path(self.key_file)}"]
        if self.user:
            argv += ["-l", self.user]
        return [*argv, "--", self.host, command]


def _config_path(path: Path) -> str:
    """A file name as one ssh config value: quoted (spaces, '#'), and '%' doubled (ssh expands %-tokens in both)."""
    escaped = str(path).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def classify_ssh_failure(stderr: str, target: SshTarget, device: str) -> tuple[str, bool]:
    """A readable reason for an ssh failure, and whether retrying could help."""
    text = stderr.lower()
    where = target.address
    if "host key verification failed" in text or "no matching host key" in text:
        changed = "remote host identification has changed" in text
        return (
            f"{device}: the host key of {where} is {'different from the one in' if changed else 'not in'} "
            f"{target.known_hosts}; verify its fingerprint and add it (ssh-keyscan -p {target.port} {target.host}); "
            "edgekd never accepts host keys silently",
            False,
        )
    if "permission denied" in text:
        return f"{device}: {where} refused the key {target.key_file or '(default)'} for user {target.user}", False
    if "connection refused" in text:
        return f"{device}: nothing accepts SSH connections at {where} (connection refused); check host and port", True
    if "could not resolve" in text or "name or service" in text:
        return f"{device}: cannot resolve host {target.host!r}; check transport.host in its profile", False
    if "timed out" in text or "no route to host" in text:
        return f"{device}: {where} is unreachable ({stderr.strip().splitlines()[-1][:120]})", True
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
    return f"{device}: ssh to {where} failed: {last[:200]}", True


class SshChannel(Channel):
    """Commands through ``ssh TARGET COMMAND``; uploads streamed on ssh's stdin into ``cat`` on the device."""

    def __init__(self, target: SshTarget, device: str):
        super().__init__(device)
        self.target = target

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> SshChannel:
        return cls(SshTarget.from_profile(profile), profile.name)

    def run(self, command: str, timeout: float = 60, retries: int = 0) -> Answer:
        """As :meth:`Channel.run`; a failure that may pass is tried ``retries`` more times, with growing pauses."""
        for attempt in range(retries + 1):
            try:
                return self._call(command, None, timeout)
            except TransportError as failure:
                if not failure.retryable or attempt == retries:
                    if attempt:
                        raise type(failure)(f"{failure} (after {attempt + 1} attempts)") from None
                    raise
            time.sleep(RETRY_DELAY_S * (attempt + 1))
        raise AssertionError("unreachable")

    def upload(self, source: bytes | Path, remote: str) -> Answer:
        # Streamed into a quoted name: the local file name never reaches the device.
        command = f"cat > {remote_command(remote)}"
        if isinstance(source, bytes):
            return self._call(command, source, UPLOAD_TIMEOUT_S)
        with open(source, "rb") as handle:
            return self._call(command, handle, UPLOAD_TIMEOUT_S)

    def _call(self, command: str, stdin, timeout: float) -> Answer:
        """One ssh call; ``stdin`` is bytes, an open file, or None (nothing: ssh never reads the terminal)."""
        feed = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin or subprocess.DEVNULL}
        try:
            completed = subprocess.run(  # noqa: S603 - ssh argv from command_line; every remote word is quoted by remote_command
                self.target.command_line(command), capture_output=True, timeout=timeout, check=False, **feed
            )
        except subprocess.TimeoutExpired:
            raise NoAnswer(
                f"{self.device}: no answer from {self.target.address} within {timeout:.0f} s; "
                "the device may be hung or overloaded",
                retryable=True,
            ) from None
        stderr = completed.stderr.decode(errors="replace")
        if completed.returncode == SSH_FAILED:
            reason, retryable = classify_ssh_failure(stderr, self.target, self.device)
            raise TransportError(reason, retryable=retryable)
        return Answer(completed.returncode, completed.stdout.decode(errors="replace"), stderr)
