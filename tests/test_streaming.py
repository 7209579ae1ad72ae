"""Data read from disk as training needs it, and teacher outputs cached on disk once.

Streams must give training exactly the batches arrays give (same shuffle, same resume
skip); teacher outputs are written once, reused by a later run over the same teacher and
inputs, never reused for another, and past the cache budget the teacher runs online.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from edgekd.errors import ConfigError
from tests.conftest import assert_clean_failure, invoke
from tests.media import write_image_folder


def _take(dataset, count: int) -> list:
    return [
        (np.asarray(x), {k: np.asarray(v) for k, v in y.items()} if isinstance(y, dict) else np.asarray(y))
        for x, y in dataset.take(count)
    ]


@pytest.mark.parametrize("skip", [0, 3])
def test_streams_and_memory_mapped_targets_give_the_batches_arrays_give(tmp_path, skip):
    from edgekd.data.samples import ArrayStream
    from edgekd.distill.batches import training_batches

    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4, 1)).astype(np.float32)
    targets = {"labels": rng.integers(0, 3, 50), "teacher_logits": rng.standard_normal((50, 3)).astype(np.float32)}
    mapped = np.lib.format.open_memmap(tmp_path / "logits.npy", "w+", np.float32, (50, 3))
    mapped[:] = targets["teacher_logits"]
    expected = _take(training_batches(x, targets, 8, seed=5, skip=skip), 9)
    streamed = _take(
        training_batches(ArrayStream.of(x), {**targets, "teacher_logits": mapped}, 8, seed=5, skip=skip), 9
    )
    for (x_a, y_a), (x_b, y_b) in zip(expected, streamed, strict=True):
        np.testing.assert_array_equal(x_a, x_b)
        for key in y_a:
            np.testing.assert_array_equal(y_a[key], y_b[key])
    labels_only = _take(training_batches(ArrayStream.of(x), targets["labels"], 8, seed=5, skip=skip), 2)
    np.testing.assert_array_equal(labels_only[0][1], expected[0][1]["labels"])


def test_training_and_prediction_pipelines_run_without_the_autotuner():
    """Deleting an iterator waited for the autotuner's thread: up to 45 s at the end of a training, no CPU used."""
    from edgekd.data.samples import ArrayStream, batches
    from edgekd.distill.augment import parse_augmentations
    from edgekd.distill.batches import augmented, training_batches

    x, y = np.zeros((20, 4, 1), np.float32), np.zeros(20, np.int64)
    pipelines = (
        training_batches(x, y, 4, seed=0, skip=0),
        training_batches(ArrayStream.of(x), y, 4, seed=0, skip=2),
        augmented(training_batches(x, y, 4, seed=0, skip=0), tuple(parse_augmentations(["mixup"])), 0, 0),
        batches(ArrayStream.of(x), batch_size=4),
    )
    for pipeline in pipelines:
        assert pipeline.options().autotune.enabled is False
        assert len(list(pipeline.take(2))) == 2


def test_a_students_and_a_teachers_view_of_the_same_files_decode_each_file_once(tmp_path):
    from edgekd.data.samples import element_loader
    from edgekd.data.spec import load_dataset

    root = write_image_folder(tmp_path / "set", classes=2, per_class=4, size=12)
    dataset = load_dataset(f"images:{root},size=6x6,teacher_size=12x12,teacher_scale=raw")
    student, teacher = dataset.x_train, dataset.for_teacher().x_train
    load = element_loader([student, teacher])
    small, large = (np.asarray(v) for v in load(np.int64(2)))
    np.testing.assert_allclose(small, student[2], atol=1e-6)
    np.testing.assert_allclose(large, teacher[2], atol=1e-4)
    assert student.same_files(teacher) and not student.same_files(dataset.x_test)


def _teacher_outputs(teacher, x, folder, **options):
    from edgekd.distill.teacher_outputs import OutputStore, TeacherOutputs

    return TeacherOutputs([teacher], (1.0,), x, np.zeros(len(x), np.int64), OutputStore(folder), **options)


