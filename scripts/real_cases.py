"""Data and teachers edgekd was not tuned on, built from what packages ship (no downloads).

- spoken keywords synthesised offline with Debian's espeak-ng (``apt-get install espeak-ng``):
  the ten Speech Commands words (Warden 2018) said by many speakers (an accent, a voice
  variant, a pitch and a speed each) at a random place in a 1 s clip with background noise;
  the test split's speakers use voice variants no training speaker has (held-out speakers);
- natural photographs that scikit-image and scikit-learn ship (astronaut, coffee, chelsea,
  rocket, china, flower, and the brick, grass and gravel textures), one class per photograph,
  as 32×32 patches: training patches from the left 60% of each photograph, test patches from
  its right 30% (held-out regions);
- printed digits in every typeface the installed fonts draw (Debian's font packages, ``FONTS``),
  each split's typeface families held out from the others' (held-out writers, for print);
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
# Speech Commands' ten keywords (Warden 2018, "Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition").
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc")
SPEECH_RATE = 22050  # espeak-ng's own rate
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower", "brick", "grass", "gravel")
# Copies of each training scan in the transfer set, each shifted by up to a pixel with noise.
TRANSFER_COPIES = 8
# Debian's font packages the typefaces case draws digits with (with fonts-dejavu-core, often installed).
FONTS = (
    "fonts-urw-base35",
    "fonts-liberation",
    "fonts-freefont-ttf",
    "fonts-texgyre",
    "fonts-crosextra-carlito",
    "fonts-crosextra-caladea",
    "fonts-lato",
    "fonts-open-sans",
    "fonts-noto-core",
)


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


def _espeak() -> str:
    import shutil

    found = shutil.which("espeak-ng")
    if found is None:
        raise SystemExit("the speech case needs espeak-ng: apt-get install espeak-ng")
    return found


def _espeak_variants() -> list[str]:
    import subprocess

    listing = subprocess.run([_espeak(), "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[3] for line in listing.splitlines()[1:] if len(line.split()) >= 4)


def _say(word: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    """One word from espeak-ng as float samples at ``SPEECH_RATE``, leading and trailing silence trimmed."""
    import io
    import subprocess
    import wave

    wav = subprocess.run(
        [_espeak(), "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", word],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as clip:
        samples = np.frombuffer(clip.readframes(clip.getnframes()), np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def _write_wav(path: Path, samples: np.ndarray) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(SPEECH_RATE)
        clip.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def write_speech(
    folder: Path, train_speakers: int = 150, test_speakers: int = 50, seed: int = 0, val_speakers: int = 0
) -> Path:
    """Keyword clips as ``folder/train`` and ``folder/test`` (one sub-folder per word); test speakers held out.

    A speaker is an accent, a voice variant, a pitch (20-80) and a speed (120-200 words a
    minute); the variants are split in two, so no test speaker's voice is heard in training.
    Each clip places the word at a random point of 1 s, at a random level, over white noise
    at 5-25 dB SNR. With ``val_speakers``, ``folder/val`` holds speakers with the test's
    held-out voices (other speakers than the test's): a validation split like deployment.
    The training and test clips are the same with or without it.
    """
    rng = np.random.default_rng(seed)
    variants = list(rng.permutation(_espeak_variants()))
    held_out = set(variants[: len(variants) // 3])
    splits = [("train", train_speakers, rng), ("test", test_speakers, rng)]
    if val_speakers:
        splits.append(("val", val_speakers, np.random.default_rng(seed + 1)))
    for split, count, rng in splits:
        pool = [v for v in variants if (v in held_out) == (split != "train")]
        for speaker in range(count):
            voice = f"{rng.choice(ACCENTS)}+{rng.choice(pool)}"
            pitch, speed = int(rng.integers(20, 81)), int(rng.integers(120, 201))
            for word in KEYWORDS:
                spoken = _say(word, voice, pitch, speed)[:SPEECH_RATE]
                clip = np.zeros(SPEECH_RATE, np.float32)
                start = int(rng.integers(0, SPEECH_RATE - len(spoken) + 1))
                clip[start : start + len(spoken)] = spoken / max(np.abs(spoken).max(), 1e-6) * rng.uniform(0.3, 0.9)
                signal_power = np.mean(clip[start : start + len(spoken)] ** 2)
                noise_power = signal_power / 10 ** (rng.uniform(5, 25) / 10)
                clip += rng.normal(0, np.sqrt(noise_power), SPEECH_RATE).astype(np.float32)
                _write_wav(folder / split / word / f"{speaker:03d}.wav", clip)
    return folder


def _photograph(name: str) -> np.ndarray:
    """A photograph a package ships, as RGB uint8."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    image = getattr(skimage.data, name)()
    return np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]


