"""``audio:DIR[,features=mfcc|logmel,...]``: WAV clips, one folder per class, as keyword-spotting features.

Laid out as ``edgekd.data.folders`` describes (optional ``DIR/train`` and ``DIR/test``).
Loading reads every file's header (never its samples): a file that is not a 16-bit PCM WAV,
one shorter than its header says, or a set with mixed sample rates fails then, naming the
file. tf.data decodes the clips and computes the features with ``tf.signal`` when a stage
reads them.

The front end's defaults are MLPerf Tiny's keyword-spotting reference (mlcommons/tiny,
``benchmark/training/keyword_spotting``: the defaults in ``kws_util.py``, the ``mfcc``
branch of ``get_dataset.py``): clips padded or cut to 1000 ms, divided by their peak, a
Hann-windowed STFT of 30 ms frames every 20 ms (magnitude, FFT of the next power of two),
40 mel bins from 20 to 4,000 Hz, ``log(mel + 1e-6)`` and the first 10 MFCCs: (49, 10, 1)
at 16 kHz, the DS-CNN's input. ``features=logmel`` keeps the log-mel bins instead. Every
parameter is recorded in results.json and the model's metadata (``normalization``), so the
device can compute the same features. One difference from the reference: the peak is the
largest absolute value (the reference divides by the largest value, which a clip's negative
half can exceed).
"""

from __future__ import annotations

import math
import os
import wave
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from edgekd.data.dataset import Dataset
from edgekd.data.folders import checked_files
from edgekd.data.samples import FileStream, Source
from edgekd.data.spec import register
from edgekd.errors import DataError
from edgekd.frameworks import tensorflow
from edgekd.inputs import open_regular_file
from edgekd.progress import Reporter

SUFFIXES = {".wav"}
FEATURES = ("mfcc", "logmel")
REFERENCE = "MLPerf Tiny keyword spotting (mlcommons/tiny benchmark/training/keyword_spotting)"
# A stabilised log, as the reference: log(mel + 1e-6).
LOG_OFFSET = 1e-6
# The smallest header a PCM WAV has (RIFF 12 + fmt 24 + data 8 bytes): samples live past it.
CANONICAL_HEADER = 44


# Sample rates a WAV header may declare: from below telephone audio (8 kHz) to the highest studio
# rate (384 kHz); a header outside is damaged, and 0 Hz would divide by zero.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
# The reference's upper mel edge; above a clip's Nyquist frequency (half its rate) it is lowered to it.
DEFAULT_UPPER_HZ = 4000.0
# A clip is held whole while its features are computed: 2**24 samples is 64 MiB of float32
# (17 minutes at 16 kHz); and one clip's spectrogram at most 2**22 values (16 MiB), four
# times a 10 s clip at 48 kHz with 25 ms windows every 10 ms (1,000 frames x 1,025 bins).
MAX_CLIP_SAMPLES = 1 << 24
MAX_SPECTROGRAM_VALUES = 1 << 22


