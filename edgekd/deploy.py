"""Put a model on a device, safely: upload under a temporary name, verify, then rename into place.

Over SSH (the profile's strict host-key settings): the model and its metadata JSON are
streamed to ``PATH.edgekd-upload-TOKEN``, their SHA-256 is checked on the device with
``sha256sum``, the installed model (if any) is hard-linked to ``PATH.previous``, and only
then does ``mv`` rename the upload over ``PATH``, an atomic step on POSIX filesystems. A
connection that drops mid-upload leaves the installed model untouched (the partial upload
fails its checksum and is removed). ``rollback`` renames ``PATH.previous`` back.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from pathlib import Path

from edgekd.bench.ssh import SshTarget, classify_ssh_failure, remote_command
from edgekd.errors import BenchmarkError, ProfileError
from edgekd.profiles.loader import ProfileEntry

DEFAULT_FOLDER = "edgekd/models"
UPLOAD_TIMEOUT_S = 300


class DeployError(BenchmarkError):
    """The device could not be reached or refused the installation."""


def remote_path_for(model: Path, path: str | None) -> str:
    return path or f"{DEFAULT_FOLDER}/{model.name}"


class SshDeployer:
    def __init__(self, entry: ProfileEntry):
        self.profile = entry.profile
        self.target = SshTarget.from_profile(self.profile)

    def _ssh(
        self, command: str, stdin=None, data: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        argv = ["ssh", *self.target.options(), self.target.destination, "--", command]
        feed = {"input": data} if data is not None else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
        try:
            completed = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, **feed)
        except subprocess.TimeoutExpired:
            raise DeployError(f"{self.profile.name}: no answer within {timeout:.0f} s") from None
        if completed.returncode == 255:
            raise DeployError(
                classify_ssh_failure(completed.stderr.decode(errors="replace"), self.target, self.profile.name)[0]
            )
        return completed

    def _check(self, command: str, what: str) -> str:
        completed = self._ssh(command)
        if completed.returncode != 0:
            detail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise DeployError(f"{self.profile.name}: {what} failed: {detail[0][:200]}")
        return completed.stdout.decode(errors="replace")

    def upload(self, local: Path, remote: str) -> None:
        """Stream ``local`` into ``remote`` (quoted); the local name never reaches the device."""
        with open(local, "rb") as handle:
            completed = self._ssh(f"cat > {remote_command(remote)}", stdin=handle, timeout=UPLOAD_TIMEOUT_S)
        if completed.returncode != 0:
            detail = completed.stderr.decode(errors="replace").strip()[-200:]
            raise DeployError(
                f"{self.profile.name}: uploading {local.name} failed: {detail} (no permission? disk full?)"
            )

    def sha256(self, remote: str) -> str:
        output = self._check(remote_command("sha256sum", "--", remote), f"checksumming {remote}")
        return output.split()[0] if output.split() else ""

    def install(self, model: Path, metadata: dict, path: str) -> dict:
        token = secrets.token_hex(4)
        sidecar_path = f"{path}.json"
        staged_model, staged_sidecar = f"{path}.edgekd-upload-{token}", f"{sidecar_path}.edgekd-upload-{token}"
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        self._check(remote_command("mkdir", "-p", "--", folder), f"creating {folder}")
        sidecar = json.dumps(metadata, indent=2).encode()
        local_sha = hashlib.sha256(model.read_bytes()).hexdigest()
        try:
            self.upload(model, staged_model)
            try:
                remote_sha = self.sha256(staged_model)
            except DeployError:
                remote_sha = "missing"
            if remote_sha != local_sha:
                raise DeployError(
                    f"{self.profile.name}: the upload did not arrive whole (its SHA-256 on the device is "
                    f"{remote_sha[:12]}, not {local_sha[:12]}): the connection dropped or the disk is full; "
                    "the installed model was not touched"
                )
            self._upload_bytes(sidecar, staged_sidecar)
            # Keep the installed version (hard links: no copy, no window without a model), then swap atomically.
            keep = (
                f"if [ -e {remote_command(path)} ]; then ln -f -- {remote_command(path)} {remote_command(path + '.previous')}; fi; "
                f"if [ -e {remote_command(sidecar_path)} ]; then ln -f -- {remote_command(sidecar_path)} "
                f"{remote_command(sidecar_path + '.previous')}; fi; "
                f"mv -f -- {remote_command(staged_sidecar)} {remote_command(sidecar_path)} && "
                f"mv -f -- {remote_command(staged_model)} {remote_command(path)}"
            )
            self._check(keep, f"installing {path}")
        except BaseException:
            self._ssh(remote_command("rm", "-f", "--", staged_model, staged_sidecar))
            raise
        return {"device": self.profile.name, "path": path, "metadata": sidecar_path, "sha256": local_sha}

    def _upload_bytes(self, data: bytes, remote: str) -> None:
        completed = self._ssh(f"cat > {remote_command(remote)}", data=data)
        if completed.returncode != 0:
            raise DeployError(f"{self.profile.name}: uploading the metadata failed: {completed.stderr.decode()[-200:]}")

    def rollback(self, path: str) -> dict:
        previous = f"{path}.previous"
        exists = self._ssh(f"test -e {remote_command(previous)}")
        if exists.returncode != 0:
            raise DeployError(f"{self.profile.name}: no previous version at {previous} to roll back to")
        command = (
            f"mv -f -- {remote_command(previous)} {remote_command(path)} && "
            f"if [ -e {remote_command(path + '.json.previous')} ]; then "
            f"mv -f -- {remote_command(path + '.json.previous')} {remote_command(path + '.json')}; fi"
        )
        self._check(command, f"rolling back {path}")
        return {"device": self.profile.name, "path": path, "restored_from": previous}


def deployer_for(entry: ProfileEntry) -> SshDeployer:
    transport = entry.profile.transport.type.value
    if transport == "ssh":
        return SshDeployer(entry)
    if transport == "none":
        raise ProfileError(
            f"{entry.profile.name} is a microcontroller: build its firmware from "
            f"`edgekd export MODEL --format c --device {entry.profile.name}` instead"
        )
    raise ProfileError(f"deploying over {transport} is not supported yet (ssh is); device {entry.profile.name}")
