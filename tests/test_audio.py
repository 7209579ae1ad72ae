"""``audio:DIR``: WAV clips as MLPerf Tiny keyword-spotting features, and a KWS run end to end with a DS-CNN."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgekd.data.spec import load_dataset
from edgekd.errors import DataError
from tests.conftest import invoke
from tests.media import synthetic_word, write_audio_folder, write_wav


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return write_audio_folder(tmp_path_factory.mktemp("audio") / "words", classes=3, per_class=24)


def reference_mfcc(path: str) -> np.ndarray:
    """MLPerf Tiny's mfcc front end written out (get_dataset.py), with the peak taken as the largest |sample|."""
    import tensorflow as tf

    audio, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_samples=16000)
    clip = audio[:, 0] / tf.reduce_max(tf.abs(audio[:, 0]))
    stft = tf.signal.stft(clip, frame_length=480, frame_step=320, fft_length=None, window_fn=tf.signal.hann_window)
    spectrogram = tf.abs(stft)
    weights = tf.signal.linear_to_mel_weight_matrix(40, stft.shape[-1], 16000, 20.0, 4000.0)
    log_mel = tf.math.log(tf.tensordot(spectrogram, weights, 1) + 1e-6)
    return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy()


def test_clips_become_the_mlperf_tiny_mfccs_and_the_front_end_is_recorded(clips):
    from edgekd.data.samples import FileStream

    dataset = load_dataset(f"audio:{clips}")
    assert isinstance(dataset.x_train, FileStream) and dataset.input_shape == (49, 10, 1)
    assert dataset.class_names == ("word0", "word1", "word2")
    np.testing.assert_allclose(dataset.x_train[3][..., 0], reference_mfcc(dataset.x_train.paths[3]), atol=1e-4)
    front_end = dataset.summary()["normalization"]["front_end"]
    assert front_end["window_ms"] == 30.0 and front_end["stride_ms"] == 20.0 and front_end["mfccs"] == 10
    assert front_end["sample_rate"] == 16000 and front_end["lower_hz"] == 20.0 and front_end["upper_hz"] == 4000.0
    logmel = load_dataset(f"audio:{clips},features=logmel,mel_bins=32,stride_ms=10")
    assert logmel.input_shape == (98, 32, 1)
    assert logmel.summary()["audio_features"] == "logmel"


def test_a_short_clip_is_padded_and_a_long_one_cut_to_the_clip_length(tmp_path):
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for index, seconds in enumerate((0.4, 1.0, 1.7)):
            write_wav(tmp_path / label / f"{index}.wav", synthetic_word(index, rng, seconds=seconds))
    dataset = load_dataset(f"audio:{tmp_path}")
    features = np.concatenate([dataset.x_train[:], dataset.x_test[:]])
    assert features.shape[1:] == (49, 10, 1) and np.isfinite(features).all()


def _folder(root: Path, per_class: dict[str, int], rate: int = 16000) -> Path:
    rng = np.random.default_rng(0)
    for label, count in per_class.items():
        (root / label).mkdir(parents=True)
        for index in range(count):
            write_wav(root / label / f"{index}.wav", synthetic_word(index % 3, rng, rate), rate)
    return root


def test_bad_audio_folders_are_refused_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"found 1 class folder\(s\) \(only\); a classifier needs at least 2"):
        load_dataset(f"audio:{_folder(tmp_path / 'one', {'only': 4})}")
    mixed = _folder(tmp_path / "mixed", {"a": 3, "b": 3})
    write_wav(mixed / "b" / "slow.wav", synthetic_word(0, np.random.default_rng(0), 8000), 8000)
    with pytest.raises(DataError, match=r"is 16,000 Hz but .*slow\.wav is 8,000 Hz; .*resample"):
        load_dataset(f"audio:{mixed}")
    truncated = _folder(tmp_path / "truncated", {"a": 3, "b": 3})
    victim = truncated / "a" / "1.wav"
    victim.write_bytes(victim.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"WAV file .*a/1\.wav is truncated: its header declares 16,000 samples"):
        load_dataset(f"audio:{truncated}")
    text = _folder(tmp_path / "text", {"a": 3, "b": 3})
    (text / "b" / "notes.wav").write_text("not audio at all")
    with pytest.raises(DataError, match=r"cannot read WAV file .*notes\.wav: .*remove or replace it"):
        load_dataset(f"audio:{text}")
    piped = _folder(tmp_path / "piped", {"a": 3, "b": 3})
    os.mkfifo(piped / "a" / "pipe.wav")
    with pytest.raises(DataError, match=r"pipe\.wav is a named pipe"):
        load_dataset(f"audio:{piped}")
    with pytest.raises(DataError, match="`features` 'mel' is not one of mfcc, logmel"):
        load_dataset(f"audio:{piped},features=mel")