def test_teacher_outputs_are_written_once_and_reused_only_for_the_same_teacher_and_inputs(tiny_dataset, tmp_path):
    from edgekd.distill.step import TEACHER_LOGITS
    from edgekd.models.builders import get_builder
    from edgekd.models.evaluate import predict_logits
    from edgekd.progress import Reporter

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, 10)
    x = tiny_dataset.x_train[:300]
    first = _teacher_outputs(teacher, x, tmp_path).targets((), 1.0)
    np.testing.assert_allclose(first[TEACHER_LOGITS], predict_logits(teacher, x), rtol=1e-5, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logits-0.json", "logits-0.npy"]

    said = io.StringIO()
    again = _teacher_outputs(teacher, x, tmp_path)
    np.testing.assert_array_equal(again.targets((), 1.0, Reporter(stream=said))[TEACHER_LOGITS], first[TEACHER_LOGITS])
    assert again.store.reused == ["logits-0"] and f"reusing the teacher outputs cached in {tmp_path}" in said.getvalue()

    other_inputs = _teacher_outputs(teacher, tiny_dataset.x_train[300:600], tmp_path)
    other_inputs.targets((), 1.0)
    retrained = get_builder("cnn").build(tiny_dataset.input_shape, 10)
    other_teacher = _teacher_outputs(retrained, x, tmp_path)
    np.testing.assert_allclose(
        other_teacher.targets((), 1.0)[TEACHER_LOGITS], predict_logits(retrained, x), rtol=1e-5, atol=1e-5
    )
    assert other_inputs.store.reused == [] and other_teacher.store.reused == []


def test_an_unfinished_cache_file_is_never_read(tiny_dataset, tmp_path):
    from edgekd.models.builders import get_builder

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, 10)
    x = tiny_dataset.x_train[:50]
    _teacher_outputs(teacher, x, tmp_path).targets((), 1.0)
    (tmp_path / "logits-0.npy").rename(tmp_path / "logits-0.npy.partial")
    outputs = _teacher_outputs(teacher, x, tmp_path)
    outputs.targets((), 1.0)
    assert outputs.store.reused == [] and (tmp_path / "logits-0.npy").exists()


def test_outputs_past_the_cache_budget_run_the_teacher_online_or_are_refused(tiny_dataset, tmp_path):
    from edgekd.distill.losses import make_objective
    from edgekd.distill.recipes import Recipe
    from edgekd.distill.teacher_outputs import CacheBudget
    from edgekd.models.builders import get_builder

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, 10)
    recipe = Recipe("kd", make_objective("kd", 10))
    run = _training_run(teacher, tiny_dataset, CacheBudget(1000, "a test's"))
    said = io.StringIO()
    from edgekd.progress import Reporter

    assert run.teacher_route(recipe, (), Reporter(stream=said)) == "online"
    needed = run.outputs.bytes_needed(())
    assert needed == 4 * 10 * len(run.x_kd)
    assert "more than the cache budget of 1000 bytes (a test's)" in said.getvalue()
    assert _training_run(teacher, tiny_dataset, CacheBudget(needed, "exact")).teacher_route(recipe, ()) == "cached"
    refusing = _training_run(teacher, tiny_dataset, CacheBudget(1000, "a test's"), teacher_outputs="cached")
    with pytest.raises(ConfigError, match="`teacher_outputs` cached: .*raise `cache_budget`"):
        refusing.teacher_route(recipe, ())


def _training_run(teacher, dataset, budget, **settings):
    from edgekd.distill.distiller import DistillationSettings, TrainingRun

    run = TrainingRun.prepare([teacher], dataset, (1.0,), DistillationSettings(1, 128, 1e-3, 0, **settings))
    run.outputs.budget = budget
    return run


def test_a_run_that_fails_after_caching_keeps_the_cache_for_the_rerun(tmp_path):
    from edgekd.distill.checkpoints import checkpoint_folder_for, checkpointed

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), checkpointed(out, {"a": 1}, fresh=False, say=lambda line: None) as folder:
        folder.teacher_outputs.mkdir()
        (folder.teacher_outputs / "logits-0.npy").write_bytes(b"cached")
        raise KeyboardInterrupt
    assert (checkpoint_folder_for(out) / "teacher-outputs" / "logits-0.npy").exists()
    with checkpointed(out, {"a": 1}, fresh=True, say=lambda line: None) as folder:
        assert not folder.teacher_outputs.exists(), "fresh discards cached outputs too"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("images") / "shapes", classes=3, per_class=60, size=16)