def write_photo_patches(
    folder: Path, train_per_class: int = 250, test_per_class: int = 60, size: int = 32, seed: int = 0, val: bool = False
) -> Path:
    """32×32 patches of each photograph (resized to 256 px wide) as ``folder/train`` and ``folder/test`` PNGs.

    Training patches come from the left 60% of each photograph and test patches from its right
    30%: the test split shows regions no training patch overlaps (a shift a validation split
    held out from training cannot see). With ``val``, training patches come from the left 50%
    only, and ``folder/val`` holds as many patches as the test from the band between (50-70%
    of the width, overlapping neither): a validation split like deployment.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in PHOTOS:
        image = Image.fromarray(_photograph(name))
        width = 256
        image = np.asarray(image.resize((width, round(image.height * width / image.width)), Image.BILINEAR))
        height = image.shape[0]
        train_end = int((0.5 if val else 0.6) * width)
        bands = [
            ("train", train_per_class, (0, train_end - size), rng),
            ("test", test_per_class, (int(0.7 * width), width - size), rng),
        ]
        if val:
            bands.append(("val", test_per_class, (train_end, int(0.7 * width) - size), rng))
        for split, count, (low, high), rng in bands:
            target = folder / split / name
            target.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                x, y = int(rng.integers(low, high + 1)), int(rng.integers(0, height - size + 1))
                Image.fromarray(image[y : y + size, x : x + size]).save(target / f"{index:04d}.png")
    return folder


def _digit_fonts() -> list[tuple[str, Path]]:
    """(family, file) of every installed font that draws the ten digits, one file per distinct set of digit shapes."""
    import hashlib
    import shutil
    import subprocess

    from PIL import Image, ImageDraw, ImageFont

    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise SystemExit("the typefaces case needs fontconfig and fonts: apt-get install fontconfig " + " ".join(FONTS))
    listing = subprocess.run(
        [fc_list, ":charset=30-39", "family", "file"], capture_output=True, text=True, check=True
    ).stdout
    seen, fonts = set(), []
    for line in sorted(listing.splitlines()):
        file, _, family = line.partition(": ")
        if not file.endswith((".ttf", ".otf", ".t1", ".pfb")):
            continue
        try:
            font = ImageFont.truetype(file, 24)
        except OSError:
            continue
        canvas = Image.new("L", (320, 40))
        ImageDraw.Draw(canvas).text((4, 4), "0123456789", fill=255, font=font)
        shapes = hashlib.sha256(canvas.tobytes()).hexdigest()
        if shapes not in seen and canvas.getbbox() is not None:
            seen.add(shapes)
            fonts.append((family.split(",")[0].strip(), Path(file)))
    return fonts


def _render_digit(digit: int, font_file: Path, rng: np.random.Generator, size: int) -> np.ndarray:
    """One printed digit, RGB uint8: a random size, place, slant, stroke, colours, blur and noise."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    scale = 4  # draw large, then shrink: smooth edges at any size
    canvas_size = size * scale
    background = rng.integers(0, 256, 3)
    foreground = rng.integers(0, 256, 3)
    while abs(int(foreground.mean()) - int(background.mean())) < 80:
        foreground = rng.integers(0, 256, 3)
    font = ImageFont.truetype(str(font_file), int(canvas_size * rng.uniform(0.55, 0.85)))
    image = Image.new("RGB", (canvas_size, canvas_size), tuple(int(v) for v in background))
    centre = canvas_size / 2 + rng.uniform(-0.12, 0.12, 2) * canvas_size
    ImageDraw.Draw(image).text(
        tuple(centre),
        str(digit),
        fill=tuple(int(v) for v in foreground),
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(0, 2)) * scale,
        stroke_fill=tuple(int(v) for v in foreground),
    )
    image = image.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR, fillcolor=tuple(int(v) for v in background))
    image = image.resize((size, size), Image.BILINEAR).filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    pixels = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, 12), (size, size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def write_typeface_digits(
    folder: Path, train: int = 3000, val: int = 600, test: int = 600, size: int = 32, seed: int = 0
) -> Path:
    """Printed digits as ``folder/train``, ``folder/val`` and ``folder/test`` PNGs; each split's typefaces held out.

    Every installed font that draws the ten digits (fontconfig; duplicates of the same digit
    shapes dropped) belongs to one split by its family: 60% of the families train, 20%
    validate and 20% test, so the validation and test digits come from typefaces no training
    image uses (held-out writers, for print). Each image draws one digit at a random size,
    place and slant, with or without a bolder stroke, in random colours with blur and noise.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    fonts = _digit_fonts()
    families = list(rng.permutation(sorted({family for family, _ in fonts})))
    cut = [int(0.6 * len(families)), int(0.8 * len(families))]
    split_of = {
        family: ("train" if i < cut[0] else "val" if i < cut[1] else "test") for i, family in enumerate(families)
    }
    for split, count in (("train", train), ("val", val), ("test", test)):
        files = [file for family, file in fonts if split_of[family] == split]
        for index in range(count):
            digit = index % 10
            pixels = _render_digit(digit, files[int(rng.integers(len(files)))], rng, size)
            target = folder / split / str(digit)
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(target / f"{index:05d}.png")
    return folder
