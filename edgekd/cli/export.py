"""``edgekd export``: a .tflite as C source for microcontroller firmware, with its metadata beside it."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import echo, emit_json, force_option, json_option
from edgekd.errors import OutputError
from edgekd.untrusted import for_terminal

FORMATS = ("c",)


@click.command()
@click.argument("model_path", metavar="MODEL.tflite", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="c", show_default=True, help=f"Export format: {', '.join(FORMATS)}.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--name", help="C identifier of the array (default: from the file name; made valid if needed).")
@click.option(
    "--device", help="A microcontroller profile (esp32-s3, nano33ble, stm32h7, ...): refuse a model that does not fit."
)
@force_option
@json_option
def export(model_path, fmt, out, name, device, force, as_json) -> None:
    """Export a .tflite for a microcontroller: NAME.c (16-byte-aligned array), NAME.h (size, shapes,
    quantization, the tensor arena TFLite Micro measures), NAME.tflite and NAME.json. The array and NAME.tflite are the
    model with its metadata (labels, normalization, accuracy, MACs) embedded; NAME.json holds the same.

    \b
    Example:
      edgekd export student_int8.tflite --format c --out firmware/model
    """
    from edgekd.artifacts import write_bytes_atomic, write_json_atomic, write_text_atomic
    from edgekd.export.arena import tensor_arena
    from edgekd.export.c_array import c_identifier, render_header, render_source
    from edgekd.export.embedded import embed_metadata
    from edgekd.export.metadata import model_metadata, shipped_fields
    from edgekd.modelfile.inspect import inspect_tflite, read_model_file
    from edgekd.outputs import staged_output_folder
    from edgekd.version import __version__

    if fmt not in FORMATS:
        raise OutputError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    source, report = read_model_file(model_path)
    identifier, changed = c_identifier(name or model_path.stem)
    carried = model_metadata(model_path, report)
    # The firmware gets the model with its metadata inside; the same bytes go to NAME.tflite.
    data = embed_metadata(source, carried)
    report = inspect_tflite(data, str(model_path))
    if device:
        arena, fit = _check_fit(device, data, str(model_path), report)
    else:
        arena, refusal = tensor_arena(data, report, str(model_path))
        fit = None
        if refusal is not None:
            echo(f"edgekd: warning: {for_terminal(refusal)}", err=True)
    comment = f"{model_path.name}, {len(data)} bytes with its metadata, exported by edgekd {__version__}"
    metadata = {
        **carried,
        **shipped_fields(source, data, "the edgekd_metadata entry of the .tflite (and this file)"),
        "c_identifier": identifier,
        "arena": arena.as_dict(),
    }
    if fit is not None:
        metadata["fit"] = fit
    with staged_output_folder(out, force, kind="export") as staging:
        write_text_atomic(staging / f"{identifier}.h", render_header(identifier, report, arena, comment))
        write_text_atomic(staging / f"{identifier}.c", render_source(identifier, f"{identifier}.h", data, comment))
        write_bytes_atomic(staging / f"{identifier}.tflite", data)
        write_json_atomic(staging / f"{identifier}.json", metadata)
    if changed:
        echo(f"edgekd: {name or model_path.stem!r} is not a valid C identifier; using {identifier!r}", err=True)
    if as_json:
        emit_json(metadata)
        return
    echo(f"Wrote {out / (identifier + '.c')}, {identifier}.h, {identifier}.tflite and {identifier}.json")
    echo(f"model {len(data):,} bytes (flash); tensor arena {arena.bytes:,} bytes (RAM), {arena.method}")
    if fit is not None:
        echo(
            f"fits {device}: {fit['flash']['available']:,} bytes of flash, {fit['ram']['available']:,} of RAM "
            f"({fit['note']})"
        )


def _check_fit(device: str, data: bytes, source: str, report) -> tuple:
    """The arena and the fit on ``device``; a model the device cannot run or hold is refused with the reason,
    before anything reaches the firmware."""
    from edgekd.errors import ProfileError
    from edgekd.export.fit import device_arena, fit_report
    from edgekd.profiles.compatibility import check_device_can_run
    from edgekd.profiles.loader import get_profile

    entry = get_profile(device)
    check_device_can_run(entry, data, source)
    arena, refusal = device_arena(data, report, source, entry.profile)
    if refusal is not None:
        raise refusal
    fit = fit_report(report, arena, entry.profile)
    if fit["problems"]:
        raise ProfileError(f"{source} does not fit {device}: {'; '.join(fit['problems'])}")
    return arena, fit
