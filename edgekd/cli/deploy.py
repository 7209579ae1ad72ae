"""``edgekd deploy``: install a model on a device (verified, atomic, reversible)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import emit_json, json_option
from edgekd.errors import ConfigError, ModelError, ProfileError
from edgekd.untrusted import for_terminal


@click.command()
@click.argument("model_path", metavar="MODEL.tflite", required=False, type=click.Path(path_type=Path))
@click.option("--device", required=True, help="Device profile to install on (ssh, adb or local devices).")
@click.option(
    "--path",
    "remote_path",
    help="Where on the device: a file path, or a folder to install into under the model's own name (default: "
    "edgekd/models/<file name> under the login folder over ssh and on the host, "
    "/data/local/tmp/edgekd/models/<file name> over adb).",
)
@click.option("--rollback", is_flag=True, help="Put back the version the last deploy replaced.")
@json_option
def deploy(model_path, device, remote_path, rollback, as_json) -> None:
    """Install MODEL.tflite on a device: upload under a temporary name, check its SHA-256 there, keep the
    installed version as PATH.previous, then rename into place. The installed file carries its metadata
    (labels, normalization, accuracy, MACs) inside, and PATH.json holds the same beside it.

    \b
    Examples:
      edgekd deploy student_int8.tflite --device rpi4
      edgekd deploy student_int8.tflite --device pixel4 --path /data/local/tmp/app/model.tflite
      edgekd deploy --rollback --device rpi4 --path edgekd/models/student_int8.tflite
    """
    from edgekd.deploy import deployer_for, remote_path_for
    from edgekd.profiles.loader import get_profile

    entry = get_profile(device)
    if rollback:
        if model_path is None and remote_path is None:
            raise ConfigError("--rollback needs --path (or the model file whose default path to roll back)")
        name = model_path.name if model_path is not None else ""
        result = deployer_for(entry).rollback(remote_path_for(entry, name, remote_path), name)
        _say(result, as_json, f"rolled back {result['path']} on {device} to the previous version")
        return
    if model_path is None:
        raise ConfigError("give the model to deploy (or --rollback)")
    target = remote_path_for(entry, model_path.name, remote_path)
    data, metadata = _prepare(model_path, entry)
    deployer = deployer_for(entry)
    result = deployer.install(data, metadata, target, model_path.name)
    _say(
        result,
        as_json,
        f"installed {model_path.name} on {device} at {result['path']} (sha256 {result['sha256'][:16]}, metadata "
        f"inside and at {result['metadata']}); the replaced version, if any, is at {result['path']}.previous",
    )


def _prepare(model_path: Path, entry) -> tuple[bytes, dict]:
    """Checks the device can run and hold the model; returns the bytes to install and the metadata beside them."""
    from edgekd.bench.benchmark import check_device_can_run
    from edgekd.export.arena import estimate_arena
    from edgekd.export.embedded import embed_metadata
    from edgekd.export.metadata import model_metadata, shipped_fields
    from edgekd.inputs import read_regular_file

    source = read_regular_file(model_path, "model", ModelError)
    report = check_device_can_run(entry, source, str(model_path))
    metadata = model_metadata(model_path, report)
    data = embed_metadata(source, metadata)
    budget = entry.profile.hardware.model_budget_mb
    if budget is not None:
        arena = estimate_arena(report)
        needed = len(data) + arena.bytes
        if needed > budget * 1024 * 1024:
            raise ProfileError(
                f"{model_path} needs about {needed:,} bytes ({len(data):,} of model, {arena.bytes:,} of activations "
                f"estimated), more than {entry.profile.name}'s model budget of {budget} MB "
                "(hardware.memory_budget_mb, or its memory_mb); choose a smaller student or a larger device"
            )
    return data, {**metadata, **shipped_fields(source, data, "the edgekd_metadata entry of the installed .tflite")}


def _say(result: dict, as_json: bool, line: str) -> None:
    if as_json:
        emit_json(result)
    else:
        click.echo(for_terminal(line))
