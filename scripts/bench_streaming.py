"""Real-sized data: memory, throughput and preprocessing, measured on generated files.

    python scripts/bench_streaming.py                       # every section, default sizes
    python scripts/bench_streaming.py --section rss --small 5000 --large 50000

Sections (each prints one JSON line):

- ``rss``: peak resident memory of ``edgekd distill`` (its own process) on a generated folder
  of ``--small`` and of ``--large`` PNGs at ``--size``x``--size`` RGB, with the same student
  and recipe, on both paths: a given teacher, and ``--train-teacher``: the ratio of the large
  set's peak to the small set's.
- ``throughput``: images per second of caching the teacher's outputs and of distillation
  steps, against a plain ``model.fit`` of the same student on the same tf.data stream.
- ``applications``: a ``keras.applications`` MobileNetV2 trained with its own preprocessing
  outside edgekd, then loaded by edgekd with ``preprocess=mobilenet_v2``: the accuracy edgekd
  records against the accuracy Keras measures, and what a wrong scaling would give.
- ``kws``: keyword spotting end to end on generated clips with a DS-CNN student.

Generated data: ``tests/media.py`` (shapes on noise, tone sweeps). Every figure says which
machine and settings it came from; nothing here is mocked.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.media import write_audio_folder, write_image_folder  # noqa: E402

CLASSES = 5


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared)"


def image_set(work: Path, count: int, size: int, split: bool = False) -> Path:
    root = work / f"images-{count}-{size}{'-split' if split else ''}"
    if not (root / ".complete").exists():
        started = time.perf_counter()
        write_image_folder(root, classes=CLASSES, per_class=count // CLASSES, size=size, split=split)
        (root / ".complete").write_text(f"{time.perf_counter() - started:.1f} s to generate\n")
    return root


# A quarter-width CNN: memory and the data path are measured, not the teacher's arithmetic
# (the full-width one runs at about 130 images/s on two shared cores at 96x96).
TEACHER = "cnn:width=0.25"


def teacher_for(work: Path, size: int) -> Path:
    """An untrained Keras 3 CNN (edgekd's `cnn` builder) at size x size x 3: memory and speed do not need a good one."""
    path = work / f"teacher-cnn-quarter-{size}.keras"
    if not path.exists():
        from edgekd.models.builders import get_builder
        from edgekd.models.io import save_model

        save_model(get_builder("cnn").build((size, size, 3), CLASSES, width=0.25), path)
    return path


def measured_run(args: list[str]) -> dict:
    """``python -m edgekd ARGS`` in a launcher process whose children's peak RSS is the run's own."""
    launcher = (
        "import resource, subprocess, sys, time; started = time.perf_counter(); "
        "code = subprocess.run(sys.argv[1:]).returncode; "
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - started)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", launcher, sys.executable, "-m", "edgekd", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
    )
    code, peak_kib, seconds = completed.stdout.split()[-3:]
    if int(code) != 0:
        raise SystemExit(f"edgekd {' '.join(args)} failed:\n{completed.stderr[-2000:]}")
    return {"peak_rss_mib": round(int(peak_kib) / 1024, 1), "seconds": round(float(seconds), 1)}


def section_rss(options, work: Path) -> dict:
    teacher = teacher_for(work, options.size)
    common = ["--student", "conv", "--epochs", "1", "--no-control", "--force", "--fresh", "--json"]
    # Both ways a run gets its teacher: given (its outputs cached), and trained by edgekd first
    # (the teacher's own training, checkpoint scoring and BatchNorm re-estimation on the set).
    paths = {
        "given teacher": ["--teacher", str(teacher), "--method", "kd"],
        "--train-teacher": ["--train-teacher", "--teacher-epochs", "1", "--method", "kd"],
    }
    result = {"section": "rss", "machine": machine(), "size": f"{options.size}x{options.size} RGB PNG", "paths": {}}
    for name, how in paths.items():
        rows = {}
        for count in (options.small, options.large):
            folder = image_set(work, count, options.size)
            out = work / f"rss-{count}"
            args = ["distill", *how, *common, "--data", f"images:{folder}", "--out", str(out)]
            rows[count] = measured_run([*args, "--db", str(work / "store.db")])
        small, large = rows[options.small], rows[options.large]
        result["paths"][name] = {
            "command": f"edgekd distill {' '.join(how).replace(str(teacher), f'<{TEACHER}>')} {' '.join(common[:5])}",
            "images": {str(k): v for k, v in rows.items()},
            "ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
        }
    result["target"] = f"at most 1.2x the peak for {options.large / options.small:g}x the images, on both paths"
    return result


