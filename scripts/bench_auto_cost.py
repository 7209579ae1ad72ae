#!/usr/bin/env python3
"""What ``--method auto`` costs against one fixed recipe, and what it ships, on the demo and on real data.

    python scripts/bench_auto_cost.py [--cases demo digits-npz-labelled photos] [--seeds 0] [--repeats N] [--out FILE.json]

Per case and seed, in one process, ``edgekd distill`` with the same data, student and seed:

0. ``--method auto`` with the teacher trained by edgekd (the demo's own config for ``demo``, the
   built-in teacher recipe for the real cases, as ``edgekd distill`` without ``--teacher``): it
   writes the teacher file the next two runs read, and takes the process's first-use costs
   (TensorFlow's, autograph's: several seconds) off the two measured runs;
1. ``--method auto`` (the default) with that teacher: the candidates race by successive
   halving over the first checkpoints of the full run, the best goes on to the full budget next
   to the scratch control;
2. the recipe auto chose, fixed (``--method RECIPE``), with the same teacher: the same full
   training and the same control, without the candidates.

It prints the distillation stage's seconds of each (the teacher's training is not counted, the
data is loaded before the stage starts), auto ÷ fixed, the candidates' seconds and how many
stopped early, and the shipped student's test accuracy of each. Wall times are this machine's,
measured back to back; the ratio is what to compare across machines. With ``--repeats N`` runs 1
and 2 alternate N times and the medians are compared (on a shared machine the same run's seconds
move by 10% or more from one minute to the next). Cases are built by
``scripts/real_cases.py`` (nothing is downloaded); ``demo`` is ``edgekd demo``'s config.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_distill_real import KNOWN_CASES, build_case  # noqa: E402

TARGET = 1.5


def _config(case: str, spec: str | None, seed: int, teacher: Path | None, method: str):
    """The pipeline config of one run: the demo's own for ``demo``, else ``edgekd distill``'s defaults on ``spec``."""
    from edgekd.config import PipelineConfig, demo_config
    from edgekd.errors import ConfigError
    from edgekd.validation import validate

    if case == "demo":
        document = demo_config().model_dump(mode="json")
    else:
        document = {"data": {"spec": spec}}
    document["seed"] = seed
    document["bench"] = {"devices": []}
    document.setdefault("distill", {}).update(_fixed(method))
    if teacher is not None:
        document["teacher"] = {**document.get("teacher", {}), "path": str(teacher)}
    return validate(PipelineConfig, document, "bench_auto_cost settings", ConfigError)


def _fixed(recipe: str) -> dict:
    """The distill section of a recipe spec (``kd:temperature=1,alpha=0,augment=mixup``): method, params, augment."""
    if recipe == "auto":
        return {"method": "auto"}
    name, _, options = recipe.partition(":")
    params, augment = {}, []
    for pair in filter(None, options.split(",")):
        key, _, value = pair.partition("=")
        if key == "augment":
            augment.append(value)
        else:
            params[key] = float(value)
    return {"method": name, "params": params or None, "augment": augment}


def _run(case: str, spec: str | None, seed: int, teacher: Path | None, method: str, out: Path) -> dict:
    from edgekd.api import distill_config

    started = time.perf_counter()
    run = distill_config(
        _config(case, spec, seed, teacher, method), out, quantize=False, record=False, say=lambda line: None
    )
    document = run.to_document()
    distillation = document["distillation"]
    selection = distillation.get("selection") or {}
    return {
        "method": method,
        "recipe": distillation["recipe"],
        "distill_seconds": document["timings_s"]["distill"],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "candidates_seconds": selection.get("seconds"),
        "candidates": len(selection.get("candidates", [])),
        "stopped": sum(1 for c in selection.get("candidates", []) if c.get("stopped")),
        "shipped": document["models"]["student"]["accuracy"],
        "shipped_from": document["models"]["student"]["shipped_from"],
        "teacher_macs": document["models"]["teacher"]["macs"],
        "teacher_worth_distilling": (distillation.get("teacher_check") or {}).get("worth_distilling"),
        # Where the stage's seconds went: each training's own clock (the control, the shipped recipe's run:
        # for auto, its continuation after the race); the rest is the teacher's outputs, tracing, saving.
        "training_seconds": {role: round(h.get("seconds", 0.0), 1) for role, h in run.training.items()},
    }


def run_case(case: str, spec: str | None, seed: int, scratch: Path, repeats: int = 1) -> dict:
    # The first run trains the teacher (and warms the process: TensorFlow's and autograph's
    # first-use costs, several seconds, would otherwise fall on whichever run came first).
    first = _run(case, spec, seed, None, "auto", scratch / f"{case}-{seed}-first")
    teacher = scratch / f"{case}-{seed}-first" / "teacher.keras"
    autos, fixeds = [], []
    for repeat in range(repeats):
        # Alternated, so that a slow minute on a shared machine falls on both alike.
        autos.append(_run(case, spec, seed, teacher, "auto", scratch / f"{case}-{seed}-auto{repeat}"))
        fixeds.append(_run(case, spec, seed, teacher, autos[0]["recipe"], scratch / f"{case}-{seed}-fixed{repeat}"))
    auto_seconds = statistics.median(a["distill_seconds"] for a in autos)
    fixed_seconds = statistics.median(f["distill_seconds"] for f in fixeds)
    return {
        "case": case,
        "seed": seed,
        "first": first,
        "auto": autos[0] | {"distill_seconds": auto_seconds, "each_seconds": [a["distill_seconds"] for a in autos]},
        "fixed": fixeds[0] | {"distill_seconds": fixed_seconds, "each_seconds": [f["distill_seconds"] for f in fixeds]},
        "ratios": [round(a["distill_seconds"] / f["distill_seconds"], 3) for a, f in zip(autos, fixeds, strict=True)],
        "ratio": round(auto_seconds / fixed_seconds, 3),
    }


def summarise(results: list[dict]) -> None:
    print(
        f"\n{'case':<20} {'seed':>4} {'teacher MACs':>13} {'auto s':>7} {'fixed s':>7} {'auto/fixed':>10} "
        f"{'candidates s':>12} {'stopped':>8} {'auto shipped':>12} {'fixed shipped':>13}  recipe"
    )
    for r in results:
        auto, fixed = r["auto"], r["fixed"]
        stopped = f"{auto['stopped']}/{auto['candidates']}" if auto["candidates"] else "none run"
        print(
            f"{r['case']:<20} {r['seed']:>4} {auto['teacher_macs']:>13,} {auto['distill_seconds']:>7.1f} "
            f"{fixed['distill_seconds']:>7.1f} {r['ratio']:>9.2f}x {auto['candidates_seconds'] or 0:>12.1f} "
            f"{stopped:>8} {100 * auto['shipped']:>11.2f}% {100 * fixed['shipped']:>12.2f}%  {auto['recipe']}"
            f"{'' if auto['teacher_worth_distilling'] is not False else ' (weak teacher: candidates skipped)'}"
        )
    within = sum(r["ratio"] <= TARGET for r in results)
    print(f"\nauto within {TARGET}x of the fixed recipe in {within} of {len(results)} runs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["demo", "digits-npz-labelled", "photos"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, help="write every result as JSON here (after each run)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="auto and fixed runs per case, alternated; their medians are compared"
    )
    args = parser.parse_args()
    unknown = [c for c in args.cases if c != "demo" and c not in KNOWN_CASES]
    if unknown:
        raise SystemExit(f"unknown case {unknown[0]!r}; known: demo, {', '.join(KNOWN_CASES)}")
    from edgekd.results.document import library_versions

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in args.cases:
            folder = Path(scratch) / case
            folder.mkdir()
            spec = None if case == "demo" else build_case(case, folder)
            for seed in args.seeds:
                result = run_case(case, spec, seed, folder, args.repeats)
                print(
                    f"{case} seed {seed}: auto {result['auto']['distill_seconds']:.1f} s, fixed "
                    f"{result['fixed']['distill_seconds']:.1f} s ({result['ratio']:.2f}x; each: {result['ratios']})",
                    flush=True,
                )
                results.append(result)
                if args.out:
                    args.out.write_text(json.dumps({"versions": library_versions(), "results": results}, indent=1))
    summarise(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
