"""Builders, MAC counting (Keras against TFLite), safe loading."""

import os
import zipfile

import numpy as np
import pytest

from edgekd.errors import ModelError
from edgekd.frameworks import Framework, framework_of
from edgekd.models.builders import builder_names, get_builder
from edgekd.models.complexity import model_macs, model_params
from edgekd.models.io import load_model, save_model
from edgekd.models.students import resolve_student


def test_mac_count_by_hand_for_a_tiny_conv1d_model():
    model = get_builder("conv").build((40, 1), 10, width=1.0)
    # conv 8 filters k5 stride 2 -> (20, 8): 20*8*5*1 ; conv 16 k3 stride 2 -> (10, 16): 10*16*3*8 ; dense 160 -> 10
    assert model_macs(model) == 20 * 8 * 5 + 10 * 16 * 3 * 8 + 160 * 10
    assert model_params(model) == (5 * 8 + 8) + (3 * 8 * 16 + 16) + (160 * 10 + 10)


@pytest.mark.parametrize("name", builder_names())
@pytest.mark.parametrize("input_shape", [(40, 1), (12, 10, 3)])
def test_every_builder_adapts_to_1d_and_2d_inputs(name, input_shape):
    builder = get_builder(name)
    model = builder.build(input_shape, 4)
    assert tuple(model.input_shape[1:]) == input_shape
    assert model.output_shape[-1] == 4
    assert framework_of(model) is builder.framework
    assert model_macs(model) > 0


def test_students_are_tf_keras_and_teachers_keras3():
    assert get_builder("conv").framework is Framework.TF_KERAS
    assert get_builder("cnn").framework is Framework.KERAS3


@pytest.mark.parametrize("input_shape", [(40, 1), (16, 16, 1)])
def test_auto_student_fits_one_twentieth_of_the_teacher(input_shape):
    from edgekd.models.sizing import SizeBudget, auto_student

    teacher = get_builder("cnn").build(input_shape, 10)
    budget = model_macs(teacher) // 20
    sized = auto_student(input_shape, 10, SizeBudget(budget))
    assert model_macs(sized.model) == sized.macs <= budget
    # The largest that fits: one width step bigger would not.
    options = dict(sized.options, width=sized.options["width"] * 2 ** (1 / 8) * 1.001)
    bigger = get_builder(sized.builder).build(input_shape, 10, **options)
    assert model_macs(bigger) > budget


def test_student_spec_forms():
    model, description = resolve_student("mlp:hidden=16", (40, 1), 10, 10**6, 0.05)
    assert description["builder"] == "mlp" and model.layers[-2].units == 16
    with pytest.raises(ModelError, match="unknown model builder 'transformer'"):
        resolve_student("transformer", (40, 1), 10, 10**6, 0.05)
    with pytest.raises(ModelError, match="unknown option"):
        resolve_student("conv:depth=3", (40, 1), 10, 10**6, 0.05)
    with pytest.raises(ModelError, match="builds teachers"):
        resolve_student("cnn", (40, 1), 10, 10**6, 0.05)
    with pytest.raises(ModelError, match="budget of 5 MACs .* is too small .* the smallest 'conv' student"):
        resolve_student("auto", (40, 1), 10, 100, 0.05)


def test_teacher_round_trips_in_safe_mode(teacher_file):
    model = load_model(teacher_file)
    assert framework_of(model) is Framework.KERAS3
    assert tuple(model.input_shape[1:]) == (40, 1)


def test_tf_keras_student_round_trips(tmp_path):
    student = get_builder("conv").build((40, 1), 10)
    path = tmp_path / "student.keras"
    save_model(student, path)
    assert framework_of(load_model(path)) is Framework.TF_KERAS


def test_lambda_layer_is_refused_without_trust(tmp_path):
    from edgekd.frameworks import user_keras

    keras = user_keras()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ModelError, match="trust_model"):
        load_model(path)
    trusted = load_model(path, trust=True)
    # Trusted, the Lambda layer runs: it doubles its input.
    np.testing.assert_allclose(trusted.predict(np.array([[1.0, -2.0, 0.5, 3.0]]), verbose=0), [[2.0, -4.0, 1.0, 6.0]])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a zip archive"),
        (b"<!doctype html><html>404</html>", "not a zip archive"),
        (None, "not a Keras model"),
    ],
)
def test_files_that_are_not_keras_models(tmp_path, content, message):
    path = tmp_path / "model.keras"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_truncated_keras_file(tmp_path, teacher_file):
    path = tmp_path / "cut.keras"
    path.write_bytes(teacher_file.read_bytes()[:2000])
    with pytest.raises(
        ModelError, match=r"cut.keras is not a Keras .keras file \(not a zip archive\); it may be truncated"
    ):
        load_model(path)


