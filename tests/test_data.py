"""Datasets: the embedded MNIST-1D, npz files, image folders, and their validation."""

import random
import re

import numpy as np
import pytest

from edgekd.data.representative import representative_samples
from edgekd.data.spec import load_dataset, parse_spec
from edgekd.errors import DataError


def test_mnist1d_is_generated_offline_deterministically_and_leaves_global_rng_alone():
    random.seed(123)
    np.random.seed(123)
    expected_py, expected_np = random.random(), np.random.random()
    random.seed(123)
    np.random.seed(123)
    first = load_dataset("mnist1d:samples=200,transfer=100,seed=3")
    assert (random.random(), np.random.random()) == (expected_py, expected_np)
    second = load_dataset("mnist1d:samples=200,transfer=100,seed=3")
    assert first.input_shape == (40, 1) and first.num_classes == 10
    assert len(first.x_train) == 160 and len(first.x_test) == 40 and len(first.x_unlabeled) == 100
    np.testing.assert_array_equal(first.x_train, second.x_train)
    # The transfer set is fresh data, not a copy of the labelled samples.
    assert not np.isin(first.x_unlabeled[:, 0, 0], first.x_train[:, 0, 0]).all()


def test_npz_with_transfer_set_loads(npz_factory):
    path = npz_factory(x_unlabeled=np.zeros((7, 12, 1), np.float32))
    dataset = load_dataset(f"npz:{path}")
    assert dataset.input_shape == (12, 1) and dataset.num_classes == 3 and len(dataset.x_unlabeled) == 7


def test_npz_two_dimensional_signals_gain_a_channel(npz_factory):
    rng = np.random.default_rng(1)
    path = npz_factory(x_train=rng.standard_normal((40, 12)), x_test=rng.standard_normal((10, 12)))
    assert load_dataset(f"npz:{path}").input_shape == (12, 1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, "lacks array(s) y_test"),
        ({"y_train": np.zeros(39, np.int64)}, "x_train has 40 samples but y_train has 39"),
        ({"y_train": np.full(40, -1)}, "outside 0..2"),
        ({"class_names": np.array(["a", "b"])}, "outside 0..1"),
        ({"x_train": np.full((40, 12, 1), np.nan, np.float32)}, "NaN or Inf"),
        ({"x_test": np.zeros((10, 13, 1), np.float32)}, "share one input shape"),
        ({"y_train": np.eye(3)[np.zeros(40, int)]}, "one-hot"),
        ({"x_train": np.zeros((0, 12, 1), np.float32), "y_train": np.zeros(0, np.int64)}, "empty"),
        ({"x_unlabeled": np.zeros((0, 12, 1), np.float32)}, "x_unlabeled is empty"),
    ],
)
def test_bad_npz_is_refused_with_the_reason(npz_factory, overrides, message):
    path = npz_factory(**overrides)
    with pytest.raises(DataError, match=re.escape(message)):
        load_dataset(f"npz:{path}")


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_text("not numpy")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset(f"npz:{path}")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty DATA spec"),
        ("csv:data.csv", "unknown DATA scheme 'csv'.*known: images, mnist1d, npz"),
        ("npz", "needs a path"),
        ("npz:/does/not/exist.npz", "does not exist"),
        ("mnist1d:samples", "cannot parse option"),
        ("mnist1d:size=3", "unknown mnist1d option"),
        ("mnist1d:samples=ten", "not a whole number"),
        ("images:/does/not/exist", "does not exist"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_dataset(spec)


def test_parse_spec_keeps_paths_with_colons():
    assert parse_spec("npz:C:/data/a.npz").argument == "C:/data/a.npz"


def test_image_folders_load_as_2d_inputs(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            pixels = (rng.random((8, 6)) * 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / label / f"{i}.png")
    dataset = load_dataset(f"images:{tmp_path}")
    assert dataset.input_shape == (8, 6, 1)
    assert dataset.class_names == ("cat", "dog")
    assert len(dataset.x_train) + len(dataset.x_test) == 10
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0


def test_unreadable_image_is_named(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(2):
            (tmp_path / label / f"{i}.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read image"):
        load_dataset(f"images:{tmp_path}")


def test_representative_samples_come_from_training_data_and_refuse_bad_input():
    x = np.arange(50, dtype=np.float32).reshape(10, 5, 1)
    chosen = representative_samples(x, 4, seed=1)
    assert chosen.shape == (4, 5, 1)
    assert all(any(np.array_equal(c, row) for row in x) for c in chosen)
    with pytest.raises(DataError, match="empty"):
        representative_samples(x[:0], 4)
    with pytest.raises(DataError, match="NaN"):
        representative_samples(np.full((3, 2), np.inf, np.float32), 2)
