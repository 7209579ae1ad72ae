"""The ``edgekd`` command: one thin sub-command per pipeline stage, plus ``run`` and ``demo``."""

from __future__ import annotations

import click

from edgekd.cli.bench import bench
from edgekd.cli.common import EdgekdGroup
from edgekd.cli.deploy import deploy
from edgekd.cli.devices import devices
from edgekd.cli.distill import distill
from edgekd.cli.export import export
from edgekd.cli.inspect import inspect
from edgekd.cli.quantize import quantize
from edgekd.cli.results import compare, report, results
from edgekd.cli.run import demo, run
from edgekd.cli.search import search
from edgekd.version import __version__


@click.group(cls=EdgekdGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgekd")
def cli() -> None:
    """Distil a large Keras model into a small int8 TFLite model, with the evidence.

    \b
    Start with the whole pipeline on built-in data:
      edgekd demo
    Or one stage at a time:
      edgekd distill --train-teacher --data mnist1d --out runs/kd
      edgekd quantize runs/kd/student_kd.keras --data mnist1d --out student.tflite
      edgekd inspect student.tflite
      edgekd bench student.tflite --device host
    Or search for the most accurate student that fits a device:
      edgekd search --teacher runs/kd/teacher.keras --device rpi4 --budget latency_ms=2
    Then compare and report what the results store holds:
      edgekd results list
      edgekd compare --device rpi4
      edgekd report latest
    """


for command in (
    demo,
    run,
    distill,
    search,
    quantize,
    inspect,
    bench,
    devices,
    results,
    compare,
    report,
    export,
    deploy,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="edgekd")


if __name__ == "__main__":
    main()
