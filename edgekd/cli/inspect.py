"""``edgekd inspect``: what is inside a .tflite file, without running it."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import emit_json, json_option
from edgekd.errors import ModelError
from edgekd.results.table import count, format_table, kib


@click.command()
@click.argument("model_path", metavar="FILE.tflite", type=click.Path(path_type=Path))
@json_option
def inspect(model_path: Path, as_json: bool) -> None:
    """Show inputs/outputs (dtype, shape, quantization), ops with MACs, tensor dtypes, parameters and size.

    \b
    Example:
      edgekd inspect runs/demo-20261125-120000/student_int8.tflite
    """
    from edgekd.quantize.inspect import inspect_tflite

    if not model_path.is_file():
        raise ModelError(f"{model_path} does not exist or is not a file")
    report = inspect_tflite(model_path.read_bytes(), str(model_path))
    document = report.as_dict()
    if as_json:
        emit_json(document)
        return
    click.echo(
        f"{model_path}: {kib(report.size_bytes)}, {count(report.params)} parameters, {count(report.macs)} MACs per inference"
    )
    click.echo()
    rows = []
    for role, tensors in (("input", report.inputs), ("output", report.outputs)):
        for tensor in tensors:
            quantization = (
                f"scale={tensor.scale[0]:.6g} zero_point={tensor.zero_point[0] if tensor.zero_point else 0}"
                if len(tensor.scale) == 1
                else (f"per-channel ({len(tensor.scale)})" if tensor.scale else "none")
            )
            rows.append([role, tensor.name, tensor.dtype, list(tensor.shape_signature), quantization])
    click.echo(format_table(("", "name", "dtype", "shape", "quantization"), rows))
    click.echo()
    click.echo(
        format_table(("op", "count", "MACs"), [[op["op"], op["count"], count(op["macs"])] for op in document["ops"]])
    )
    click.echo()
    click.echo("tensor dtypes: " + ", ".join(f"{dtype} x{n}" for dtype, n in report.tensor_dtypes.items()))
    for note in report.notes:
        click.echo(f"note: {note}")