@pytest.mark.timeout(900)
def test_an_image_folder_streams_through_every_stage(image_folder, tmp_path):
    """Teacher training, caching, distillation, int8 calibration and the LiteRT test evaluation, all from disk."""
    out = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {{spec: 'images:{image_folder}', options: {{size: 12x12, scale: symmetric}}}}\n"
        # The small cnn teacher on labels alone, its whole budget: this test is about the stream, and 60 steps are
        # too few for the default teacher recipe (augmentation, label smoothing, early stopping).
        "teacher: {builder: cnn, epochs: 12, batch_size: 32, learning_rate: 0.003, augment: [], label_smoothing: 0,\n"
        "          patience: null}\n"
        "student: {spec: 'conv', epochs: 8, batch_size: 32}\n"
        "distill: {method: kd}\n"
        "quantize: {representative_samples: 40}\n"
        "bench: {runs: 3, min_seconds: 0.0, warmup: 1}\n"
    )
    result = invoke("run", str(config), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    document = json.loads((out / "results.json").read_text())
    assert document["data"]["normalization"]["mean"] == 127.5 and document["data"]["input_shape"] == [12, 12, 3]
    assert document["distillation"]["teacher_outputs"] == "cached"
    models = document["models"]
    assert models["teacher"]["accuracy"] > 0.6, "the teacher learns the shapes from the stream"
    assert models["student_int8"]["accuracy_source"].startswith("the .tflite through the LiteRT interpreter")
    assert models["student_int8"]["agreement_with_keras"] > 0.8


@pytest.mark.timeout(900)
def test_a_teacher_at_its_own_resolution_runs_online_past_the_cache_budget(image_folder, tmp_path):
    """Resolution distillation with the teacher online: each batch carries both views of the same files."""
    teacher_run = tmp_path / "teacher"
    data = f"images:{image_folder},size=8x8,teacher_size=16x16,teacher_preprocess=mobilenet_v2"
    args = ["--data", data, "--method", "kd", "--epochs", "2", "--batch-size", "32", "--no-control"]
    first = invoke("distill", "--train-teacher", "--teacher-epochs", "2", *args, "--out", str(teacher_run))
    assert first.exit_code == 0, first.stderr
    document = json.loads((teacher_run / "results.json").read_text())
    assert document["data"]["input_shape"] == [8, 8, 3]
    assert document["data"]["teacher_view"]["image_size"] == [16, 16]
    out = tmp_path / "online"
    teacher = str(teacher_run / "teacher.keras")
    result = invoke("distill", "--teacher", teacher, *args, "--cache-budget", "1KiB", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "the teacher runs online in every step: the teacher's outputs for kd need" in result.stderr
    summary = json.loads((out / "results.json").read_text())["distillation"]
    assert summary["teacher_outputs"] == "online" and "--cache-budget" not in summary["teacher_outputs_reason"]
    assert "more than the cache budget of 1.0 KiB" in summary["teacher_outputs_reason"]
    refused = invoke(
        "distill", "--teacher", teacher, *args, "--teacher-outputs", "cached", "--cache-budget", "1KiB",
        "--out", str(tmp_path / "refused"),
    )  # fmt: skip
    assert_clean_failure(refused, "--teacher-outputs cached", "raise --cache-budget")
    assert not (tmp_path / "refused").exists()


@pytest.mark.timeout(900)
def test_memory_mapped_arrays_distil_as_arrays_in_memory_do(tiny_dataset, teacher_file, tmp_path):
    """The same data as an .npz read into memory and as a folder of .npy files read from disk: the same batches."""
    arrays = {
        "x_train": tiny_dataset.x_train,
        "y_train": tiny_dataset.y_train,
        "x_test": tiny_dataset.x_test,
        "y_test": tiny_dataset.y_test,
        "x_unlabeled": tiny_dataset.x_unlabeled,
    }
    folder = tmp_path / "arrays"
    folder.mkdir()
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    np.savez(tmp_path / "data.npz", **arrays)
    accuracies = []
    for data in (f"npz:{tmp_path / 'data.npz'}", f"npz:{folder}"):
        out = tmp_path / data.replace("/", "_").replace(":", "_")
        args = ["--teacher", str(teacher_file), "--student", "conv", "--method", "kd", "--epochs", "1", "--json"]
        result = invoke("distill", *args, "--data", data, "--out", str(out))
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        accuracies.append([document["models"][role]["accuracy"] for role in ("student_kd", "student_scratch")])
    assert document["data"]["storage"] == "memory-mapped, read from disk as needed"
    np.testing.assert_allclose(accuracies[0], accuracies[1], atol=0.02)


def test_an_image_damaged_after_loading_stops_training_naming_it(tmp_path):
    import re

    from edgekd.data.spec import load_dataset
    from edgekd.distill.trainer import TrainingBudget, fit, hard_label_objective
    from edgekd.errors import DataError
    from edgekd.models.builders import get_builder

    root = write_image_folder(tmp_path / "set", classes=2, per_class=10, size=8)
    dataset = load_dataset(f"images:{root}")
    x_fit, y_fit, x_val, y_val = dataset.validation_split(0)
    victim = Path(x_fit.paths[3])
    victim.write_bytes(b"overwritten after loading")
    model = get_builder("conv").build(dataset.input_shape, 2)
    with pytest.raises(DataError, match=f"cannot read image {re.escape(str(victim))}: .*remove or replace it"):
        fit(model, x_fit, y_fit, hard_label_objective(), TrainingBudget(4, 8), (x_val, y_val), 0)
