"""``edgekd distill``: train a student from a teacher, next to its scratch control."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import (
    as_flags,
    config_from_flags,
    echo,
    emit_json,
    say_on_stderr,
    settings_as_flags,
    stderr_reporter,
)
from edgekd.cli.flags import (
    CLI_ONLY,
    DB,
    DETERMINISTIC,
    FORCE,
    FRESH,
    JSON,
    SEED,
    TRUST_MODEL,
    api_arguments,
    as_list,
    declared,
    flag_names,
    in_config,
    in_the_config,
    list_or_none,
    negated,
    option,
    set_keys,
)
from edgekd.distill.augment import augmentation_names
from edgekd.distill.losses import loss_names
from edgekd.distill.strategies import strategy_names
from edgekd.errors import ConfigError
from edgekd.results.table import MODEL_HEADERS, format_table, model_rows
from edgekd.untrusted import for_terminal


def _teachers(paths: tuple[Path, ...], params) -> tuple[str | None, list[str]]:
    """The first --teacher is the teacher's file, the others the rest of its ensemble."""
    return (str(paths[0]) if paths else None), [str(path) for path in paths[1:]]


def _method_parameters_given(value, params) -> dict[str, float | str] | None:
    return _method_parameters(params["temperature"], params["alpha"], params["params"])


# The config key each flag sets (a value the config schema refuses is reported by its flag), the call's
# keywords, and the names library messages give the same settings.
FLAGS = (
    option(
        "--teacher",
        ("config.teacher.path", "config.teacher.ensemble"),
        param="teacher_paths",
        convert=_teachers,
        type=click.Path(path_type=Path),
        multiple=True,
        help="Teacher model (.keras file or SavedModel folder); repeat for an ensemble whose soft targets are averaged.",
    ),
    option(
        "--teacher-weight",
        "config.teacher.weights",
        param="teacher_weights",
        convert=list_or_none,
        type=float,
        multiple=True,
        help="Weight of each --teacher's soft targets, in the same order (default: equal).",
    ),
    # Without --teacher the config trains one (teacher.path None): the flag says so, the CLI checks it.
    option(
        "--train-teacher",
        CLI_ONLY,
        is_flag=True,
        help="Train a teacher first: a residual network with BatchNorm sized for the data, with the data's "
        "augmentations, label smoothing and early stopping on validation.",
    ),
    option(
        "--teacher-ensemble",
        "config.teacher.ensemble_size",
        type=int,
        default=1,
        show_default=True,
        help="With --train-teacher: train this many teachers from different seeds and average their soft targets (1-5).",
    ),
    option(
        "--teacher-augment",
        "config.teacher.augment",
        convert=list_or_none,
        multiple=True,
        metavar="NAME",
        help="With --train-teacher: the augmentations the teacher sees (repeatable) [default: the data's: crop, "
        "colour for images (add flip for photographs); time_shift, time_mask, freq_mask for audio; shift, noise for signals].",
    ),
    option(
        "--teacher-time-budget",
        "config.teacher.time_budget_s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="With --teacher-ensemble: no member starts that would not finish within this many seconds of teacher training.",
    ),
    option(
        "--student",
        "config.student.spec",
        param="student_spec",
        default="auto",
        show_default=True,
        help="auto, a builder spec such as conv:width=1.5 or mlp:hidden=32, or a Keras model file.",
    ),
    option(
        "--data",
        "config.data.spec",
        param="data_spec",
        default="mnist1d",
        show_default=True,
        help="mnist1d[:samples=N,transfer=N,seed=S], npz:PATH or images:DIR.",
    ),
    option("--out", type=click.Path(path_type=Path), help="Output folder (default: runs/distill-<timestamp>)."),
    option(
        "--method",
        "config.distill.method",
        default="auto",
        show_default=True,
        help="auto (try candidate recipes briefly, train the best on validation fully), or a method, or several "
        f"joined by + (kd+fitnet): {', '.join(loss_names())}.",
    ),
    option(
        "--candidate",
        "config.distill.candidates",
        param="candidates",
        convert=list_or_none,
        multiple=True,
        metavar="RECIPE",
        help="A recipe for --method auto to try (repeatable; replaces the defaults): METHOD[:key=value,...] or control, "
        "e.g. kd:temperature=4,alpha=0.5, dist, kd:augment=mixup.",
    ),
    option(
        "--temperature",
        "config.distill.params",
        convert=_method_parameters_given,
        type=float,
        default=None,
        help="Softening temperature T (losses scale by T^2); kd default 1.",
    ),
    option(
        "--alpha",
        "config.distill.params",
        convert=_method_parameters_given,
        type=float,
        default=None,
        help="kd: weight of the hard-label loss (default 0); dkd: target-class weight.",
    ),
    option(
        "--param",
        "config.distill.params",
        param="params",
        convert=_method_parameters_given,
        multiple=True,
        metavar="KEY=VALUE",
        help="Any parameter of the method (beta=8), of one method (fitnet.student_layer=conv1), or a term weight (fitnet.weight=0.5).",
    ),
    option(
        "--augment",
        "config.distill.augment",
        convert=as_list,
        multiple=True,
        metavar="NAME",
        help=f"Augment inputs (repeatable: {', '.join(augmentation_names())}); the teacher then runs online on the same view.",
    ),
    option(
        "--strategy",
        "config.distill.strategy",
        default="default",
        show_default=True,
        help=f"tf.distribute strategy for training: {', '.join(strategy_names())}.",
    ),
    option(
        "--teacher-outputs",
        "config.distill.teacher_outputs",
        aliases=("teacher_outputs",),
        type=click.Choice(["auto", "cached", "online"]),
        default="auto",
        show_default=True,
        help="auto: the teacher's outputs are cached once on disk when they fit --cache-budget, else the teacher runs "
        "in every step; cached: refuse a run whose outputs do not fit; online: run the teacher in every step.",
    ),
    option(
        "--cache-budget",
        "config.distill.cache_budget",
        aliases=("cache_budget",),
        metavar="SIZE",
        default=None,
        help="Bytes of teacher outputs that may be cached, e.g. 4GiB [default: half the available memory, at most "
        "half the free disk].",
    ),
    option(
        "--patience",
        "config.student.patience",
        type=int,
        default=None,
        help="Early stopping: validation checkpoints (of 20) without improvement.",
    ),
    option(
        "--epochs",
        "config.student.epochs",
        type=int,
        default=None,
        help="Student epochs over the distillation set [default: 30, at least 1,500 steps].",
    ),
    option(
        "--teacher-epochs",
        "config.teacher.epochs",
        type=int,
        default=60,
        show_default=True,
        help="Epochs for --train-teacher.",
    ),
    option("--batch-size", "config.student.batch_size", type=int, default=128, show_default=True),
    option(
        "--no-transfer",
        "config.distill.transfer_set",
        convert=negated,
        is_flag=True,
        help="Ignore the unlabelled transfer set (distil on the labelled set only).",
    ),
    option(
        "--no-control",
        "config.distill.control",
        convert=negated,
        is_flag=True,
        help="Skip the scratch control (distillation's gain then stays unknown).",
    ),
    option(
        "--no-quantize",
        "quantize",
        convert=negated,
        is_flag=True,
        help="Skip student_int8.tflite (the shipped student converted and checked).",
    ),
    option(
        "--max-mac-fraction",
        "config.student.max_mac_fraction",
        type=float,
        default=0.05,
        show_default=True,
        help="An auto student stays within this fraction of the teacher's MACs.",
    ),
    option(
        "--max-params",
        "config.student.max_params",
        type=int,
        default=None,
        help="An auto student also stays within this many parameters.",
    ),
    in_the_config(SEED),
    in_the_config(DETERMINISTIC),
    in_the_config(TRUST_MODEL, "teacher.trust_model", aliases=("trust_model",)),
    FORCE,
    FRESH,
    DB,
    JSON,
)


