"""``edgekd deploy``: install a model on a device (verified, atomic, reversible)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import emit_json, json_option
from edgekd.errors import ConfigError, ProfileError


@click.command()
@click.argument("model_path", metavar="MODEL.tflite", required=False, type=click.Path(path_type=Path))
@click.option("--device", required=True, help="Device profile to install on (ssh devices).")
@click.option("--path", "remote_path", help="Where on the device (default: edgekd/models/<file name>, under its home).")
@click.option("--rollback", is_flag=True, help="Put back the version the last deploy replaced.")
@json_option
def deploy(model_path, device, remote_path, rollback, as_json) -> None:
    """Install MODEL.tflite on a device: upload under a temporary name, check its SHA-256 there, keep the
    installed version as PATH.previous, then rename into place. Writes PATH.json (metadata) beside it.

    \b
    Examples:
      edgekd deploy student_int8.tflite --device rpi4
      edgekd deploy --rollback --device rpi4 --path edgekd/models/student_int8.tflite
    """
    from edgekd.deploy import deployer_for, remote_path_for
    from edgekd.profiles.loader import get_profile

    entry = get_profile(device)
    if rollback:
        if model_path is None and remote_path is None:
            raise ConfigError("--rollback needs --path (or the model file whose default path to roll back)")
        result = deployer_for(entry).rollback(remote_path_for(model_path or Path(""), remote_path))
        _say(result, as_json, f"rolled back {result['path']} on {device} to the previous version")
        return
    if model_path is None:
        raise ConfigError("give the model to deploy (or --rollback)")
    metadata = _metadata(model_path, entry)
    deployer = deployer_for(entry)
    result = deployer.install(model_path, metadata, remote_path_for(model_path, remote_path))
    _say(
        result,
        as_json,
        f"installed {model_path.name} on {device} at {result['path']} (sha256 {result['sha256'][:16]}), metadata at {result['metadata']}; the replaced version, if any, is at {result['path']}.previous",
    )


def _metadata(model_path: Path, entry) -> dict:
    """Checks the device can run and hold the model; returns the metadata that goes beside it."""
    from edgekd import __version__
    from edgekd.bench.benchmark import check_device_can_run
    from edgekd.export.metadata import results_metadata

    if not model_path.is_file():
        raise ProfileError(f"model {model_path} does not exist; check the path")
    data = model_path.read_bytes()
    report = check_device_can_run(entry, data, str(model_path))
    memory = entry.profile.hardware.memory_mb
    if memory is not None and len(data) > memory * 1024 * 1024:
        raise ProfileError(
            f"{model_path} is {len(data):,} bytes, more than {entry.profile.name}'s {memory} MB of memory"
        )
    return {
        "model": model_path.name,
        "size_bytes": len(data),
        "inputs": [t.as_dict() for t in report.inputs],
        "outputs": [t.as_dict() for t in report.outputs],
        "macs": report.macs,
        "edgekd_version": __version__,
        **results_metadata(model_path),
    }


def _say(result: dict, as_json: bool, line: str) -> None:
    if as_json:
        emit_json(result)
    else:
        click.echo(line)
