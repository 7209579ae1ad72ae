"""Data and teachers edgekd was not tuned on, built from what packages ship (no downloads).

- scikit-learn's bundled handwritten digits (1,797 scans, 8×8, 10 classes; Alpaydin &
  Kaynak, UCI "Optical Recognition of Handwritten Digits"), split 1,437 train / 360 test,
  as an npz with an unlabelled transfer set (shifted, noisy copies of the training scans),
  and as a folder of 32×32 RGB PNGs for ``images:DIR``;
- teachers as users bring them: a Keras 3 CNN with BatchNorm and a residual connection, and
  ``keras.applications.MobileNetV2(alpha=0.35, weights=None)`` trained from random init.

Used by ``scripts/bench_distill_real.py``; needs scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TEST_SAMPLES = 360
# Copies of each training scan in the transfer set, each shifted by up to a pixel with noise.
TRANSFER_COPIES = 8


def digits_arrays(seed: int = 0):
    """(x_train, y_train, x_test, y_test) in [0, 1], shaped (N, 8, 8, 1)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:TEST_SAMPLES], order[TEST_SAMPLES:]
    return x[train], y[train], x[test], y[test]


def write_digits_npz(path: Path, transfer: bool = True, seed: int = 0) -> Path:
    """The digits as an npz; with ``transfer``, an unlabelled set of shifted, noisy copies of the training scans."""
    x_train, y_train, x_test, y_test = digits_arrays(seed)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    if transfer:
        rng = np.random.default_rng(seed + 1)
        copies = []
        for _ in range(TRANSFER_COPIES):
            dy, dx = rng.integers(-1, 2, size=2)
            shifted = np.roll(np.roll(x_train, dy, axis=1), dx, axis=2)
            copies.append(np.clip(shifted + rng.normal(0, 0.05, shifted.shape), 0, 1).astype(np.float32))
        arrays["x_unlabeled"] = np.concatenate(copies)
    np.savez(path, **arrays)
    return path


def write_digits_images(folder: Path, size: int = 32) -> Path:
    """The 1,797 digits as RGB PNGs, one sub-folder per class (``images:DIR`` holds out 20% for testing)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        pixels = (image / 16.0 * 255).astype(np.uint8)
        target = folder / str(label)
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "L").resize((size, size), Image.BILINEAR).convert("RGB").save(
            target / f"{index:04d}.png"
        )
    return folder


def _precise_batch_norm(model, x: np.ndarray, seed: int = 0) -> None:
    """Moving statistics averaged over batches with the final weights (a user would do the same before export)."""
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    rng = np.random.default_rng(seed)
    for k in range(1, 33):
        for layer in layers:
            layer.momentum = (k - 1) / k
        model(x[rng.choice(len(x), min(128, len(x)), replace=False)], training=True)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum


def train_cnn_teacher(x: np.ndarray, y: np.ndarray, num_classes: int, path: Path, epochs: int = 40) -> Path:
    """A user's Keras 3 CNN: convolutions with BatchNorm, one residual connection, global pooling."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(x.shape[1:])
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Conv2D(32, 3, padding="same")(inputs)))
    r = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Conv2D(32, 3, padding="same")(h)))
    h = keras.layers.Add()([h, r])
    h = keras.layers.Conv2D(64, 3, strides=2, padding="same")(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    outputs = keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs, name="user_cnn")
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    _precise_batch_norm(model, x)
    model.save(path)
    return path


def train_mobilenetv2_teacher(x: np.ndarray, y: np.ndarray, num_classes: int, path: Path, epochs: int = 150) -> Path:
    """``keras.applications.MobileNetV2(alpha=0.35, weights=None)`` from random init, with random translations."""
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=x.shape[1:], alpha=0.35, weights=None, classes=num_classes)
    inputs = keras.Input(x.shape[1:])
    augmented = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(inputs)
    trainer = keras.Model(inputs, base(augmented))
    trainer.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    trainer.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    # keras.applications' BatchNorm momentum is 0.999: after a few thousand steps its moving
    # statistics still lag the weights, and the model classifies at chance in inference mode.
    _precise_batch_norm(base, x)
    base.save(path)
    return path
