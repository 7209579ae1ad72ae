#!/usr/bin/env python3
"""Search against the demo's auto student: the same MAC budget, and half of it, on MNIST-1D.

    python scripts/bench_search.py [--quick] [--trials N] [--out DIR]

Runs `edgekd demo` (its teacher, its auto-sized student and that student's int8 accuracy),
then `edgekd search` from the demo's teacher with a budget of the auto student's MACs and
one of half of them. Prints, for each budget: the searched student's int8 accuracy against
the auto student's (both through LiteRT on the same test split), the Pareto front, and the
search's wall time relative to the demo's distillation stage (auto recipe selection, the
distilled student and its scratch control: what `edgekd distill` costs once the teacher
exists) and to one full training of a student on the same budget (a finalist's). With
--quick, the quick demo's budget and a few trials: it checks that everything runs, and its
figures are not the benchmark's.
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
    parser.add_argument("--quick", action="store_true", help="the quick demo and a few trials (checks the script)")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (default: 20, --quick: 4)")
    parser.add_argument("--out", type=Path, help="keep the folders here (default: a temporary folder)")
    args = parser.parse_args()
    trials = args.trials or (4 if args.quick else 20)

    import edgekd
    from edgekd.config import demo_config

    config = demo_config(quick=args.quick)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        demo = edgekd.demo(quick=args.quick, out=root / "demo", record=False, say=lambda line: None)
        auto = demo.models["student_kd"]
        auto_int8 = demo.models["student_int8"]
        distill_seconds = demo.timings_s.get("distill")
        print(f"auto student: {auto.macs:,} MACs, int8 accuracy {auto_int8.accuracy:.2%} ({auto_int8.accuracy_source})")
        print(
            f"demo's distillation stage: {distill_seconds:.1f} s (auto selection, distilled student, scratch control)"
        )
        student = {key: getattr(config.student, key) for key in ("epochs", "batch_size", "learning_rate")}
        for label, budget in (("the auto student's MACs", auto.macs), ("half of them", auto.macs // 2)):
            started = time.perf_counter()
            result = edgekd.search(
                root / "demo" / "teacher.keras",
                data=config.data.spec,
                budgets={"macs": budget},
                trials=trials,
                out=root / f"search-{budget}",
                seed=config.seed,
                say=lambda line: None,
                config_overrides={"student": student, "quantize": {"representative_samples": 100}},
            )
            wall = time.perf_counter() - started
            report(label, budget, result.document, auto_int8.accuracy, wall, distill_seconds)
    return 0


def report(label: str, budget: int, document: dict, auto_accuracy: float, wall: float, distill_seconds) -> None:
    chosen = document["chosen"]
    int8 = chosen["models"]["student_int8"]
    print(f"\nbudget macs={budget:,} ({label}): {document['counts']}")
    print(
        f"  searched student {chosen['candidate']} (recipe {chosen['recipe']}): int8 accuracy {int8['accuracy']:.2%} vs {auto_accuracy:.2%} for "
        f"the auto student ({int8['accuracy'] - auto_accuracy:+.2%}; both through LiteRT on the test split)"
    )
    by_number = {trial["number"]: trial for trial in document["trials"]}
    print("  front (validation accuracy after short training, MACs counted, params counted):")
    for number in document["front"]:
        trial = by_number[number]
        cost = trial["cost"]
        print(
            f"    {trial['candidate']}: {trial['val_accuracy']:.2%}, {cost['macs']['value']:,.0f} MACs, "
            f"{cost['params']['value']:,.0f} params"
        )
    full_training = max((f["seconds"] for f in document["finalists"]), default=None)
    ratios = [f"{wall:.1f} s wall"]
    if distill_seconds:
        ratios.append(f"{wall / distill_seconds:.2f}x the demo's distillation stage")
    if full_training:
        ratios.append(f"{wall / full_training:.2f}x one full training of a student ({full_training:.1f} s)")
    print(f"  search time: {', '.join(ratios)} (target: at most 3x the distillation)")


if __name__ == "__main__":
    raise SystemExit(main())