@dataclass(frozen=True)
class FrontEnd:
    """How a clip becomes features; the sample rate is the files' own (``at_rate`` checks the options against it)."""

    features: str = "mfcc"
    clip_ms: float = 1000.0
    window_ms: float = 30.0
    stride_ms: float = 20.0
    mel_bins: int = 40
    mfccs: int = 10
    lower_hz: float = 20.0
    # None: DEFAULT_UPPER_HZ, or the clips' Nyquist frequency when that is lower.
    upper_hz: float | None = None
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise DataError(f"`features` {self.features!r} is not one of {', '.join(FEATURES)}")
        for name in ("clip_ms", "window_ms", "stride_ms", "mel_bins", "mfccs", "upper_hz"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise DataError(f"`{name}` {value} must be a positive number")
        if not (math.isfinite(self.lower_hz) and 0 <= self.lower_hz < (self.upper_hz or math.inf)):
            raise DataError(f"`lower_hz` {self.lower_hz} must be from 0 to below `upper_hz` {self.upper_hz}")
        if self.features == "mfcc" and self.mfccs > self.mel_bins:
            raise DataError(f"`mfccs` {self.mfccs} cannot exceed `mel_bins` {self.mel_bins}")
        if self.window_ms > self.clip_ms:
            raise DataError(f"`window_ms` {self.window_ms} is longer than `clip_ms` {self.clip_ms}")

    def at_rate(self, rate: int, source: str) -> FrontEnd:
        """This front end for clips at ``rate`` Hz, every option checked against it (``source`` names the clips)."""
        nyquist = rate / 2
        upper = self.upper_hz if self.upper_hz is not None else min(DEFAULT_UPPER_HZ, nyquist)
        if upper > nyquist:
            raise DataError(
                f"`upper_hz` {upper:g} is above the Nyquist frequency of {source} ({nyquist:,g} Hz, half their "
                f"{rate:,} Hz): give upper_hz={nyquist:g} or less"
            )
        if self.lower_hz >= upper:
            raise DataError(
                f"`lower_hz` {self.lower_hz:g} must be below the upper mel edge, {upper:g} Hz for {source} at {rate:,} Hz"
            )
        resolved = replace(self, upper_hz=upper, sample_rate=rate)
        for name in ("stride_ms", "window_ms"):
            if resolved._samples(getattr(self, name)) < 1:
                raise DataError(
                    f"`{name}` {getattr(self, name):g} is less than one sample at {rate:,} Hz ({source}); give at "
                    f"least {1000 / rate:.4g} ms"
                )
        clip = resolved._samples(self.clip_ms)
        if clip > MAX_CLIP_SAMPLES:
            raise DataError(
                f"`clip_ms` {self.clip_ms:g} is {clip:,} samples at {rate:,} Hz, more than the {MAX_CLIP_SAMPLES:,} "
                "edgekd holds per clip; give a shorter clip_ms"
            )
        bins = resolved.fft_length // 2 + 1
        if self.mel_bins > bins:
            raise DataError(
                f"`mel_bins` {self.mel_bins:,} is more than the {bins:,} frequency bins of a {self.window_ms:g} ms "
                f"window at {rate:,} Hz (FFT of {resolved.fft_length:,}); give at most {bins:,}, or a longer window_ms"
            )
        if resolved.frames >= 1 and resolved.frames * bins > MAX_SPECTROGRAM_VALUES:
            raise DataError(
                f"one clip's spectrogram would be {resolved.frames:,} frames x {bins:,} bins, more than the "
                f"{MAX_SPECTROGRAM_VALUES:,} values edgekd computes per clip; raise stride_ms or window_ms, or "
                "shorten clip_ms"
            )
        return resolved

    @property
    def fft_length(self) -> int:
        """The FFT tf.signal.stft takes: the smallest power of two that holds a window."""
        return 1 << (self._samples(self.window_ms) - 1).bit_length()

    def _samples(self, ms: float) -> int:
        return int(self.sample_rate * ms / 1000)

    @property
    def frames(self) -> int:
        return 1 + (self._samples(self.clip_ms) - self._samples(self.window_ms)) // self._samples(self.stride_ms)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.frames, self.mfccs if self.features == "mfcc" else self.mel_bins, 1)

    def apply(self, waveform):
        """``waveform``: mono float32 samples in [-1, 1] at ``sample_rate``."""
        tf = tensorflow()
        desired = self._samples(self.clip_ms)
        clip = tf.pad(waveform[:desired], [[0, tf.maximum(0, desired - tf.shape(waveform)[0])]])
        clip = clip / tf.maximum(tf.reduce_max(tf.abs(clip)), 1e-9)
        stft = tf.signal.stft(
            clip,
            frame_length=self._samples(self.window_ms),
            frame_step=self._samples(self.stride_ms),
            window_fn=tf.signal.hann_window,
        )
        spectrogram = tf.abs(stft)
        weights = tf.signal.linear_to_mel_weight_matrix(
            self.mel_bins, int(spectrogram.shape[-1]), self.sample_rate, self.lower_hz, self.upper_hz
        )
        log_mel = tf.math.log(tf.tensordot(spectrogram, weights, 1) + LOG_OFFSET)
        if self.features == "mfcc":
            log_mel = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., : self.mfccs]
        return tf.ensure_shape(tf.reshape(log_mel, self.sample_shape), self.sample_shape)

    def describe(self) -> dict:
        front_end = asdict(self) | {"window": "hann", "log_offset": LOG_OFFSET, "peak_normalized": True}
        return {
            "audio_features": self.features,
            "normalization": {
                "note": f"{self.features} features of each clip ({self.sample_shape[0]} frames), computed with "
                f"tf.signal as {REFERENCE}",
                "front_end": front_end,
            },
        }


