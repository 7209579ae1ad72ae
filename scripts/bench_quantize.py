#!/usr/bin/env python3
"""Every conversion mode for the demo student and teacher, and what QAT (+KD) recovers, in one run.

    python scripts/bench_quantize.py [--run DIR] [--qat-epochs N]

--run DIR reuses a finished `edgekd demo --out DIR` (teacher.keras, student_kd.keras);
without it the demo runs first. Prints, per model, each mode's size, gzip size, accuracy
through LiteRT, agreement with the Keras model and host latency; checks the targets
(int8 at least 3x smaller than float32, at most 1 point lost); then looks for a model
where post-training int8 loses more than 1 point and compares PTQ, QAT and QAT+KD on it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# This checkout's edgekd, whatever else is installed: the figures are the checkout's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished demo folder to reuse")
    parser.add_argument("--qat-epochs", type=int, default=3)
    args = parser.parse_args()

    from edgekd.bench.stage import time_on_host
    from edgekd.config import demo_config
    from edgekd.data.spec import load_dataset
    from edgekd.distill.losses import make_loss
    from edgekd.models.io import load_model
    from edgekd.outputs import staged_output_folder
    from edgekd.pipeline import run_pipeline
    from edgekd.progress import Reporter
    from edgekd.quantize.modes import QuantizeOptions
    from edgekd.quantize.qat import quantization_aware_training
    from edgekd.quantize.stage import QuantizeSettings, compare_modes, convert_and_check
    from edgekd.results.table import MODE_HEADERS, format_table, mode_rows

    reporter = Reporter()
    config = demo_config()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = args.run
        if run is None:
            run = scratch / "demo"
            with staged_output_folder(run, kind="run") as staging:
                run_pipeline(config, staging, Reporter(total_stages=5), kind="demo")
        dataset = load_dataset(config.data.spec, reporter)
        teacher = load_model(run / "teacher.keras")
        student = load_model(run / "student_kd.keras")

        for role, model in (("student", student), ("teacher", teacher)):
            out = scratch / role
            out.mkdir()
            typed, measured = compare_modes(
                model, role, dataset, out, QuantizeSettings(), reporter, lambda files: time_on_host(files, reporter)
            )
            records = {name: record.as_dict() for name, record in typed.items()}
            benchmarks = [result.as_dict() for result in measured]
            print(f"\n{role}: every mode (accuracy through LiteRT on {len(dataset.x_test)} test samples)")
            print(
                format_table(
                    (*MODE_HEADERS, "gzip"),
                    [
                        [*row, f"{record['gzip_bytes'] / 1024:.1f} KiB"]
                        for row, record in zip(mode_rows(records, benchmarks), records.values(), strict=True)
                    ],
                )
            )
            int8, float32 = records[f"{role}_int8"], records[f"{role}_float32"]
            ratio = float32["size_bytes"] / int8["size_bytes"]
            weights = float32["weight_bytes"] / int8["weight_bytes"]
            structure = {
                name: r["size_bytes"] - r["weight_bytes"] for name, r in (("int8", int8), ("float32", float32))
            }
            print(
                f"  int8 vs float32: file {ratio:.2f}x smaller (target >= 3: {'met' if ratio >= 3 else 'NOT met'}); "
                f"weights {weights:.2f}x smaller ({float32['weight_bytes']:,} -> {int8['weight_bytes']:,} bytes; "
                f"structure {structure['float32']:,} -> {structure['int8']:,} bytes); "
                f"{int8['accuracy_drop_points']:+.2f} points (target <= 1: "
                f"{'met' if int8['accuracy_drop_points'] <= 1 else 'NOT met'})"
            )

        print("\nQAT and QAT+KD where post-training int8 loses more than 1 point")
        loss = make_loss("kd", dataset.num_classes, temperature=1.0, alpha=0.0)
        # Calibrating on a handful of samples is a common way to lose accuracy in PTQ: the
        # ranges come out too tight. QAT learns its ranges in training instead.
        candidates = [
            ("student, per-channel, 500 calibration samples", QuantizeOptions(), 500),
            ("student, per-tensor, 500 calibration samples", QuantizeOptions(per_channel=False), 500),
            ("student, per-channel, 5 calibration samples", QuantizeOptions(), 5),
        ]
        steps = args.qat_epochs * -(-len(dataset.x_train) // 128)
        found = False
        for name, options, calibration in candidates:
            settings = QuantizeSettings(options=options, representative_samples=calibration)
            ptq = convert_and_check(
                student, "ptq", "int8", dataset, scratch / "ptq.tflite", "keras", settings
            ).as_dict()
            float_accuracy = ptq["accuracy"] + ptq["accuracy_drop_points"] / 100
            print(
                f"  {name}: float {100 * float_accuracy:.2f}%, PTQ int8 {100 * ptq['accuracy']:.2f}% "
                f"({ptq['accuracy_drop_points']:+.2f} points)"
            )
            if ptq["accuracy_drop_points"] <= 1.0 or found:
                continue
            found = True
            for label, qat_teacher in (("QAT", None), ("QAT+KD", teacher)):
                quantized, history = quantization_aware_training(
                    student,
                    dataset,
                    args.qat_epochs,
                    0,
                    qat_teacher,
                    loss if qat_teacher is not None else None,
                    reporter=reporter,
                    steps=steps,
                )
                record = convert_and_check(
                    quantized, label, "int8", dataset, scratch / f"{label}.tflite", "keras", settings
                ).as_dict()
                print(
                    f"    {label:<7} int8 {100 * record['accuracy']:.2f}% ({100 * (record['accuracy'] - ptq['accuracy']):+.2f} "
                    f"points vs PTQ, {100 * (record['accuracy'] - float_accuracy):+.2f} vs float; {history.steps} steps)"
                )
        if not found:
            print(
                "  no candidate lost more than 1 point to post-training int8, so there is nothing for QAT to recover here"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
