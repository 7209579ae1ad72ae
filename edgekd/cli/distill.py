"""``edgekd distill``: train a student from a teacher, next to its scratch control."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import (
    as_flags,
    config_from_flags,
    db_option,
    deterministic_option,
    echo,
    emit_json,
    force_option,
    fresh_option,
    json_option,
    say_on_stderr,
    seed_option,
    settings_as_flags,
    stderr_reporter,
)
from edgekd.distill.augment import augmentation_names
from edgekd.distill.losses import loss_names
from edgekd.distill.strategies import strategy_names
from edgekd.errors import ConfigError
from edgekd.results.table import MODEL_HEADERS, format_table, model_rows
from edgekd.untrusted import for_terminal

# The config key each flag sets: a value the config schema refuses is reported by its flag.
FLAGS = {
    "seed": "--seed",
    "data.spec": "--data",
    "teacher.path": "--teacher",
    "teacher.ensemble": "--teacher",
    "teacher.weights": "--teacher-weight",
    "teacher.epochs": "--teacher-epochs",
    "teacher.ensemble_size": "--teacher-ensemble",
    "teacher.augment": "--teacher-augment",
    "teacher.time_budget_s": "--teacher-time-budget",
    "student.spec": "--student",
    "student.epochs": "--epochs",
    "student.batch_size": "--batch-size",
    "student.patience": "--patience",
    "distill.method": "--method",
    "distill.candidates": "--candidate",
    "distill.params": "--temperature/--alpha/--param",
    "distill.augment": "--augment",
    "distill.strategy": "--strategy",
    "distill.control": "--no-control",
    "student.max_mac_fraction": "--max-mac-fraction",
    "student.max_params": "--max-params",
    "distill.teacher_outputs": "--teacher-outputs",
    "teacher_outputs": "--teacher-outputs",
    "distill.cache_budget": "--cache-budget",
    "cache_budget": "--cache-budget",
    "trust_model": "--trust-model",
}


@click.command()
@click.option(
    "--teacher",
    "teacher_paths",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Teacher model (.keras file or SavedModel folder); repeat for an ensemble whose soft targets are averaged.",
)
@click.option(
    "--teacher-weight",
    "teacher_weights",
    type=float,
    multiple=True,
    help="Weight of each --teacher's soft targets, in the same order (default: equal).",
)
@click.option(
    "--train-teacher",
    is_flag=True,
    help="Train a teacher first: a residual network with BatchNorm sized for the data, with the data's "
    "augmentations, label smoothing and early stopping on validation.",
)
@click.option(
    "--teacher-ensemble",
    type=int,
    default=1,
    show_default=True,
    help="With --train-teacher: train this many teachers from different seeds and average their soft targets (1-5).",
)
@click.option(
    "--teacher-augment",
    multiple=True,
    metavar="NAME",
    help="With --train-teacher: the augmentations the teacher sees (repeatable) [default: the data's: crop, "
    "colour for images (add flip for photographs); time_shift, time_mask, freq_mask for audio; shift, noise for signals].",
)
@click.option(
    "--teacher-time-budget",
    type=float,
    default=None,
    metavar="SECONDS",
    help="With --teacher-ensemble: no member starts that would not finish within this many seconds of teacher training.",
)
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
@click.option(
    "--method",
    default="auto",
    show_default=True,
    help="auto (try candidate recipes briefly, train the best on validation fully), or a method, or several "
    f"joined by + (kd+fitnet): {', '.join(loss_names())}.",
)
@click.option(
    "--candidate",
    "candidates",
    multiple=True,
    metavar="RECIPE",
    help="A recipe for --method auto to try (repeatable; replaces the defaults): METHOD[:key=value,...] or control, "
    "e.g. kd:temperature=4,alpha=0.5, dist, kd:augment=mixup.",
)
@click.option(
    "--temperature", type=float, default=None, help="Softening temperature T (losses scale by T^2); kd default 1."
)
@click.option(
    "--alpha", type=float, default=None, help="kd: weight of the hard-label loss (default 0); dkd: target-class weight."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any parameter of the method (beta=8), of one method (fitnet.student_layer=conv1), or a term weight (fitnet.weight=0.5).",
)
@click.option(
    "--augment",
    multiple=True,
    metavar="NAME",
    help=f"Augment inputs (repeatable: {', '.join(augmentation_names())}); the teacher then runs online on the same view.",
)
@click.option(
    "--strategy",
    default="default",
    show_default=True,
    help=f"tf.distribute strategy for training: {', '.join(strategy_names())}.",
)
@click.option(
    "--teacher-outputs",
    type=click.Choice(["auto", "cached", "online"]),
    default="auto",
    show_default=True,
    help="auto: the teacher's outputs are cached once on disk when they fit --cache-budget, else the teacher runs "
    "in every step; cached: refuse a run whose outputs do not fit; online: run the teacher in every step.",
)
@click.option(
    "--cache-budget",
    metavar="SIZE",
    default=None,
    help="Bytes of teacher outputs that may be cached, e.g. 4GiB [default: half the available memory, at most "
    "half the free disk].",
)
@click.option(
    "--patience", type=int, default=None, help="Early stopping: validation checkpoints (of 10) without improvement."
)
@click.option(
    "--epochs",
    type=int,
    default=None,
    help="Student epochs over the distillation set [default: 30, at least 1,500 steps].",
)
@click.option("--teacher-epochs", type=int, default=60, show_default=True, help="Epochs for --train-teacher.")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option(
    "--no-transfer", is_flag=True, help="Ignore the unlabelled transfer set (distil on the labelled set only)."
)
@click.option("--no-control", is_flag=True, help="Skip the scratch control (distillation's gain then stays unknown).")
@click.option(
    "--no-quantize", is_flag=True, help="Skip student_int8.tflite (the shipped student converted and checked)."
)
@click.option(
    "--max-mac-fraction",
    type=float,
    default=0.05,
    show_default=True,
    help="An auto student stays within this fraction of the teacher's MACs.",
)
@click.option("--max-params", type=int, default=None, help="An auto student also stays within this many parameters.")
@seed_option
@deterministic_option
@click.option(
    "--trust-model",
    is_flag=True,
    help="Allow model files that contain code (Lambda layers, custom objects, SavedModel folders).",
)
@force_option
@fresh_option
@db_option
@json_option
def distill(
    teacher_paths,
    teacher_weights,
    train_teacher,
    teacher_ensemble,
    teacher_augment,
    teacher_time_budget,
    student_spec,
    data_spec,
    out,
    method,
    candidates,
    temperature,
    alpha,
    params,
    augment,
    strategy,
    teacher_outputs,
    cache_budget,
    patience,
    epochs,
    teacher_epochs,
    batch_size,
    no_transfer,
    no_control,
    no_quantize,
    max_mac_fraction,
    max_params,
    seed,
    deterministic,
    trust_model,
    force,
    fresh,
    db,
    as_json,
) -> None:
    """Distil a student from a teacher and train the same student from scratch as the control.

    With --method auto (the default), each candidate recipe first trains briefly and the one
    best on a validation split trains fully. The run ships student.keras: the distilled
    student, or the control when it is better on validation (results.json says why).
    Writes student.keras, student_int8.tflite (the shipped student in int8, checked through
    LiteRT: accuracy and agreement with the Keras student; --no-quantize skips it),
    student_kd.keras, student_scratch.keras (and teacher.keras with --train-teacher),
    results.json and report.md into the output folder.

    \b
    Examples:
      edgekd distill --train-teacher --data mnist1d --out runs/kd
      edgekd distill --train-teacher --teacher-ensemble 3 --data audio:clips --out runs/kws
      edgekd distill --teacher t.keras --data npz:data.npz --candidate kd:temperature=4 --candidate dist --out runs/auto
      edgekd distill --teacher teacher.keras --student conv:width=1.5 --data npz:data.npz --out runs/kd
      edgekd distill --train-teacher --method dkd --param beta=8 --out runs/dkd
      edgekd distill --teacher t.keras --method kd+fitnet --param fitnet.weight=0.5 --out runs/hints
      edgekd distill --teacher a.keras --teacher b.keras --method kd --augment mixup --out runs/ensemble

    An interrupted run (Ctrl-C, a killed process) resumes from its last checkpoint when the
    same command runs again.
    """
    if bool(teacher_paths) == bool(train_teacher):
        raise ConfigError("give exactly one of --teacher PATH or --train-teacher")
    if teacher_paths and (teacher_ensemble != 1 or teacher_augment or teacher_time_budget is not None):
        raise ConfigError(
            "--teacher-ensemble, --teacher-augment and --teacher-time-budget shape a teacher edgekd trains "
            "(--train-teacher); a teacher file is used as it is"
        )
    if patience is not None and patience < 1:
        raise ConfigError(f"--patience must be at least 1, got {patience}")
    config = config_from_flags(
        {
            "seed": seed,
            "deterministic": deterministic,
            "data": {"spec": data_spec},
            "teacher": {
                "path": str(teacher_paths[0]) if teacher_paths else None,
                "ensemble": [str(p) for p in teacher_paths[1:]],
                "weights": list(teacher_weights) or None,
                "epochs": teacher_epochs,
                "trust_model": trust_model,
                "ensemble_size": teacher_ensemble,
                "augment": list(teacher_augment) or None,
                "time_budget_s": teacher_time_budget,
            },
            "student": {
                "spec": student_spec,
                "epochs": epochs,
                "batch_size": batch_size,
                "patience": patience,
                "max_mac_fraction": max_mac_fraction,
                "max_params": max_params,
            },
            "distill": {
                "method": method,
                "candidates": list(candidates) or None,
                "params": _method_parameters(temperature, alpha, params),
                "transfer_set": not no_transfer,
                "control": not no_control,
                "augment": list(augment),
                "strategy": strategy,
                "teacher_outputs": teacher_outputs,
                "cache_budget": cache_budget,
            },
            "bench": {"devices": []},
        },
        FLAGS,
    )
    from edgekd.api import distill_config

    with settings_as_flags(FLAGS):
        run = distill_config(
            config,
            out,
            quantize=not no_quantize,
            force=force,
            fresh=fresh,
            db=db,
            reporter=stderr_reporter(3 if no_quantize else 4, flags=FLAGS),
            say=say_on_stderr,
        )
    document = run.to_document()
    if as_json:
        emit_json(document)
        return
    echo(format_table(MODEL_HEADERS, model_rows(document["models"])))
    echo()
    echo(for_terminal(as_flags(run.verdict, FLAGS)))
    echo(f"Results: {run.out / 'results.json'}")


def _method_parameters(
    temperature: float | None, alpha: float | None, items: tuple[str, ...]
) -> dict[str, float | str] | None:
    """Only what the user gave: each method fills in its own defaults (alpha means different things)."""
    parameters: dict[str, float | str] = {}
    if temperature is not None:
        parameters["temperature"] = temperature
    if alpha is not None:
        parameters["alpha"] = alpha
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--param {item!r} should be KEY=VALUE, e.g. --param beta=8")
        try:
            parameters[key.strip()] = float(value)
        except ValueError:
            parameters[key.strip()] = value.strip()  # a layer name; the method checks its type
    return parameters or None
