#!/usr/bin/env python3
"""Time the stages of `edgekd demo` and print what each produced, measured in one run.

    python scripts/bench_demo.py [--out DIR]

Prints the stage timings, the distillation verdict (student vs scratch control), the
int8/float size ratio, and host latency ratios between teacher, float student and int8
student, all from the same run. The README's demo figures come from here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# This checkout's edgekd, whatever else is installed: the figures are the checkout's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the run's folder here (default: a temporary folder)")
    args = parser.parse_args()

    from edgekd.config import demo_config
    from edgekd.outputs import staged_output_folder
    from edgekd.pipeline import run_pipeline
    from edgekd.progress import Reporter

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "demo"
        with staged_output_folder(out, kind="run") as staging:
            document = run_pipeline(demo_config(), staging, Reporter(total_stages=5), kind="demo").to_document()
    wall = time.perf_counter() - started

    print("\nstage timings (s)")
    for stage, seconds in document["timings_s"].items():
        print(f"  {stage:<10} {seconds:7.1f}")
    print(f"  {'total':<10} {wall:7.1f}  (wall clock, including imports)")

    models = document["models"]
    print("\naccuracy (test split)")
    for role in ("teacher", "student_kd", "student_scratch", "student_int8"):
        print(f"  {role:<16} {100 * models[role]['accuracy']:6.2f}%  ({models[role]['accuracy_source']})")
    print(f"  {document['distillation']['verdict']}")
    print(f"  student MACs / teacher MACs: {document['distillation']['student_mac_fraction']:.4f}")
    print(
        f"  int8 size / float32 size (student): {models['student_int8']['size_bytes'] / models['student_float32']['size_bytes']:.3f}"
    )

    latency = {b["model"]: b["latency_ms"]["p50"] for b in document["benchmarks"] if b["ok"]}
    if {"teacher_float32", "student_float32", "student_int8"} <= set(latency):
        print("\nhost latency, p50 (ms)")
        for role, value in latency.items():
            print(f"  {role:<16} {value:.4g}")
        print(f"  teacher_float32 / student_int8: {latency['teacher_float32'] / latency['student_int8']:.2f}x")
        print(f"  student_float32 / student_int8: {latency['student_float32'] / latency['student_int8']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
