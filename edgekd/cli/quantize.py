"""``edgekd quantize``: convert a Keras model to TFLite and check the .tflite itself."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import as_flags, echo, emit_json, say_on_stderr, settings_as_flags, stderr_reporter
from edgekd.cli.flags import (
    DB,
    FORCE,
    JSON,
    SEED,
    TRUST_MODEL,
    api_arguments,
    argument,
    declared,
    flag_names,
    negated,
    option,
    path_text,
)
from edgekd.quantize.settings import ALL, quantize_mode_names

# The settings of edgekd.quantize.settings.QuantizeSettings (and the conversion's and compression's options),
# as this command's flags set and name them.
FLAGS = (
    argument("model_path", "model", metavar="MODEL", type=click.Path(path_type=Path)),
    option(
        "--data",
        param="data_spec",
        default="mnist1d",
        show_default=True,
        help="Calibration and test data (DATA spec).",
    ),
    option(
        "--out",
        param="out_path",
        required=True,
        type=click.Path(path_type=Path),
        help="The .tflite file to write; a folder with --mode all.",
    ),
    option(
        "--mode",
        default="int8",
        show_default=True,
        type=click.Choice(quantize_mode_names()),
        help="Conversion mode; 'qat' fine-tunes with quantization-aware training first (tf_keras models); "
        "'all' writes every post-training mode into the --out folder and compares them.",
    ),
    option(
        "--io-dtype",
        type=click.Choice(["int8", "uint8"]),
        default="int8",
        show_default=True,
        help="Input/output type of int8 models.",
    ),
    option(
        "--per-tensor",
        "per_channel",
        convert=negated,
        is_flag=True,
        help="Per-tensor weight scales instead of per-channel (int8).",
    ),
    option(
        "--representative-samples",
        type=int,
        default=500,
        show_default=True,
        help="Training samples used to calibrate int8 ranges.",
    ),
    option(
        "--max-drop",
        type=float,
        default=1.0,
        show_default=True,
        help="Warn when the .tflite loses more than this many accuracy points against the Keras model.",
    ),
    option(
        "--teacher",
        param="teacher_path",
        convert=path_text,
        type=click.Path(path_type=Path),
        help="With --mode qat: keep distilling from this teacher during quantization-aware training.",
    ),
    option("--qat-epochs", type=int, default=3, show_default=True, help="Epochs of quantization-aware training."),
    option("--temperature", type=float, default=1.0, show_default=True, help="Distillation temperature for --teacher."),
    option("--alpha", type=float, default=0.0, show_default=True, help="Hard-label weight for --teacher."),
    option(
        "--prune",
        default=None,
        help="Magnitude pruning before conversion: a sparsity such as 0.5, or 2:4 (structured).",
    ),
    option(
        "--cluster",
        "clusters",
        param="clusters",
        type=int,
        default=0,
        help="Weight clustering before conversion: number of centroids.",
    ),
    option(
        "--compress-epochs", type=int, default=2, show_default=True, help="Fine-tuning epochs after pruning/clustering."
    ),
    option("--debug", is_flag=True, help="Per-layer quantization error (TFLite's debugger), worst layers first."),
    option(
        "--edgetpu",
        is_flag=True,
        help="Also check Edge TPU readiness and compile with edgetpu_compiler when it is installed (int8 only).",
    ),
    option(
        "--allow-float-ops",
        is_flag=True,
        help="int8/int16x8: keep ops that have no integer kernel in float (a mixed file) instead of failing.",
    ),
    option("--strict", is_flag=True, help="Fail (and write nothing) when a check fails, instead of warning."),
    SEED,
    TRUST_MODEL,
    FORCE,
    DB,
    JSON,
)


@click.command()
@declared("quantize_run", FLAGS)
def quantize(**params) -> None:
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
    from edgekd.api import quantize_run

    names = flag_names(FLAGS)
    with settings_as_flags(names):
        run = quantize_run(**api_arguments(FLAGS, params), reporter=(reporter := stderr_reporter(3)), say=say_on_stderr)
    for record in run.models.values():
        for warning in record.warnings:
            reporter.say(f"edgekd: warning: {as_flags(warning, names)}")
    document = run.to_document()
    if params["as_json"]:
        emit_json(document)
        return
    echo(_summary(run, document, params["out_path"], params["mode"]))


def _summary(run, document: dict, out_path: Path, mode: str) -> str:
    """The table and lines ``edgekd quantize`` prints: the model(s), and what --debug and --edgetpu found."""
    from edgekd.quantize.stage import results_sidecar
    from edgekd.results.table import MODE_HEADERS, MODEL_HEADERS, format_table, mode_rows, model_rows

    if mode == ALL:
        table = format_table(MODE_HEADERS, mode_rows(document["models"], document["benchmarks"]))
        return f"{table}\nWrote {len(document['models'])} models and results.json into {out_path}"
    (record,) = run.models.values()
    lines = [format_table(MODEL_HEADERS, model_rows(document["models"]))]
    lines.append(f"top-1 agreement with the Keras model: {100 * record.agreement_with_keras:.2f}%")
    size = f"size {record.size_bytes:,} bytes, {record.tflite.gzip_bytes:,} gzipped"
    if "compression" in document:
        size += f" (kernel sparsity {100 * document['compression']['kernel_sparsity']:.1f}%)"
    lines.append(size)
    if "layer_errors" in document:
        worst = document["layer_errors"][:5]
        lines.append("\nlayers losing the most (RMSE in quantization steps; about 0.29 is the rounding floor):")
        lines.append(
            format_table(
                ("op", "tensor", "rmse/scale", "rmse"),
                [[e["op"], e["tensor"][:50], f"{e['rmse_per_scale']:.3f}", f"{e['rmse']:.4g}"] for e in worst],
            )
        )
    if "edgetpu" in document:
        lines.append(f"Edge TPU (edgekd's rules): {document['edgetpu']['verdict']['summary']}")
        compiled = document["edgetpu"].get("compiler")
        if compiled:
            lines.append(
                f"edgetpu_compiler {compiled['version']}: {compiled['edgetpu_ops']} of {compiled['total_ops']} ops "
                f"on the Edge TPU, {compiled['subgraphs']} subgraph(s); wrote {compiled['path']}"
            )
    lines.append(f"Wrote {out_path} and {results_sidecar(out_path)}")
    return "\n".join(lines)
