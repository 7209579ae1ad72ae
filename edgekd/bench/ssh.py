"""The SSH runner: copy the model and the agent to a temporary folder on the device, run, clean up.

Uses the OpenSSH client with strict host-key checking against the profile's known_hosts
(an unknown or changed host key is refused, never accepted silently) and BatchMode (no
password prompts). Files land on the device under fixed names inside a fresh ``mktemp -d``
folder, so no local file name ever reaches the remote shell, and every remote argument is
quoted. Connection failures are retried a bounded number of times; key problems are not.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgekd.bench.runners import AGENT, BenchSettings, agent_arguments, parse_agent_output
from edgekd.errors import BenchmarkError, ProfileError
from edgekd.profiles.schema import DeviceProfile

CONNECT_TIMEOUT_S = 10
RETRIES = 2
RETRY_DELAY_S = 1.0


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str | None
    port: int
    key_file: Path | None
    known_hosts: Path

    @staticmethod
    def from_profile(profile: DeviceProfile) -> SshTarget:
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


def remote_command(*words: str) -> str:
    """One shell command line with every word quoted for the remote shell."""
    return " ".join(shlex.quote(word) for word in words)


def classify_ssh_failure(stderr: str, target: SshTarget, device: str) -> tuple[str, bool]:
    """A readable reason for an ssh failure, and whether retrying could help."""
    text = stderr.lower()
    where = f"{target.host}:{target.port}"
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


class SshRunner:
    """Benchmarks through OpenSSH; returns the agent's raw JSON like every runner."""

    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict:
        arguments = agent_arguments(profile, settings)
        return self._agent(profile, settings.timeout_seconds, model_path, arguments)

    def probe(self, profile: DeviceProfile) -> dict:
        """Reach the device and report its Python, TFLite runtime and machine (`edgekd devices check`)."""
        return self._agent(profile, 60, None, ["--probe"])

    def _agent(self, profile: DeviceProfile, timeout: float, model_path: Path | None, arguments: list[str]) -> dict:
        target = SshTarget.from_profile(profile)
        python = profile.runtime.python or "python3"
        folder = self._ssh(target, profile.name, remote_command("mktemp", "-d", "/tmp/edgekd.XXXXXXXX"), 30).strip()  # noqa: S108 - a mktemp -d template on the device: unique, mode 0700
        if not folder.startswith("/tmp/edgekd."):  # noqa: S108 - checks mktemp's answer
            raise BenchmarkError(f"{profile.name}: could not create a temporary folder on the device (got {folder!r})")
        try:
            model_argument = []
            if model_path is not None:
                self._copy(target, profile.name, model_path, f"{folder}/model.tflite")
                model_argument = [f"{folder}/model.tflite"]
            self._copy(target, profile.name, AGENT, f"{folder}/agent.py")
            command = remote_command(python, f"{folder}/agent.py", *model_argument, *arguments)
            completed = self._run(target, command, timeout, profile.name)
            if completed.returncode == 127 or "not found" in completed.stderr and not completed.stdout:
                raise BenchmarkError(
                    f"{profile.name}: {python!r} was not found on the device; set runtime.python in its profile"
                )
            return parse_agent_output(completed.stdout, completed.stderr, completed.returncode, profile.name)
        finally:
            try:
                self._ssh(target, profile.name, remote_command("rm", "-rf", "--", folder), 30, retries=0)
            except BenchmarkError:
                pass  # the device went away; its /tmp is its own to clean

    def _run(self, target: SshTarget, command: str, timeout: float, device: str) -> subprocess.CompletedProcess:
        try:
            completed = subprocess.run(  # noqa: S603 - ssh argv from command_line; every remote word is quoted by remote_command
                target.command_line(command), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise BenchmarkError(
                f"{device}: no answer within {timeout:.0f} s; the device may be hung or overloaded"
            ) from None
        if completed.returncode == 255:
            reason, _ = classify_ssh_failure(completed.stderr, target, device)
            raise BenchmarkError(reason)
        return completed

    def _ssh(self, target: SshTarget, device: str, command: str, timeout: float, retries: int = RETRIES) -> str:
        for attempt in range(retries + 1):
            try:
                completed = subprocess.run(  # noqa: S603 - as above
                    target.command_line(command), capture_output=True, text=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired:
                reason, retry = f"{device}: no answer from {target.host}:{target.port} within {timeout:.0f} s", True
            else:
                if completed.returncode == 0:
                    return completed.stdout
                if completed.returncode != 255:
                    raise BenchmarkError(f"{device}: remote command failed: {completed.stderr.strip()[-200:]}")
                reason, retry = classify_ssh_failure(completed.stderr, target, device)
            if not retry or attempt == retries:
                raise BenchmarkError(reason + (f" (after {attempt + 1} attempts)" if attempt else ""))
            time.sleep(RETRY_DELAY_S * (attempt + 1))
        raise AssertionError("unreachable")

    def _copy(self, target: SshTarget, device: str, local: Path, remote_path: str) -> None:
        # Streamed through ssh's stdin into `cat`: the remote path is quoted, the local name never leaves here.
        argv = target.command_line(f"cat > {shlex.quote(remote_path)}")
        with open(local, "rb") as handle:
            try:
                completed = subprocess.run(argv, stdin=handle, capture_output=True, timeout=120, check=False)  # noqa: S603 - as above; the file travels on stdin
            except subprocess.TimeoutExpired:
                raise BenchmarkError(f"{device}: copying {local.name} timed out") from None
        if completed.returncode != 0:
            stderr = completed.stderr.decode(errors="replace")
            if completed.returncode == 255:
                raise BenchmarkError(classify_ssh_failure(stderr, target, device)[0])
            raise BenchmarkError(f"{device}: copying {local.name} failed: {stderr.strip()[-200:]} (disk full?)")
