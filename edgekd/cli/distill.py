"""``edgekd distill``: train a student from a teacher, next to its scratch control."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.artifacts import staged_output_folder
from edgekd.cli.common import default_run_folder, emit_json, force_option, json_option, stderr_reporter
from edgekd.config import BenchConfig, DataConfig, DistillConfig, PipelineConfig, StudentConfig, TeacherConfig
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
@click.option("--method", default="kd", show_default=True, help="Distillation method.")
@click.option(
    "--temperature", type=float, default=1.0, show_default=True, help="Softening temperature T (loss scaled by T^2)."
)
@click.option(
    "--alpha", type=float, default=0.0, show_default=True, help="Weight of the hard-label loss on labelled samples."
)
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
            params={"temperature": temperature, "alpha": alpha},
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
