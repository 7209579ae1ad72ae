"""Student families that train: BatchNorm folded away at conversion, auto sizing with floors, precise BatchNorm."""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.errors import ModelError
from edgekd.models.builders import get_builder
from edgekd.models.complexity import model_macs, model_params
from edgekd.models.sizing import MIN_CHANNELS, SizeBudget, auto_student, first_layer_channels

FAMILIES = ["mobilenet", "resnet", "dscnn"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("input_shape", [(40, 1), (16, 16, 3)])
def test_every_batchnorm_folds_into_its_convolution_in_the_int8_file(family, input_shape):
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.quantize.convert import convert

    model = get_builder(family).build(input_shape, 5)
    samples = np.random.default_rng(0).random((16, *input_shape)).astype(np.float32)
    report = inspect_tflite(convert(model, "int8", samples))
    ops = [op.op for op in report.operators]
    residual_adds = sum(type(layer).__name__ == "Add" for layer in model.layers)
    # A standalone BatchNorm would appear as MUL and ADD (scale, shift) after the convolution.
    assert not [op for op in ops if "MUL" in op or "RSQRT" in op or "BATCH" in op], ops
    assert sum("ADD" in op for op in ops) == residual_adds, ops
    assert any("CONV_2D" in op for op in ops)


def test_mlperf_tiny_reference_sizes():
    # MLPerf Tiny's ResNet-8 on 32x32x3 and DS-CNN on 49x10 MFCCs (Banbury et al. 2021): our counts.
    resnet = get_builder("resnet").build((32, 32, 3), 10)
    assert model_params(resnet) == 78_714 and model_macs(resnet) == 12_501_632
    dscnn = get_builder("dscnn").build((49, 10, 1), 12)
    assert model_macs(dscnn) == 2_656_768 and 23_000 < model_params(dscnn) < 26_000


def test_auto_sizing_keeps_the_floors_and_warns_near_them():
    budget = SizeBudget(60_000, origin="1/20 of 1.2 M")
    sized = auto_student((32, 32, 3), 10, budget)
    assert sized.builder == "mobilenet" and sized.macs <= 60_000
    assert first_layer_channels(sized.model) >= MIN_CHANNELS and sized.params > 1_000
    assert not sized.warnings
    # The old auto student for this budget had 545 parameters and stayed at chance.
    tiny = auto_student((32, 32, 3), 10, SizeBudget(5_000))
    assert tiny.macs <= 5_000 and first_layer_channels(tiny.model) >= MIN_CHANNELS
    assert tiny.warnings and "very small student" in tiny.warnings[0]
    with pytest.raises(ModelError, match=r"budget of 2,000 MACs is too small .* needs [\d,]+ MACs"):
        auto_student((32, 32, 3), 10, SizeBudget(2_000))


def test_auto_sizing_prefers_the_full_resolution_when_it_leaves_a_model_that_can_learn():
    sized = auto_student((32, 32, 3), 10, SizeBudget(600_000))
    assert sized.options["resolution"] == 1.0 and sized.macs <= 600_000
    # The largest that fits: the next width step would not.
    assert sized.options["width"] > 1.0


def test_auto_sizing_for_signals_is_the_demo_student():
    sized = auto_student((40, 1), 10, SizeBudget(17_024))
    assert sized.builder == "conv" and sized.macs == 14_530 and not sized.warnings


def test_precise_batchnorm_replaces_lagging_moving_statistics():
    from edgekd.models.batchnorm import batch_norm_layers, recalibrate

    model = get_builder("mobilenet").build((8, 8, 1), 3, width=0.5, blocks=1)
    x = np.random.default_rng(0).normal(2.0, 3.0, (512, 8, 8, 1)).astype(np.float32)
    first = batch_norm_layers(model)[0]
    first.moving_mean.assign(np.full(first.moving_mean.shape, 100.0, np.float32))
    assert recalibrate(model, x, seed=0)
    stem = model.get_layer("stem")
    import tf_keras

    activations = tf_keras.Model(model.inputs, stem.output).predict(x, verbose=0)
    expected_mean = activations.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(first.moving_mean.numpy(), expected_mean, atol=0.05 * np.abs(expected_mean).max())
    assert first.momentum == 0.99, "momentum restored"
    conv = get_builder("conv").build((40, 1), 3)
    assert not recalibrate(conv, np.zeros((4, 40, 1), np.float32)), "no BatchNorm: nothing to do"


def test_precise_batchnorm_traces_one_pass_per_model_and_lets_the_model_go():
    """Validation recalibrates at every checkpoint: one compiled pass per model, gone with the model."""
    import gc
    import weakref

    from edgekd.models.batchnorm import _PASSES, recalibrate

    model = get_builder("mobilenet").build((8, 8, 1), 3, width=0.5, blocks=1)
    x = np.random.default_rng(0).normal(0.0, 1.0, (300, 8, 8, 1)).astype(np.float32)
    for seed in range(3):
        assert recalibrate(model, x, seed=seed)
    assert _PASSES[model].experimental_get_tracing_count() == 1
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None


def test_auto_sizing_respects_a_parameter_budget_too():
    unbounded = auto_student((32, 32, 3), 10, SizeBudget(600_000))
    bounded = auto_student((32, 32, 3), 10, SizeBudget(600_000, max_params=unbounded.params // 2))
    assert bounded.params <= unbounded.params // 2 < unbounded.params and bounded.macs <= 600_000


def test_precise_batchnorm_sees_no_dropout():
    """A BatchNorm after a Dropout gets inference's statistics: dropout off while they are recomputed."""
    import tf_keras

    from edgekd.models.batchnorm import recalibrate

    inputs = tf_keras.Input((16,))
    hidden = tf_keras.layers.Dropout(0.5)(inputs)
    normalised = tf_keras.layers.BatchNormalization()(hidden)
    model = tf_keras.Model(inputs, normalised)
    x = np.random.default_rng(0).normal(0.0, 1.0, (2048, 16)).astype(np.float32)
    recalibrate(model, x, seed=0)
    variance = model.layers[-1].moving_variance.numpy()
    # With dropout at 0.5 active the variance would be about 2 (inverted dropout doubles survivors).
    np.testing.assert_allclose(variance, x.var(axis=0), rtol=0.2)
    assert model.layers[1].rate == 0.5, "the rate is restored"
