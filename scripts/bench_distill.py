#!/usr/bin/env python3
"""Does distillation earn its keep? Every method against the scratch control over several seeds, plus speed ratios.

    python scripts/bench_distill.py [--seeds 0 1 2] [--epochs 30] [--methods kd dkd ...] [--quick] [--no-speed]

The speed figures need an otherwise idle machine; ``--quick --methods kd --seeds 0`` measures
them alone in about a minute (per-step time does not depend on how well the teacher is trained).

For each seed: MNIST-1D with 10,000 labelled samples (8,000 train / 2,000 test) and a fresh
40,000-sample unlabelled transfer set, the `cnn` teacher trained as `edgekd demo` trains it,
and the largest `conv` student within 1/20 of the teacher's MACs. Every method distils the
same freshly initialised student for the same number of steps; the scratch control is that
student trained on the labelled set alone for as many steps. Prints a table per method
(mean over seeds) and checks the targets: at least 98% of the teacher's accuracy, and at
least 2 points over the scratch control on average.

Speed (one run, same data, same batch size): seconds per step of cached-logit KD, of the
scratch control, of edgekd with the teacher run online every step, and of Keras 3's
`keras.distillation.Distiller` (the online-teacher design of the Keras KD tutorial) on a
Keras 3 copy of the same student.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This checkout's edgekd, whatever else is installed: the figures are the checkout's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_METHODS = ["kd", "dkd", "dist", "kd+fitnet", "kd+at", "kd+rkd"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30, help="student epochs over labelled + transfer set")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--speed-steps", type=int, default=300, help="steps timed for each speed figure")
    parser.add_argument("--quick", action="store_true", help="a small smoke run: 1,500 samples, 2 epochs")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed figures")
    args = parser.parse_args()

    from edgekd.config import TeacherConfig
    from edgekd.data.spec import load_dataset
    from edgekd.distill.distiller import DistillationSettings, distill
    from edgekd.distill.losses import make_objective
    from edgekd.distill.stage import obtain_teacher
    from edgekd.frameworks import seed_everything
    from edgekd.models.complexity import model_macs
    from edgekd.models.evaluate import accuracy
    from edgekd.models.sizing import SizeBudget, auto_student

    spec = "mnist1d:samples=1500,transfer=3000" if args.quick else "mnist1d:samples=10000,transfer=40000"
    teacher_config = TeacherConfig(epochs=3 if args.quick else 60)
    epochs = 2 if args.quick else args.epochs
    rows: dict[str, list[dict]] = {method: [] for method in args.methods}
    teachers, controls = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            dataset = load_dataset(f"{spec},seed={seed}")
            seed_everything(seed)
            teacher, typed, _ = obtain_teacher(teacher_config, dataset, seed, Path(scratch), _quiet())
            record = typed.as_dict()
            teachers.append(record["accuracy"])
            teacher_macs = model_macs(teacher)
            print(f"seed {seed}: teacher {100 * record['accuracy']:.2f}% ({teacher_macs:,} MACs)", flush=True)
            for index, method in enumerate(args.methods):
                seed_everything(seed)
                sized = auto_student(dataset.input_shape, dataset.num_classes, SizeBudget(teacher_macs // 20))
                student, options = sized.model, sized.options
                settings = DistillationSettings(epochs, 128, 3e-3, seed, train_control=index == 0)
                outcome = distill(teacher, student, dataset, make_objective(method, dataset.num_classes), settings)
                kd = accuracy(outcome.student_kd, dataset.x_test, dataset.y_test)
                if outcome.student_scratch is not None:
                    controls.append(accuracy(outcome.student_scratch, dataset.x_test, dataset.y_test))
                    print(
                        f"  scratch control {100 * controls[-1]:.2f}% "
                        f"(student {model_macs(student):,} MACs = 1/{teacher_macs / model_macs(student):.1f}, {options})",
                        flush=True,
                    )
                rows[method].append({"accuracy": kd, "teacher": record["accuracy"], "control": controls[-1]})
                print(f"  {method:<10} {100 * kd:.2f}%  ({outcome.kd_history.seconds:.0f} s)", flush=True)
        print_table(rows, teachers, controls)
        if not args.no_speed:
            print_speed(dataset, teacher, student, args.speed_steps, seed)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


def _quiet():
    from edgekd.progress import SILENT

    return SILENT


def print_table(rows: dict[str, list[dict]], teachers: list[float], controls: list[float]) -> None:
    teacher, control = statistics.mean(teachers), statistics.mean(controls)
    print(f"\nmean over {len(teachers)} seed(s): teacher {100 * teacher:.2f}%, scratch control {100 * control:.2f}%")
    print(f"{'method':<12} {'student':>8} {'min':>8} {'of teacher':>11} {'vs control':>11}  targets (>=98%, >=+2.00)")
    for method, results in rows.items():
        accuracies = [r["accuracy"] for r in results]
        kept = statistics.mean(r["accuracy"] / r["teacher"] for r in results)
        gain = 100 * statistics.mean(r["accuracy"] - r["control"] for r in results)
        verdict = "met" if kept >= 0.98 and gain >= 2.0 else "NOT met"
        print(
            f"{method:<12} {100 * statistics.mean(accuracies):7.2f}% {100 * min(accuracies):7.2f}% "
            f"{100 * kept:10.2f}% {gain:+10.2f}   {verdict}"
        )


def print_speed(dataset, teacher, student, steps: int, seed: int) -> None:
    """Seconds per training step, each measured over the same number of steps after a warm-up."""
    import numpy as np

    from edgekd.data.dataset import Dataset
    from edgekd.distill.distiller import DistillationSettings, distill, fresh_copy
    from edgekd.distill.losses import make_objective
    from edgekd.distill.trainer import TrainingBudget, fit, hard_label_objective
    from edgekd.frameworks import Framework, keras_module, tensorflow
    from edgekd.models.builders import get_builder

    tf = tensorflow()

    samples = steps * 128 // 10  # distil() runs 10 epochs over this many samples = `steps` steps
    half = min(samples // 2, len(dataset.x_train))
    subset = Dataset(
        name="speed",
        x_train=dataset.x_train[:half],
        y_train=dataset.y_train[:half],
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        num_classes=dataset.num_classes,
        x_unlabeled=dataset.x_unlabeled[: samples - half],
    )
    objective = make_objective("kd", dataset.num_classes)

    def per_step(online: bool) -> float:
        settings = DistillationSettings(
            10, 128, 3e-3, seed, train_control=False, teacher_outputs="online" if online else "cached"
        )
        outcome = distill(teacher, fresh_copy(student), subset, objective, settings)
        return outcome.kd_history.seconds_per_step()

    def scratch_per_step() -> float:
        model = fresh_copy(student)
        x_fit, y_fit = subset.x_train, subset.y_train
        history = fit(
            model,
            np.concatenate([x_fit, x_fit]),
            np.concatenate([y_fit, y_fit]),
            hard_label_objective(),
            TrainingBudget(steps, 128, 3e-3),
            (subset.x_test, subset.y_test),
            seed,
        )
        return history.seconds_per_step()

    def keras_distiller_per_step() -> float:
        keras = keras_module(Framework.KERAS3)
        builder = get_builder("conv")
        student3 = builder.build_fn(keras, dataset.input_shape, dataset.num_classes, width=_width(student))
        distiller = keras.distillation.Distiller(
            teacher=teacher,
            student=student3,
            distillation_losses=keras.distillation.LogitsDistillation(temperature=1.0),
            student_loss_weight=0.0,
        )
        distiller.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
        x_all = np.concatenate([subset.x_train, subset.x_unlabeled])
        y_all = np.concatenate([subset.y_train, np.zeros(len(subset.x_unlabeled), dtype=subset.y_train.dtype)])
        epoch_seconds = []

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.begin = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                epoch_seconds.append(time.perf_counter() - self.begin)

        dataset_keras = tf.data.Dataset.from_tensor_slices((x_all, y_all)).shuffle(len(x_all), seed=seed).repeat()
        distiller.fit(dataset_keras.batch(128), epochs=10, steps_per_epoch=steps // 10, verbose=0, callbacks=[Timer()])
        # Like seconds_per_step(): the median epoch after the first (which includes tracing).
        return statistics.median(epoch_seconds[1:]) / (steps // 10)

    per_step(False)  # warm-up: tracing and caches
    cached, online, control = per_step(False), per_step(True), scratch_per_step()
    keras_online = keras_distiller_per_step()
    print(
        f"\nspeed, time per training step (batch 128, median over 10 checkpoints of {steps // 10} steps, first left out)"
    )
    print(f"  scratch control                    {1000 * control:7.3f} ms")
    print(f"  edgekd KD, cached teacher logits   {1000 * cached:7.3f} ms")
    print(f"  edgekd KD, teacher online          {1000 * online:7.3f} ms")
    print(f"  keras.distillation.Distiller       {1000 * keras_online:7.3f} ms")
    print(f"  cached KD / scratch:               {cached / control:.3f}  (target <= 1.15)")
    print(f"  cached KD / edgekd online teacher: {cached / online:.3f}")
    print(f"  cached KD / Keras Distiller:       {cached / keras_online:.3f}  (target <= 0.6)")


def _width(student) -> float:
    """The conv builder's width from its first convolution's channels (8 at width 1)."""
    for layer in student.layers:
        if type(layer).__name__ == "Conv2D":
            return layer.filters / 8
    return 1.0


if __name__ == "__main__":
    sys.exit(main())