@pytest.mark.timeout(900)
def test_keyword_spotting_end_to_end_with_a_ds_cnn_student(clips, tmp_path):
    """Teacher, DS-CNN student, int8 through LiteRT on the test clips, and the front end in the exported metadata."""
    config = tmp_path / "kws.yaml"
    config.write_text(
        f"data: {{spec: 'audio:{clips}'}}\n"
        "teacher: {epochs: 10, batch_size: 32, learning_rate: 0.003}\n"
        "student: {spec: dscnn, epochs: 10, batch_size: 32}\n"
        "distill: {method: kd}\n"
        "quantize: {representative_samples: 30}\n"
        "bench: {runs: 3, min_seconds: 0.0, warmup: 1}\n"
    )
    out = tmp_path / "run"
    result = invoke("run", str(config), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    document = json.loads((out / "results.json").read_text())
    assert document["data"]["input_shape"] == [49, 10, 1]
    models = document["models"]
    assert models["student_kd"]["student"]["builder"] == "dscnn"
    assert models["student_int8"]["accuracy"] > 0.8, models["student_int8"]
    model = tmp_path / "kws.tflite"
    quantized = invoke("quantize", str(out / "student.keras"), "--data", f"audio:{clips}", "--out", str(model))
    assert quantized.exit_code == 0, quantized.stderr
    metadata = json.loads(invoke("export", str(model), "--out", str(tmp_path / "c"), "--json").stdout)
    (normalization,) = metadata["input_normalization"]
    assert normalization["data"]["front_end"]["window_ms"] == 30.0 and metadata["labels"] == ["word0", "word1", "word2"]


def test_clips_below_8_khz_get_the_upper_mel_edge_of_their_nyquist_frequency(tmp_path):
    # MLPerf Tiny's 4 kHz upper edge is above the Nyquist frequency of 6 kHz clips (3 kHz), which tf.signal
    # refuses only when the first batch is computed, mid-training: the edge is lowered to Nyquist instead.
    write_audio_folder(tmp_path / "six", classes=2, per_class=3, rate=6000)
    dataset = load_dataset(f"audio:{tmp_path / 'six'}")
    front_end = dataset.summary()["normalization"]["front_end"]
    assert front_end["sample_rate"] == 6000 and front_end["upper_hz"] == 3000.0
    features = dataset.x_train[:]
    assert features.shape[1:] == dataset.input_shape and np.isfinite(features).all()
    # Given explicitly above Nyquist, it is refused while loading, naming the option and the limit.
    with pytest.raises(DataError, match=r"`upper_hz` 3500 is above the Nyquist frequency .* upper_hz=3000 or less"):
        load_dataset(f"audio:{tmp_path / 'six'},upper_hz=3500")


@pytest.mark.parametrize(
    "options, message",
    [
        ("stride_ms=0.01", r"`stride_ms` 0.01 is less than one sample at 16,000 Hz"),
        ("window_ms=0.05", r"`window_ms` 0.05 is less than one sample"),
        ("mel_bins=258", r"`mel_bins` 258 is more than the 257 frequency bins of a 30 ms window"),
        ("lower_hz=5000", r"`lower_hz` 5000 must be below the upper mel edge, 4000 Hz"),
        ("clip_ms=2000000", r"`clip_ms` 2e\+06 is 32,000,000 samples"),
        ("clip_ms=200000,stride_ms=1", r"spectrogram would be 199,971 frames x 257 bins"),
    ],
)
def test_every_option_is_checked_against_the_clips_rate_while_loading(clips, options, message):
    with pytest.raises(DataError, match=message):
        load_dataset(f"audio:{clips},{options}")