def _decode(contents):
    tf = tensorflow()
    audio, _ = tf.audio.decode_wav(contents)
    return tf.reduce_mean(audio, axis=-1)


WAV_SOURCE = Source("WAV file", _decode)

_NUMBERS = {"clip_ms", "window_ms", "stride_ms", "lower_hz", "upper_hz"}
_COUNTS = {"mel_bins", "mfccs"}
OPTIONS = ("features", *sorted(_NUMBERS | _COUNTS))


def check_options(options: dict[str, str]) -> FrontEnd:
    """The front end the options describe (16 kHz until the files say otherwise)."""
    values: dict = {}
    for key, text in options.items():
        if key == "features":
            values[key] = text
            continue
        try:
            values[key] = int(text) if key in _COUNTS else float(text)
        except ValueError:
            kind = "a whole number" if key in _COUNTS else "a number"
            raise DataError(f"audio option {key}={text!r} is not {kind}") from None
    return FrontEnd(**values)


@register(
    "audio",
    "audio:DIR[,features=mfcc|logmel,clip_ms=,window_ms=,stride_ms=,mel_bins=,mfccs=,lower_hz=,upper_hz=] "
    "(WAV clips, one sub-folder per class)",
    options=OPTIONS,
    check_options=check_options,
)
def load_audio(argument: str, options: dict[str, str], reporter: Reporter) -> Dataset:
    root = Path(argument)
    front_end = check_options(options)
    files, (rate, _) = checked_files(root, SUFFIXES, "WAV files", reporter, _check_clip)
    front_end = front_end.at_rate(rate, f"the clips in {root}")
    if front_end.frames < 1:
        raise DataError(f"{root}: clips of {front_end.clip_ms:g} ms hold no {front_end.window_ms:g} ms window")
    x_train, y_train = files.paths_and_labels("train")
    x_test, y_test = files.paths_and_labels("test")
    x_val, y_val = files.paths_and_labels("val") if files.val is not None else (None, None)
    return Dataset(
        name=root.name,
        x_train=FileStream(x_train, WAV_SOURCE, front_end),
        y_train=y_train,
        x_test=FileStream(x_test, WAV_SOURCE, front_end),
        y_test=y_test,
        num_classes=len(files.class_names),
        class_names=files.class_names,
        description={"source": str(root), "sample_rate": rate, **front_end.describe()},
        x_val=FileStream(x_val, WAV_SOURCE, front_end) if x_val is not None else None,
        y_val=y_val,
    )


def _check_clip(path: Path, first: tuple[int, Path] | None) -> tuple[int, Path]:
    """A clip's header: 16-bit PCM, as long as the file holds, at the first clip's rate; returns (rate, path)."""
    with open_regular_file(path, "WAV file", DataError) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            with wave.open(handle) as clip:
                rate, width = clip.getframerate(), clip.getsampwidth()
                frames, channels = clip.getnframes(), clip.getnchannels()
        except (wave.Error, EOFError, OSError, RuntimeError, ValueError) as exc:
            # The wave module raises a bare RuntimeError or EOFError for some damaged chunk sizes.
            reason = str(exc) or f"its header is damaged ({type(exc).__name__})"
            raise DataError(f"cannot read WAV file {path}: {reason}; remove or replace it") from None
    if width != 2:
        raise DataError(f"WAV file {path} holds {8 * width}-bit samples; edgekd reads 16-bit PCM: convert it")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DataError(
            f"WAV file {path} declares {rate:,} Hz; edgekd reads clips from {MIN_SAMPLE_RATE:,} to "
            f"{MAX_SAMPLE_RATE:,} Hz: the header is damaged, or the clip needs resampling"
        )
    if frames * width * channels > size - CANONICAL_HEADER:
        raise DataError(
            f"WAV file {path} is truncated: its header declares {frames:,} samples but the file holds "
            f"{size:,} bytes; remove or replace it"
        )
    if first is not None and first[0] != rate:
        raise DataError(
            f"{first[1]} is {first[0]:,} Hz but {path} is {rate:,} Hz; every clip must share one sample rate: "
            "resample them first"
        )
    return rate, path
