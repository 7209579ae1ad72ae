"""``edgekd deploy``: install a model on a device (verified, atomic, reversible)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import echo, emit_json, json_option
from edgekd.errors import ConfigError
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
    from edgekd.deploy import PathError, install
    from edgekd.deploy import rollback as roll_back
    from edgekd.profiles.loader import get_profile

    entry = get_profile(device)
    if not rollback and model_path is None:
        raise ConfigError("give the model to deploy (or --rollback)")
    if rollback and model_path is None and remote_path is None:
        raise ConfigError("--rollback needs --path (or the model file whose default path to roll back)")
    try:
        if rollback:
            result = roll_back(entry, remote_path, model_path.name if model_path is not None else "")
        else:
            result = install(model_path, entry, remote_path)
    except PathError as exc:
        raise ConfigError(exc.naming("--path")) from None
    if rollback:
        _say(result, as_json, f"rolled back {result['path']} on {device} to the previous version")
        return
    _say(
        result,
        as_json,
        f"installed {model_path.name} on {device} at {result['path']} (sha256 {result['sha256'][:16]}, metadata "
        f"inside and at {result['metadata']}); the replaced version, if any, is at {result['path']}.previous",
    )


def _say(result: dict, as_json: bool, line: str) -> None:
    if as_json:
        emit_json(result)
    else:
        echo(for_terminal(line))
