"""Put a model on a device, safely: upload under a temporary name, verify, then rename into place.

One procedure for every transport, written in POSIX shell that a Linux board, Android's
toybox and the host all run. The model (with its metadata embedded) and its metadata JSON
go to ``PATH.edgekd-upload-TOKEN``; their SHA-256 is checked on the device with
``sha256sum``; the installed model (if any) is hard-linked to ``PATH.previous``; only then
does ``mv`` rename the upload over ``PATH``, an atomic step on POSIX filesystems. A
connection that drops mid-upload leaves the installed model untouched (the partial upload
fails its checksum and is removed). ``rollback`` renames ``PATH.previous`` back.

The transports differ only in how a command runs and how bytes travel (:class:`Channel`):
``ssh`` with the profile's strict host-key settings, ``adb shell``/``adb push``, and ``sh``
on this machine.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgekd.bench.adb import run_adb
from edgekd.bench.ssh import SshTarget, classify_ssh_failure, remote_command
from edgekd.errors import BenchmarkError, ConfigError, ProfileError
from edgekd.profiles.loader import ProfileEntry
from edgekd.untrusted import has_control_characters

# Relative to the login folder over SSH and on the host; Android has no writable home for a shell user.
DEFAULT_FOLDER = {"ssh": "edgekd/models", "local": "edgekd/models", "adb": "/data/local/tmp/edgekd/models"}
UPLOAD_TIMEOUT_S = 300


class DeployError(BenchmarkError):
    """The device could not be reached or refused the installation."""


@dataclass(frozen=True)
class Answer:
    returncode: int
    stdout: str
    stderr: str


class Channel(Protocol):
    """How commands run and bytes travel to one device."""

    def run(self, command: str, timeout: float = 60) -> Answer: ...

    def upload(self, data: bytes, remote: str) -> Answer: ...


class SshChannel:
    def __init__(self, entry: ProfileEntry):
        self.name = entry.profile.name
        self.target = SshTarget.from_profile(entry.profile)

    def _ssh(self, command: str, data: bytes | None, timeout: float) -> Answer:
        argv = self.target.command_line(command)
        feed = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
        try:
            completed = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, **feed)  # noqa: S603 - ssh argv list; every remote word is quoted by remote_command
        except subprocess.TimeoutExpired:
            raise DeployError(f"{self.name}: no answer within {timeout:.0f} s") from None
        stderr = completed.stderr.decode(errors="replace")
        if completed.returncode == 255:
            raise DeployError(classify_ssh_failure(stderr, self.target, self.name)[0])
        return Answer(completed.returncode, completed.stdout.decode(errors="replace"), stderr)

    def run(self, command: str, timeout: float = 60) -> Answer:
        return self._ssh(command, None, timeout)

    def upload(self, data: bytes, remote: str) -> Answer:
        # Streamed into a quoted name: the local file name never reaches the device.
        return self._ssh(f"cat > {remote_command(remote)}", data, UPLOAD_TIMEOUT_S)


class AdbChannel:
    def __init__(self, entry: ProfileEntry, executable: str = "adb"):
        self.name = entry.profile.name
        self.executable = executable
        self.serial = entry.profile.transport.serial

    def _adb(self, args: list[str], timeout: float) -> Answer:
        completed = run_adb(self.executable, self.name, self.serial, args, timeout)
        text = completed.stderr.lower()
        if "no devices/emulators found" in text or "device offline" in text or "unauthorized" in text:
            raise DeployError(f"{self.name}: adb cannot reach the device: {completed.stderr.strip()[:200]}")
        return Answer(completed.returncode, completed.stdout, completed.stderr)

    def run(self, command: str, timeout: float = 60) -> Answer:
        # adb's shell protocol (Android 7+) returns the remote exit status.
        return self._adb(["shell", command], timeout)

    def upload(self, data: bytes, remote: str) -> Answer:
        # adb push takes a local file: a private temporary copy, so the user's name never matters.
        import tempfile

        with tempfile.TemporaryDirectory(prefix="edgekd-push-") as folder:
            local = Path(folder) / "upload"
            local.write_bytes(data)
            return self._adb(["push", str(local), remote], UPLOAD_TIMEOUT_S)


class LocalChannel:
    """The host itself: the same shell steps, run by ``sh`` from the home folder."""

    def __init__(self, entry: ProfileEntry):
        self.name = entry.profile.name

    def run(self, command: str, timeout: float = 60) -> Answer:
        completed = subprocess.run(  # noqa: S603 - fixed argv; every word of ``command`` is quoted
            ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False, cwd=Path.home()
        )
        return Answer(completed.returncode, completed.stdout, completed.stderr)

    def upload(self, data: bytes, remote: str) -> Answer:
        target = Path(remote) if Path(remote).is_absolute() else Path.home() / remote
        try:
            target.write_bytes(data)
        except OSError as exc:
            return Answer(1, "", f"{exc.strerror}: {target}")
        return Answer(0, "", "")


class Deployer:
    """Install, replace and roll back a model at a path on one device, through its channel."""

    def __init__(self, name: str, channel: Channel):
        self.name = name
        self.channel = channel

    def _check(self, command: str, what: str) -> str:
        answer = self.channel.run(command)
        if answer.returncode != 0:
            detail = answer.stderr.strip().splitlines()[-1:] or answer.stdout.strip().splitlines()[-1:] or ["no output"]
            raise DeployError(f"{self.name}: {what} failed: {detail[0][:200]}")
        return answer.stdout

    def _upload(self, data: bytes, remote: str, what: str) -> None:
        answer = self.channel.upload(data, remote)
        if answer.returncode != 0:
            detail = answer.stderr.strip()[-200:]
            raise DeployError(f"{self.name}: uploading {what} failed: {detail} (no permission? disk full?)")

    def sha256(self, remote: str) -> str:
        # On stdin: sha256sum escapes a file name holding '\\' or a newline by prefixing its hash with '\\'.
        output = self._check(f"sha256sum < {remote_command(remote)}", f"checksumming {remote}")
        return output.split()[0] if output.split() else ""

    def _is_folder(self, path: str) -> bool:
        if path.endswith("/"):
            return True
        # Read from the output, not the exit status: adb before Android 7 always reports 0.
        answer = self.channel.run(f"if [ -d {remote_command(path)} ]; then echo folder; fi")
        return answer.stdout.strip() == "folder"

    def target_path(self, path: str, model_name: str) -> str:
        """``path``, or ``path/model_name`` when ``path`` is a folder on the device (or ends in '/')."""
        if not self._is_folder(path):
            return path
        if not model_name:
            raise DeployError(
                f"{self.name}: {path} is a folder; give the installed model's path in it (or the model file)"
            )
        return f"{path.rstrip('/')}/{model_name}"

    def install(self, model: bytes, metadata: dict, path: str, model_name: str) -> dict:
        """Install ``model`` at ``path`` (``path/model_name`` when ``path`` is a folder) with its metadata beside it."""
        path = self.target_path(path, model_name)
        token = secrets.token_hex(4)
        sidecar_path = f"{path}.json"
        staged_model, staged_sidecar = f"{path}.edgekd-upload-{token}", f"{sidecar_path}.edgekd-upload-{token}"
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        self._check(remote_command("mkdir", "-p", "--", folder), f"creating {folder}")
        local_sha = hashlib.sha256(model).hexdigest()
        try:
            self._upload(model, staged_model, model_name)
            try:
                remote_sha = self.sha256(staged_model)
            except DeployError:
                remote_sha = "missing"
            if remote_sha != local_sha:
                raise DeployError(
                    f"{self.name}: the upload did not arrive whole (its SHA-256 on the device is "
                    f"{remote_sha[:12]}, not {local_sha[:12]}): the connection dropped or the disk is full; "
                    "the installed model was not touched"
                )
            self._upload(json.dumps(metadata, indent=2).encode(), staged_sidecar, "the metadata")
            # Keep the installed version (hard links: no copy, no window without a model), then swap atomically.
            keep = (
                f"if [ -d {remote_command(path)} ]; then echo {remote_command(path + ' is a folder')} >&2; exit 1; fi; "
                f"if [ -e {remote_command(path)} ]; then ln -f -- {remote_command(path)} {remote_command(path + '.previous')}; fi; "
                f"if [ -e {remote_command(sidecar_path)} ]; then ln -f -- {remote_command(sidecar_path)} "
                f"{remote_command(sidecar_path + '.previous')}; fi; "
                f"mv -f -- {remote_command(staged_sidecar)} {remote_command(sidecar_path)} && "
                f"mv -f -- {remote_command(staged_model)} {remote_command(path)}"
            )
            self._check(keep, f"installing {path}")
        except BaseException:
            try:
                self.channel.run(remote_command("rm", "-f", "--", staged_model, staged_sidecar))
            except DeployError:
                pass  # the device is gone; the staged name is never loaded by anything
            raise
        return {"device": self.name, "path": path, "metadata": sidecar_path, "sha256": local_sha}

    def rollback(self, path: str, model_name: str = "") -> dict:
        """Put back ``path.previous`` (``path/model_name`` when ``path`` is a folder), with its metadata."""
        path = self.target_path(path, model_name)
        previous = f"{path}.previous"
        if self.channel.run(f"test -e {remote_command(previous)}").returncode != 0:
            raise DeployError(f"{self.name}: no previous version at {previous} to roll back to")
        command = (
            f"mv -f -- {remote_command(previous)} {remote_command(path)} && "
            f"if [ -e {remote_command(path + '.json.previous')} ]; then "
            f"mv -f -- {remote_command(path + '.json.previous')} {remote_command(path + '.json')}; fi"
        )
        self._check(command, f"rolling back {path}")
        return {"device": self.name, "path": path, "restored_from": previous}


CHANNELS = {"ssh": SshChannel, "adb": AdbChannel, "local": LocalChannel}


def deployer_for(entry: ProfileEntry) -> Deployer:
    transport = entry.profile.transport.type.value
    if transport == "none":
        raise ProfileError(
            f"{entry.profile.name} is a microcontroller: build its firmware from "
            f"`edgekd export MODEL --format c --device {entry.profile.name}` instead"
        )
    return Deployer(entry.profile.name, CHANNELS[transport](entry))


def remote_path_for(entry: ProfileEntry, model_name: str, path: str | None) -> str:
    """Where the model goes: the user's path (a relative one, on the host, from the current folder) or the default.

    A path that is a folder (or ends in '/') means the model's own name inside it (see
    :meth:`Deployer.target_path`).
    """
    transport = entry.profile.transport.type.value
    if path is None:
        return f"{DEFAULT_FOLDER.get(transport, 'edgekd/models')}/{model_name}"
    if not path.strip():
        raise ConfigError("--path is empty; give the file or folder to install to, or leave --path out for the default")
    if has_control_characters(path):
        raise ConfigError(f"--path {path!r} holds a control character; give a plain path")
    folder = "/" if path.endswith("/") else ""
    if transport == "local":
        return str(Path(path).expanduser().absolute()) + folder
    # './-x' is the same file as '-x', and no tool on the device reads it as an option.
    return f"./{path}" if path.startswith("-") else path