def test_missing_and_legacy_files(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.keras")
    legacy = tmp_path / "old.h5"
    legacy.write_bytes(b"\x89HDF\r\n")
    with pytest.raises(ModelError, match="legacy HDF5"):
        load_model(legacy)


def test_savedmodel_teacher_loads_and_predicts_like_the_original(tmp_path, teacher_file):
    import numpy as np

    from edgekd.models.evaluate import predict_logits
    from edgekd.native_output import captured_native_output

    original = load_model(teacher_file)
    folder = tmp_path / "teacher_savedmodel"
    with captured_native_output():
        original.export(str(folder))
    with pytest.raises(ModelError, match="SavedModel, whose graphs run TensorFlow ops"):
        load_model(folder)  # a SavedModel is a program, with no safe mode: the user opts in
    loaded = load_model(folder, trust=True)
    x = np.random.default_rng(0).standard_normal((5, 40, 1)).astype(np.float32)
    np.testing.assert_allclose(predict_logits(loaded, x), predict_logits(original, x), rtol=1e-4, atol=1e-5)
    assert tuple(loaded.input_shape[1:]) == (40, 1)


def test_folder_that_is_not_a_savedmodel(tmp_path):
    with pytest.raises(ModelError, match="not a SavedModel"):
        load_model(tmp_path)


@pytest.mark.timeout(120)
def test_a_savedmodel_folder_with_a_pipe_inside_is_refused_before_tensorflow_reads_it(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    (tmp_path / "variables").mkdir()
    os.mkfifo(tmp_path / "variables" / "variables.data-00000-of-00001")
    with pytest.raises(ModelError, match=r"variables\.data-00000-of-00001 in SavedModel .* named pipe"):
        load_model(tmp_path)


@pytest.mark.timeout(120)
def test_a_keras_file_that_is_a_pipe_is_refused(tmp_path):
    for name in ("pipe.keras", "pipe.h5"):
        os.mkfifo(tmp_path / name)
        with pytest.raises(ModelError, match="named pipe"):
            load_model(tmp_path / name, trust=True)


def test_a_keras_archive_is_checked_member_by_member_before_keras_reads_it(tmp_path, teacher_file):
    from edgekd.models.io import KERAS_MEMBER_LIMITS

    limit = KERAS_MEMBER_LIMITS["config.json"][0]
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.10.0"}')
        with archive.open("config.json", "w", force_zip64=True) as member:
            for _ in range(limit // (1 << 20) + 1):
                member.write(b" " * (1 << 20))
    assert bomb.stat().st_size < limit // 500
    with pytest.raises(ModelError, match=r"config\.json inflates to 65\.0 MiB .* more than the 64\.0 MiB allowed"):
        load_model(bomb)
    # A real model is far inside the limits.
    assert load_model(teacher_file) is not None


@pytest.mark.parametrize("metadata", [b"[1, 2]", b"\xff\xfe not utf-8"], ids=["a list", "not UTF-8"])
def test_a_keras_file_whose_metadata_is_not_a_mapping_is_refused(tmp_path, metadata):
    path = tmp_path / "odd.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", metadata)
    with pytest.raises(ModelError, match="metadata.json|cannot read"):
        load_model(path)


@pytest.mark.parametrize(
    "spec", ["conv:width=nan", "conv:width=-1", "mlp:hidden=inf", "conv:width=1e9", "dsconv:blocks=0"]
)
def test_absurd_builder_sizes_are_refused_before_keras_allocates_them(spec):
    with pytest.raises(ModelError, match=r"option \w+=\S+ of builder '\w+' must be from .* either side of its default"):
        resolve_student(spec, (40, 1), 10, 10**9, 0.05)


def test_predictions_on_arrays_match_keras_predict_for_both_kerases_and_several_outputs():
    """``predict`` calls the model's compiled forward pass a batch at a time; Keras' own predict gives the same."""
    import keras
    import tf_keras

    from edgekd.models.evaluate import predict

    x = np.random.default_rng(0).normal(size=(37, 6)).astype(np.float32)
    for framework in (keras, tf_keras):
        inputs = framework.Input((6,))
        hidden = framework.layers.Dense(4, activation="relu")(inputs)
        single = framework.Model(inputs, framework.layers.Dense(3)(hidden))
        both = framework.Model(inputs, [single.output, hidden])
        # 37 samples in batches of 16: two full batches and a smaller last one.
        np.testing.assert_allclose(predict(single, x, batch_size=16), single.predict(x, verbose=0), rtol=1e-6)
        logits, features = predict(both, x, batch_size=16)
        expected = both.predict(x, verbose=0)
        np.testing.assert_allclose(logits, expected[0], rtol=1e-6)
        np.testing.assert_allclose(features, expected[1], rtol=1e-6)
        # The forward pass reads the weights the model has now.
        single.set_weights([np.zeros_like(w) for w in single.get_weights()])
        assert not predict(single, x).any()
