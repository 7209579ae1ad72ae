#!/usr/bin/env python3
"""Does edgekd's default distillation win on data and teachers it was not tuned on? Every case, wins and losses.

    python scripts/bench_distill_real.py [--seeds 0 1 2] [--cases ...] [--methods ...] [--out FILE.json]

Cases (built by ``scripts/real_cases.py`` from scikit-learn's bundled digits, plus MNIST-1D):

- ``digits-npz``: 8×8 scans as an npz with an unlabelled transfer set; a user's Keras 3 CNN
  teacher (BatchNorm, a residual connection);
- ``digits-npz-labelled``: the same npz without its transfer set; the teacher edgekd trains
  itself (``--train-teacher``, the ``cnn`` builder);
- ``digits-images``: the scans as 32×32 RGB PNGs (``images:DIR``);
  ``keras.applications.MobileNetV2(alpha=0.35, weights=None)`` trained from random init;
- ``mnist1d``: the demo's data and teacher.

For every case and seed the auto student is sized from the teacher as ``edgekd distill``
sizes it, then trained three ways from the same initial weights: the default (``--method
auto``: candidate recipes briefly, the best fully, the distilled student or the control
shipped by validation), each method at its defaults, and the scratch control. Reports test
accuracy (mean and worst over seeds) of each against the control, and checks the targets:

- the shipped (auto) student is never more than 0.5 points below the control on any case,
  and beats it by at least 1 point on at least two cases;
- no method's default ends more than 5 points below the control on any case;
- every student and control learns (more than 2 points above chance);
- the time of the auto run over one fixed-recipe run (a distilled student and its control).
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

DEFAULT_CASES = ["digits-npz", "digits-npz-labelled", "digits-images", "mnist1d"]
DEFAULT_METHODS = ["kd", "dkd", "dist", "fitnet", "at", "rkd"]


def build_case(name: str, scratch: Path):
    """(DATA spec, teacher model, use the transfer set) for a case; teachers train once, from seed 0."""
    import real_cases

    from edgekd.config import TeacherConfig
    from edgekd.data.spec import load_dataset
    from edgekd.distill.stage import obtain_teacher
    from edgekd.models.frameworks import seed_everything
    from edgekd.models.io import load_model
    from edgekd.progress import SILENT

    if name in ("digits-npz", "digits-npz-labelled"):
        spec = f"npz:{real_cases.write_digits_npz(scratch / 'digits.npz')}"
    elif name == "digits-images":
        spec = f"images:{real_cases.write_digits_images(scratch / 'digits-images')}"
    elif name == "mnist1d":
        spec = "mnist1d:samples=10000,transfer=40000"
    else:
        raise SystemExit(f"unknown case {name!r}; known: {', '.join(DEFAULT_CASES)}")
    dataset = load_dataset(spec)
    seed_everything(0)
    if name == "digits-npz":
        path = real_cases.train_cnn_teacher(
            dataset.x_train, dataset.y_train, dataset.num_classes, scratch / "cnn.keras"
        )
        teacher = load_model(path)
    elif name == "digits-images":
        # The folder streams from disk; Keras trains this small set (1,797 scans) from memory.
        path = real_cases.train_mobilenetv2_teacher(
            dataset.x_train[:], dataset.y_train, dataset.num_classes, scratch / "mobilenetv2.keras"
        )
        teacher = load_model(path)
    else:
        teacher, _, _ = obtain_teacher(TeacherConfig(epochs=60), dataset, 0, scratch, SILENT)
    return dataset, teacher, name != "digits-npz-labelled"


def run_case(name: str, dataset, teacher, use_transfer: bool, seed: int, methods: list[str]) -> dict:
    from edgekd.distill.distiller import DistillationSettings, distill, twin
    from edgekd.distill.losses import make_objective
    from edgekd.distill.recipes import DEFAULT_CANDIDATES, parse_candidates
    from edgekd.models.complexity import model_macs
    from edgekd.models.evaluate import accuracy
    from edgekd.models.frameworks import seed_everything
    from edgekd.models.students import resolve_student

    seed_everything(seed)
    student, description = resolve_student("auto", dataset.input_shape, dataset.num_classes, model_macs(teacher), 0.05)
    initial = student.get_weights()
    settings = DistillationSettings(None, 128, 3e-3, seed, use_transfer_set=use_transfer)

    def test(model) -> float:
        return accuracy(model, dataset.x_test, dataset.y_test)

    started = time.perf_counter()
    candidates = parse_candidates(DEFAULT_CANDIDATES, dataset.num_classes)
    auto = distill(teacher, student, dataset, None, settings, candidates=candidates)
    auto_seconds = time.perf_counter() - started
    shipped = auto.student_kd if auto.shipped.role == "student_kd" else auto.student_scratch
    result = {
        "case": name,
        "seed": seed,
        "teacher": test(teacher),
        "student": description,
        "control": test(auto.student_scratch),
        "auto": {
            "shipped": auto.shipped.role,
            "reason": auto.shipped.reason,
            "chosen": auto.recipe.spec,
            "accuracy": test(shipped),
            "distilled_accuracy": test(auto.student_kd),
            "candidates": [score.as_dict() for score in auto.candidates],
            "seconds": auto_seconds,
            "selection_seconds": auto.selection_seconds,
        },
        "methods": {},
    }
    fixed_seconds = auto.scratch_history.seconds
    no_control = DistillationSettings(None, 128, 3e-3, seed, use_transfer_set=use_transfer, train_control=False)
    for method in methods:
        fresh = twin(student)
        fresh.set_weights(initial)
        started = time.perf_counter()
        outcome = distill(teacher, fresh, dataset, make_objective(method, dataset.num_classes), no_control)
        seconds = time.perf_counter() - started
        if method == "kd":
            fixed_seconds += seconds
        result["methods"][method] = {"accuracy": test(outcome.student_kd), "seconds": seconds}
        print(f"    {method:<8} {100 * result['methods'][method]['accuracy']:6.2f}%  ({seconds:.0f} s)", flush=True)
    result["fixed_seconds"] = fixed_seconds
    return result


def summarise(results: list[dict], methods: list[str]) -> bool:
    """Print the table per case and the targets; True when every target is met."""
    cases = list(dict.fromkeys(r["case"] for r in results))
    wins, ok = 0, True
    print(f"\n{'case':<22} {'teacher':>8} {'control':>8} {'auto':>8} {'vs ctl':>7} {'worst':>7} {'time x':>7}  shipped")
    for case in cases:
        rows = [r for r in results if r["case"] == case]
        gap = [100 * (r["auto"]["accuracy"] - r["control"]) for r in rows]
        ratio = statistics.mean(r["auto"]["seconds"] / r["fixed_seconds"] for r in rows if r["fixed_seconds"])
        shipped = ", ".join(f"{r['auto']['shipped']}<-{r['auto']['chosen']}" for r in rows)
        print(
            f"{case:<22} {100 * statistics.mean(r['teacher'] for r in rows):7.2f}% "
            f"{100 * statistics.mean(r['control'] for r in rows):7.2f}% "
            f"{100 * statistics.mean(r['auto']['accuracy'] for r in rows):7.2f}% {statistics.mean(gap):+7.2f} "
            f"{min(gap):+7.2f} {ratio:6.2f}x  {shipped}"
        )
        wins += statistics.mean(gap) >= 1.0
        if statistics.mean(gap) < -0.5:
            print(f"  TARGET MISSED: auto is {statistics.mean(gap):+.2f} points against the control on {case}")
            ok = False
        for method in methods:
            accuracies = [r["methods"][method]["accuracy"] for r in rows if method in r["methods"]]
            if not accuracies:
                continue
            method_gap = statistics.mean(100 * (a - r["control"]) for a, r in zip(accuracies, rows, strict=True))
            flag = "" if method_gap >= -5 else "  TARGET MISSED (more than 5 points below the control)"
            print(f"    {method:<8} {100 * statistics.mean(accuracies):7.2f}% {method_gap:+7.2f}{flag}")
            ok &= method_gap >= -5
        chance = 100 / 10
        learned = all(
            100 * value > chance + 2
            for r in rows
            for value in [
                r["control"],
                r["auto"]["distilled_accuracy"],
                *(m["accuracy"] for m in r["methods"].values()),
            ]
        )
        if not learned:
            print(f"  TARGET MISSED: a student or control on {case} stayed within 2 points of chance")
            ok = False
    print(f"\nauto beats the control by >= 1 point on {wins} of {len(cases)} cases (target: at least 2)")
    return ok and wins >= 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    parser.add_argument("--methods", nargs="*", default=DEFAULT_METHODS)
    parser.add_argument("--out", type=Path, help="write every result as JSON here")
    parser.add_argument(
        "--summarise", type=Path, nargs="+", metavar="FILE.json", help="print the table of earlier --out files only"
    )
    args = parser.parse_args()
    from edgekd.results.document import library_versions

    if args.summarise:
        saved = [json.loads(path.read_text()) for path in args.summarise]
        results = [result for document in saved for result in document["results"]]
        met = summarise(results, args.methods)
        print(f"versions: {saved[0]['versions']}")
        return 0 if met else 1

    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for case in args.cases:
            folder = Path(scratch) / case
            folder.mkdir()
            dataset, teacher, use_transfer = build_case(case, folder)
            print(f"{case}: {dataset.summary()['train_samples']} train samples, transfer={use_transfer}", flush=True)
            for seed in args.seeds:
                result = run_case(case, dataset, teacher, use_transfer, seed, args.methods)
                print(
                    f"  seed {seed}: teacher {100 * result['teacher']:.2f}%, control {100 * result['control']:.2f}%, "
                    f"auto {100 * result['auto']['accuracy']:.2f}% ({result['auto']['shipped']}, "
                    f"{result['auto']['chosen']}), {result['auto']['seconds']:.0f} s",
                    flush=True,
                )
                results.append(result)
                if args.out:
                    args.out.write_text(json.dumps({"versions": library_versions(), "results": results}, indent=1))
    met = summarise(results, args.methods)
    print(f"total {time.perf_counter() - started:.0f} s; versions: {library_versions()}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
