"""``edgekd quantize``: convert a Keras model to TFLite and check the .tflite itself."""

from __future__ import annotations

import math
from pathlib import Path

import click

from edgekd.cli.common import (
    db_option,
    emit_json,
    force_option,
    json_option,
    open_store,
    seed_option,
    stderr_reporter,
    store_run,
)
from edgekd.errors import ConfigError, OutputError
from edgekd.quantize.modes import get_mode, mode_names

ALL = "all"
QAT = "qat"


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option(
    "--data", "data_spec", default="mnist1d", show_default=True, help="Calibration and test data (DATA spec)."
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The .tflite file to write; a folder with --mode all.",
)
@click.option(
    "--mode",
    default="int8",
    show_default=True,
    type=click.Choice([*mode_names(), QAT, ALL]),
    help="Conversion mode; 'qat' fine-tunes with quantization-aware training first (tf_keras models); "
    "'all' writes every post-training mode into the --out folder and compares them.",
)
@click.option(
    "--io-dtype",
    type=click.Choice(["int8", "uint8"]),
    default="int8",
    show_default=True,
    help="Input/output type of int8 models.",
)
@click.option("--per-tensor", is_flag=True, help="Per-tensor weight scales instead of per-channel (int8).")
@click.option(
    "--representative-samples",
    type=int,
    default=500,
    show_default=True,
    help="Training samples used to calibrate int8 ranges.",
)
@click.option(
    "--max-drop",
    type=float,
    default=1.0,
    show_default=True,
    help="Warn when the .tflite loses more than this many accuracy points against the Keras model.",
)
@click.option(
    "--teacher",
    "teacher_path",
    type=click.Path(path_type=Path),
    help="With --mode qat: keep distilling from this teacher during quantization-aware training.",
)
@click.option("--qat-epochs", type=int, default=3, show_default=True, help="Epochs of quantization-aware training.")
@click.option(
    "--temperature", type=float, default=1.0, show_default=True, help="Distillation temperature for --teacher."
)
@click.option("--alpha", type=float, default=0.0, show_default=True, help="Hard-label weight for --teacher.")
@click.option(
    "--prune", default=None, help="Magnitude pruning before conversion: a sparsity such as 0.5, or 2:4 (structured)."
)
@click.option(
    "--cluster", "clusters", type=int, default=0, help="Weight clustering before conversion: number of centroids."
)
@click.option(
    "--compress-epochs", type=int, default=2, show_default=True, help="Fine-tuning epochs after pruning/clustering."
)
@click.option("--debug", is_flag=True, help="Per-layer quantization error (TFLite's debugger), worst layers first.")
@click.option(
    "--edgetpu",
    is_flag=True,
    help="Also check Edge TPU readiness and compile with edgetpu_compiler when it is installed (int8 only).",
)
@click.option(
    "--allow-float-ops",
    is_flag=True,
    help="int8/int16x8: keep ops that have no integer kernel in float (a mixed file) instead of failing.",
)
@click.option("--strict", is_flag=True, help="Fail (and write nothing) when a check fails, instead of warning.")
@seed_option
@click.option(
    "--trust-model", is_flag=True, help="Allow model files that contain code (Lambda layers, custom objects)."
)
@force_option
@db_option
@json_option
def quantize(
    model_path,
    data_spec,
    out_path,
    mode,
    io_dtype,
    per_tensor,
    representative_samples,
    max_drop,
    debug,
    teacher_path,
    qat_epochs,
    prune,
    clusters,
    compress_epochs,
    temperature,
    alpha,
    edgetpu,
    allow_float_ops,
    strict,
    seed,
    trust_model,
    force,
    db,
    as_json,
) -> None:
    """Convert MODEL (.keras or SavedModel) to TFLite; int8 by default.

    Every .tflite is checked through the LiteRT interpreter on the test split: its accuracy,
    its top-1 agreement with the Keras model (warning past --max-drop points), and for
    full-integer modes that no op stayed float. Writes FILE.tflite and FILE.results.json;
    with --mode all, DIR/<model>_<mode>.tflite for every mode and DIR/results.json.

    \b
    Examples:
      edgekd quantize runs/kd/student_kd.keras --data mnist1d --out student_int8.tflite
      edgekd quantize runs/kd/student_kd.keras --mode all --out runs/modes
      edgekd quantize runs/kd/student_kd.keras --out student_int8.tflite --edgetpu
      edgekd quantize runs/kd/student_kd.keras --mode qat --teacher runs/kd/teacher.keras --out student_qat.tflite
      edgekd quantize runs/kd/student_kd.keras --prune 2:4 --out student_sparse_int8.tflite
    """
    from edgekd.artifacts import check_output_folder, staged_output_files, staged_output_folder, write_json_atomic
    from edgekd.data.spec import load_dataset
    from edgekd.models.io import load_model
    from edgekd.pipeline import compare_modes, quantize_stage
    from edgekd.quantize.modes import QuantizeOptions
    from edgekd.quantize.stages import edgetpu_stage, layer_error_stage, qat_stage
    from edgekd.results.document import new_document
    from edgekd.results.store import artifact_files
    from edgekd.results.table import MODE_HEADERS, MODEL_HEADERS, format_table, mode_rows, model_rows

    options = QuantizeOptions(io_dtype=io_dtype, per_channel=not per_tensor, allow_float_ops=allow_float_ops)
    from edgekd.quantize.compress import Compression

    compression = Compression(prune=prune, clusters=clusters, epochs=compress_epochs)
    if not math.isfinite(max_drop) or max_drop < 0:
        raise ConfigError(f"--max-drop {max_drop} must be a number of accuracy points, 0 or more")
    if mode == QAT and qat_epochs < 1:
        raise ConfigError(f"--qat-epochs {qat_epochs} must be at least 1")
    if compression.active and mode == QAT:
        raise ConfigError("--prune/--cluster go with post-training modes; QAT after them would undo the sparsity")
    if debug and mode not in (QAT, ALL) and not get_mode(mode).integer_only:
        raise ConfigError(
            f"--debug compares integer layers with float ones; it needs --mode int8 or int16x8, not {mode}"
        )
    if debug and mode == ALL:
        raise ConfigError("--debug works on one mode at a time; choose --mode int8 or int16x8")
    if teacher_path and mode != QAT:
        raise ConfigError("--teacher is for --mode qat (distillation during quantization-aware training)")
    if edgetpu and mode not in ("int8", QAT):
        raise ConfigError(
            f"--edgetpu needs --mode int8: the Edge TPU runs only fully 8-bit quantized models, not {mode}"
        )
    sidecar = out_path.with_suffix(".results.json")
    if mode == ALL:
        check_output_folder(out_path, force)
    else:
        _check_output_file(out_path, force)
    config = {
        "model": str(model_path),
        "data": data_spec,
        "mode": mode,
        "io_dtype": io_dtype,
        "per_channel": not per_tensor,
        "representative_samples": representative_samples,
        "max_drop": max_drop,
        "strict": strict,
    }
    document = new_document("quantize", config, {"representative": seed})
    store = open_store(db)
    reporter = stderr_reporter(3)
    with reporter.stage("loading the model", "load"):
        model = load_model(model_path, trust=trust_model)
    with reporter.stage("loading data", "data"):
        dataset = load_dataset(data_spec, reporter)
    document["data"] = dataset.summary()
    if compression.active:
        from edgekd.quantize.compress import compress, weight_sparsity

        with reporter.stage("pruning/clustering with fine-tuning", "compress"):
            model = compress(model, compression, dataset, seed, reporter)
        document["compression"] = {**compression.describe(), "kernel_sparsity": round(weight_sparsity(model), 6)}
    stem = model_path.stem if model_path.suffix else model_path.name
    if mode == ALL:
        with staged_output_folder(out_path, force) as staging:
            with reporter.stage("converting in every mode, checking each through LiteRT and timing it", "quantize"):
                document["models"], document["benchmarks"] = compare_modes(
                    model, stem, dataset, staging, representative_samples, seed, options, max_drop, strict, reporter
                )
            document["timings_s"] = dict(reporter.durations)
            write_json_atomic(staging / "results.json", document)
        # Stored once the folder is in place: a run that lost its --out to another process is not recorded.
        store_run(store, document, out_path, artifact_files(out_path))
        table = format_table(MODE_HEADERS, mode_rows(document["models"], document["benchmarks"]))
        written = f"Wrote {len(document['models'])} models and results.json into {out_path}"
    else:
        # The model, its results and the Edge TPU build appear together once all are written (see artifacts).
        compiled = out_path.with_name(f"{out_path.stem}_edgetpu.tflite")
        with staged_output_files([out_path, sidecar, *([compiled] if edgetpu else [])], force) as staging:
            staged_model = staging / out_path.name
            if mode == QAT:
                with reporter.stage("quantization-aware training", "qat"):
                    model, history, qat_description = qat_stage(
                        model, teacher_path, dataset, qat_epochs, temperature, alpha, seed, trust_model, reporter
                    )
                document["training"] = {"qat": history.as_dict()}
            with reporter.stage(f"converting to {mode} and checking it through LiteRT", "quantize"):
                artifact = quantize_stage(
                    model,
                    out_path.stem,
                    "int8" if mode == QAT else mode,
                    dataset,
                    representative_samples,
                    seed,
                    staged_model,
                    "keras",
                    options,
                    max_drop,
                    strict,
                )
            if mode == QAT:
                artifact.record.update(mode=QAT, qat=qat_description)
            if compression.active:
                artifact.record["compression"] = document["compression"]
            if debug:
                document["layer_errors"] = layer_error_stage(
                    model, "int8" if mode == QAT else mode, dataset, representative_samples, seed, options, reporter
                )
            document["models"] = {out_path.stem: artifact.record}
            if edgetpu:
                document["edgetpu"] = edgetpu_stage(staged_model, reporter)
                if document["edgetpu"].get("compiler"):
                    document["edgetpu"]["compiler"]["path"] = str(compiled)
            document["timings_s"] = dict(reporter.durations)
            write_json_atomic(staging / sidecar.name, document)
        store_run(store, document, out_path, {out_path.name: out_path, sidecar.name: sidecar})
        table = format_table(MODEL_HEADERS, model_rows(document["models"]))
        table += f"\ntop-1 agreement with the Keras model: {100 * artifact.record['agreement_with_keras']:.2f}%"
        table += f"\nsize {artifact.record['size_bytes']:,} bytes, {artifact.record['gzip_bytes']:,} gzipped"
        if compression.active:
            table += f" (kernel sparsity {100 * document['compression']['kernel_sparsity']:.1f}%)"
        written = f"Wrote {out_path} and {sidecar}"
        if debug:
            worst = document["layer_errors"][:5]
            table += "\n\nlayers losing the most (RMSE in quantization steps; about 0.29 is the rounding floor):\n"
            table += format_table(
                ("op", "tensor", "rmse/scale", "rmse"),
                [[e["op"], e["tensor"][:50], f"{e['rmse_per_scale']:.3f}", f"{e['rmse']:.4g}"] for e in worst],
            )
        if edgetpu:
            table += f"\nEdge TPU (edgekd's rules): {document['edgetpu']['verdict']['summary']}"
            compiled = document["edgetpu"].get("compiler")
            if compiled:
                table += (
                    f"\nedgetpu_compiler {compiled['version']}: {compiled['edgetpu_ops']} of {compiled['total_ops']} ops "
                    f"on the Edge TPU, {compiled['subgraphs']} subgraph(s); wrote {compiled['path']}"
                )
    for record in document["models"].values():
        for warning in record["warnings"]:
            reporter.say(f"edgekd: warning: {warning}")
    if as_json:
        emit_json(document)
        return
    click.echo(table)
    click.echo(written)


def _check_output_file(out_file: Path, force: bool) -> None:
    from edgekd.artifacts import check_output_file

    if out_file.suffix != ".tflite":
        raise OutputError(f"--out {out_file} should end in .tflite (or use --mode all with a folder)")
    for path in (out_file, out_file.with_suffix(".results.json")):
        check_output_file(path, force)
