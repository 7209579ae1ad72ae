"""Quantization-aware training (TFMOT, tf_keras), with and without distillation from the teacher."""

import json
import os

from tests.conftest import TINY_DATA, assert_clean_failure, invoke, quantize_student


def test_tfmot_import_does_not_switch_keras_for_the_process():
    from edgekd.quantize.qat import tfmot

    before = os.environ.get("TF_USE_LEGACY_KERAS")
    assert tfmot().quantization.keras.quantize_model
    assert os.environ.get("TF_USE_LEGACY_KERAS") == before


def test_qat_with_distillation_produces_a_full_int8_model(pipeline_run, tmp_path):
    out, _ = pipeline_run
    target = tmp_path / "qat.tflite"
    result = quantize_student(
        pipeline_run,
        "--mode",
        "qat",
        "--teacher",
        str(out / "teacher.keras"),
        "--qat-epochs",
        "1",
        "--out",
        str(target),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    record = document["models"]["qat"]
    assert record["mode"] == "qat" and record["detected_mode"] == "int8" and record["float_ops"] == []
    assert record["qat"]["distillation"]["method"] == "kd" and record["qat"]["teacher"].endswith("teacher.keras")
    assert record["agreement_with_keras"] > 0.9
    assert document["training"]["qat"]["steps"] > 0
    assert target.is_file()


def test_qat_without_a_teacher_trains_on_labels(pipeline_run, tiny_dataset, tmp_path):
    from edgekd.models.evaluate import accuracy
    from edgekd.models.io import load_model

    out, _ = pipeline_run
    result = quantize_student(
        pipeline_run,
        "--mode",
        "qat",
        "--qat-epochs",
        "1",
        "--out",
        str(tmp_path / "q.tflite"),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)["models"]["q"]
    assert record["qat"]["teacher"] is None and record["qat"]["distillation"] is None
    assert record["detected_mode"] == "int8" and record["float_ops"] == [] and record["agreement_with_keras"] >= 0.95
    # One epoch of QAT on labels keeps what the float student knew (measured: 76.3% against its
    # Keras accuracy on the same test split); 5 points allow for the fine-tuning's noise.
    float_accuracy = accuracy(load_model(out / "student_kd.keras"), tiny_dataset.x_test, tiny_dataset.y_test)
    assert record["accuracy"] >= float_accuracy - 0.05


def test_qat_refuses_keras3_models_with_the_reason(teacher_file, tmp_path):
    result = invoke(
        "quantize", str(teacher_file), "--data", TINY_DATA, "--mode", "qat", "--out", str(tmp_path / "q.tflite")
    )
    assert_clean_failure(result, "needs a tf_keras model", "Keras 3")
    assert not (tmp_path / "q.tflite").exists()


def test_teacher_only_goes_with_qat(pipeline_run, tmp_path):
    out, _ = pipeline_run
    result = quantize_student(
        pipeline_run,
        "--teacher",
        str(out / "teacher.keras"),
        "--out",
        str(tmp_path / "q.tflite"),
    )
    assert_clean_failure(result, "--teacher is for --mode qat")
