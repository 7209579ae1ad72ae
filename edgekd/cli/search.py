"""``edgekd search``: the most accurate student within a device's budgets, over the student families and sizes."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import (
    config_from_flags,
    echo,
    emit_json,
    json_option,
    say_on_stderr,
    settings_as_flags,
    stderr_reporter,
)
from edgekd.config import MAX_SEED
from edgekd.untrusted import for_terminal

# The config key each flag sets, and the settings library messages name by key.
FLAGS = {
    "seed": "--seed",
    "data.spec": "--data",
    "teacher.path": "--teacher",
    "teacher_path": "--teacher",
    "student.epochs": "--epochs",
    "student.batch_size": "--batch-size",
    "search.device": "--device",
    "search.budgets": "--budget",
    "search.trials": "--trials",
    "search.families": "--family",
    "search.measure": "--measure",
    "search.recipe": "--recipe",
    "search.finalist_recipe": "--finalist-recipe",
    "search.trial_fraction": "--trial-fraction",
    "search.finalists": "--finalists",
    "search.storage": "--storage",
    "search.study_name": "--study-name",
    "measure": "--measure",
    "trials": "--trials",
    "storage": "--storage",
    "study_name": "--study-name",
    "out": "--out",
}


@click.command()
@click.option("--teacher", type=click.Path(path_type=Path), help="The trained teacher (.keras file or SavedModel).")
@click.option("--data", "data_spec", default=None, help="mnist1d[:options], npz:PATH, images:DIR or audio:DIR.")
@click.option("--device", default=None, help="The device profile whose figures the budgets read [default: host].")
@click.option(
    "--budget",
    "budgets",
    multiple=True,
    metavar="KEY=VALUE",
    help="A limit per candidate (repeatable): macs, params, flash_kb, ram_kb, latency_ms, energy_mj.",
)
@click.option(
    "--trials",
    type=int,
    default=None,
    help="Candidates scored (over-budget ones do not count) before the study stops [default: 20].",
)
@click.option(
    "--family",
    "families",
    multiple=True,
    help="A student family to search (repeatable) [default: conv, dscnn, mlp, mobilenet, resnet].",
)
@click.option("--measure", is_flag=True, default=None, help="Benchmark each candidate's int8 file on the device.")
@click.option(
    "--recipe", default=None, help="The recipe every candidate distils with [default: kd:temperature=4,alpha=0.5]."
)
@click.option(
    "--finalist-recipe",
    default=None,
    help="auto (the auto student the study started from, else the most accurate finalist, chooses among the "
    "candidate recipes, as `edgekd distill` does, and the others train with its choice) or a recipe [default: auto].",
)
@click.option(
    "--trial-fraction", type=float, default=None, help="Fraction of the full budget each trial trains [default: 0.1]."
)
@click.option(
    "--finalists", type=int, default=None, help="Best trials of the front trained fully (0: trials only) [default: 2]."
)
@click.option("--epochs", type=int, default=None, help="Epochs of the full budget [default: 30, at least 1,500 steps].")
@click.option("--batch-size", type=int, default=None, help="Batch size [default: 128].")
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="The study's database, shared by workers (postgresql://user@host/db) [default: sqlite in --out].",
)
@click.option("--study-name", default=None, help="The study's name in --storage [default: edgekd-search].")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="A pipeline config whose data, teacher, student and search sections apply (flags override).",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: runs/search-<timestamp>).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=None, help="Random seed [default: 0].")
@click.option("--trust-model", is_flag=True, help="Allow a teacher file that contains code (or a SavedModel folder).")
@json_option
def search(
    teacher,
    data_spec,
    device,
    budgets,
    trials,
    families,
    measure,
    recipe,
    finalist_recipe,
    trial_fraction,
    finalists,
    epochs,
    batch_size,
    storage,
    study_name,
    config_path,
    out,
    seed,
    trust_model,
    as_json,
) -> None:
    """Find the most accurate student that fits a device's budgets, distilled from a teacher.

    Each trial picks a student family and size. Its cost comes first, before any training:
    MACs and parameters; on a microcontroller the flash and the tensor arena of its int8
    file (measured through TensorFlow Lite Micro); latency and energy estimated on the int8
    file from the device's calibration (published measurements), or measured on the device
    with --measure. A candidate over a budget is
    never trained. The others distil briefly from the teacher's cached outputs and are
    scored on the validation split; the best of the Pareto front train fully, and the best
    of those is saved as student.keras and student_int8.tflite, with search.json (every
    trial and why it stopped), front.png and report.html (one page with all of it) in --out.

    The study lives in --out (study.db): the same command again continues it, and workers
    given one --storage URL share it.

    \b
    Examples:
      edgekd search --teacher runs/kd/teacher.keras --device rpi4 --budget latency_ms=2 --out runs/search
      edgekd search --teacher t.keras --device nano33ble --budget ram_kb=64 --budget flash_kb=256 --trials 30
      edgekd search --teacher t.keras --device host --measure --budget latency_ms=0.05 --family conv --family mlp
      edgekd search --config search.yaml --out runs/search
    """
    from edgekd.config import PipelineConfig, load_config
    from edgekd.search.budget import parse_budgets

    with settings_as_flags(FLAGS):
        base = load_config(config_path) if config_path is not None else PipelineConfig()
        document = base.model_dump(mode="json")
        document["bench"] = {**document["bench"], "devices": []}
        given = {
            ("seed",): seed,
            ("data", "spec"): data_spec,
            ("teacher", "path"): str(teacher) if teacher is not None else None,
            ("teacher", "trust_model"): True if trust_model else None,
            ("student", "epochs"): epochs,
            ("student", "batch_size"): batch_size,
            ("search", "device"): device,
            # --budget adds to the config's budgets (and sets the ones it names), never drops the others.
            ("search", "budgets"): {**document["search"]["budgets"], **parse_budgets(budgets)} if budgets else None,
            ("search", "trials"): trials,
            ("search", "families"): list(families) or None,
            ("search", "measure"): measure,
            ("search", "recipe"): recipe,
            ("search", "finalist_recipe"): finalist_recipe,
            ("search", "trial_fraction"): trial_fraction,
            ("search", "finalists"): finalists,
            ("search", "storage"): storage,
            ("search", "study_name"): study_name,
        }
        for keys, value in given.items():
            if value is not None:
                section = document
                for key in keys[:-1]:
                    section = section[key]
                section[keys[-1]] = value
    config = config_from_flags(document, FLAGS)
    from edgekd.api import search_config

    with settings_as_flags(FLAGS):
        result = search_config(config, out, reporter=stderr_reporter(4, flags=FLAGS), say=say_on_stderr)
    document = result.to_document()
    if as_json:
        emit_json(document)
        return
    from edgekd.results.table import format_table
    from edgekd.search.report import TABLE_HEADERS, summary_lines, trial_table

    echo(format_table(TABLE_HEADERS, trial_table(document)))
    echo()
    for line in summary_lines(document):
        echo(for_terminal(line))
    echo(f"Search: {result.out / 'search.json'}; report: {result.out / 'report.html'}")
