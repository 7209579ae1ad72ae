"""Put a model on a device, safely: upload under a temporary name, verify, then rename into place.

One procedure for every transport, written in POSIX shell that a Linux board, Android's
toybox and the host all run. The model (with its metadata embedded) and its metadata JSON
go to ``PATH.edgekd-upload-TOKEN``; their SHA-256 is checked on the device with
``sha256sum``; the installed model (if any) is hard-linked to ``PATH.previous``; only then
does ``mv`` rename the upload over ``PATH``, an atomic step on POSIX filesystems. A
connection that drops mid-upload leaves the installed model untouched (the partial upload
fails its checksum and is removed). ``rollback`` renames ``PATH.previous`` back.

The transports differ only in how a command runs and how bytes travel: the device's
:class:`~edgekd.transport.channel.Channel`. Before anything travels, the model is checked
against the device: a quantization it cannot run, or more memory than its budget, is refused.

    from edgekd.deploy import install, rollback
    install(Path("student_int8.tflite"), get_profile("rpi4"))
    rollback(get_profile("rpi4"), "edgekd/models/student_int8.tflite")
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import secrets
from pathlib import Path

from edgekd.errors import ConfigError, ModelError, ProfileError
from edgekd.export.arena import estimate_arena
from edgekd.export.embedded import embed_metadata
from edgekd.export.metadata import model_metadata, shipped_fields
from edgekd.inputs import read_regular_file
from edgekd.profiles.compatibility import check_device_can_run
from edgekd.profiles.loader import ProfileEntry
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import Channel, TransportError, remote_command
from edgekd.transport.registry import channel_for
from edgekd.untrusted import has_control_characters

# Under the device's home (the login folder over SSH and on the host; adb's writable folder on a phone).
DEFAULT_FOLDER = "edgekd/models"


class DeployError(TransportError):
    """The device refused the installation, or has nothing to roll back to."""


class PathError(ConfigError):
    """A ``path`` deploy cannot use; the message names the parameter ``path`` (the CLI says its flag instead)."""

    def __init__(self, problem: str):
        super().__init__(f"path {problem}")
        self.problem = problem

    def naming(self, name: str) -> str:
        """The message with the parameter called ``name`` (``--path`` on the command line)."""
        return f"{name} {self.problem}"


def install(model_path: Path, entry: ProfileEntry, path: str | None = None) -> dict:
    """Install the .tflite at ``model_path`` on the device of ``entry``; returns where it went and its SHA-256.

    ``path`` is the file to install to, or a folder (or a path ending in '/') to install into
    under the model's own name; left out, ``edgekd/models/<name>`` under the device's home.
    The model must be one the device runs and fit its memory budget (``hardware.memory_budget_mb``).
    """
    model_path = Path(model_path)
    deployer = Deployer(channel_for(entry.profile))
    target = remote_path_for(deployer.channel, model_path.name, path)
    data, metadata = prepare(model_path, entry)
    return deployer.install(data, metadata, target, model_path.name)


def rollback(entry: ProfileEntry, path: str | None, model_name: str = "") -> dict:
    """Put back the version the last install at ``path`` replaced (``path/model_name`` when ``path`` is a folder;
    left out, the default path of ``model_name``)."""
    deployer = Deployer(channel_for(entry.profile))
    return deployer.rollback(remote_path_for(deployer.channel, model_name, path), model_name)


def prepare(model_path: Path, entry: ProfileEntry) -> tuple[bytes, dict]:
    """The bytes to install (the model, its metadata embedded) and the metadata beside them, once the device
    is known to run the model and hold it."""
    source = read_regular_file(model_path, "model", ModelError)
    report = check_device_can_run(entry, source, str(model_path))
    metadata = model_metadata(model_path, report)
    data = embed_metadata(source, metadata)
    check_memory_budget(entry.profile, str(model_path), len(data), estimate_arena(report).bytes)
    return data, {**metadata, **shipped_fields(source, data, "the edgekd_metadata entry of the installed .tflite")}


def check_memory_budget(profile: DeviceProfile, source: str, model_bytes: int, arena_bytes: int) -> None:
    """Refuse a model whose file plus estimated activations exceed the profile's model budget, if it sets one."""
    budget = profile.hardware.model_budget_mb
    needed = model_bytes + arena_bytes
    if budget is not None and needed > budget * 1024 * 1024:
        raise ProfileError(
            f"{source} needs about {needed:,} bytes ({model_bytes:,} of model, {arena_bytes:,} of activations "
            f"estimated), more than {profile.name}'s model budget of {budget} MB "
            "(hardware.memory_budget_mb, or its memory_mb); choose a smaller student or a larger device"
        )


