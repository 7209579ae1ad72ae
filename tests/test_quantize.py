"""Conversion to TFLite, accuracy through LiteRT, and flatbuffer inspection."""

import numpy as np
import pytest

from edgekd.errors import ConfigError, ConversionError, DataError, ModelError
from edgekd.modelfile.checks import detected_mode, float_ops
from edgekd.modelfile.inspect import inspect_tflite
from edgekd.models.builders import get_builder
from edgekd.models.complexity import model_macs
from edgekd.quantize.convert import convert
from edgekd.quantize.evaluate import accuracy, predict
from edgekd.quantize.modes import QuantizeOptions, get_mode, mode_names


@pytest.fixture(scope="module")
def student_and_data(tiny_dataset):
    from edgekd.distill.trainer import TrainingBudget, fit, hard_label_objective

    student = get_builder("conv").build(tiny_dataset.input_shape, tiny_dataset.num_classes, width=1.5)
    x_fit, y_fit, x_val, y_val = tiny_dataset.validation_split(0)
    fit(student, x_fit, y_fit, hard_label_objective(), TrainingBudget(steps=300, batch_size=64), (x_val, y_val), 0)
    return student, tiny_dataset


# The least top-1 agreement with the Keras model each mode must show on the 300 test samples.
# Measured: float32 100%, float16 99.7%, dynamic 99.3%, int16x8 99.7%, int8 96.0%. The same
# conversions of the model with every weight negated agree on 0%, with every weight zeroed on
# 8%: a converter that scrambles the weights cannot reach any of these.
MIN_AGREEMENT = {"float32": 0.99, "float16": 0.98, "dynamic": 0.95, "int16x8": 0.95, "int8": 0.90}
# Float modes keep the logits themselves, up to float16 rounding (measured: 1e-6 and 0.08% of
# the logits' spread).
MAX_LOGIT_ERROR = {"float32": 1e-4, "float16": 0.01}


def test_every_mode_has_an_agreement_threshold():
    assert set(MIN_AGREEMENT) == set(mode_names())


@pytest.mark.parametrize("mode", mode_names())
def test_every_mode_converts_to_a_tflite_that_predicts_like_its_keras_model(student_and_data, mode):
    from edgekd.models.evaluate import predict_logits

    student, data = student_and_data
    tflite = convert(student, mode, data.x_train[:50])
    assert tflite[4:8] == b"TFL3"
    scores = predict(tflite, data.x_test)
    assert scores.shape == (len(data.x_test), data.num_classes)
    expected = predict_logits(student, data.x_test)
    agreement = np.mean(np.argmax(scores, axis=1) == np.argmax(expected, axis=1))
    assert agreement >= MIN_AGREEMENT[mode], f"{mode}: top-1 agreement with Keras {agreement:.1%}"
    if mode in MAX_LOGIT_ERROR:
        assert np.max(np.abs(scores - expected)) <= MAX_LOGIT_ERROR[mode] * np.std(expected)
    report = inspect_tflite(tflite)
    assert detected_mode(report) == mode
    if get_mode(mode).integer_only:
        assert float_ops(report) == []
    else:
        assert float_ops(report), "float modes compute in float"


def test_int8_with_uint8_io_and_per_tensor_weights(student_and_data):
    student, data = student_and_data
    per_channel = inspect_tflite(convert(student, "int8", data.x_train[:50]))
    tflite = convert(student, "int8", data.x_train[:50], QuantizeOptions(io_dtype="uint8", per_channel=False))
    report = inspect_tflite(tflite)
    assert report.inputs[0].dtype == "uint8" and report.outputs[0].dtype == "uint8"
    conv_weights = lambda r: [t for t in r.tensors if t.is_constant and t.dtype == "int8" and len(t.shape) == 4]  # noqa: E731
    assert all(len(t.scale) == 1 for t in conv_weights(report))
    assert any(len(t.scale) > 1 for t in conv_weights(per_channel))
    assert predict(tflite, data.x_test[:3]).shape == (3, data.num_classes)
    with pytest.raises(ConfigError, match="int8 or uint8"):
        QuantizeOptions(io_dtype="int16")


def test_int8_is_fully_integer_and_within_a_few_points_of_float(student_and_data):
    from edgekd.models.evaluate import accuracy as keras_accuracy

    student, data = student_and_data
    tflite = convert(student, "int8", data.x_train[:200])
    report = inspect_tflite(tflite)
    assert report.inputs[0].dtype == "int8" and report.outputs[0].dtype == "int8"
    assert report.inputs[0].scale and report.outputs[0].scale
    assert "float32" not in report.tensor_dtypes
    float_accuracy = keras_accuracy(student, data.x_test, data.y_test)
    int8_accuracy = accuracy(tflite, data.x_test, data.y_test)
    assert float_accuracy > 0.3, "the student should have learned something"
    assert abs(int8_accuracy - float_accuracy) <= 0.03
    assert len(tflite) < len(convert(student, "float32")) / 1.5


def test_int8_calibration_covers_every_representative_sample(student_and_data):
    student, data = student_and_data
    samples = data.x_train[:200]
    report = inspect_tflite(convert(student, "int8", samples))
    (scale,), (zero_point,) = report.inputs[0].scale, report.inputs[0].zero_point
    low, high = scale * (-128 - zero_point), scale * (127 - zero_point)
    # The input's int8 range is the samples' range, to within one quantization step: calibration
    # saw all 200 (one sample spans about half of it, and every other input would clip).
    assert low <= samples.min() + scale and high >= samples.max() - scale
    assert high - low <= samples.max() - samples.min() + 2 * scale


