"""``edgekd quantize``: convert a Keras model to TFLite and measure the .tflite itself."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import emit_json, force_option, json_option, stderr_reporter
from edgekd.errors import OutputError
from edgekd.quantize.modes import mode_names


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option(
    "--data", "data_spec", default="mnist1d", show_default=True, help="Calibration and test data (DATA spec)."
)
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path), help="The .tflite file to write.")
@click.option("--mode", default="int8", show_default=True, type=click.Choice(mode_names()), help="Conversion mode.")
@click.option(
    "--representative-samples",
    type=int,
    default=500,
    show_default=True,
    help="Training samples used to calibrate int8 ranges.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--trust-model", is_flag=True, help="Allow model files that contain code (Lambda layers, custom objects)."
)
@force_option
@json_option
def quantize(model_path, data_spec, out_file, mode, representative_samples, seed, trust_model, force, as_json) -> None:
    """Convert MODEL (.keras or SavedModel) to TFLite; int8 by default.

    The .tflite's own accuracy is measured through the LiteRT interpreter on the test split,
    with its top-1 agreement with the Keras model. Writes FILE.tflite and FILE.results.json.

    \b
    Example:
      edgekd quantize runs/kd/student_kd.keras --data mnist1d --out student_int8.tflite
    """
    from edgekd.artifacts import write_json_atomic
    from edgekd.data.spec import load_dataset
    from edgekd.models.io import load_model
    from edgekd.pipeline import quantize_stage
    from edgekd.results.document import new_document
    from edgekd.results.table import MODEL_HEADERS, format_table, model_rows

    if out_file.suffix != ".tflite":
        raise OutputError(f"--out {out_file} should end in .tflite")
    sidecar = out_file.with_suffix(".results.json")
    for path in (out_file, sidecar):
        if path.exists() and not force:
            raise OutputError(f"{path} already exists; choose another --out or pass --force to replace it")
    if not out_file.parent.is_dir():
        raise OutputError(f"folder {out_file.parent} does not exist; create it or choose another --out")
    reporter = stderr_reporter(3)
    with reporter.stage("loading the model", "load"):
        model = load_model(model_path, trust=trust_model)
    with reporter.stage("loading data", "data"):
        dataset = load_dataset(data_spec, reporter)
    with reporter.stage(f"converting to {mode} and measuring it through LiteRT", "quantize"):
        artifact = quantize_stage(model, out_file.stem, mode, dataset, representative_samples, seed, out_file, "keras")
    document = new_document(
        "quantize",
        {"model": str(model_path), "data": data_spec, "mode": mode, "representative_samples": representative_samples},
        {"representative": seed},
    )
    document["data"] = dataset.summary()
    document["models"] = {out_file.stem: artifact.record}
    document["timings_s"] = dict(reporter.durations)
    write_json_atomic(sidecar, document)
    if as_json:
        emit_json(document)
        return
    click.echo(format_table(MODEL_HEADERS, model_rows(document["models"])))
    click.echo(f"top-1 agreement with the Keras model: {100 * artifact.record['agreement_with_keras']:.2f}%")
    click.echo(f"Wrote {out_file} and {sidecar}")
