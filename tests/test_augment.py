"""Each augmentation does what its description says: the shift is a roll, mixup mixes pairs, noise has its spread.

The batches are built so that the transformation can be read back from the output: distinct
values to find a roll, one-hot rows to find mixup's weights and partners.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekd.distill.augment import augment, augmentation_names, parse_augmentations


@pytest.fixture
def tf():
    from edgekd.frameworks import tensorflow

    module = tensorflow()
    module.random.set_seed(0)
    return module


def apply(tf, name: str, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (augmentation,) = parse_augmentations([name])
    out, new_labels = augmentation.apply(tf.constant(x), tf.constant(labels), tf.constant([1, 2], tf.int64))
    return np.asarray(out), np.asarray(new_labels)


def roll_of(sample: np.ndarray, shifted: np.ndarray, limit: int) -> int:
    """The offset k within +-limit for which ``shifted`` is ``sample`` rolled by k; fails if there is none."""
    matches = [k for k in range(-limit, limit + 1) if np.array_equal(np.roll(sample, k, axis=0), shifted)]
    assert len(matches) == 1, f"not a roll by at most {limit}"
    return matches[0]


def test_the_registry_lists_every_augmentation():
    assert augmentation_names() == [
        "colour", "crop", "flip", "freq_mask", "mixup", "noise", "shift", "time_mask", "time_shift",
    ]  # fmt: skip


def test_audio_augmentations_leave_the_coefficient_axis_alone(tf):
    # 64 clips of 49 frames x 10 coefficients with distinct values (none equal to a mean), so a moved value can be traced.
    x = np.random.default_rng(0).normal(size=(64, 49, 10, 1)).astype(np.float32)
    shifted, _ = apply(tf, "time_shift", x, np.zeros(64, np.int64))
    for sample, out in zip(x, shifted, strict=True):
        # Every coefficient stays in its column: the sample rolled along frames alone (10% of 49: up to 4).
        assert any(np.array_equal(np.roll(sample, k, axis=0), out) for k in range(-4, 5))
    masked, _ = apply(tf, "time_mask", x, np.zeros(64, np.int64))
    for sample, out in zip(x, masked, strict=True):
        frames = np.flatnonzero(np.any(out != sample, axis=(1, 2)))
        # One band of whole frames, at most a fifth of them (9), each set to the coefficients' means over time.
        assert len(frames) <= 9 and (not len(frames) or np.ptp(frames) == len(frames) - 1)
        np.testing.assert_allclose(
            out[frames], np.broadcast_to(sample.mean(axis=0), out[frames].shape), rtol=1e-5, atol=1e-6
        )
    masked, _ = apply(tf, "freq_mask", x, np.zeros(64, np.int64))
    widths = set()
    for sample, out in zip(x, masked, strict=True):
        columns = np.flatnonzero(np.any(out != sample, axis=(0, 2)))
        widths.add(len(columns))
        # A band of at most 2 coefficients, each replaced by its own mean over time: nothing moved between columns.
        assert len(columns) <= 2
        np.testing.assert_allclose(
            out[:, columns], np.broadcast_to(sample[:, columns].mean(axis=0), (49, len(columns), 1)), atol=1e-6
        )
    assert widths == {0, 1, 2}


def test_an_augmentation_the_data_does_not_suit_is_refused():
    from edgekd.distill.augment import check_modality
    from edgekd.errors import ConfigError

    with pytest.raises(ConfigError, match="'shift'.*not audio features; for these use: .*time_shift"):
        check_modality(parse_augmentations(["shift"]), "audio")
    with pytest.raises(ConfigError, match="'flip'"):
        check_modality(parse_augmentations(["flip"]), "signal")
    check_modality(parse_augmentations(["time_mask", "mixup", "noise"]), "audio")


def test_shift_rolls_each_signal_by_up_to_a_tenth_of_its_length(tf):
    # 256 signals of length 40 with distinct values: every output is its input rolled, by at most 4.
    x = np.arange(256 * 40, dtype=np.float32).reshape(256, 40, 1)
    labels = np.arange(256) % 10
    out, new_labels = apply(tf, "shift", x, labels)
    offsets = [roll_of(x[i], out[i], 4) for i in range(len(x))]
    # Uniform over -4..4: 256 draws miss one of the 9 values with probability about 1e-12.
    assert set(offsets) == set(range(-4, 5))
    np.testing.assert_array_equal(new_labels, labels)


def test_shift_rolls_an_image_along_both_axes(tf):
    x = np.arange(64 * 10 * 20, dtype=np.float32).reshape(64, 10, 20, 1)
    out, _ = apply(tf, "shift", x, np.zeros(64, np.int64))
    rows, columns = set(), set()
    for sample, shifted in zip(x, out, strict=True):
        # 10% of 10 rows is 1, of 20 columns 2.
        found = [
            (a, b)
            for a in range(-1, 2)
            for b in range(-2, 3)
            if np.array_equal(np.roll(np.roll(sample, a, axis=0), b, axis=1), shifted)
        ]
        assert len(found) == 1
        rows.add(found[0][0])
        columns.add(found[0][1])
    assert rows == {-1, 0, 1} and columns == {-2, -1, 0, 1, 2}


def test_mixup_mixes_pairs_with_uniform_weights_and_drops_the_labels(tf):
    # Sample i is the one-hot row e_i: a mixed sample w*e_i + (1-w)*e_j shows its weight and partner.
    n = 256
    x = np.eye(n, dtype=np.float32)[..., None]
    out, new_labels = apply(tf, "mixup", x, np.arange(n) % 10)
    mixed = out[..., 0]
    assert np.all(new_labels == -1), "a mixed sample belongs to no label"
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(mixed >= 0) and np.all((mixed > 1e-6).sum(axis=1) <= 2), "each sample mixes with one partner"
    own = mixed[np.arange(n), np.arange(n)]
    partners = [int(np.argmax(np.where(np.arange(n) == i, -1.0, row))) for i, row in enumerate(mixed)]
    paired = [i for i in range(n) if mixed[i, partners[i]] > 1e-6]
    assert len(paired) >= n - 8, "all but the samples shuffled onto themselves are mixed"
    assert len({partners[i] for i in paired}) == len(paired), "partners come from a permutation of the batch"
    # Beta(1, 1) is uniform on 0..1: mean 0.5, standard deviation 0.289 (256 draws stray about 0.02 and 0.01).
    weights = own[paired]
    assert abs(weights.mean() - 0.5) < 0.07 and abs(weights.std() - 0.289) < 0.05


def test_noise_adds_five_percent_of_the_batch_spread(tf):
    rng = np.random.default_rng(0)
    x = (3.0 * rng.standard_normal((256, 40, 1)) + 7.0).astype(np.float32)
    labels = np.arange(256) % 10
    out, new_labels = apply(tf, "noise", x, labels)
    added = (out - x).ravel()
    expected = 0.05 * x.std()
    # 10,240 draws: the measured spread strays about 0.7% from its value, the mean about 1% of it from zero.
    assert added.std() == pytest.approx(expected, rel=0.05)
    assert abs(added.mean()) < 0.1 * expected
    assert len(np.unique(added)) > 0.9 * added.size, "fresh noise for every value"
    np.testing.assert_array_equal(new_labels, labels)


def test_augmentations_apply_in_the_order_given(tf):
    x = np.arange(8 * 40, dtype=np.float32).reshape(8, 40, 1)
    out, labels = augment(
        tf.constant(x),
        tf.constant(np.arange(8)),
        parse_augmentations(["shift", "mixup"]),
        tf.constant([1, 2], tf.int64),
    )
    assert np.all(np.asarray(labels) == -1)
    assert not np.array_equal(np.asarray(out), x)


@pytest.mark.parametrize("name", augmentation_names())
def test_an_augmentation_is_a_function_of_its_seed_alone(tf, name):
    """Stateless draws: the same seed gives the same batch (a resumed run repeats its steps), another seed another."""
    (augmentation,) = parse_augmentations([name])
    # A batch of the first kind of data the augmentation is registered for.
    shape = {"signal": (40, 1), "image": (8, 10, 3), "audio": (49, 10, 1)}[augmentation.modalities[0]]
    x = tf.constant(np.random.default_rng(0).normal(size=(32, *shape)).astype(np.float32))
    labels = tf.constant(np.arange(32) % 10)

    def run(seed):
        return np.asarray(augmentation.apply(x, labels, tf.constant(seed, tf.int64))[0])

    np.testing.assert_array_equal(run([3, 7]), run([3, 7]))
    assert not np.array_equal(run([3, 7]), run([3, 8]))
