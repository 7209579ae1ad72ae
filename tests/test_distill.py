"""Distillation end to end: feature methods, ensembles, online teachers, checkpoints, strategies.

Real training throughout (tiny data, a few steps); interruptions are real signals sent to a
real ``python -m edgekd`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgekd.distill.checkpoints import CheckpointFolder, checkpoint_folder_for
from edgekd.errors import EdgekdError, OutputError
from tests.conftest import TINY_DATA, assert_clean_failure, invoke


def distill_args(teacher_file: Path, out: Path, *extra: str) -> list[str]:
    return [
        "distill",
        "--teacher",
        str(teacher_file),
        "--student",
        "conv:width=1",
        "--data",
        TINY_DATA,
        "--epochs",
        "1",
        # One fixed method (a later --method wins): these tests are about everything but the choice of recipe.
        "--method",
        "kd",
        "--out",
        str(out),
        *extra,
    ]


def test_feature_methods_resolve_layers_and_export_the_student_alone(teacher_file, tmp_path):
    out = tmp_path / "hints"
    result = invoke(
        *distill_args(teacher_file, out, "--method", "kd+fitnet+at+rkd", "--param", "fitnet.weight=0.5", "--json")
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    summary = document["distillation"]
    assert summary["method"] == "kd+fitnet+at+rkd"
    assert [t["weight"] for t in summary["terms"]] == [1.0, 0.5, 1.0, 1.0]
    features = {f["key"]: f for f in summary["features"]}
    # The deepest feature maps by default: the teacher's conv3 and the student's conv2, 10 positions each.
    assert (features["fitnet"]["teacher_layer"], features["fitnet"]["student_layer"]) == ("conv3", "conv2")
    assert features["fitnet"]["teacher_shape"] == [10, 64] and features["fitnet"]["student_shape"] == [10, 16]
    assert features["rkd"]["teacher_shape"] == [640] and features["rkd"]["student_shape"] == [160]
    # Every term's loss is recorded per checkpoint, and the curves land in training.csv.
    assert set(document["training"]["student_kd"]["terms"]) == {"kd", "fitnet", "at", "rkd"}
    header, *rows = (out / "training.csv").read_text().splitlines()
    assert header == "run,checkpoint,step,loss,val_accuracy,at,fitnet,kd,rkd"
    assert {row.split(",")[0] for row in rows} == {"student_kd", "student_scratch"}
    report = (out / "report.md").read_text()
    assert (
        "`fitnet`: teacher layer `conv3` [10, 64] <- student layer `conv2` [10, 16] through a trainable adapter"
        in report
    )

    from edgekd.models.builders import get_builder
    from edgekd.models.complexity import model_params
    from edgekd.models.io import load_model

    exported = load_model(out / "student_kd.keras")
    fresh = get_builder("conv").build((40, 1), 10, width=1)
    assert model_params(exported) == model_params(fresh) == document["models"]["student_kd"]["params"]
    assert not [layer.name for layer in exported.layers if "adapter" in layer.name]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (
            ["--method", "kd+fitnet", "--param", "fitnet.student_layer=conv9"],
            ["the student has no layer 'conv9'; its layers: as_image, conv1, conv2, flatten, logits"],
        ),
        (["--method", "at", "--student", "mlp"], ["has no feature maps"]),
        (["--teacher-weight", "1", "--teacher-weight", "2"], ["2 teacher weights for 1 teachers"]),
        (
            ["--augment", "blur"],
            ["unknown augmentation 'blur'; known: colour, crop, flip, freq_mask, mixup, noise, shift"],
        ),
        (["--strategy", "tpu"], ["unknown training strategy 'tpu'; known: default, mirrored, multiworker"]),
        (["--patience", "0"], ["--patience must be at least 1"]),
    ],
    ids=[
        "missing layer",
        "no feature maps",
        "weights count",
        "augmentation",
        "strategy",
        "patience",
    ],
)
def test_bad_distillation_setups_fail_before_training_and_write_nothing(teacher_file, tmp_path, extra, fragments):
    out = tmp_path / "out"
    args = distill_args(teacher_file, out)
    if "--student" in extra:
        args[args.index("--student") : args.index("--student") + 2] = []
    result = invoke(*args, *extra)
    assert_clean_failure(result, *fragments)
    assert "distilling" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "no output and no checkpoint folder"


def test_feature_maps_at_different_resolutions_are_pooled_to_the_smaller_grid(teacher_file, tmp_path):
    """The teacher's conv1 has 40 positions, the student's conv2 10: the teacher's map is averaged down, not refused."""
    out = tmp_path / "at"
    result = invoke(
        *distill_args(teacher_file, out, "--method", "kd+at", "--param", "at.teacher_layer=conv1", "--json")
    )
    assert result.exit_code == 0, result.stderr
    (feature,) = json.loads(result.stdout)["distillation"]["features"]
    assert (feature["teacher_shape"], feature["student_shape"]) == ([40, 32], [10, 16])
    assert feature["resampled_to"] == [1, 10]


