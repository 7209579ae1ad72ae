"""``edgekd search``: the most accurate student within a device's budgets, over the student families and sizes."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import config_from_flags, echo, emit_json, say_on_stderr, settings_as_flags, stderr_reporter
from edgekd.cli.flags import (
    JSON,
    api_arguments,
    declared,
    flag_names,
    given_or_none,
    in_config,
    list_or_none,
    option,
    path_text,
    set_keys,
)
from edgekd.config import MAX_SEED
from edgekd.untrusted import for_terminal


def _budgets(budgets: tuple[str, ...], params) -> dict | None:
    from edgekd.search.budget import parse_budgets

    return parse_budgets(budgets) if budgets else None


# The config key each flag sets (None: left to --config or the default), and the settings library messages
# name by their field.
FLAGS = (
    option(
        "--teacher",
        "config.teacher.path",
        convert=path_text,
        aliases=("teacher_path",),
        type=click.Path(path_type=Path),
        help="The trained teacher (.keras file or SavedModel).",
    ),
    option(
        "--data",
        "config.data.spec",
        param="data_spec",
        default=None,
        help="mnist1d[:options], npz:PATH, images:DIR or audio:DIR.",
    ),
    option(
        "--device",
        "config.search.device",
        default=None,
        help="The device profile whose figures the budgets read [default: host].",
    ),
    option(
        "--budget",
        "config.search.budgets",
        param="budgets",
        convert=_budgets,
        multiple=True,
        metavar="KEY=VALUE",
        help="A limit per candidate (repeatable): macs, params, flash_kb, ram_kb, latency_ms, energy_mj.",
    ),
    option(
        "--trials",
        "config.search.trials",
        aliases=("trials",),
        type=int,
        default=None,
        help="Candidates scored (over-budget ones do not count) before the study stops [default: 20].",
    ),
    option(
        "--family",
        "config.search.families",
        param="families",
        convert=list_or_none,
        multiple=True,
        help="A student family to search (repeatable) [default: conv, dscnn, mlp, mobilenet, resnet].",
    ),
    option(
        "--measure",
        "config.search.measure",
        aliases=("measure",),
        is_flag=True,
        default=None,
        help="Benchmark each candidate's int8 file on the device.",
    ),
    option(
        "--recipe",
        "config.search.recipe",
        default=None,
        help="The recipe every candidate distils with [default: kd:temperature=4,alpha=0.5].",
    ),
    option(
        "--finalist-recipe",
        "config.search.finalist_recipe",
        default=None,
        help="auto (the auto student the study started from, else the most accurate finalist, chooses among the "
        "candidate recipes, as `edgekd distill` does, and the others train with its choice) or a recipe [default: auto].",
    ),
    option(
        "--trial-fraction",
        "config.search.trial_fraction",
        type=float,
        default=None,
        help="Fraction of the full budget each trial trains [default: 0.1].",
    ),
    option(
        "--finalists",
        "config.search.finalists",
        type=int,
        default=None,
        help="Best trials of the front trained fully (0: trials only) [default: 2].",
    ),
    option(
        "--epochs",
        "config.student.epochs",
        type=int,
        default=None,
        help="Epochs of the full budget [default: 30, at least 1,500 steps].",
    ),
    option("--batch-size", "config.student.batch_size", type=int, default=None, help="Batch size [default: 128]."),
    option(
        "--storage",
        "config.search.storage",
        aliases=("storage",),
        default=None,
        metavar="URL",
        help="The study's database, shared by workers (postgresql://user@host/db) [default: sqlite in --out].",
    ),
    option(
        "--study-name",
        "config.search.study_name",
        aliases=("study_name",),
        default=None,
        help="The study's name in --storage [default: edgekd-search].",
    ),
    # The config the flags are laid over: search_config's `config` starts from it.
    option(
        "--config",
        "config",
        param="config_path",
        type=click.Path(path_type=Path),
        default=None,
        help="A pipeline config whose data, teacher, student and search sections apply (flags override).",
    ),
    option("--out", type=click.Path(path_type=Path), help="Output folder (default: runs/search-<timestamp>)."),
    option("--seed", "config.seed", type=click.IntRange(0, MAX_SEED), default=None, help="Random seed [default: 0]."),
    option(
        "--trust-model",
        "config.teacher.trust_model",
        convert=given_or_none,
        is_flag=True,
        help="Allow a teacher file that contains code (or a SavedModel folder).",
    ),
    JSON,
)


@click.command()
@declared("search_config", FLAGS)
def search(**params) -> None:
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
    from edgekd.api import search_config
    from edgekd.config import PipelineConfig, load_config

    names = flag_names(FLAGS)
    with settings_as_flags(names):
        config_path = params["config_path"]
        base = load_config(config_path) if config_path is not None else PipelineConfig()
        document = base.model_dump(mode="json")
        document["bench"] = {**document["bench"], "devices": []}
        given, call = in_config(api_arguments(FLAGS, params))
        if given["search.budgets"] is not None:
            # --budget adds to the config's budgets (and sets the ones it names), never drops the others.
            given["search.budgets"] = {**document["search"]["budgets"], **given["search.budgets"]}
        set_keys(document, {key: value for key, value in given.items() if value is not None})
    config = config_from_flags(document, names)
    with settings_as_flags(names):
        result = search_config(config, call["out"], reporter=stderr_reporter(4, flags=names), say=say_on_stderr)
    document = result.to_document()
    if params["as_json"]:
        emit_json(document)
        return
    from edgekd.results.table import format_table
    from edgekd.search.report import TABLE_HEADERS, summary_lines, trial_table

    echo(format_table(TABLE_HEADERS, trial_table(document)))
    echo()
    for line in summary_lines(document):
        echo(for_terminal(line))
    echo(f"Search: {result.out / 'search.json'}; report: {result.out / 'report.html'}")
