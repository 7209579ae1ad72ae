"""The Python API: what each command does, for notebooks and scripts, returning typed results.

    import edgekd

    run = edgekd.demo(quick=True, out="runs/quick")
    print(run.distillation.verdict, run.models["student_int8"].accuracy)

Each function takes the settings its command takes (as keyword arguments named like the
config keys), writes the same files atomically, records the run in the results store
(``db``; ``record=False`` skips it) and raises the same ``EdgekdError`` with the same
message. The CLI is a thin layer over these functions. TensorFlow loads on first use.
"""

from __future__ import annotations

from edgekd.api.benchmarking import BenchmarkResults, benchmark
from edgekd.api.quantizing import quantize, quantize_run
from edgekd.api.runs import demo, distill, distill_config, run, run_config
from edgekd.api.searching import search, search_config
from edgekd.api.store import default_run_folder

__all__ = [
    "BenchmarkResults",
    "benchmark",
    "default_run_folder",
    "demo",
    "distill",
    "distill_config",
    "quantize",
    "quantize_run",
    "run",
    "run_config",
    "search",
    "search_config",
]