def test_area_resampling_averages_neighbouring_positions():
    from edgekd.distill.features import FeatureShape, flatten_feature

    maps = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    pooled = flatten_feature(maps, FeatureShape.of((None, 4, 4, 3)), (2, 2))
    assert pooled.shape == (2, 4, 3)
    np.testing.assert_allclose(pooled[0, 0], maps[0, :2, :2].mean(axis=(0, 1)))
    np.testing.assert_allclose(pooled[1, 3], maps[1, 2:, 2:].mean(axis=(0, 1)))


def test_ensemble_with_augmentation_runs_the_teachers_online(teacher_file, tmp_path):
    out = tmp_path / "ensemble"
    result = invoke(
        *distill_args(
            teacher_file, out, "--teacher", str(teacher_file), "--teacher-weight", "3", "--teacher-weight", "1"
        ),
        "--augment",
        "shift",
        "--augment",
        "mixup",
        "--student",
        "dsconv",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["distillation"]
    assert summary["teacher_outputs"] == "online" and summary["augment"] == ["shift", "mixup"]
    assert summary["ensemble"]["weights"] == [3.0, 1.0] and len(summary["ensemble"]["teachers"]) == 2


def test_ensemble_soft_targets_are_the_weighted_average_of_the_teachers():
    from edgekd.distill.step import ensemble_logits
    from edgekd.frameworks import tensorflow

    tf = tensorflow()
    a, b = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.5]])
    temperature = 2.0
    mixed = np.asarray(ensemble_logits([a, b], (3.0, 1.0), temperature))
    expected = 0.75 * tf.nn.softmax(a / temperature).numpy() + 0.25 * tf.nn.softmax(b / temperature).numpy()
    assert tf.nn.softmax(mixed / temperature).numpy() == pytest.approx(expected, rel=1e-5)
    assert np.asarray(ensemble_logits([a], (1.0,), temperature)) == pytest.approx(a)


