"""The catalogue of bad inputs, one case each, across every command.

Each case asserts: a non-zero exit; one closing line on stderr that names the problem (no
traceback); nothing half-written in the working folder; earlier results untouched (a
finished run's folder byte for byte, and the results store's runs); and nothing executed
(no `pwned` file). docs/reliability.md lists the catalogue with its count, checked below.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import sqlite3
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import (
    TINY_DATA,
    assert_clean_failure,
    invoke,
    keras2_file_with_layer,
    keras_file_naming,
    lambda_calling,
    snapshot,
    with_custom_op,
)

PROFILE = """\
schema_version: 1
name: {name}
display_name: A user's board
kind: sbc
hardware: {{soc: x, cpu: x, cores: 4, clock_ghz: 1.5, memory_mb: 1024}}
runtime: {{interpreter: tflite_runtime, python: python3}}
quantization: {{supported: [int8]}}
transport: {{type: local}}
"""


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _results(**benchmark) -> str:
    """A results.json whose one benchmark has these fields (None: left out; schema_version: the document's)."""
    document = {"schema_version": benchmark.pop("schema_version", 1), "kind": "bench", "models": {}}
    bench = {"model": "m", "device": "host", "ok": True, "latency_ms": {"p50": 1.0}, **benchmark}
    document["benchmarks"] = [{k: v for k, v in bench.items() if v is not None}]
    return json.dumps(document)


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def _fifo(path: Path) -> Path:
    """A named pipe that nobody writes: reading it would block forever."""
    os.mkfifo(path)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def npz_declaring_a_huge_array(path: Path, arrays: dict) -> Path:
    """An npz whose x_train header declares 14 TiB of uint8 and holds 64 bytes."""
    np.savez(path, **{k: v for k, v in arrays.items() if k != "x_train"})
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": (14, 1 << 40)})
    member.write(bytes(64))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("x_train.npy", member.getvalue())
    return path


def image_folder(root: Path, extra: dict[str, bytes | None]) -> Path:
    """Two classes of small real PNGs, plus ``extra`` files in class b (None: a named pipe)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray((rng.random((8, 6)) * 255).astype(np.uint8), mode="L").save(root / label / f"{i}.png")
    for name, data in extra.items():
        _fifo(root / "b" / name) if data is None else _write(root / "b" / name, data)
    return root


def split_image_folder(root: Path, val_classes: bool) -> Path:
    """``root/train`` and ``root/test`` with classes a and b, and ``root/val`` with classes a and c (or empty)."""
    for split in ("train", "test"):
        image_folder(root / split, {})
    if not val_classes:
        (root / "val").mkdir()
        return root
    image_folder(root / "val", {})
    (root / "val" / "b").rename(root / "val" / "c")
    return root


def wav_folder(
    root: Path, classes: tuple[str, ...] = ("yes", "no"), extra: dict | None = None, rate: int = 16000
) -> Path:
    """Three real one-second clips per class at ``rate``, plus ``extra`` in the first class: bytes, a rate, or None (a pipe)."""
    from tests.media import synthetic_word, write_wav

    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True)
        for i in range(3):
            write_wav(root / label / f"{i}.wav", synthetic_word(i, rng, rate), rate)
    for name, data in (extra or {}).items():
        target = root / classes[0] / name
        if data is None:
            _fifo(target)
        elif isinstance(data, int):
            write_wav(target, synthetic_word(0, rng, data), data)
        else:
            _write(target, data)
    return root


def _with_class(root: Path, name: str, files: dict[str, bytes]) -> Path:
    """``root`` with one more class folder ``name`` holding ``files``."""
    (root / name).mkdir()
    for file, data in files.items():
        (root / name / file).write_bytes(data)
    return root


def wav_declaring(rate: int) -> bytes:
    """A real 16 kHz clip whose header declares ``rate`` Hz (a damaged header: nothing resamples it)."""
    import wave

    from tests.media import synthetic_word

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(16000)
        clip.writeframes((synthetic_word(0, np.random.default_rng(1)) * 32767).astype("<i2").tobytes())
    data = bytearray(buffer.getvalue())
    data[24:32] = struct.pack("<II", rate, 2 * rate)  # the fmt chunk's sample rate and byte rate
    return bytes(data)


def billion_laughs() -> str:
    """YAML of nine lines whose aliases stand for a billion values (each line: ten of the line before)."""
    lines, previous = ["seed: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"], "l0"
    for level in range(1, 9):
        lines.append(f"x{level}: &l{level} [{', '.join([f'*{previous}'] * 10)}]")
        previous = f"l{level}"
    return "\n".join(lines) + "\n"


def png_with_text_bomb() -> bytes:
    """A real small PNG with a zTXt chunk that inflates to 2 MiB, past PIL's 1 MB limit for text chunks."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((8, 6)) * 255).astype(np.uint8), mode="L").save(buffer, "PNG")
    png = buffer.getvalue()
    data = b"Comment\x00\x00" + zlib.compress(b"A" * (2 << 20), 9)
    text = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data))
    return png[:33] + text + png[33:]  # after the 8-byte signature and the 25-byte IHDR chunk


def wav_with_chunk_size(size: int) -> bytes:
    """A real clip whose fmt chunk declares ``size`` bytes (the wave module raises a bare RuntimeError on it)."""
    data = bytearray(wav_declaring(16000))
    data[16:20] = struct.pack("<I", size)
    return bytes(data)


@functools.cache
def _grey_png(side: int, grey: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (side, side), color=grey).save(buffer, "PNG")
    return buffer.getvalue()


def large_image_folder(root: Path, side: int) -> Path:
    """Two classes of two real side x side PNGs of one grey each (a few tens of kilobytes on disk)."""
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            _write(root / label / f"{i}.png", _grey_png(side, 60 * i + 30))  # encoded once per session: 1 s each
    return root


def _results_changed(path: tuple, value) -> str:
    """A well-formed results.json (a benchmark and auto's distillation) with the field at ``path`` set to ``value``."""
    document = json.loads(_results())
    document["distillation"] = {
        "method": "kd",
        "verdict": "distillation helped",
        "budget": {"steps": 10, "batch_size": 8},
        "selection": {"candidates": [], "chosen": "kd", "fraction_of_budget": 0.1, "seconds": 1.0},
        "shipped": {"role": "student_kd", "reason": "better on validation"},
    }
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return json.dumps(document)


@functools.cache
def _damaged_store(damage: str) -> bytes:
    import tempfile

    from edgekd.results.store import ResultsStore

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.db"
        ResultsStore(path).close()
        connection = sqlite3.connect(path)
        try:
            connection.execute(damage)
            connection.commit()
            # Back to a single file (no -wal or -shm beside it), as a store copied from elsewhere would be.
            connection.execute("PRAGMA journal_mode = DELETE")
        finally:
            connection.close()
        return path.read_bytes()


def results_store(path: Path, damage: str) -> Path:
    """A real results store, then damaged with one SQL statement (made once per session: half a second each)."""
    return _write(path, _damaged_store(damage))


def _own_c_files(folder: Path) -> Path:
    """A user's firmware folder holding their own model.c and model.h (the names `export` writes)."""
    folder.mkdir()
    _write(folder / "model.c", '#include "model.h"\nint model_run(void) { return 0; }\n')
    _write(folder / "model.h", "int model_run(void);\n")
    return folder


def _run_holding(folder: Path, teacher: Path, kind: str = "distill") -> Path:
    """An earlier output of ``kind`` (edgekd's marker) with the model the next command reads inside it."""
    folder.mkdir()
    _write(folder / ".edgekd-output", json.dumps({"kind": kind}))
    _write(folder / "teacher.keras", teacher.read_bytes())
    return folder


def _their_study(folder: Path) -> Path:
    """A folder holding another program's SQLite database, named study.db like a search's."""
    folder.mkdir()
    with sqlite3.connect(folder / "study.db") as connection:
        connection.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    connection.close()
    return folder


def _truncated_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((8, 6)) * 255).astype(np.uint8), mode="L").save(buffer, "PNG")
    return buffer.getvalue()[:70]


