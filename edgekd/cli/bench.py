"""``edgekd bench``: latency (and energy, where it can be had) of .tflite files on devices."""

from __future__ import annotations

from pathlib import Path

import click

from edgekd.cli.common import echo, emit_json, stderr_reporter
from edgekd.cli.flags import DB, JSON, api_arguments, argument, as_list, declared, flag_names, option
from edgekd.errors import BenchmarkError, ConfigError


def _samples_sent(samples: int | None, params) -> int | str | None:
    """``--samples 0`` sends every test sample of --accuracy's data."""
    return "all" if samples == 0 and params["accuracy_data"] is not None else samples


FLAGS = (
    argument(
        "model_paths",
        "model",
        convert=as_list,
        metavar="FILE.tflite...",
        nargs=-1,
        required=True,
        type=click.Path(path_type=Path),
    ),
    option(
        "--device",
        "devices",
        param="devices",
        convert=as_list,
        multiple=True,
        default=("host",),
        show_default=True,
        help="Device profile name (repeatable).",
    ),
    option("--runs", type=int, default=100, show_default=True, help="Minimum number of measured runs."),
    option(
        "--min-seconds",
        type=float,
        default=1.0,
        show_default=True,
        help="Minimum measured duration in seconds (0 to 300).",
    ),
    option("--warmup", type=int, default=10, show_default=True, help="Warm-up runs before measuring."),
    option("--threads", type=int, default=None, help="Interpreter threads (default: the profile's)."),
    option("--benchmark-binary", help="LiteRT benchmark_model for adb devices (overrides the profile)."),
    option(
        "--accuracy",
        param="accuracy_data",
        metavar="DATA",
        help="Send DATA's test samples with the model: top-1 accuracy on the device, agreement with the host's LiteRT.",
    ),
    option(
        "--samples",
        convert=_samples_sent,
        type=int,
        default=None,
        help="How many test samples --accuracy sends (default 500; all: --samples 0).",
    ),
    option(
        "--profile-ops",
        is_flag=True,
        help="Add a per-op profile from LiteRT's benchmark_model (adb, or a profile naming runtime.benchmark_binary).",
    ),
    option(
        "--sustained",
        "sustained_seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Measure for SECONDS (10 to 3600) in 10 windows instead, and report the latency drift and temperature rise.",
    ),
    option(
        "--cooldown",
        "cooldown_seconds",
        type=float,
        default=120.0,
        show_default=True,
        metavar="SECONDS",
        help="Before each model after the first, wait at most SECONDS for the device to cool to within 2 °C of "
        "where the first started (0: never wait).",
    ),
    DB,
    JSON,
)


@click.command()
@declared("benchmark", FLAGS)
def bench(**params) -> None:
    """Benchmark .tflite files through LiteRT on the named devices.

    Runs warm-up, then at least --runs invocations and at least --min-seconds; reports
    count, mean, std, min, p50, p90, p99, max, first-inference and init time, peak memory,
    and energy per inference labelled measured or estimated (or absent, with the reason).
    A one-op model benchmarked first on each device gives the per-invoke floor: how much of
    each model's latency is overhead rather than arithmetic.
    With --accuracy, the device's outputs on the test samples are checked against the
    host's LiteRT; a microcontroller runs them through TensorFlow Lite Micro on the host.
    Between models a device cools to within 2 °C of where the first began (bounded by
    --cooldown, recorded); --sustained keeps one model running and reports its drift.

    \b
    Examples:
      edgekd bench student_int8.tflite teacher_float32.tflite --device host --runs 500
      edgekd bench student_int8.tflite --device rpi5 --accuracy mnist1d --samples 1000
      edgekd bench student_int8.tflite --device stm32h7 --accuracy mnist1d
      edgekd bench student_int8.tflite --device pixel4 --sustained 600
    """
    from edgekd.api import benchmark
    from edgekd.bench.settings import BenchSettingError
    from edgekd.cli.common import say_on_stderr, settings_as_flags
    from edgekd.results.table import (
        ACCURACY_HEADERS,
        BENCH_HEADERS,
        accuracy_rows,
        bench_rows,
        device_lines,
        energy_notes,
        format_table,
    )

    names = flag_names(FLAGS)
    try:
        with settings_as_flags(names):
            measured = benchmark(**api_arguments(FLAGS, params), reporter=stderr_reporter(), say=say_on_stderr)
    except BenchSettingError as exc:
        flag = names.get(exc.setting, "--" + exc.setting.replace("_", "-"))
        raise ConfigError(f"{flag} {exc.value}: {exc.rule}") from None
    results = [result.as_dict() for result in measured]
    failures = [r for r in results if not r["ok"]]
    if params["as_json"]:
        emit_json(results)
    else:
        timed = [r for r in results if not r["ok"] or r.get("latency_ms")]
        if timed:
            echo(format_table(BENCH_HEADERS, bench_rows(timed)))
        for note in energy_notes(results):
            echo(note)
        for line in device_lines(results):
            echo(line)
        if params["accuracy_data"] is not None:
            echo()
            echo(format_table(ACCURACY_HEADERS, accuracy_rows(results)))
    if failures:
        # Failed benchmarks are results too (which device failed, and why): the run is stored.
        raise BenchmarkError(
            f"{len(failures)} of {len(results)} benchmark(s) failed (stored as run {measured.run_id}): "
            f"{failures[0]['error']}"
        )
