"""Generated image and audio folders for tests and benchmarks: real files on disk, learnable classes.

Images: each class is a shape (disc, square, horizontal bar, vertical bar, ring, cross …) of
a random colour at a random place on a noisy background, so a classifier must look at the
shape, not the colour. Audio: each class is a tone sweep in its own frequency band with
noise, at 16 kHz, 16-bit PCM, one second.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

SHAPES = ("disc", "square", "hbar", "vbar", "ring", "cross", "triangle", "dot")


def _shape_mask(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    radius = rng.uniform(0.18, 0.3) * size
    cy, cx = rng.uniform(radius, size - radius, 2)
    dy, dx = yy - cy, xx - cx
    distance = np.hypot(dy, dx)
    thick = max(1.0, radius / 3)
    masks = {
        "disc": distance <= radius,
        "square": (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85),
        "hbar": (np.abs(dy) <= thick) & (np.abs(dx) <= radius * 1.3),
        "vbar": (np.abs(dx) <= thick) & (np.abs(dy) <= radius * 1.3),
        "ring": (distance <= radius) & (distance >= radius - thick),
        "cross": ((np.abs(dy) <= thick / 1.5) | (np.abs(dx) <= thick / 1.5))
        & (np.maximum(np.abs(dx), np.abs(dy)) <= radius),
        "triangle": (dy >= -radius) & (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2),
        "dot": distance <= max(1.0, radius / 3),
    }
    return masks[shape]


def synthetic_image(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB uint8 image (size, size, 3) of ``shape`` in a random colour on a noisy background."""
    background = rng.uniform(0, 90, 3)
    image = background + rng.normal(0, 12, (size, size, 3))
    colour = rng.uniform(140, 255, 3)
    image[_shape_mask(shape, size, rng)] = colour
    return np.clip(image, 0, 255).astype(np.uint8)


def write_image_folder(
    root: Path, classes: int = 3, per_class: int = 40, size: int = 16, split: bool = False, seed: int = 0
) -> Path:
    """``root/<shape>/<i>.png`` (or ``root/train/...`` and ``root/test/...`` with ``split``); returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    layouts = {"train": per_class, "test": max(2, per_class // 4)} if split else {"": per_class}
    for sub, count in layouts.items():
        for shape in SHAPES[:classes]:
            folder = root / sub / shape
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                Image.fromarray(synthetic_image(shape, size, rng)).save(folder / f"{index:06d}.png", compress_level=1)
    return root


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """Mono 16-bit PCM WAV from float samples in [-1, 1]."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def synthetic_word(label: int, rng: np.random.Generator, rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    """A 'keyword': a tone sweep in class ``label``'s band, at a random start, loudness and pitch, with noise."""
    t = np.arange(int(rate * seconds)) / rate
    low = 300 + 450 * label * rng.uniform(0.95, 1.05)
    sweep = low + 300 * t
    tone = np.sin(2 * np.pi * np.cumsum(sweep) / rate)
    start, length = rng.uniform(0, 0.3), rng.uniform(0.4, 0.6)
    envelope = np.clip(np.minimum(t - start, start + length - t) * 20, 0, 1)
    return rng.uniform(0.3, 0.9) * tone * envelope + rng.normal(0, 0.02, len(t))


def write_audio_folder(root: Path, classes: int = 3, per_class: int = 30, rate: int = 16000, seed: int = 0) -> Path:
    """``root/word<k>/<i>.wav``: one folder per class of one-second 16-bit clips; returns root."""
    rng = np.random.default_rng(seed)
    for label in range(classes):
        folder = root / f"word{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            write_wav(folder / f"{index:05d}.wav", synthetic_word(label, rng, rate), rate)
    return root