@pytest.mark.parametrize("input_shape", [(40, 1), (12, 12, 1)])
def test_tflite_macs_and_params_match_keras(input_shape):
    rng = np.random.default_rng(0)
    for name in ("cnn", "conv", "mlp"):
        model = get_builder(name).build(input_shape, 5)
        # Untrained biases are all zero and the converter drops zero biases; make them real.
        model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
        report = inspect_tflite(convert(model, "float32"))
        assert report.macs == model_macs(model), name
        assert report.params == pytest.approx(model.count_params(), rel=0.01), name


def test_conversion_refuses_bad_calibration_data(student_and_data):
    student, data = student_and_data
    with pytest.raises(DataError, match="empty"):
        convert(student, "int8", data.x_train[:0])
    with pytest.raises(DataError, match="shaped"):
        convert(student, "int8", np.zeros((5, 39, 1), np.float32))
    bad = data.x_train[:5].copy()
    bad[2, 3, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        convert(student, "int8", bad)
    with pytest.raises(
        ConfigError, match="unknown quantization mode 'int4'; known: dynamic, float16, float32, int16x8, int8"
    ):
        convert(student, "int4", data.x_train[:5])


def test_nan_weights_are_named_before_conversion():
    model = get_builder("mlp").build((6, 1), 3)
    weights = model.layers[-1].get_weights()
    weights[0][0, 0] = np.nan
    model.layers[-1].set_weights(weights)
    with pytest.raises(ConversionError, match="layer 'logits' has NaN"):
        convert(model, "int8", np.zeros((4, 6, 1), np.float32))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "too short"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML page"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "Git LFS pointer"),
        (b"PK\x03\x04" + b"\x00" * 40, "zip archive"),
    ],
)
def test_inspect_refuses_files_that_are_not_tflite(content, message):
    with pytest.raises(ModelError, match=message):
        inspect_tflite(content, "model.tflite")


def test_inspect_names_a_truncated_file(student_and_data):
    student, _ = student_and_data
    tflite = convert(student, "float32")
    for cut in (16, 64, len(tflite) // 2, len(tflite) - 1):
        with pytest.raises(ModelError, match=r"damaged TFLite file .*re-export it"):
            inspect_tflite(tflite[:cut], "model.tflite")


@pytest.fixture(scope="module")
def cumsum_saved_model(tmp_path_factory):
    """A SavedModel with CUMSUM, an op LiteRT has no integer kernel for: the converter leaves it float."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights_ = tf.Variable(np.random.default_rng(0).standard_normal((40, 10)).astype(np.float32) * 0.1)

        @tf.function(input_signature=[tf.TensorSpec([None, 40, 1], tf.float32)])
        def __call__(self, x):
            return tf.matmul(tf.math.cumsum(x[..., 0], axis=1), self.weights_)

    folder = tmp_path_factory.mktemp("cumsum") / "model"
    module = Model()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.__call__})
    return folder


def test_an_op_without_an_integer_kernel_is_named_and_nothing_is_written(cumsum_saved_model, tmp_path):
    from tests.conftest import TINY_DATA, assert_clean_failure, invoke

    out = tmp_path / "m.tflite"
    failed = invoke("quantize", str(cumsum_saved_model), "--data", TINY_DATA, "--out", str(out), "--trust-model")
    line = assert_clean_failure(failed, "CUMSUM (op #", "no integer kernel", "--mode dynamic", "--allow-float-ops")
    assert "nothing was written" in line
    assert not out.exists() and not out.with_suffix(".results.json").exists()
    # Asked for, a mixed file is written, and the float op is named in its record.
    mixed = invoke(
        "quantize",
        str(cumsum_saved_model),
        "--data",
        TINY_DATA,
        "--out",
        str(out),
        "--allow-float-ops",
        "--trust-model",
    )
    assert mixed.exit_code == 0, mixed.stderr
    assert "CUMSUM" in mixed.stderr
    report = inspect_tflite(out.read_bytes())
    assert [op.split(" ")[0] for op in float_ops(report)] == ["CUMSUM"]


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "3"])
def test_the_python_api_refuses_a_seed_numpy_cannot_take_before_loading_anything(
    seed, teacher_file, tmp_path, monkeypatch
):
    import edgekd
    from edgekd.models import io

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the seed was checked")

    monkeypatch.setattr(io, "load_model", never)
    with pytest.raises(ConfigError, match=r"`seed` .* 4294967295"):
        edgekd.quantize(teacher_file, data="mnist1d:samples=300", out=tmp_path / "q.tflite", seed=seed, record=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "setting, value, kind",
    [
        ("representative_samples", "10", "a whole number"),
        ("qat_epochs", 1.5, "a whole number"),
        ("max_drop", "1", "a finite number"),
        ("temperature", float("inf"), "a finite number"),
        ("strict", "no", "true or false"),
        ("mode", 8, "the name of a quantization mode"),
    ],
)
def test_settings_of_another_type_are_one_error_naming_the_setting(setting, value, kind):
    from edgekd.quantize.stage import QuantizeSettings

    with pytest.raises(ConfigError, match=f"`{setting}` .* must be {kind}"):
        QuantizeSettings(**{setting: value})