def run_edgekd(args: list[str], env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_deterministic_runs_repeat_bit_for_bit(teacher_file, tmp_path):
    """--deterministic in its own processes (op determinism is process-wide): two runs, identical weights."""
    from edgekd.models.io import load_model

    weights = []
    for name in ("a", "b"):
        completed = run_edgekd([*distill_args(teacher_file, tmp_path / name), "--deterministic", "--no-control"])
        assert completed.returncode == 0, completed.stderr
        document = json.loads((tmp_path / name / "results.json").read_text())
        assert document["config"]["deterministic"] is True
        weights.append(load_model(tmp_path / name / "student_kd.keras").get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


# Augmented, so the teacher runs online and every step draws random shifts: a resumed run must
# draw the same ones (stateless draws from the run's seed and the step).
RESUMED_RUN = ("--epochs", "6", "--json")


@pytest.fixture(scope="module")
def uninterrupted(teacher_file, tmp_path_factory):
    """The reference for a command: the same command as the interrupted runs, run to the end (once per command)."""
    references = {}

    def reference(extra: tuple[str, ...]) -> dict:
        if extra not in references:
            out = tmp_path_factory.mktemp("reference") / "run"
            completed = run_edgekd(distill_args(teacher_file, out, *RESUMED_RUN, *extra))
            assert completed.returncode == 0, completed.stderr
            references[extra] = json.loads(completed.stdout)
        return references[extra]

    return reference


# Ctrl-C on an augmented run (its stateless draws repeat after the resume; the teacher runs
# online), a kill on a plain one (the teacher's outputs come back from their cache on disk).
@pytest.mark.parametrize(
    "sent, extra",
    [(signal.SIGINT, ("--augment", "shift")), (signal.SIGKILL, ())],
    ids=["ctrl-c-augmented", "killed-cached"],
)
def test_an_interrupted_run_resumes_to_the_same_result(teacher_file, tmp_path, uninterrupted, sent, extra):
    out = tmp_path / "run"
    args = distill_args(teacher_file, out, *RESUMED_RUN, *extra)
    checkpoints = checkpoint_folder_for(out)
    process = subprocess.Popen(
        [sys.executable, "-m", "edgekd", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while not (checkpoints / "student_kd.npz").exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode in (130, -signal.SIGKILL), stderr
    if sent == signal.SIGINT:
        assert f"run the same command again with --out {out} to resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and (checkpoints / "student_kd.npz").exists()

    resumed = run_edgekd(args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from the checkpoints" in resumed.stderr
    if not extra:
        assert "reusing the teacher outputs cached in" in resumed.stderr, "the teacher's outputs are not recomputed"
    reference = uninterrupted(extra)
    document = json.loads(resumed.stdout)
    assert document["training"]["student_kd"]["resumed_from"], "the distillation run was resumed, not restarted"
    for role in ("student_kd", "student_scratch"):
        assert document["models"][role]["accuracy"] == pytest.approx(reference["models"][role]["accuracy"])
    assert not checkpoints.exists(), "checkpoints are removed once the run completes"
    assert "student_kd was resumed from checkpoint" in (out / "report.md").read_text()
    assert not list(tmp_path.glob(".run.partial-*")), "the killed run's staging folder is cleaned up"


def test_checkpoints_of_another_run_are_refused_until_fresh(teacher_file, tmp_path):
    out = tmp_path / "run"
    other = CheckpointFolder(checkpoint_folder_for(out), {"another": "config"})
    other.open()
    (other.folder / "student_kd.npz").write_bytes(b"from another run")
    other.close()
    refused = invoke(*distill_args(teacher_file, out))
    assert_clean_failure(refused, "holds checkpoints of a run with a different config", "--fresh")
    assert (other.folder / "student_kd.npz").read_bytes() == b"from another run"
    fresh = invoke(*distill_args(teacher_file, out, "--fresh"))
    assert fresh.exit_code == 0, fresh.stderr
    assert not other.folder.exists()


def test_one_run_at_a_time_per_checkpoint_folder(tmp_path):
    first = CheckpointFolder(tmp_path / "checkpoints", {"a": 1})
    first.open()
    with pytest.raises(OutputError, match="another edgekd run is using"):
        CheckpointFolder(tmp_path / "checkpoints", {"a": 1}).open()
    first.close()
    assert CheckpointFolder(tmp_path / "checkpoints", {"a": 1}).open() is False


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    folder = CheckpointFolder(tmp_path / "checkpoints", {"a": 1})
    folder.open()
    folder.role("teacher").path.write_bytes(b"\x00" * 10)
    with pytest.raises(OutputError, match="checkpoint .*teacher.npz is unreadable.*`fresh`"):
        folder.role("teacher").load()


def tiny_fit(tiny_dataset, learning_rate: float, control, extra_callbacks: tuple = ()):
    from edgekd.distill.trainer import TrainingBudget, fit, hard_label_objective
    from edgekd.models.builders import get_builder

    model = get_builder("mlp").build(tiny_dataset.input_shape, tiny_dataset.num_classes, hidden=8)
    x_fit, y_fit, x_val, y_val = tiny_dataset.validation_split(0)
    budget = TrainingBudget(steps=100, batch_size=64, learning_rate=learning_rate)
    return fit(
        model,
        x_fit,
        y_fit,
        hard_label_objective(),
        budget,
        (x_val, y_val),
        0,
        control=control,
        extra_callbacks=extra_callbacks,
    )


def test_early_stopping_stops_when_validation_stops_improving(tiny_dataset):
    from edgekd.distill.trainer import TrainingControl

    # A learning rate this small leaves the weights, and so validation accuracy, where they start.
    history = tiny_fit(tiny_dataset, 1e-12, TrainingControl(patience=2))
    assert history.stopped_early and len(history.val_accuracy) == 3 and history.best_checkpoint == 1
    assert not tiny_fit(tiny_dataset, 1e-12, TrainingControl()).stopped_early


def test_a_stopping_rule_asked_at_every_checkpoint_stops_training_with_its_reason(tiny_dataset):
    from edgekd.distill.trainer import TrainingControl

    asked = []

    def stop_when(history):
        asked.append(len(history.val_accuracy))
        return "enough" if len(history.val_accuracy) == 4 else None

    history = tiny_fit(tiny_dataset, 1e-3, TrainingControl(stop_when=stop_when))
    assert asked == [1, 2, 3, 4] and history.stopped_early and history.stop_reason == "enough"
    assert len(history.val_accuracy) == 4 and history.as_dict()["stop_reason"] == "enough"


def test_a_diverging_run_stops_naming_the_checkpoint_and_keeps_the_last_good_one(tiny_dataset, tmp_path):
    from edgekd.distill.trainer import TrainingControl
    from edgekd.frameworks import Framework, keras_module

    folder = CheckpointFolder(tmp_path / "checkpoints", {"a": 1})
    folder.open()
    with pytest.raises(EdgekdError, match=r"the loss became nan at checkpoint \d+.*lower the learning rate"):
        tiny_fit(tiny_dataset, 1e30, TrainingControl(folder, role="mlp"))

    class PoisonAtCheckpointThree(keras_module(Framework.TF_KERAS).callbacks.Callback):
        """A run that diverges late, on cue: its weights turn NaN as checkpoint 3 begins."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])

    late = folder.role("late")
    with pytest.raises(EdgekdError, match=r"nan at checkpoint 3; the last good checkpoint \(2\) is kept"):
        tiny_fit(tiny_dataset, 1e-3, TrainingControl(folder, role="late"), (PoisonAtCheckpointThree(),))
    kept = late.load()
    assert kept.completed == 2
    for array in [*kept.weights, *kept.best_weights, *kept.optimizer]:
        assert np.all(np.isfinite(array)), "the kept checkpoint holds no NaN"


def test_mirrored_strategy_replicates_over_two_logical_cpus(teacher_file, tmp_path):
    out = tmp_path / "mirrored"
    completed = run_edgekd(
        distill_args(teacher_file, out, "--strategy", "mirrored", "--method", "kd+fitnet", "--json"),
        env={"EDGEKD_CPU_DEVICES": "2"},
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["distillation"]["strategy"] == {"name": "mirrored", "replicas": 2}
    for role in ("student_kd", "student_scratch"):
        history = document["training"][role]
        assert history["replicas"] == 2
        assert history["loss"][-1] < history["loss"][0], f"{role} learned nothing under the strategy"


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.timeout(900)
def test_multiworker_strategy_trains_across_two_processes_to_the_one_worker_band(teacher_file, tmp_path):
    """Two real worker processes on 127.0.0.1, each with its TF_CONFIG, train one student in lockstep."""

    def args(out: Path, *extra: str) -> list[str]:
        return distill_args(teacher_file, out, "--epochs", "4", "--no-control", "--json", *extra)

    alone = run_edgekd(args(tmp_path / "one"))
    assert alone.returncode == 0, alone.stderr
    cluster = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    workers = []
    for index in range(2):
        config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "edgekd", *args(tmp_path / f"w{index}", "--strategy", "multiworker")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "TF_CONFIG": json.dumps(config)},
            )
        )
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    documents = [json.loads(stdout) for stdout, _ in outputs]
    one = json.loads(alone.stdout)["models"]["student_kd"]["accuracy"]
    for document in documents:
        assert document["distillation"]["strategy"] == {"name": "multiworker", "replicas": 2}
        history = document["training"]["student_kd"]
        assert history["replicas"] == 2 and history["loss"][-1] < history["loss"][0]
        assert document["models"]["student_kd"]["accuracy"] == pytest.approx(one, abs=0.05)
    # One model trained in lockstep: both workers hold the same weights.
    assert documents[0]["models"]["student_kd"]["accuracy"] == documents[1]["models"]["student_kd"]["accuracy"]


def test_depthwise_separable_student_counts_and_converts(tiny_dataset, tmp_path):
    from edgekd.models.builders import get_builder
    from edgekd.models.complexity import layer_macs
    from edgekd.quantize.stage import QuantizeSettings, convert_and_check

    student = get_builder("dsconv").build((40, 1), 10, width=1)
    depthwise = student.get_layer("block1_depthwise")
    # 8 channels, length 20 -> 10 (stride 2), kernel 3: one multiply per channel, position and tap.
    assert layer_macs(depthwise) == 8 * 10 * 3
    assert layer_macs(student.get_layer("block1_pointwise")) == 10 * 8 * 16
    image = get_builder("dsconv").build((16, 16, 1), 4, width=0.5, blocks=2)
    assert image.get_layer("block2_pointwise").filters == 16
    record = convert_and_check(
        student,
        "student_int8",
        "int8",
        tiny_dataset,
        tmp_path / "s.tflite",
        "keras",
        QuantizeSettings(representative_samples=50),
    )
    assert "LiteRT" in record.accuracy_source
    # The untrained student's int8 file predicts as its Keras model does (measured: 98.7% top-1 agreement).
    assert record.agreement_with_keras >= 0.9
    assert abs(record.tflite.accuracy_drop_points) <= 3


def test_nan_during_distillation_names_the_term(teacher_file, tiny_dataset, tmp_path):
    from edgekd.distill.distiller import DistillationSettings, distill
    from edgekd.distill.losses import make_objective
    from edgekd.distill.trainer import TrainingControl
    from edgekd.models.builders import get_builder
    from edgekd.models.io import load_model

    teacher = load_model(teacher_file)
    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes, width=1)
    folder = CheckpointFolder(tmp_path / "checkpoints", {"a": 1})
    folder.open()
    settings = DistillationSettings(2, 128, 1e30, 0, train_control=False, training=TrainingControl(folder))
    with pytest.raises(
        EdgekdError, match=r"distilling \(kd\+fitnet\): the loss became nan \(in the .*term\) at checkpoint"
    ):
        distill(teacher, student, tiny_dataset, make_objective("kd+fitnet", 10), settings)


def test_teacher_and_data_with_different_class_counts_are_refused(teacher_file, tmp_path, npz_factory):
    rng = np.random.default_rng(0)
    data = npz_factory(
        "three.npz",
        x_train=rng.standard_normal((40, 40, 1)).astype(np.float32),
        x_test=rng.standard_normal((10, 40, 1)).astype(np.float32),
    )
    args = distill_args(teacher_file, tmp_path / "out")
    args[args.index("--data") + 1] = f"npz:{data}"
    assert_clean_failure(invoke(*args), "the teacher has 10 outputs but the data has 3 classes")
    assert not (tmp_path / "out").exists()


def test_cached_teacher_logits_belong_to_their_inputs(tiny_dataset):
    from edgekd.distill.distiller import cached_targets
    from edgekd.distill.step import LABELS, TEACHER_LOGITS, ensemble_logits
    from edgekd.models.builders import get_builder
    from edgekd.models.evaluate import predict_logits
    from edgekd.progress import SILENT

    # Untrained teachers: every input still gets its own logits, which is all this checks.
    first, second = (get_builder("cnn").build(tiny_dataset.input_shape, 10) for _ in range(2))
    x = tiny_dataset.x_train[:300]
    labels = tiny_dataset.y_train[:300]
    alone = cached_targets([first], (1.0,), (), 1.0, x, labels, SILENT)
    np.testing.assert_array_equal(alone[LABELS], labels)
    np.testing.assert_allclose(alone[TEACHER_LOGITS], predict_logits(first, x), rtol=1e-5, atol=1e-5)
    both = cached_targets([first, second], (3.0, 1.0), (), 2.0, x, labels, SILENT)
    expected = ensemble_logits([predict_logits(first, x), predict_logits(second, x)], (3.0, 1.0), 2.0)
    np.testing.assert_allclose(both[TEACHER_LOGITS], np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_the_scratch_control_trains_on_the_distilled_students_budget(tiny_dataset):
    from edgekd.distill.distiller import DistillationSettings, distill
    from edgekd.distill.losses import make_objective
    from edgekd.models.builders import get_builder

    teacher = get_builder("cnn").build(tiny_dataset.input_shape, 10)
    student = get_builder("mlp").build(tiny_dataset.input_shape, 10, hidden=8)
    outcome = distill(teacher, student, tiny_dataset, make_objective("kd", 10), DistillationSettings(1, 128, 1e-3, 0))
    assert outcome.transfer_samples == 3000
    # Both train whole checkpoints: the budget's 32 steps round up to 10 checkpoints of 4.
    assert outcome.scratch_history.steps == outcome.kd_history.steps == 40 and outcome.budget.steps == 32
    assert len(outcome.scratch_history.loss) == len(outcome.kd_history.loss)
    assert outcome.student_scratch.count_params() == outcome.student_kd.count_params()


def test_area_weights_average_spans_and_let_gradients_through():
    from edgekd.distill.features import FeatureShape, area_weights, flatten_feature
    from edgekd.frameworks import tensorflow

    np.testing.assert_allclose(area_weights(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # 3 cells into 2 spans of 1.5: the middle cell is shared half and half.
    np.testing.assert_allclose(area_weights(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]], rtol=1e-6)
    tf = tensorflow()
    maps = tf.Variable(np.random.default_rng(0).random((2, 5, 5, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        pooled = flatten_feature(maps, FeatureShape.of((None, 5, 5, 3)), (2, 2))
        total = tf.reduce_sum(pooled)
    assert pooled.shape == (2, 4, 3)
    gradient = tape.gradient(total, maps)
    assert gradient is not None and float(tf.reduce_min(gradient)) > 0, "every position gets a gradient"


def test_a_savedmodel_teacher_sizes_an_auto_student_from_its_tflite_macs(teacher_file, tmp_path):
    """A SavedModel hides its layers from MAC counting; its float32 .tflite does not."""
    from edgekd.models.io import load_model
    from edgekd.native_output import captured_native_output

    folder = tmp_path / "teacher_savedmodel"
    with captured_native_output():
        load_model(teacher_file).export(str(folder))
    out = tmp_path / "kd"
    args = distill_args(folder, out, "--json", "--trust-model")  # a SavedModel is a program: opted in
    args[args.index("--student") + 1] = "auto"
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    teacher_macs = document["models"]["teacher"]["macs"]
    assert teacher_macs == 340_480 and document["models"]["student_kd"]["macs"] <= teacher_macs // 20
