"""``edgekd run CONFIG.yaml`` and ``edgekd demo`` (``run`` with the built-in config)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import echo, emit_json, say_on_stderr, settings_as_flags, stderr_reporter
from edgekd.cli.flags import (
    DB,
    DETERMINISTIC,
    FORCE,
    FRESH,
    JSON,
    Flag,
    api_arguments,
    argument,
    declared,
    flag_names,
    option,
)
from edgekd.results.answer import answer_document, compute_answer
from edgekd.results.table import BENCH_HEADERS, MODEL_HEADERS, bench_rows, energy_notes, format_table, model_rows
from edgekd.untrusted import for_terminal

STAGES = 5


# Printed above the figures of a --quick demo, so that nobody quotes them as the demo's.
QUICK_NOTE = (
    "Reduced run (edgekd demo --quick): 3,000 labelled samples and short training, to check the installation; "
    "these figures are not the demo's (run `edgekd demo` for those)."
)


# A config names settings by their keys; these are the ones the library names as a command would.
CONFIG_KEYS = {
    "trust_model": "teacher.trust_model: true (in the config)",
    "allow_float_ops": "quantize.allow_float_ops: true (in the config)",
    "max_drop": "quantize.max_drop",
    "strict": "quantize.strict",
    "mode": "quantize.mode",
}


def _execute(api: str, flags: tuple[Flag, ...], params: dict, note: str | None = None):
    import edgekd.api

    # A config names settings by their keys; the one a command line would name by a flag:
    with settings_as_flags({**CONFIG_KEYS, **flag_names(flags)}):
        run = getattr(edgekd.api, api)(
            **api_arguments(flags, params), reporter=stderr_reporter(STAGES), say=say_on_stderr
        )
    document = run.to_document()
    if params["as_json"]:
        emit_json({**document, "compute_answer": answer_document(document)} if document["benchmarks"] else document)
        return
    if note:
        echo(note)
        echo()
    echo(format_table(MODEL_HEADERS, model_rows(document["models"])))
    echo()
    echo(for_terminal(run.verdict))
    if document["benchmarks"]:
        echo()
        echo(format_table(BENCH_HEADERS, bench_rows(document["benchmarks"])))
        for energy_note in energy_notes(document["benchmarks"]):
            echo(for_terminal(energy_note))
    answer = compute_answer(document)
    if answer:
        echo()
        echo("The compute answer:")
        for line in answer:
            echo(for_terminal(f"  {line}"))
    echo()
    echo(f"Results: {run.out / 'results.json'}   Report: {run.out / 'report.html'} (and report.md)")


DEMO_FLAGS = (
    option("--out", type=click.Path(path_type=Path), help="Output folder (default: runs/demo-<timestamp>)."),
    FORCE,
    FRESH,
    DB,
    JSON,
    option("--quick", is_flag=True, help="A reduced budget (about 90 s on two cores) to check the installation."),
    DETERMINISTIC,
)


@click.command()
@declared("demo", DEMO_FLAGS)
def demo(**params) -> None:
    """Run the whole pipeline on MNIST-1D, generated offline.

    Trains a teacher, distils a student with 1/20 of its MACs (next to a scratch control),
    converts it to int8 TFLite, checks the .tflite's accuracy through LiteRT, benchmarks
    on this machine and writes results.json and report.md. With --quick, the same stages run
    on 3,000 samples with short training: a check of the installation, not the demo's figures.

    \b
    Example:
      edgekd demo --out runs/my-demo
      edgekd demo --quick
    """
    _execute("demo", DEMO_FLAGS, params, QUICK_NOTE if params["quick"] else None)


RUN_FLAGS = (
    argument("config_path", "config", metavar="CONFIG.yaml", type=click.Path(path_type=Path)),
    option("--out", type=click.Path(path_type=Path), help="Output folder (default: runs/run-<timestamp>)."),
    FORCE,
    FRESH,
    DB,
    JSON,
    DETERMINISTIC,
)


@click.command()
@declared("run", RUN_FLAGS)
def run(**params) -> None:
    """Run the whole pipeline from one YAML config (the README shows the demo's).

    \b
    Example:
      edgekd run pipeline.yaml --out runs/pipeline
    """
    _execute("run", RUN_FLAGS, params)
