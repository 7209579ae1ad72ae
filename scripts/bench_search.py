#!/usr/bin/env python3
"""Search against `--student auto`: on MNIST-1D, on scikit-learn's digits with a user's CNN, and for an nRF52840.

    python scripts/bench_search.py [--cases mnist1d digits nano33ble] [--quick] [--trials N] [--out DIR]

Each case first runs the pipeline the way a user would without a search (`edgekd demo` for
MNIST-1D; `edgekd run` with the auto student and `--method auto` for the digits), which gives
the teacher, the auto-sized student, that student's int8 accuracy and the distillation
stage's time (auto recipe selection, the distilled student and its scratch control: what
`edgekd distill` costs once the teacher exists). Then `edgekd search` from that teacher:

- ``mnist1d`` and ``digits``: a budget of the auto student's MACs, and one of half of them;
- ``nano33ble``: MNIST-1D on the Arduino Nano 33 BLE's profile (nRF52840), with budgets of
  the auto student's own flash and TFLM-measured tensor arena; the chosen student is checked
  through TensorFlow Lite Micro (fit and accuracy).

Prints, per search: the searched student's int8 accuracy against the auto student's (both
through LiteRT on the same test split), the Pareto front, and the wall time over the
distillation stage (target: at most 2x), like for like: both without loading the data. With
--quick: the quick demo's budget and a few trials; it checks that everything runs, and its
figures are not the benchmark's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# This checkout's edgekd, whatever else is installed: the figures are the checkout's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CASES = ("mnist1d", "digits", "nano33ble")


@dataclass(frozen=True)
class Baseline:
    """What the user gets without a search: the teacher, the auto student and the distillation's time."""

    data: str
    teacher: Path
    student: dict
    macs: int
    int8_accuracy: float
    int8_path: Path
    distill_seconds: float
    data_seconds: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--quick", action="store_true", help="the quick demo and a few trials (checks the script)")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (default: 20, --quick: 4)")
    parser.add_argument("--out", type=Path, help="keep the folders here (default: a temporary folder)")
    args = parser.parse_args()
    trials = args.trials or (4 if args.quick else 20)

    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        mnist1d = None
        for case in args.cases:
            if case in ("mnist1d", "nano33ble"):
                mnist1d = mnist1d or demo_baseline(root / "demo", args.quick)
                baseline = mnist1d
            else:
                baseline = digits_baseline(root / "digits", args.quick)
            print(
                f"\n== {case}: auto student {baseline.macs:,} MACs, int8 accuracy {baseline.int8_accuracy:.2%} "
                f"(through LiteRT); distillation stage {baseline.distill_seconds:.1f} s"
            )
            if case == "nano33ble":
                searches = [("the auto student's flash and arena", "nano33ble", microcontroller_budgets(baseline))]
            else:
                searches = [
                    ("the auto student's MACs", "host", {"macs": baseline.macs}),
                    ("half of them", "host", {"macs": baseline.macs // 2}),
                ]
            for label, device, budgets in searches:
                document = in_fresh_process(
                    search, baseline, device, budgets, trials, root / f"search-{case}-{len(label)}"
                )
                report(label, budgets, document, baseline)
    return 0


def demo_baseline(out: Path, quick: bool) -> Baseline:
    import edgekd
    from edgekd.config import demo_config

    config = demo_config(quick=quick)
    demo = edgekd.demo(quick=quick, out=out, record=False, say=lambda line: None)
    return _baseline(config, demo, out)


def digits_baseline(out: Path, quick: bool) -> Baseline:
    """The digits as an npz with a transfer set, a user's Keras CNN, and `edgekd run` with its defaults."""
    import real_cases

    import edgekd
    from edgekd.config import PipelineConfig
    from edgekd.data.spec import load_dataset

    out.mkdir(parents=True, exist_ok=True)
    data = f"npz:{real_cases.write_digits_npz(out / 'digits.npz')}"
    dataset = load_dataset(data)
    teacher = real_cases.train_cnn_teacher(
        dataset.x_train, dataset.y_train, dataset.num_classes, out / "cnn.keras", epochs=5 if quick else 40
    )
    document = {"schema_version": 1, "data": {"spec": data}, "teacher": {"path": str(teacher)}}
    if quick:
        document["student"] = {"epochs": 2}
    config = PipelineConfig.model_validate(document)
    run = edgekd.run(config, out / "run", record=False, say=lambda line: None)
    return _baseline(config, run, out / "run")


def _baseline(config, run, folder: Path) -> Baseline:
    auto, int8 = run.models["student_kd"], run.models["student_int8"]
    return Baseline(
        data=config.data.spec,
        teacher=folder / "teacher.keras" if config.teacher.path is None else Path(config.teacher.path),
        student={key: getattr(config.student, key) for key in ("epochs", "batch_size", "learning_rate")},
        macs=auto.macs,
        int8_accuracy=int8.accuracy,
        int8_path=folder / int8.path,
        distill_seconds=run.timings_s["distill"],
        data_seconds=run.timings_s["data"],
    )


def microcontroller_budgets(baseline: Baseline) -> dict[str, float]:
    """The auto student's own int8 flash and TFLM-measured arena, in KiB: a search within what it already costs."""
    from edgekd.bench.tflm import run_tflm

    data = baseline.int8_path.read_bytes()
    arena = run_tflm(data, baseline.int8_path.name).arena
    return {"flash_kb": round(len(data) / 1024, 2), "ram_kb": round(arena.bytes / 1024, 2)}


def in_fresh_process(function, *args):
    """``function(*args)`` in a new Python process, as a user's `edgekd search` runs.

    In this long-lived process every earlier case's objects stay alive, and anything that walks
    them (a full garbage collection) grows slower case after case.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def search(baseline: Baseline, device: str, budgets: dict, trials: int, out: Path) -> dict:
    import edgekd

    return edgekd.search(
        baseline.teacher,
        data=baseline.data,
        device=device,
        budgets=budgets,
        trials=trials,
        out=out,
        say=lambda line: None,
        config_overrides={"student": baseline.student, "quantize": {"representative_samples": 100}},
    ).document


def report(label: str, budgets: dict, document: dict, baseline: Baseline) -> None:
    chosen = document["chosen"]
    int8 = chosen["models"]["student_int8"]
    limits = ", ".join(f"{key}={value:,g}" for key, value in budgets.items())
    print(f"\n{document['settings']['device']}, budget {limits} ({label}): {document['counts']}")
    print(
        f"  searched student {chosen['candidate']} (recipe {chosen['recipe']}): int8 accuracy {int8['accuracy']:.2%} "
        f"vs {baseline.int8_accuracy:.2%} for the auto student ({int8['accuracy'] - baseline.int8_accuracy:+.2%}; "
        "both through LiteRT on the test split)"
    )
    micro = chosen.get("tflite_micro")
    if micro and "fit" in micro:
        fit, accuracy = micro["fit"], micro["accuracy"]
        print(
            f"  on {fit['device']}: fits {fit['fits']}; flash {fit['flash']['needed']:,} B of {fit['flash']['available']:,}; "
            f"arena {fit['ram']['needed']:,} B ({fit['ram']['source']}) of {fit['ram']['available']:,}; int8 accuracy "
            f"through TFLM {accuracy['accuracy']:.2%} on {accuracy['samples']:,} samples, agreement with LiteRT "
            f"{accuracy['agreement_with_host']:.2%}"
        )
    elif micro:
        print(f"  on {micro['device']}: {micro['not_measured_because']}")
    by_number = {trial["number"]: trial for trial in document["trials"]}
    speed, memory = document["objectives"]["speed"], document["objectives"]["memory"]
    print(f"  front (validation accuracy after short training, {speed}, {memory}):")
    for number in document["front"]:
        trial = by_number[number]
        cost = trial["cost"]
        print(
            f"    {trial['candidate']}: {trial['val_accuracy']:.2%}, "
            + ", ".join(f"{cost[key]['value']:,.4g} {key} ({cost[key]['source']})" for key in (speed, memory))
        )
    # The search's own clock, from the start of `run_search` (the Python and TensorFlow imports
    # are outside it, as they are outside the distillation stage's). The distillation stage starts
    # with the data loaded: like for like, the search's time without its data loading.
    seconds = document["seconds"]
    total, data = seconds["total"], seconds["data"]
    print(
        f"  search time: {total - data:.1f} s without loading the data ({data:.1f} s): "
        f"{(total - data) / baseline.distill_seconds:.2f}x the distillation stage; with the data loaded on "
        f"both sides {total / (baseline.distill_seconds + baseline.data_seconds):.2f}x (target: at most 2x)"
    )
    trials = seconds["search"] - seconds["setup"]
    parts = [f"costing the families' smallest {seconds['setup'] - data:.1f} s", f"trials {trials:.1f} s"]
    for finalist in document["finalists"]:
        chose = finalist.get("recipe_selection_seconds")
        parts.append(
            f"finalist {finalist['candidate']} {finalist['seconds']:.1f} s"
            + (f" + recipe choice {chose:.1f} s" if chose else "")
        )
    print(f"  where it went: {'; '.join(parts)}")


if __name__ == "__main__":
    raise SystemExit(main())
