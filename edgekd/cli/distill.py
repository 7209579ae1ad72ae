"""``edgekd distill``: train a student from a teacher, next to its scratch control."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.artifacts import staged_output_folder
from edgekd.cli.common import default_run_folder, emit_json, force_option, json_option, stderr_reporter
from edgekd.config import BenchConfig, DataConfig, DistillConfig, PipelineConfig, StudentConfig, TeacherConfig
from edgekd.distill.losses import loss_names
from edgekd.errors import ConfigError
from edgekd.results.table import MODEL_HEADERS, format_table, model_rows


@click.command()
@click.option(
    "--teacher",
    "teacher_path",
    type=click.Path(path_type=Path),
    help="Teacher model (.keras file or SavedModel folder).",
)
@click.option("--train-teacher", is_flag=True, help="Train a teacher first (the `cnn` builder) when none exists yet.")
@click.option(
    "--student",
    "student_spec",
    default="auto",
    show_default=True,
    help="auto, a builder spec such as conv:width=1.5 or mlp:hidden=32, or a Keras model file.",
)
@click.option(
    "--data",
    "data_spec",
    default="mnist1d",
    show_default=True,
    help="mnist1d[:samples=N,transfer=N,seed=S], npz:PATH or images:DIR.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: runs/distill-<timestamp>).")
@click.option("--method", default="kd", show_default=True, help=f"Distillation method: {', '.join(loss_names())}.")
@click.option(
    "--temperature", type=float, default=None, help="Softening temperature T (losses scale by T^2); kd default 1."
)
@click.option(
    "--alpha", type=float, default=None, help="kd: weight of the hard-label loss (default 0); dkd: target-class weight."
)
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Any parameter of the method, e.g. beta=8.")
@click.option("--epochs", type=int, default=10, show_default=True, help="Student epochs over the distillation set.")
@click.option("--teacher-epochs", type=int, default=60, show_default=True, help="Epochs for --train-teacher.")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option(
    "--no-transfer", is_flag=True, help="Ignore the unlabelled transfer set (distil on the labelled set only)."
)
@click.option("--no-control", is_flag=True, help="Skip the scratch control (distillation's gain then stays unknown).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--trust-model", is_flag=True, help="Allow model files that contain code (Lambda layers, custom objects)."
)
@force_option
@json_option
def distill(
    teacher_path,
    train_teacher,
    student_spec,
    data_spec,
    out,
    method,
    temperature,
    alpha,
    params,
    epochs,
    teacher_epochs,
    batch_size,
    no_transfer,
    no_control,
    seed,
    trust_model,
    force,
    as_json,
) -> None:
    """Distil a student from a teacher and train the same student from scratch as the control.

    Writes student_kd.keras, student_scratch.keras (and teacher.keras with --train-teacher),
    results.json and report.md into the output folder.

    \b
    Examples:
      edgekd distill --train-teacher --data mnist1d --out runs/kd
      edgekd distill --teacher teacher.keras --student conv:width=1.5 --data npz:data.npz --out runs/kd
      edgekd distill --train-teacher --method dkd --param beta=8 --out runs/dkd
    """
    if bool(teacher_path) == bool(train_teacher):
        raise ConfigError("give exactly one of --teacher PATH or --train-teacher")
    config = PipelineConfig(
        seed=seed,
        data=DataConfig(spec=data_spec),
        teacher=TeacherConfig(
            path=str(teacher_path) if teacher_path else None, epochs=teacher_epochs, trust_model=trust_model
        ),
        student=StudentConfig(spec=student_spec, epochs=epochs, batch_size=batch_size),
        distill=DistillConfig(
            method=method,
            params=_method_parameters(temperature, alpha, params),
            transfer_set=not no_transfer,
            control=not no_control,
        ),
        bench=BenchConfig(devices=[]),
    )
    from edgekd.pipeline import distill_only

    out = out or default_run_folder("distill")
    with staged_output_folder(out, force) as staging:
        document = distill_only(config, staging, stderr_reporter(3))
    if as_json:
        emit_json(document)
        return
    click.echo(format_table(MODEL_HEADERS, model_rows(document["models"])))
    click.echo()
    click.echo(document["distillation"]["verdict"])
    click.echo(f"Results: {out / 'results.json'}")


def _method_parameters(temperature: float | None, alpha: float | None, items: tuple[str, ...]) -> dict[str, float]:
    """Only what the user gave: each method fills in its own defaults (alpha means different things)."""
    parameters: dict[str, float] = {}
    if temperature is not None:
        parameters["temperature"] = temperature
    if alpha is not None:
        parameters["alpha"] = alpha
    for item in items:
        key, sep, value = item.partition("=")
        try:
            parameters[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r} should be KEY=NUMBER, e.g. --param beta=8")
    return parameters