def section_throughput(options, work: Path) -> dict:
    from edgekd.data.spec import load_dataset
    from edgekd.distill.batches import training_batches
    from edgekd.distill.distiller import DistillationSettings, TrainingRun, fresh_copy
    from edgekd.distill.losses import make_objective
    from edgekd.distill.recipes import Recipe
    from edgekd.distill.teacher_outputs import OutputStore
    from edgekd.distill.trainer import TrainingBudget, hard_label_objective
    from edgekd.models.builders import get_builder
    from edgekd.models.io import load_model
    from edgekd.progress import SILENT

    folder = image_set(work, options.small, options.size)
    dataset = load_dataset(f"images:{folder}")
    teacher = load_model(teacher_for(work, options.size))
    settings = DistillationSettings(1, options.batch_size, 3e-3, 0, train_control=False)
    run = TrainingRun.prepare([teacher], dataset, (1.0,), settings)
    # A fresh folder: outputs cached by an earlier run of this script would be reused, not computed.
    cache = work / "throughput-cache"
    shutil.rmtree(cache, ignore_errors=True)
    run.outputs.store = OutputStore(cache)
    started = time.perf_counter()
    run.outputs.targets((), 1.0)
    caching = len(run.x_kd) / (time.perf_counter() - started)

    steps = options.steps
    student = get_builder("conv").build(dataset.input_shape, dataset.num_classes)
    budget = TrainingBudget(steps, options.batch_size, 3e-3)
    recipe = Recipe("kd", make_objective("kd", CLASSES))
    history, _, _ = run.train(fresh_copy(student), recipe, budget, "kd", "kd", SILENT)
    edgekd_step = history.seconds_per_step()
    edgekd_wall = history.seconds / history.steps

    plain = fresh_copy(student)
    import tf_keras

    plain.compile(optimizer=tf_keras.optimizers.Adam(3e-3), loss=hard_label_objective())
    batches = training_batches(run.x_kd, run.outputs.labels, options.batch_size, 0, 0)
    per_epoch = steps // budget.checkpoints
    plain.fit(batches, steps_per_epoch=per_epoch, epochs=1, verbose=0)  # tracing and warm-up
    started = time.perf_counter()
    plain.fit(batches, steps_per_epoch=per_epoch, epochs=budget.checkpoints - 1, verbose=0)
    plain_step = (time.perf_counter() - started) / ((budget.checkpoints - 1) * per_epoch)
    return {
        "section": "throughput",
        "machine": machine(),
        "images": f"{options.small} PNGs at {options.size}x{options.size} RGB ({len(run.x_kd)} in the distillation set)",
        "teacher_caching_images_per_s": round(caching, 1),
        "distillation_images_per_s_steps_only": round(options.batch_size / edgekd_step, 1),
        "distillation_images_per_s_with_checkpoints": round(options.batch_size / edgekd_wall, 1),
        "plain_fit_images_per_s": round(options.batch_size / plain_step, 1),
        "ratio_steps_only": round(plain_step / edgekd_step, 3),
        "ratio_with_checkpoints": round(plain_step / edgekd_wall, 3),
        "target": "ratio at least 0.9",
        "steps": steps,
        "batch_size": options.batch_size,
        "models": f"teacher: {TEACHER} (untrained); student: conv",
    }