@pytest.fixture(scope="session")
def hostile_models(tmp_path_factory, tiny_dataset):
    """Keras 3 files that must not load by default: a Lambda layer, NaN weights, a legacy .h5."""
    import keras

    folder = tmp_path_factory.mktemp("hostile")
    inputs = keras.Input(tiny_dataset.input_shape)
    flat = keras.layers.Flatten()(inputs)
    lam = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Lambda(lambda t: t * 2.0)(flat)))
    lam.save(folder / "lambda.keras")
    nan = keras.Model(inputs, keras.layers.Dense(10)(flat))
    kernel, bias = nan.layers[-1].get_weights()
    kernel[0, 0] = np.nan
    nan.layers[-1].set_weights([kernel, bias])
    nan.save(folder / "nan.keras")
    nan.save(folder / "legacy.h5")
    # A 64 KiB .keras whose config.json inflates to 65 MiB (a zip bomb aimed at the JSON parser).
    with zipfile.ZipFile(folder / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.10.0"}')
        with archive.open("config.json", "w") as member:
            for _ in range(65):
                member.write(b" " * (1 << 20))
    # Files that name a module outside Keras's own: tf_keras's safe mode would import it (issue 26).
    keras_file_naming(folder / "foreign_module.keras", "rt_pwnmod", "Pwn")
    keras_file_naming(folder / "installed_module.keras", "this", "Pwn", metadata="3.15.1")
    # What tf_keras's safe mode let through: a dotted name followed to `os.system`, called on a constant.
    system = {"module": "keras.src.utils.generic_utils", "class_name": "function", "config": "os.system"}
    keras2_file_with_layer(folder / "dotted_name.keras", lambda_calling(system, "touch pwned"))
    _savedmodel_writing_pwned(folder / "savedmodel_writes")
    return folder


def _savedmodel_writing_pwned(folder: Path) -> Path:
    """A SavedModel whose resource initializer writes `pwned` into the working folder as it loads."""
    import tensorflow as tf

    class Writes(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[])

        def _initialize(self):
            tf.io.write_file("pwned", "ran")

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.zeros([40, 10]))
            self.writes = Writes()

        @tf.function(input_signature=[tf.TensorSpec([None, 40, 1], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x[..., 0], self.kernel)

    module = Model()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.__call__})
    return folder


def calibration_folders(root: Path) -> dict[str, Path]:
    """Calibration data folders (measurements.yaml + models.yaml), each spoiled one way."""
    work = {"conv": 1_000_000, "depthwise": 0, "fully_connected": 1000, "pooling": 0, "elementwise": 0}
    models = {
        "schema_version": 1,
        "models": {"m": {"architecture": "m", "macs": 1_001_000, "total": {"work": work, "ops": 3}}},
    }
    point = {"device": "board", "model": "m", "precision": "int8", "latency_ms": 12.5, "source": "paper"}
    good = {
        "schema_version": 1,
        "sources": {"paper": {"cite": "a paper"}},
        "devices": {"board": {"description": "a board", "kind": "cpu", "core": "x", "library": "y"}},
        "points": [point],
    }
    spoiled = {
        "cal_no_source": {**good, "points": [{k: v for k, v in point.items() if k != "source"}]},
        "cal_zero_latency": {**good, "points": [{**point, "latency_ms": 0}]},
        "cal_negative_latency": {**good, "points": [{**point, "latency_ms": -4.0}]},
        "cal_unknown_model": {**good, "points": [{**point, "model": "resnet-9000"}]},
        "cal_unknown_device": {**good, "points": [{**point, "device": "rpi9"}]},
        "cal_no_points": {**good, "points": []},
        "cal_floor_from_unknown": {**good, "devices": {"board": {**good["devices"]["board"], "floor_from": "rpi9"}}},
        "cal_unknown_library": {**good, "libraries": {"xnnpak": {"floor": True, "note": "small models"}}},
    }
    folders = {}
    for name, document in spoiled.items():
        folder = root / name
        folder.mkdir(parents=True)
        _write(folder / "measurements.yaml", json.dumps(document))
        _write(folder / "models.yaml", json.dumps(models))
        folders[name] = folder
    return folders


def _one_measured_model(device: str) -> str:
    """A results.json with one model measured on ``device``, its record holding its workload."""
    work = {"conv": 14_000, "depthwise": 0, "fully_connected": 320, "pooling": 100, "elementwise": 0}
    workload = {"total": {"work": work, "ops": 6, "weight_bytes": 4000, "io_bytes": 50}}
    record = {"format": "tflite (int8)", "detected_mode": "int8", "macs": 14_320, "workload": workload}
    bench = {"model": "m", "device": device, "ok": True, "latency_ms": {"p50": 0.2}}
    return json.dumps({"schema_version": 1, "kind": "bench", "models": {"m": record}, "benchmarks": [bench]})