@click.command()
@declared("distill_config", FLAGS)
def distill(**params) -> None:
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
    teacher_paths, train_teacher = params["teacher_paths"], params["train_teacher"]
    if bool(teacher_paths) == bool(train_teacher):
        raise ConfigError("give exactly one of --teacher PATH or --train-teacher")
    if teacher_paths and (
        params["teacher_ensemble"] != 1 or params["teacher_augment"] or params["teacher_time_budget"] is not None
    ):
        raise ConfigError(
            "--teacher-ensemble, --teacher-augment and --teacher-time-budget shape a teacher edgekd trains "
            "(--train-teacher); a teacher file is used as it is"
        )
    if params["patience"] is not None and params["patience"] < 1:
        raise ConfigError(f"--patience must be at least 1, got {params['patience']}")
    names = flag_names(FLAGS)
    given, call = in_config(api_arguments(FLAGS, params))
    config = config_from_flags(set_keys({"bench": {"devices": []}}, given), names)
    from edgekd.api import distill_config

    with settings_as_flags(names):
        run = distill_config(
            config,
            **call,
            reporter=stderr_reporter(4 if call["quantize"] else 3, flags=names),
            say=say_on_stderr,
        )
    document = run.to_document()
    if params["as_json"]:
        emit_json(document)
        return
    echo(format_table(MODEL_HEADERS, model_rows(document["models"])))
    echo()
    echo(for_terminal(as_flags(run.verdict, names)))
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