def remote_path_for(channel: Channel, model_name: str, path: str | None) -> str:
    """Where the model goes: the user's path (a relative one, on the host, from the current folder) or the default.

    A path that is a folder (or ends in '/') means the model's own name inside it (see
    :meth:`Deployer.target_path`).
    """
    if path is None:
        return posixpath.join(channel.home, DEFAULT_FOLDER, model_name)
    if not path.strip():
        raise PathError("is empty; give the file or folder to install to, or leave it out for the default")
    if has_control_characters(path):
        raise PathError(f"{path!r} holds a control character; give a plain path")
    return channel.user_path(path)


class Deployer:
    """Install, replace and roll back a model at a path on one device, through its channel."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self.name = channel.device

    def sha256(self, remote: str) -> str:
        # On stdin: sha256sum escapes a file name holding '\\' or a newline by prefixing its hash with '\\'.
        output = self.channel.run_checked(f"sha256sum < {remote_command(remote)}", f"checksumming {remote}").stdout
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
        staged_model, staged_sidecar = f"{path}.edgekd-upload-{token}", f"{path}.json.edgekd-upload-{token}"
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        self.channel.run_checked(remote_command("mkdir", "-p", "--", folder), f"creating {folder}")
        local_sha = hashlib.sha256(model).hexdigest()
        try:
            self.channel.send(model, staged_model, model_name)
            self._verify(staged_model, local_sha)
            self.channel.send(json.dumps(metadata, indent=2).encode(), staged_sidecar, "the metadata")
            self.channel.run_checked(_swap_command(path, staged_model, staged_sidecar), f"installing {path}")
        except BaseException:
            try:
                self.channel.run(remote_command("rm", "-f", "--", staged_model, staged_sidecar))
            except TransportError:
                pass  # the device is gone; the staged name is never loaded by anything
            raise
        return {"device": self.name, "path": path, "metadata": f"{path}.json", "sha256": local_sha}

    def _verify(self, staged: str, expected_sha: str) -> None:
        """Refuse an upload whose SHA-256 on the device is not the model's (a dropped link, a full disk)."""
        try:
            remote_sha = self.sha256(staged)
        except TransportError:
            remote_sha = "missing"
        if remote_sha != expected_sha:
            raise DeployError(
                f"{self.name}: the upload did not arrive whole (its SHA-256 on the device is "
                f"{remote_sha[:12]}, not {expected_sha[:12]}): the connection dropped or the disk is full; "
                "the installed model was not touched"
            )

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
        self.channel.run_checked(command, f"rolling back {path}")
        return {"device": self.name, "path": path, "restored_from": previous}


def _swap_command(path: str, staged_model: str, staged_sidecar: str) -> str:
    """Keep the installed version (hard links: no copy, no window without a model), then rename the upload in."""
    model, sidecar = remote_command(path), remote_command(f"{path}.json")
    return (
        f"if [ -d {model} ]; then echo {remote_command(path + ' is a folder')} >&2; exit 1; fi; "
        f"if [ -e {model} ]; then ln -f -- {model} {remote_command(path + '.previous')}; fi; "
        f"if [ -e {sidecar} ]; then ln -f -- {sidecar} {remote_command(path + '.json.previous')}; fi; "
        f"mv -f -- {remote_command(staged_sidecar)} {sidecar} && "
        f"mv -f -- {remote_command(staged_model)} {model}"
    )