def section_applications(options, work: Path) -> dict:
    """MobileNetV2 (alpha 0.35, from scratch) trained by Keras with its preprocess_input; then read by edgekd."""
    import keras
    import numpy as np

    folder = image_set(work, options.apps_images, options.size, split=True)
    model_path = work / f"mobilenet_v2-{options.apps_images}.keras"
    image_size = (options.size, options.size)

    def keras_split(split: str, shuffle: bool):
        data = keras.utils.image_dataset_from_directory(
            folder / split, image_size=image_size, shuffle=shuffle, seed=0, batch_size=32, label_mode="int"
        )
        return data.map(lambda x, y: (keras.applications.mobilenet_v2.preprocess_input(x), y))

    if not model_path.exists():
        keras.utils.set_random_seed(0)
        model = keras.applications.MobileNetV2(
            input_shape=(*image_size, 3), alpha=0.35, weights=None, classes=CLASSES, classifier_activation=None
        )
        model.compile(
            optimizer=keras.optimizers.Adam(2e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(keras_split("train", True), epochs=options.apps_epochs, verbose=0)
        # BatchNorm's moving statistics lag far behind a network trained from scratch for a few
        # epochs (the model scores chance in inference mode); re-estimate them on training images.
        from edgekd.models.batchnorm import recalibrate

        recalibrate(model, np.concatenate([x for x, _ in keras_split("train", False).take(40)]))
        model.save(model_path)
    model = keras.models.load_model(model_path)
    keras_accuracy = float(model.evaluate(keras_split("test", False), verbose=0)[1])

    recorded = {}
    for scaling in ("preprocess=mobilenet_v2", "scale=unit"):
        out = work / f"apps-{scaling.replace('=', '-')}"
        args = ["distill", "--teacher", str(model_path), "--student", "conv", "--data", f"images:{folder},{scaling}"]
        args += ["--method", "kd", "--epochs", "1", "--no-control", "--out", str(out), "--force", "--fresh"]
        args += ["--db", str(work / "store.db"), "--json"]
        measured_run(args)
        document = json.loads((out / "results.json").read_text())
        recorded[scaling] = document["models"]["teacher"]["accuracy"]
    return {
        "section": "applications",
        "machine": machine(),
        "model": "keras.applications.MobileNetV2(alpha=0.35, weights=None), trained here with its preprocess_input",
        "images": f"{options.apps_images} PNGs ({options.size}x{options.size} RGB, {CLASSES} shapes, train/test folders)",
        "epochs": options.apps_epochs,
        "keras_test_accuracy": round(keras_accuracy, 4),
        "edgekd_test_accuracy": {k: round(v, 4) for k, v in recorded.items()},
        "chance": round(1 / CLASSES, 4),
        "same": bool(np.isclose(keras_accuracy, recorded["preprocess=mobilenet_v2"], atol=1e-6)),
    }


def section_kws(options, work: Path) -> dict:
    folder = work / f"kws-{options.kws_clips}"
    if not (folder / ".complete").exists():
        write_audio_folder(folder, classes=8, per_class=options.kws_clips // 8)
        (folder / ".complete").write_text("done\n")
    config = work / "kws.yaml"
    config.write_text(
        f"data: {{spec: 'audio:{folder}'}}\n"
        "teacher: {epochs: 20, batch_size: 64, learning_rate: 0.003}\n"
        "student: {spec: dscnn, epochs: 20, batch_size: 64}\n"
        "distill: {method: kd}\n"
        "quantize: {representative_samples: 200}\n"
        "bench: {runs: 50, min_seconds: 0.2, warmup: 5}\n"
    )
    out = work / "kws-run"
    timing = measured_run(["run", str(config), "--out", str(out), "--force", "--fresh", "--db", str(work / "store.db")])
    document = json.loads((out / "results.json").read_text())
    models = document["models"]
    return {
        "section": "kws",
        "machine": machine(),
        "clips": f"{options.kws_clips} generated one-second 16 kHz WAV clips, 8 classes",
        "input": document["data"]["input_shape"],
        "accuracy": {
            role: models[role]["accuracy"] for role in ("teacher", "student_kd", "student_scratch", "student_int8")
        },
        "student_macs": models["student_kd"]["macs"],
        "teacher_macs": models["teacher"]["macs"],
        "int8_bytes": models["student_int8"]["size_bytes"],
        "verdict": document["distillation"]["verdict"],
        **timing,
    }


SECTIONS = {
    "rss": section_rss,
    "throughput": section_throughput,
    "applications": section_applications,
    "kws": section_kws,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", action="append", choices=list(SECTIONS), help="repeatable (default: all)")
    parser.add_argument("--work", type=Path, default=Path("bench-streaming"), help="generated data and runs")
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=300, help="training steps timed for throughput (10 checkpoints)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--apps-images", type=int, default=2500)
    parser.add_argument("--apps-epochs", type=int, default=8)
    parser.add_argument("--kws-clips", type=int, default=1600)
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in options.section or list(SECTIONS):
        result = SECTIONS[name](options, options.work)
        print(json.dumps(result), flush=True)
        results.append(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