@pytest.fixture
def bad_inputs(tmp_path, teacher_file, npz_factory, int8_model_file, hostile_models):
    """Every file the cases name, written before the case runs (so they count as 'before')."""
    model = int8_model_file.read_bytes()
    rng = np.random.default_rng(0)
    good = {
        "x_train": rng.standard_normal((40, 40, 1)).astype(np.float32),
        "y_train": rng.integers(0, 10, 40),
        "x_test": rng.standard_normal((10, 40, 1)).astype(np.float32),
        "y_test": rng.integers(0, 10, 10),
    }
    nan_x = good["x_train"].copy()
    nan_x[3, 5, 0] = np.nan
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    paths = {
        "teacher": teacher_file,
        "corrupt": _write(tmp_path / "corrupt.keras", teacher_file.read_bytes()[:1500]),
        "not_keras": _write(tmp_path / "notes.keras", "these are my notes, not a model\n"),
        "lambda": hostile_models / "lambda.keras",
        "nan_weights": hostile_models / "nan.keras",
        "legacy": hostile_models / "legacy.h5",
        "foreign_module": hostile_models / "foreign_module.keras",
        "installed_module": hostile_models / "installed_module.keras",
        "dotted_name": hostile_models / "dotted_name.keras",
        "savedmodel_writes": hostile_models / "savedmodel_writes",
        "html": _write(tmp_path / "page.tflite", "<!DOCTYPE html><html>404</html>"),
        "lfs": _write(
            tmp_path / "lfs.tflite",
            "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a21\nsize 8536\n",
        ),
        "empty": _write(tmp_path / "empty.tflite", b""),
        "truncated": _write(tmp_path / "truncated.tflite", model[: len(model) // 2]),
        "int8": int8_model_file,
        "custom_op": _write(tmp_path / "custom.tflite", with_custom_op(model, "MyFancyOp")),
        "edgetpu_model": _write(tmp_path / "m_edgetpu.tflite", with_custom_op(model, "edgetpu-custom-op")),
        "missing_keys": npz_factory("missing.npz", y_test=None),
        "other_shape": npz_factory("shape.npz"),
        "mismatched": npz_factory("mismatch.npz", y_train=np.zeros(39, int)),
        "out_of_range": npz_factory("range.npz", class_names=np.array(["a", "b"])),
        "empty_data": npz_factory("empty.npz", x_train=np.zeros((0, 40, 1), np.float32), y_train=np.zeros(0, int)),
        "tiny_data": npz_factory(
            "tiny.npz", **{**good, "x_train": good["x_train"][:1], "y_train": good["y_train"][:1]}
        ),
        "nan_data": npz_factory("nan.npz", **{**good, "x_train": nan_x}),
        "text_data": npz_factory("text.npz", **{**good, "x_train": np.array([["a"] * 40] * 40)}),
        "out": tmp_path / "out",
        "a_file": _write(tmp_path / "a_file", "a file, not a folder"),
        "own_c_files": _own_c_files(tmp_path / "firmware"),
        "teacher_run": _run_holding(tmp_path / "kd", teacher_file),
        "quantized_holding": _run_holding(tmp_path / "all_modes", teacher_file, kind="quantize"),
        "their_study": _their_study(tmp_path / "theirs"),
        "store": Path(os.environ["EDGEKD_DB"]),  # the session's results store (its runs are checked after each case)
        "config_unknown": _write(tmp_path / "unknown.yaml", "teacher: {epochz: 3}\n"),
        "config_tag": _write(tmp_path / "tag.yaml", "!!python/object/apply:os.system ['touch pwned']\n"),
        "config_type": _write(tmp_path / "type.yaml", "teacher: {epochs: many}\n"),
        "not_sqlite": _write(tmp_path / "store.db", "not a database, but the user's file\n"),
        "not_results": _write(tmp_path / "notes.json", '{"hello": "world"}\n'),
        "profiles": profiles,
        "pipe_keras": _fifo(tmp_path / "pipe.keras"),
        "pipe_tflite": _fifo(tmp_path / "pipe.tflite"),
        "pipe_npz": _fifo(tmp_path / "pipe.npz"),
        "pipe_yaml": _fifo(tmp_path / "pipe.yaml"),
        "pipe_images": image_folder(tmp_path / "pipe_images", {"x.png": None}),
        "bomb_images": image_folder(tmp_path / "bomb_images", {"bomb.png": png_header_only(20000, 20000)}),
        "text_images": image_folder(tmp_path / "text_images", {"notes.png": b"my notes, not a picture\n"}),
        "cut_images": image_folder(tmp_path / "cut_images", {"cut.png": _truncated_png()}),
        "tif_images": _with_class(
            image_folder(tmp_path / "tif_images", {}), "c", {f"{i}.tif": b"II*\0" for i in range(4)}
        ),
        "empty_class_images": _with_class(image_folder(tmp_path / "empty_class_images", {}), "c", {}),
        "clips": wav_folder(tmp_path / "clips"),
        "text_clips": wav_folder(tmp_path / "text_clips", extra={"notes.wav": b"my notes, not a recording\n"}),
        "cut_clips": wav_folder(
            tmp_path / "cut_clips", extra={"cut.wav": (tmp_path / "clips" / "yes" / "0.wav").read_bytes()[:9000]}
        ),
        "mixed_clips": wav_folder(tmp_path / "mixed_clips", extra={"slow.wav": 8000}),
        "one_class_clips": wav_folder(tmp_path / "one_class_clips", classes=("yes",)),
        "pipe_clips": wav_folder(tmp_path / "pipe_clips", extra={"pipe.wav": None}),
        "config_budget": _write(tmp_path / "budget.yaml", "distill: {cache_budget: plenty}\n"),
        "config_search_key": _write(tmp_path / "search.yaml", "search: {budgets: {latncy_ms: 20}}\n"),
        "bomb_keras": hostile_models / "bomb.keras",
        "huge_npz": npz_declaring_a_huge_array(tmp_path / "huge.npz", good),
        "high_labels": npz_factory(
            "high.npz", **{**good, "y_train": np.arange(40) % 10 + 40, "y_test": np.arange(10) + 40}
        ),
        "stray_label": npz_factory("stray.npz", **{**good, "y_train": np.r_[good["y_train"][:-1], 10**9]}),
        "one_class": npz_factory("one_class.npz", **{**good, "y_train": np.full(40, 99), "y_test": np.full(10, 99)}),
        "config_seed": _write(tmp_path / "seed.yaml", "seed: 4294967296\n"),
        "val_extra_class": split_image_folder(tmp_path / "val_extra_class", True),
        "val_empty": split_image_folder(tmp_path / "val_empty", False),
        "val_npz_extra_class": npz_factory(
            "val.npz",
            **{**good, "y_train": good["y_train"] % 5, "y_test": good["y_test"] % 5},
            x_val=good["x_train"][:8],
            y_val=np.r_[np.zeros(7, int), 7],
        ),
        "config_nan": _write(tmp_path / "nan.yaml", "bench: {min_seconds: .nan}\n"),
        "config_int9": _write(tmp_path / "int9.yaml", "quantize: {mode: int9}\n"),
        "config_tiny_budget": _write(
            tmp_path / "tiny.yaml", f"data: {{spec: '{TINY_DATA}'}}\nstudent: {{max_mac_fraction: 0.0001}}\n"
        ),
        "fifo": _fifo(tmp_path / "export.csv"),
        "fifo_model": _fifo(tmp_path / "fifo.tflite"),
        "link": _link(tmp_path / "latest.csv", tmp_path / "a_file"),
        "dangling": _link(tmp_path / "gone", tmp_path / "nowhere"),
        "latin_config": _write(tmp_path / "latin.yaml", "# r\xe9glages\nseed: 1\n".encode("latin-1")),
        "bad_latency": _write(tmp_path / "latency.json", _results(latency_ms="1 ms")),
        "no_ok": _write(tmp_path / "no_ok.json", _results(ok=None)),
        "schema2": _write(tmp_path / "schema2.json", _results(schema_version=2)),
    }
    paths.update(calibration_folders(tmp_path / "calibration_data"))
    paths["runs_of_host"] = _write(tmp_path / "host_run.json", _results())
    paths["one_rpi4_model"] = _write(tmp_path / "one_model.json", _one_measured_model("rpi4"))
    paths |= {
        "fifo_study": _fifo(tmp_path / "study.db"),
        "fifo_store": _fifo(tmp_path / "store_pipe.db"),
        "rate_2g_clips": wav_folder(tmp_path / "rate_2g_clips", extra={"fast.wav": wav_declaring(2_000_000_000)}),
        "rate_0_clips": wav_folder(tmp_path / "rate_0_clips", extra={"still.wav": wav_declaring(0)}),
        "clips_6k": wav_folder(tmp_path / "clips_6k", rate=6000),
        "large_images": large_image_folder(tmp_path / "large_images", 6000),
        "text_bomb_images": image_folder(tmp_path / "text_bomb_images", {"comment.png": png_with_text_bomb()}),
        "chunk_clips": wav_folder(tmp_path / "chunk_clips", extra={"chunk.wav": wav_with_chunk_size(0xFFFFFFF0)}),
        "config_deep": _write(tmp_path / "deep.yaml", "seed: " + "[" * 100_000 + "]" * 100_000 + "\n"),
        "config_deep_map": _write(tmp_path / "deep_map.yaml", "seed: " + "{a: " * 60_000 + "1" + "}" * 60_000 + "\n"),
        "config_laughs": _write(tmp_path / "laughs.yaml", billion_laughs()),
        "selection_text": _write(tmp_path / "selection.json", _results_changed(("distillation", "selection"), "auto")),
        "shipped_no_reason": _write(
            tmp_path / "shipped.json", _results_changed(("distillation", "shipped"), {"role": "student_kd"})
        ),
        "accuracy_text": _write(
            tmp_path / "accuracy.json", _results_changed(("benchmarks", 0, "accuracy"), {"accuracy": "50%"})
        ),
        "windows_text": _write(
            tmp_path / "windows.json",
            _results_changed(("benchmarks", 0, "sustained"), {"seconds": 10.0, "windows": "ten"}),
        ),
        "waited_text": _write(
            tmp_path / "waited.json",
            _results_changed(("benchmarks", 0, "cooldown"), {"target_c": 50.0, "waited_s": "30 s", "reached": True}),
        ),
        "ops_text": _write(tmp_path / "ops.json", _results_changed(("benchmarks", 0, "op_profile"), {"ops": "conv"})),
        "overhead_missing": _write(
            tmp_path / "overhead.json", _results_changed(("benchmarks", 0, "invoke_overhead"), {"runs": 100})
        ),
        "store_negative": results_store(tmp_path / "negative.db", "PRAGMA user_version = -1"),
        "store_no_tables": _write(tmp_path / "no_tables.db", b""),
        "store_no_artifacts": results_store(tmp_path / "no_artifacts.db", "DROP TABLE artifacts"),
        "not_a_study": tmp_path / "not_a_study",
        "home_file": tmp_path / "home_file",
        "home_fifo": tmp_path / "home_fifo",
    }
    connection = sqlite3.connect(paths["store_no_tables"])
    connection.execute("PRAGMA user_version = 3")  # a version, but none of its tables
    connection.close()
    (paths["not_a_study"]).mkdir()
    _write(paths["not_a_study"] / "study.db", "not a database, but the user's file\n")
    (paths["home_file"] / ".edgekd").mkdir(parents=True)
    _write(paths["home_file"] / ".edgekd" / "emulated", "a file where edgekd keeps emulated devices\n")
    (paths["home_fifo"] / ".edgekd" / "emulated" / "rpi5").mkdir(parents=True)
    _fifo(paths["home_fifo"] / ".edgekd" / "emulated" / "rpi5" / "edgekd-emulated.json")
    _write(profiles / "deep.yaml", PROFILE.format(name="deep") + "x: " + "[" * 100_000 + "]" * 100_000 + "\n")
    for name, host, user in (("hostile", "-oProxyCommand=touch pwned", "pi"), ("hostile_user", "pi.local", "-oX=y")):
        ssh = f"transport: {{type: ssh, host: '{host}', user: '{user}', known_hosts: kh}}"
        _write(profiles / f"{name}.yaml", PROFILE.format(name=name).replace("transport: {type: local}", ssh))
    _write(profiles / "latin.yaml", PROFILE.format(name="latin").replace("A user's", "Ma carte \xe9").encode("latin-1"))
    _write(profiles / "extra.yaml", PROFILE.format(name="extra") + "colour: blue\n")
    _write(profiles / "typed.yaml", PROFILE.format(name="typed").replace("cores: 4", "cores: four"))
    _write(profiles / "partial.yaml", PROFILE.format(name="partial").replace("transport: {type: local}\n", ""))
    _write(profiles / "tagged.yaml", "!!python/object/apply:os.system ['touch pwned']\n")
    _write(profiles / "metered.yaml", PROFILE.format(name="metered") + "power: {reader: ina291}\n")
    _write(profiles / "runtime.yaml", PROFILE.format(name="runtime").replace("tflite_runtime", "tflite"))
    # A local board whose delegate is a library file shipped beside the profile: dlopen would run its code.
    own_library = "python: python3, delegates: [gpu], delegate_library: ./gpu.so}"
    _write(profiles / "ownlib.yaml", PROFILE.format(name="ownlib").replace("python: python3}", own_library))
    return paths


# (id, argv, fragments the one error line must contain, environment: the name of a profiles folder for
# EDGEKD_DEVICES, or a dict of variables whose values may name the files above)
CATALOGUE = [
    # distill
    ("distill: missing teacher", ["distill", "--teacher", "{tmp}/nope.keras", "--data", TINY_DATA, "--out", "{out}"], ["does not exist"]),
    ("distill: truncated teacher", ["distill", "--teacher", "{corrupt}", "--data", TINY_DATA, "--out", "{out}"], ["truncated"]),
    ("distill: a text file named .keras", ["distill", "--teacher", "{not_keras}", "--data", TINY_DATA, "--out", "{out}"], ["notes.keras"]),
    ("distill: Lambda layer without --trust-model", ["distill", "--teacher", "{lambda}", "--data", TINY_DATA, "--out", "{out}"], ["--trust-model"]),
    ("distill: a teacher naming a module beside it, claiming Keras 2", ["distill", "--teacher", "{foreign_module}", "--data", TINY_DATA, "--out", "{out}"], ["module 'rt_pwnmod'", "outside Keras's own"]),
    ("distill: a teacher naming an installed module, even with --trust-model", ["distill", "--teacher", "{installed_module}", "--trust-model", "--data", TINY_DATA, "--out", "{out}"], ["module 'this'", "outside Keras's own"]),
    ("distill: a SavedModel teacher (a program that runs as it loads) without --trust-model", ["distill", "--teacher", "{savedmodel_writes}", "--data", TINY_DATA, "--out", "{out}"], ["SavedModel", "--trust-model"]),
    ("distill: --force onto the earlier run holding the teacher it reads", ["distill", "--teacher", "{teacher_run}/teacher.keras", "--data", TINY_DATA, "--out", "{teacher_run}", "--force"], ["teacher.keras, which this command reads"]),
    ("distill: legacy .h5 without --trust-model", ["distill", "--teacher", "{legacy}", "--data", TINY_DATA, "--out", "{out}"], [".h5"]),
    ("distill: no teacher given", ["distill", "--data", TINY_DATA, "--out", "{out}"], ["exactly one of --teacher"]),
    ("distill: unknown DATA scheme", ["distill", "--teacher", "{teacher}", "--data", "csv:x", "--out", "{out}"], ["unknown DATA scheme"]),
    ("distill: npz missing an array", ["distill", "--teacher", "{teacher}", "--data", "npz:{missing_keys}", "--out", "{out}"], ["lacks array"]),
    ("distill: npz with mismatched lengths", ["distill", "--teacher", "{teacher}", "--data", "npz:{mismatched}", "--out", "{out}"], ["has 39"]),
    ("distill: labels out of range", ["distill", "--teacher", "{teacher}", "--data", "npz:{out_of_range}", "--out", "{out}"], ["outside 0..1"]),
    ("distill: data shaped for another model", ["distill", "--teacher", "{teacher}", "--data", "npz:{other_shape}", "--out", "{out}"], ["expects inputs shaped (40, 1)"]),
    ("distill: empty training set", ["distill", "--teacher", "{teacher}", "--data", "npz:{empty_data}", "--out", "{out}"], ["empty"]),
    ("distill: one training sample", ["distill", "--teacher", "{teacher}", "--data", "npz:{tiny_data}", "--out", "{out}"], ["too few"]),
    ("distill: NaN in the data", ["distill", "--teacher", "{teacher}", "--data", "npz:{nan_data}", "--out", "{out}"], ["NaN"]),
    ("distill: strings instead of numbers", ["distill", "--teacher", "{teacher}", "--data", "npz:{text_data}", "--out", "{out}"], ["x_train"]),
    ("distill: student bigger than the teacher", ["distill", "--teacher", "{teacher}", "--student", "conv:width=12", "--data", TINY_DATA, "--out", "{out}"], ["not fewer than the teacher"]),
    ("distill: unknown student", ["distill", "--teacher", "{teacher}", "--student", "transformer", "--data", TINY_DATA, "--out", "{out}"], ["unknown model builder"]),
    ("distill: unknown method", ["distill", "--teacher", "{teacher}", "--method", "dkdd", "--data", TINY_DATA, "--out", "{out}"], ["unknown distillation method 'dkdd'; known: at, dist, dkd, fitnet, kd, rkd"]),
    ("distill: a candidate recipe naming an unknown method", ["distill", "--teacher", "{teacher}", "--candidate", "kd:temperature=4", "--candidate", "kdd", "--data", TINY_DATA, "--out", "{out}"], ["unknown distillation method 'kdd'"]),
    ("distill: --temperature with --method auto", ["distill", "--teacher", "{teacher}", "--temperature", "4", "--data", TINY_DATA, "--out", "{out}"], ["--temperature/--alpha/--param", "apply to one method", "--method auto"]),
    ("distill: candidates without --method auto", ["distill", "--teacher", "{teacher}", "--method", "kd", "--candidate", "dist", "--data", TINY_DATA, "--out", "{out}"], ["candidate recipes (--candidate) are tried by --method auto only"]),
    ("distill: --out . --force (the working folder)", ["distill", "--teacher", "{teacher}", "--data", TINY_DATA, "--out", ".", "--force"], ["the folder you are working in", "never replaces it"]),
    ("distill: output under a file", ["distill", "--teacher", "{teacher}", "--data", TINY_DATA, "--out", "{a_file}/out"], ["a_file is a file, not a folder"]),
    ("distill: a named pipe as the teacher", ["distill", "--teacher", "{pipe_keras}", "--data", TINY_DATA, "--out", "{out}"], ["pipe.keras", "named pipe"]),
    ("distill: a named pipe as the second teacher", ["distill", "--teacher", "{teacher}", "--teacher", "{pipe_keras}", "--data", TINY_DATA, "--out", "{out}"], ["pipe.keras", "named pipe"]),
    ("distill: a named pipe as the student", ["distill", "--teacher", "{teacher}", "--student", "{pipe_keras}", "--data", TINY_DATA, "--out", "{out}"], ["pipe.keras", "named pipe"]),
    ("distill: a named pipe as the npz file", ["distill", "--train-teacher", "--data", "npz:{pipe_npz}", "--out", "{out}"], ["pipe.npz", "named pipe"]),
    ("distill: a named pipe among the images", ["distill", "--train-teacher", "--data", "images:{pipe_images}", "--out", "{out}"], ["x.png", "named pipe"]),
    ("distill: a decompression bomb among the images", ["distill", "--train-teacher", "--data", "images:{bomb_images}", "--out", "{out}"], ["bomb.png", "decompression bomb"]),
    ("distill: a text file named .png among the images", ["distill", "--train-teacher", "--data", "images:{text_images}", "--out", "{out}"], ["cannot read image", "notes.png"]),
    ("distill: an image class folder holding only .tif files", ["distill", "--train-teacher", "--data", "images:{tif_images}", "--out", "{out}"], ["class folder", "tif_images/c holds only .tif files", ".png"]),
    ("distill: an empty image class folder", ["distill", "--train-teacher", "--data", "images:{empty_class_images}", "--out", "{out}"], ["empty_class_images/c is empty", "remove the folder"]),
    ("distill: a truncated image", ["distill", "--train-teacher", "--data", "images:{cut_images}", "--out", "{out}"], ["cannot read image", "cut.png", "truncated"]),
    ("distill: an image size that is not WxH", ["distill", "--train-teacher", "--data", "images:{cut_images},size=96", "--out", "{out}"], ["`size` '96' is not WxH", "size=96x96"]),
    ("distill: an unknown preprocess name", ["distill", "--train-teacher", "--data", "images:{cut_images},preprocess=mobilenet_v9", "--out", "{out}"], ["unknown preprocess 'mobilenet_v9'", "mobilenet_v2"]),
    ("distill: a text file named .wav among the clips", ["distill", "--train-teacher", "--data", "audio:{text_clips}", "--out", "{out}"], ["cannot read WAV file", "notes.wav"]),
    ("distill: a truncated WAV", ["distill", "--train-teacher", "--data", "audio:{cut_clips}", "--out", "{out}"], ["cut.wav is truncated"]),
    ("distill: clips at mixed sample rates", ["distill", "--train-teacher", "--data", "audio:{mixed_clips}", "--out", "{out}"], ["slow.wav is 8,000 Hz", "resample"]),
    ("distill: an audio folder with one class", ["distill", "--train-teacher", "--data", "audio:{one_class_clips}", "--out", "{out}"], ["1 class folder(s) (yes)", "at least 2"]),
    ("distill: a validation folder with a class the training split lacks", ["distill", "--train-teacher", "--data", "images:{val_extra_class}", "--out", "{out}"], ["val_extra_class/val holds class(es) c", "lacks"]),
    ("distill: an empty validation folder", ["distill", "--train-teacher", "--data", "images:{val_empty}", "--out", "{out}"], ["val_empty/val holds no images", "remove it"]),
    ("distill: an npz validation split with a class the training split lacks", ["distill", "--train-teacher", "--data", "npz:{val_npz_extra_class}", "--out", "{out}"], ["validation split holds class 7", "training split lacks"]),
    ("distill: --teacher-ensemble 0", ["distill", "--train-teacher", "--teacher-ensemble", "0", "--data", TINY_DATA, "--out", "{out}"], ["--teacher-ensemble", "0 members: give 1 to 5"]),
    ("distill: more teachers in the ensemble than the budget allows", ["distill", "--train-teacher", "--teacher-ensemble", "9", "--data", TINY_DATA, "--out", "{out}"], ["--teacher-ensemble", "9 members: give 1 to 5"]),
    ("distill: a teacher augmentation the data does not suit", ["distill", "--train-teacher", "--teacher-augment", "time_mask", "--data", TINY_DATA, "--out", "{out}"], ["--teacher-augment", "'time_mask'", "not signals", "shift"]),
    ("distill: a teacher augmentation that drops labels", ["distill", "--train-teacher", "--teacher-augment", "mixup", "--data", TINY_DATA, "--out", "{out}"], ["--teacher-augment", "mixup", "labels"]),
    ("distill: --teacher-ensemble with a teacher file", ["distill", "--teacher", "{teacher}", "--teacher-ensemble", "2", "--data", TINY_DATA, "--out", "{out}"], ["--teacher-ensemble", "--train-teacher"]),
    ("distill: a named pipe among the clips", ["distill", "--train-teacher", "--data", "audio:{pipe_clips}", "--out", "{out}"], ["pipe.wav", "named pipe"]),
    ("distill: teacher outputs larger than --cache-budget with --teacher-outputs cached", ["distill", "--teacher", "{teacher}", "--data", TINY_DATA, "--method", "kd", "--teacher-outputs", "cached", "--cache-budget", "64KiB", "--out", "{out}"], ["--teacher-outputs cached", "more than the cache budget of 64.0 KiB (--cache-budget)", "raise --cache-budget"]),
    ("distill: a cache budget that is not a size", ["distill", "--train-teacher", "--cache-budget", "plenty", "--out", "{out}"], ["--cache-budget", "'plenty' is not a size"]),
    ("distill: an npz declaring a 14 TiB array", ["distill", "--train-teacher", "--data", "npz:{huge_npz}", "--out", "{out}"], ["x_train", "14.0 TiB", "holds only 64 bytes"]),
    ("distill: a stray label of a billion", ["distill", "--train-teacher", "--data", "npz:{stray_label}", "--out", "{out}"], ["1,000,000,001 classes", "100,000", "stray"]),
    ("distill: every label the same class", ["distill", "--train-teacher", "--data", "npz:{one_class}", "--out", "{out}"], ["every training label is class 99", "at least 2 classes"]),
    ("distill: a negative seed", ["distill", "--train-teacher", "--seed", "-1", "--out", "{out}"], ["--seed", "0<=x<=4294967295"]),
    ("distill: a seed past 32 bits", ["distill", "--train-teacher", "--seed", "4294967296", "--out", "{out}"], ["--seed", "0<=x<=4294967295"]),
    ("distill: zero epochs", ["distill", "--train-teacher", "--epochs", "0", "--out", "{out}"], ["--epochs 0", "greater than or equal to 1"]),
    ("distill: a student width of NaN", ["distill", "--teacher", "{teacher}", "--student", "conv:width=nan", "--data", TINY_DATA, "--out", "{out}"], ["width=nan", "builder 'conv' must be from"]),
    ("distill: an infinite teacher weight", ["distill", "--teacher", "{teacher}", "--teacher", "{teacher}", "--teacher-weight", "1", "--teacher-weight", "inf", "--out", "{out}"], ["--teacher-weight inf", "finite"]),
    ("distill: WAV headers declaring 2,000,000,000 Hz", ["distill", "--train-teacher", "--data", "audio:{rate_2g_clips}", "--out", "{out}"], ["fast.wav declares 2,000,000,000 Hz", "1,000 to 384,000 Hz"]),
    ("distill: a WAV header declaring 0 Hz", ["distill", "--train-teacher", "--data", "audio:{rate_0_clips}", "--out", "{out}"], ["still.wav declares 0 Hz"]),
    ("distill: mel_bins=2000000000", ["distill", "--train-teacher", "--data", "audio:{clips},mel_bins=2000000000", "--out", "{out}"], ["`mel_bins` 2,000,000,000", "257 frequency bins", "give at most 257"]),
    ("distill: a stride of 0.01 ms, less than a sample", ["distill", "--train-teacher", "--data", "audio:{clips},stride_ms=0.01", "--out", "{out}"], ["`stride_ms` 0.01 is less than one sample at 16,000 Hz", "0.0625 ms"]),
    ("distill: upper_hz above the Nyquist frequency of 6 kHz clips", ["distill", "--train-teacher", "--data", "audio:{clips_6k},upper_hz=4000", "--out", "{out}"], ["`upper_hz` 4000", "Nyquist frequency", "3,000 Hz", "upper_hz=3000 or less"]),
    ("distill: a clip length past what a clip may hold", ["distill", "--train-teacher", "--data", "audio:{clips},clip_ms=100000000", "--out", "{out}"], ["`clip_ms` 1e+08", "1,600,000,000 samples", "shorter clip_ms"]),
    ("distill: a PNG whose text chunk inflates past PIL's limit", ["distill", "--train-teacher", "--data", "images:{text_bomb_images}", "--out", "{out}"], ["cannot read image", "comment.png", "MAX_TEXT_CHUNK", "decompression bomb"]),
    ("distill: a WAV whose fmt chunk declares 4 GiB", ["distill", "--train-teacher", "--data", "audio:{chunk_clips}", "--out", "{out}"], ["cannot read WAV file", "chunk.wav", "header is damaged"]),
    ("distill: a 6000x6000 PNG setting the size (no size=)", ["distill", "--train-teacher", "--data", "images:{large_images}", "--out", "{out}"], ["6000x6000 pixels", "no `size`", "from 1 to 4096", "size=224x224"]),
    # quantize
    ("quantize: truncated model", ["quantize", "{corrupt}", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["truncated"]),
    ("quantize: a model naming a module beside it, claiming Keras 2", ["quantize", "{foreign_module}", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["module 'rt_pwnmod'", "outside Keras's own"]),
    ("quantize: --mode all --force onto a folder edgekd did not write", ["quantize", "{teacher}", "--mode", "all", "--data", TINY_DATA, "--out", "{profiles}", "--force"], ["files edgekd did not write"]),
    ("quantize: a Keras 2 model whose Lambda reaches os.system by a dotted name", ["quantize", "{dotted_name}", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["'os.system'", "--trust-model"]),
    ("quantize: --mode all --force onto the earlier folder holding the model", ["quantize", "{quantized_holding}/teacher.keras", "--mode", "all", "--data", TINY_DATA, "--out", "{quantized_holding}", "--force"], ["teacher.keras, which this command reads"]),
    ("quantize: NaN weights", ["quantize", "{nan_weights}", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["NaN"]),
    ("quantize: unknown mode", ["quantize", "{teacher}", "--mode", "int4", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["int4", "int8", "see `edgekd quantize --help`"]),
    ("quantize: output not .tflite", ["quantize", "{teacher}", "--data", TINY_DATA, "--out", "{tmp}/q.bin"], [".tflite"]),
    ("quantize: no calibration samples", ["quantize", "{teacher}", "--data", TINY_DATA, "--representative-samples", "0", "--out", "{tmp}/q.tflite"], ["representative"]),
    ("quantize: NaN in calibration data", ["quantize", "{teacher}", "--data", "npz:{nan_data}", "--out", "{tmp}/q.tflite"], ["NaN"]),
    ("quantize: folder that cannot be written", ["quantize", "{teacher}", "--data", TINY_DATA, "--out", "{a_file}/q.tflite"], ["a_file is a file, not a folder"]),
    ("quantize: a named pipe as the model", ["quantize", "{pipe_keras}", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["pipe.keras", "named pipe"]),
    ("quantize: a .keras whose config inflates to 65 MiB", ["quantize", "{bomb_keras}", "--data", TINY_DATA, "--out", "{tmp}/q.tflite"], ["config.json inflates to 65.0 MiB", "64.0 MiB"]),
    ("quantize: a negative seed", ["quantize", "{teacher}", "--data", TINY_DATA, "--seed", "-1", "--out", "{tmp}/q.tflite"], ["--seed", "0<=x<=4294967295"]),
    ("quantize: a seed past 32 bits", ["quantize", "{teacher}", "--data", TINY_DATA, "--seed", "4294967296", "--out", "{tmp}/q.tflite"], ["--seed"]),
    ("quantize: --max-drop nan", ["quantize", "{teacher}", "--data", TINY_DATA, "--max-drop", "nan", "--out", "{tmp}/q.tflite"], ["--max-drop nan"]),
    ("quantize: output onto a FIFO (even with --force)", ["quantize", "{teacher}", "--data", TINY_DATA, "--out", "{fifo_model}", "--force"], ["fifo.tflite is a FIFO"]),
    # inspect
    ("inspect: an HTML page", ["inspect", "{html}"], ["HTML page"]),
    ("inspect: a Git LFS pointer", ["inspect", "{lfs}"], ["Git LFS pointer", "git lfs pull"]),
    ("inspect: an empty file", ["inspect", "{empty}"], ["empty or truncated"]),
    ("inspect: truncated with its identifier intact", ["inspect", "{truncated}"], ["not a usable TFLite model"]),
    ("inspect: a .keras file", ["inspect", "{teacher}"], ["zip archive"]),
    ("inspect: missing file", ["inspect", "{tmp}/none.tflite"], ["does not exist"]),
    ("inspect: unknown device", ["inspect", "{int8}", "--device", "esp33"], ["unknown device 'esp33'"]),
    ("inspect: a named pipe", ["inspect", "{pipe_tflite}"], ["pipe.tflite", "named pipe"]),
    # search
    ("search: an unknown budget key", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--budget", "latncy_ms=20", "--out", "{out}"], ["unknown budget key 'latncy_ms'", "known: energy_mj, flash_kb, latency_ms, macs, params, ram_kb"]),
    ("search: an unknown budget key in the config", ["search", "--config", "{config_search_key}", "--teacher", "{teacher}", "--out", "{out}"], ["search.budgets", "unknown budget key 'latncy_ms'"]),
    ("search: a latency budget on a device without calibration", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--budget", "latency_ms=20", "--out", "{out}"], ["budget latency_ms", "no calibration", "--measure"]),
    ("search: a budget no candidate can meet", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--budget", "macs=10", "--out", "{out}"], ["no candidate can meet budget macs=10", "smallest macs of any candidate is 400"]),
    ("search: a RAM budget no candidate's measured arena meets", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--device", "nano33ble", "--budget", "ram_kb=0.5", "--out", "{out}"], ["no candidate can meet budget ram_kb=0.5", "measured"]),
    ("search: a --storage that is not a database URL", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--storage", "nonsense", "--out", "{out}"], ["cannot open the study database --storage nonsense", "sqlite:///"]),
    ("search: --out a folder holding another program's study.db", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--out", "{their_study}"], ["holds no edgekd search to continue"]),
    ("search: --measure on a microcontroller", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--device", "nano33ble", "--measure", "--out", "{out}"], ["--measure", "microcontroller"]),
    ("search: a named pipe as the --storage database", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--storage", "sqlite:///{fifo_study}", "--out", "{out}"], ["--storage", "study.db is a named pipe (FIFO)"]),
    ("search: a study.db in --out that is not a database (no --storage given)", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--out", "{not_a_study}"], ["not_a_study exists and holds no edgekd search to continue", "choose another --out"]),
    ("search: a password as ?password= in --storage", ["search", "--teacher", "{teacher}", "--data", TINY_DATA, "--storage", "postgresql://me@127.0.0.1:1/db?sslmode=disable&password=hunter2", "--out", "{out}"], ["--storage postgresql://me@127.0.0.1:1/db?sslmode=disable&password=***"]),
    # bench
    ("bench: --accuracy labels past the model's outputs", ["bench", "{int8}", "--accuracy", "npz:{high_labels}"], ["labels up to 49", "has 10 outputs", "the test data the model was trained for"]),
    ("bench: a local profile naming a delegate library file of its own", ["bench", "{int8}", "--device", "ownlib"], ["runtime.delegate_library './gpu.so' is a file path", "LD_LIBRARY_PATH"], "profiles"),
    ("bench: unknown device", ["bench", "{int8}", "--device", "rpi9"], ["unknown device 'rpi9'"]),
    ("bench: not a TFLite file", ["bench", "{html}"], ["not a TFLite model"]),
    ("bench: truncated model", ["bench", "{truncated}"], ["not a usable TFLite model"]),
    ("bench: a microcontroller", ["bench", "{int8}", "--device", "stm32h7"], ["export"]),
    ("bench: a .keras file", ["bench", "{teacher}"], ["zip archive"]),
    ("bench: a named pipe as the model", ["bench", "{pipe_tflite}"], ["pipe.tflite", "named pipe"]),
    ("bench: --min-seconds nan", ["bench", "{int8}", "--min-seconds", "nan"], ["--min-seconds nan", "from 0 to 300"]),
    ("bench: --min-seconds inf", ["bench", "{int8}", "--min-seconds", "inf"], ["--min-seconds inf", "from 0 to 300"]),
    ("bench: --min-seconds past the agent's limit", ["bench", "{int8}", "--min-seconds", "301"], ["--min-seconds 301", "stops measuring after 300 s"]),
    ("bench: --sustained shorter than a window's worth", ["bench", "{int8}", "--sustained", "5"], ["--sustained 5", "from 10 to 3600"]),
    ("bench: a negative --cooldown", ["bench", "{int8}", "--cooldown", "-1"], ["--cooldown -1", "0 (no cool-down)"]),
    ("bench: --runs 0", ["bench", "{int8}", "--runs", "0"], ["--runs 0", "at least 1"]),
    ("bench: --warmup -1", ["bench", "{int8}", "--warmup", "-1"], ["--warmup -1", "0 or more"]),
    ("bench: --threads 0", ["bench", "{int8}", "--threads", "0"], ["--threads 0", "at least 1"]),
    ("bench: --accuracy data shaped for another model", ["bench", "{int8}", "--accuracy", "npz:{other_shape}"], ["--accuracy data", "shaped (12, 1)", "expects (40, 1)"]),
    ("bench: --samples without --accuracy", ["bench", "{int8}", "--samples", "10"], ["--samples", "--accuracy DATA"]),
    ("bench: --samples -1", ["bench", "{int8}", "--accuracy", TINY_DATA, "--samples", "-1"], ["--samples -1", "at least 1"]),
    ("bench: the same file twice", ["bench", "{int8}", "{int8}"], ["student_int8.tflite is given twice", "give each file once", "--runs"]),
    # export and deploy
    ("export: --force onto a folder edgekd did not write", ["export", "{int8}", "--out", "{profiles}", "--force"], ["files edgekd did not write", "--force replaces only"]),
    ("export: --force onto the user's own model.c and model.h", ["export", "{int8}", "--out", "{own_c_files}", "--force"], ["files edgekd did not write"]),
    ("export: unknown format", ["export", "{int8}", "--format", "rust", "--out", "{out}"], ["unknown export format 'rust'"]),
    ("export: a float model for an int8-only board", ["export", "{teacher_tflite}", "--out", "{out}", "--device", "nano33ble"], ["float32 model", "runs only int8"]),
    ("export: a model TensorFlow Lite Micro cannot load, for a board", ["export", "{custom_op}", "--out", "{out}", "--device", "stm32h7"], ["custom op MyFancyOp", "TensorFlow Lite Micro"]),
    ("export: an Edge TPU-compiled model for a board", ["export", "{edgetpu_model}", "--out", "{out}", "--device", "esp32-s3"], ["compiled for the Edge TPU", "before edgetpu_compiler"]),
    ("export: a named pipe as the model", ["export", "{pipe_tflite}", "--out", "{out}"], ["pipe.tflite", "named pipe"]),
    ("deploy: unknown device", ["deploy", "{int8}", "--device", "rpi9"], ["unknown device 'rpi9'"]),
    ("deploy: a named pipe as the model", ["deploy", "{pipe_tflite}", "--device", "host"], ["pipe.tflite", "named pipe"]),
    ("deploy: an empty --path", ["deploy", "{int8}", "--device", "host", "--path", ""], ["--path is empty"]),
    ("deploy: a --path with a newline", ["deploy", "{int8}", "--device", "host", "--path", "{tmp}/a\nb.tflite"], ["control character"]),
    # devices (profiles from EDGEKD_DEVICES)
    ("devices: a profile with an unknown key", ["devices", "show", "extra"], ["extra.yaml", "colour"], "profiles"),
    ("devices: a profile with a wrong type", ["devices", "show", "typed"], ["typed.yaml", "hardware.cores"], "profiles"),
    ("devices: a profile missing a field", ["devices", "show", "partial"], ["partial.yaml", "transport"], "profiles"),
    ("devices: a profile with a Python YAML tag", ["devices", "show", "tagged"], ["tagged.yaml", "not valid YAML"], "profiles"),
    ("devices: check an unknown device", ["devices", "check", "nope"], ["unknown device 'nope'"]),
    ("devices: an ssh host that reads as an option", ["devices", "check", "hostile"], ["hostile.yaml", "transport.host", "starts with '-'"], "profiles"),
    ("devices: an ssh user that reads as an option", ["devices", "check", "hostile_user"], ["hostile_user.yaml", "transport.user"], "profiles"),
    ("bench: an emulated device that is not built", ["bench", "{int8}", "--device", "rpi5-emulated"], ["emulated rpi5 is not built", "edgekd devices emulate rpi5"], {"HOME": "{tmp}"}),
    ("devices: emulate on a host without apt or dpkg", ["devices", "emulate", "rpi5"], ["Debian host", "apt-get, dpkg, dpkg-deb not found"], {"HOME": "{tmp}", "PATH": "{tmp}/no-tools"}),
    ("devices: emulate a board with no recipe", ["devices", "emulate", "jetson"], ["no emulated device 'jetson'", "known: rpi5"]),
    ("devices: a profile that is not UTF-8", ["devices", "show", "latin"], ["latin.yaml is not UTF-8"], "profiles"),
    ("devices: a profile naming an unknown power reader", ["devices", "show", "metered"], ["metered.yaml", "power.reader", "unknown power reader 'ina291'", "known: ", "ina2xx"], "profiles"),
    ("devices: a profile naming an unknown interpreter", ["devices", "show", "runtime"], ["runtime.yaml", "runtime.interpreter", "'tflite_runtime'"], "profiles"),
    ("devices: calibration data with a point lacking a source", ["devices", "calibration", "--data", "{cal_no_source}"], ["measurements.yaml", "points.0.source", "names its source"]),
    ("devices: calibration data with a zero latency", ["devices", "calibration", "--data", "{cal_zero_latency}"], ["points.0.latency_ms", "must be a positive number"]),
    ("devices: calibration data with a negative latency", ["devices", "calibration", "--data", "{cal_negative_latency}"], ["points.0.latency_ms", "got -4.0"]),
    ("devices: calibration data naming a model that does not exist", ["devices", "calibration", "--data", "{cal_unknown_model}"], ["point 1 (board, resnet-9000)", "has no counts"]),
    ("devices: calibration data naming a device that does not exist", ["devices", "calibration", "--data", "{cal_unknown_device}"], ["point 1 (rpi9, m)", "device 'rpi9' is not defined", "known: board"]),
    ("devices: calibration data with too few points to fit", ["devices", "calibration", "--data", "{cal_no_points}"], ["device 'board' has no point", "too few points to fit"]),
    ("devices: calibration data taking a floor from a device that does not exist", ["devices", "calibration", "--data", "{cal_floor_from_unknown}"], ["device 'board'", "floor_from 'rpi9'", "known: board"]),
    ("devices: calibration data fitting the floor of a library no device runs", ["devices", "calibration", "--data", "{cal_unknown_library}"], ["libraries xnnpak", "name no device's library", "known: y"]),
    ("devices: calibrate from runs of another device", ["devices", "calibrate", "rpi4", "--from", "{runs_of_host}"], ["measured host, not rpi4", "nothing to calibrate"], {"EDGEKD_CALIBRATION": "{tmp}/my_calibration"}),
    ("devices: calibrate from runs with one measured model", ["devices", "calibrate", "rpi4", "--from", "{one_rpi4_model}"], ["too few points to fit rpi4", "at least 2"], {"EDGEKD_CALIBRATION": "{tmp}/my_calibration"}),
    ("devices: a profile nested 100,000 levels deep", ["devices", "show", "deep"], ["deep.yaml", "nested more than 64 levels deep"], "profiles"),
    ("devices: emulate with a file where ~/.edgekd/emulated goes", ["devices", "emulate", "rpi5"], [".edgekd/emulated is not a folder", "move it away"], {"HOME": "{home_file}"}),
    ("bench: a named pipe as the emulated device's build marker", ["bench", "{int8}", "--device", "rpi5-emulated"], ["emulated rpi5 is not built", "edgekd devices emulate rpi5"], {"HOME": "{home_fifo}"}),
    # results, compare, report
    ("results: show a run that does not exist", ["results", "show", "99999"], ["99999"]),
    ("compare: a file that is not results.json", ["compare", "{not_results}"], ["notes.json"]),
    ("report: --out '~/reports' that no shell expanded", ["report", "{earlier}", "--out", "~/reports"], ["starts with '~'", "no shell expanded", "a folder named '~'"]),
    ("report: --out the working folder with --force", ["report", "{earlier}", "--out", ".", "--force"], ["the folder you are working in", "never replaces it"]),
    ("report: a run that does not exist", ["report", "99999", "--out", "{out}"], ["99999"]),
    ("results: a store that is not SQLite", ["results", "list", "--db", "{not_sqlite}"], ["store.db"]),
    ("results: a store under a file", ["results", "list", "--db", "{a_file}/x.db"], ["a_file is a file, not a folder"]),
    ("results: a limit past SQLite's range", ["results", "list", "--limit", "100000000000000000000"], ["--limit"]),
    ("results: export onto a FIFO", ["results", "export", "--csv", "--out", "{fifo}"], ["export.csv is a FIFO"]),
    ("results: export --csv --out the results store itself, with --force", ["results", "export", "--csv", "--out", "{store}", "--force"], ["which this command reads", "choose another path"]),
    ("results: export onto a symbolic link (no --force)", ["results", "export", "--csv", "--out", "{link}"], ["already exists", "--force"]),
    ("compare: a results.json with latency as a string", ["compare", "{bad_latency}"], ["latency.json", "'benchmarks.0.latency_ms'"]),
    ("report: a results.json whose benchmark lacks ok", ["report", "{no_ok}", "--out", "{out}"], ["no_ok.json", "benchmarks.0.ok"]),
    ("report: a results.json of another schema version", ["report", "{schema2}", "--out", "{out}"], ["schema2.json (schema 2)", "another schema version"]),
    ("report: --out a dangling symbolic link (no --force)", ["report", "{earlier}", "--out", "{dangling}"], ["already exists", "--force"]),
    ("compare: a superscript two as the run id", ["compare", "²"], ["² is neither a run id in the store nor a results file"]),
    ("report: a superscript two as the run id", ["report", "²", "--out", "{out}"], ["² is neither a run id in the store nor a results file"]),
    ("results: a run id past SQLite's integers", ["results", "show", "99999999999999999999999"], ["no run 99999999999999999999999"]),
    ("report: a results.json whose recipe selection is a string", ["report", "{selection_text}", "--out", "{out}"], ["selection.json", "'distillation.selection'"]),
    ("report: a results.json whose shipped model has no reason", ["report", "{shipped_no_reason}", "--out", "{out}"], ["shipped.json", "'distillation.shipped.reason'"]),
    ("report: a results.json whose device accuracy is a string", ["report", "{accuracy_text}", "--out", "{out}"], ["accuracy.json", "'benchmarks.0.accuracy"]),
    ("compare: a results.json whose sustained windows are a string", ["compare", "{windows_text}"], ["windows.json", "'benchmarks.0.sustained.windows'"]),
    ("compare: a results.json whose cool-down wait is a string", ["compare", "{waited_text}"], ["waited.json", "'benchmarks.0.cooldown.waited_s'"]),
    ("compare: a results.json whose op profile's ops are a string", ["compare", "{ops_text}"], ["ops.json", "'benchmarks.0.op_profile.ops'"]),
    ("compare: a results.json whose per-invoke floor lacks p50_ms", ["compare", "{overhead_missing}"], ["overhead.json", "'benchmarks.0.invoke_overhead.p50_ms'"]),
    ("results: a named pipe as the store", ["results", "list", "--db", "{fifo_store}"], ["store_pipe.db is a named pipe (FIFO), not a regular file"]),
    ("results: a store whose schema version is -1", ["results", "list", "--db", "{store_negative}"], ["negative.db has schema version -1", "not an edgekd results store"]),
    ("results: a store of schema version 3 with no tables", ["results", "list", "--db", "{store_no_tables}"], ["no_tables.db lacks table runs", "schema version 3"]),
    ("results: a store whose artifacts table was dropped", ["results", "show", "1", "--db", "{store_no_artifacts}"], ["no_artifacts.db lacks table artifacts"]),
    # run and demo
    ("run: missing config", ["run", "{tmp}/none.yaml", "--out", "{out}"], ["config", "does not exist"]),
    ("run: unknown config key", ["run", "{config_unknown}", "--out", "{out}"], ["teacher.epochz"]),
    ("run: wrong type in the config", ["run", "{config_type}", "--out", "{out}"], ["teacher.epochs"]),
    ("run: YAML tag that builds Python objects", ["run", "{config_tag}", "--out", "{out}"], ["not valid YAML"]),
    ("run: a named pipe as the config", ["run", "{pipe_yaml}", "--out", "{out}"], ["pipe.yaml", "named pipe"]),
    ("run: a seed past 32 bits in the config", ["run", "{config_seed}", "--out", "{out}"], ["field 'seed'", "32-bit"]),
    ("run: NaN min_seconds in the config", ["run", "{config_nan}", "--out", "{out}"], ["bench.min_seconds", "finite"]),
    ("run: an unknown quantization mode in the config", ["run", "{config_int9}", "--out", "{out}"], ["field 'quantize.mode'", "unknown quantization mode 'int9'; known: dynamic, float16"]),
    ("run: a student budget too small for any student", ["run", "{config_tiny_budget}", "--out", "{out}"], ["too small", "max_mac_fraction"]),
    ("run: a config that is not UTF-8", ["run", "{latin_config}", "--out", "{out}"], ["latin.yaml is not UTF-8"]),
    ("run: a cache budget that is not a size", ["run", "{config_budget}", "--out", "{out}"], ["distill.cache_budget", "'plenty' is not a size"]),
    ("run: a config nested 100,000 levels deep", ["run", "{config_deep}", "--out", "{out}"], ["deep.yaml", "nested more than 64 levels deep"]),
    ("run: a config of mappings nested 60,000 levels deep", ["run", "{config_deep_map}", "--out", "{out}"], ["deep_map.yaml", "nested more than 64 levels deep"]),
    ("run: a config whose aliases stand for a billion values", ["run", "{config_laughs}", "--out", "{out}"], ["laughs.yaml", "expands to more than 100,000 values"]),
    ("demo: output folder exists (no --force)", ["demo", "--out", "{earlier}"], ["--force"]),
    ("demo: output under a file", ["demo", "--out", "{a_file}/demo"], ["a_file is a file, not a folder"]),
]  # fmt: skip


@pytest.fixture
def earlier_results(tmp_path, int8_model_file):
    """A finished run's folder, which no failing command may touch."""
    folder = tmp_path / "earlier"
    folder.mkdir()
    (folder / "results.json").write_text('{"schema_version": 1, "kind": "run"}\n')
    (folder / "student_int8.tflite").write_bytes(int8_model_file.read_bytes())
    return folder


def store_runs() -> int:
    with sqlite3.connect(os.environ["EDGEKD_DB"]) as connection:
        return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


# A regression that reads a named pipe would block forever: fail it instead.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input(case, bad_inputs, earlier_results, pipeline_run, tmp_path, monkeypatch):
    name, argv, fragments, *env = case
    out, _ = pipeline_run
    values = {"tmp": tmp_path, "earlier": earlier_results, "teacher_tflite": out / "teacher_float32.tflite"}
    values.update(bad_inputs)
    if env and isinstance(env[0], dict):
        for variable, value in env[0].items():
            monkeypatch.setenv(variable, value.format(**values))
    elif env:
        monkeypatch.setenv("EDGEKD_DEVICES", str(bad_inputs[env[0]]))
    args = [a.format(**values) for a in argv]
    before, earlier, runs = snapshot(tmp_path), snapshot(earlier_results), store_runs()
    result = invoke(*args, cwd=tmp_path)
    assert_clean_failure(result, *fragments)
    assert snapshot(tmp_path) == before, f"{name}: left or changed {set(snapshot(tmp_path)) ^ set(before)}"
    assert snapshot(earlier_results) == earlier and store_runs() == runs
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_the_reliability_page_lists_the_catalogue_with_its_count():
    page = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text()
    match = re.search(r"catalogue of (\d+) bad inputs", page)
    assert match and int(match.group(1)) == len(CATALOGUE), "docs/reliability.md: 'catalogue of N bad inputs', real N"
    missing = [c[0] for c in CATALOGUE if c[0] not in page]
    assert not missing, f"docs/reliability.md lacks {missing}"
    per_command: dict[str, int] = {}
    for case in CATALOGUE:
        command = case[0].split(":")[0]
        per_command[command] = per_command.get(command, 0) + 1
    listed = {name: int(count) for name, count in re.findall(r"^- (\w+) \((\d+)\):", page, re.MULTILINE)}
    assert listed == per_command, "docs/reliability.md: one '- command (N):' line per command, with its real N"
