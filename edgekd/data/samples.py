"""Samples that stay on disk: a split's inputs read or decoded when asked, never the whole set in memory.

Design (the smallest change that lets every stage run on data larger than memory):

- A split's inputs are a numpy array (small data: the embedded MNIST-1D, an npz that fits in
  memory; every stage works on it exactly as before, at full speed) or a ``SampleStream``:
  samples addressed by position and read on demand. A stream knows its length and sample
  shape, so ``len(x)``, ``x.shape`` and ``x[i:j]`` (which decodes those samples only) work
  as on an array; ``subset`` and ``concatenate`` are lazy (the validation split, the
  distillation set), and ``element`` loads one sample inside a tf.data pipeline. Labels
  always stay in memory (8 bytes a sample).
- Training streams positions, shuffled exactly as arrays are, and decodes them in parallel
  (``edgekd.distill.trainer``); predictions (validation, test accuracy, teacher outputs)
  stream them in order (``batches``); the few hundred samples int8 calibration and
  BatchNorm recalibration need are decoded eagerly.
- Files (images, WAV) decode into a raw form (pixels, a waveform) that a ``View`` turns
  into a model input: the student's and, where it differs, the teacher's (its resolution,
  colour and scaling). Streams over the same files share one decode per sample.
- Large npz arrays are memory-mapped and read a sample at a time (``ArrayStream``).
- The teacher's outputs on a stream are written once to memory-mapped files in the run's
  checkpoint folder (``edgekd.distill.teacher_cache``).
- A file that fails to decode mid-stream stops the run with one line naming it
  (``reading``), found again with the same decoder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgekd.errors import DataError
from edgekd.frameworks import tensorflow

# Samples decoded per batch when a stream is read in order (prediction, eager reads).
READ_BATCH = 256
# Samples whose finiteness is checked at a time (bounded memory on memory-mapped arrays).
CHECK_CHUNK = 4096
# A stream's tf.data pipeline: decoders at once and batches read ahead.
MAX_DECODERS = 8
PREFETCH_BATCHES = 2


class View(Protocol):
    """Turns a file's decoded raw form into one model input (resize, colour, scaling, features)."""

    sample_shape: tuple[int, ...]

    def apply(self, raw): ...

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class Source:
    """How a kind of file is decoded in TensorFlow (bytes to its raw form), and what to call it in messages."""

    what: str
    decode: Callable
    fix: str = "remove or replace it"


class SampleStream:
    """Samples of one split, by position, read when asked; behaves like a float32 array for the few reads it allows."""

    sample_shape: tuple[int, ...]
    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.sample_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.sample_shape)

    def subset(self, positions: np.ndarray) -> SampleStream:
        """The samples at ``positions`` (a lazy view: nothing is read)."""
        raise NotImplementedError

    def concatenate(self, other: SampleStream) -> SampleStream:
        """These samples followed by ``other``'s (lazy)."""
        raise NotImplementedError

    def element(self, position):
        """One sample as a tensor, inside a tf.data pipeline (``position`` is a scalar int64 tensor)."""
        raise NotImplementedError

    def find_unreadable(self) -> str | None:
        """A message naming the first sample that cannot be read, or None; called only after a read failed."""
        return None

    def __getitem__(self, key) -> np.ndarray:
        positions = np.arange(len(self))[key]
        if np.ndim(positions) == 0:
            return self[np.array([positions])][0]
        tf = tensorflow()
        with reading(self):
            return self._reader()(tf.constant(positions, tf.int64)).numpy()

    def _reader(self):
        """The samples at some positions, in one compiled call: traced once per stream, reused by every read."""
        reader = self.__dict__.get("_read")
        if reader is None:
            tf = tensorflow()
            spec = tf.TensorSpec(self.sample_shape, tf.float32)
            reader = tf.function(
                lambda positions: tf.map_fn(self.element, positions, fn_output_signature=spec, parallel_iterations=16),
                input_signature=[tf.TensorSpec([None], tf.int64)],
            )
            self.__dict__["_read"] = reader
        return reader


Inputs = np.ndarray | SampleStream


def is_stream(x) -> bool:
    return isinstance(x, SampleStream)


def subset(x: Inputs, positions: np.ndarray) -> Inputs:
    """``x[positions]``: a copy for arrays, a lazy view for streams."""
    return x.subset(positions) if is_stream(x) else x[positions]


def concatenate(first: Inputs, second: Inputs) -> Inputs:
    """Two splits' inputs one after the other (both arrays, or both streams)."""
    if is_stream(first) != is_stream(second):
        raise DataError("cannot join samples held in memory with samples read from disk; use one kind of data")
    return first.concatenate(second) if is_stream(first) else np.concatenate([first, second])


def decode_parallelism() -> int:
    """Samples decoded at once: one per core, at most ``MAX_DECODERS``."""
    return max(1, min(MAX_DECODERS, os.cpu_count() or 1))


def bounded(dataset):
    """``dataset`` with a fixed prefetch and without tf.data's autotuner.

    Left to AUTOTUNE, tf.data enlarges its prefetch buffers and parallelism while a run goes
    on, up to half the machine's memory by default: on a long stream of decoded images that
    showed as resident memory climbing with the number of steps. Fixed parallelism and a
    prefetch of ``PREFETCH_BATCHES`` keep the pipeline's memory the same at any length.

    The autotuner is off, not only bounded: its thread outlives the pipeline's use, and deleting
    the iterator waits for it (a futex wait in ``RootDataset::Iterator``'s destructor, no CPU
    used). Trainings ended with that wait, up to 45 s each on 1,500-step runs over 32x32 PNGs:
    30 to 50 s of a 330 s distillation with ``auto``.
    """
    tf = tensorflow()
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


def batches(x: SampleStream, batch_size: int = READ_BATCH):
    """The stream's samples in order, batched, decoded in parallel: for prediction."""
    tf = tensorflow()
    return bounded(
        tf.data.Dataset.range(len(x))
        .map(x.element, num_parallel_calls=decode_parallelism(), deterministic=True)
        .batch(batch_size)
    )


def first_non_finite(x: Inputs) -> int | None:
    """The first sample holding NaN or Inf, checked a chunk at a time; None when all are finite.

    Decoded files (images, audio) are finite by construction and are not read here.
    """
    if isinstance(x, FileStream):
        return None
    for start in range(0, len(x), CHECK_CHUNK):
        chunk = np.asarray(x[start : start + CHECK_CHUNK])
        bad = ~np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
        if bad.any():
            return start + int(np.argmax(bad))
    return None


@contextlib.contextmanager
def reading(*streams) -> Iterator[None]:
    """Turn a decoding failure inside TensorFlow into one DataError naming the file (found by decoding again)."""
    tf = tensorflow()
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError, tf.errors.NotFoundError) as exc:
        for stream in streams:
            if is_stream(stream):
                problem = stream.find_unreadable()
                if problem:
                    raise DataError(problem) from None
        raise exc


def element_loader(streams: Sequence[SampleStream]):
    """A tf.data map function from a position to every stream's sample; streams over the same files decode once."""
    groups: list[tuple[FileStream, list[int]]] = []
    for index, stream in enumerate(streams):
        match = next((g for g in groups if isinstance(stream, FileStream) and g[0].same_files(stream)), None)
        if match is None:
            groups.append((stream, [index]))
        else:
            match[1].append(index)

    def load(position):
        values = [None] * len(streams)
        for first, members in groups:
            if isinstance(first, FileStream):
                raw = first.raw(position)
                for index in members:
                    values[index] = streams[index].view.apply(raw)
            else:
                values[members[0]] = first.element(position)
        return tuple(values)

    return load


class FileStream(SampleStream):
    """One file per sample, decoded by ``source`` and shaped by ``view``."""

    def __init__(self, paths: np.ndarray, source: Source, view: View):
        self.paths, self.source, self.view = np.asarray(paths, dtype=str), source, view
        self.sample_shape = tuple(view.sample_shape)

    def __len__(self) -> int:
        return len(self.paths)

    def with_view(self, view: View) -> FileStream:
        """The same files through another view (the teacher's)."""
        return FileStream(self.paths, self.source, view)

    def same_files(self, other: SampleStream) -> bool:
        return (
            isinstance(other, FileStream)
            and other.source is self.source
            and (other.paths is self.paths or np.array_equal(other.paths, self.paths))
        )

    def subset(self, positions: np.ndarray) -> FileStream:
        return FileStream(self.paths[positions], self.source, self.view)

    def concatenate(self, other: SampleStream) -> FileStream:
        if not isinstance(other, FileStream) or other.source is not self.source or other.view != self.view:
            raise DataError("cannot join samples decoded in different ways; give one kind of data")
        return FileStream(np.concatenate([self.paths, other.paths]), self.source, self.view)

    def raw(self, position):
        tf = tensorflow()
        # A constant of the graph being traced (each tf.data function has its own).
        return self.source.decode(tf.io.read_file(tf.gather(tf.constant(self.paths), position)))

    def element(self, position):
        return self.view.apply(self.raw(position))

    def find_unreadable(self) -> str | None:
        tf = tensorflow()
        for path in self.paths:
            try:
                self.view.apply(self.source.decode(tf.io.read_file(path)))
            except (tf.errors.InvalidArgumentError, tf.errors.DataLossError, tf.errors.NotFoundError) as exc:
                reason = " ".join(str(exc.message).split())[:200]
                return f"cannot read {self.source.what} {path}: {reason}; {self.source.fix}"
        return None


class ArrayStream(SampleStream):
    """Rows of arrays that stay on disk (memory-mapped ``.npy`` data), read a sample at a time as float32."""

    def __init__(self, parts: tuple[np.ndarray, ...], part_of: np.ndarray, row_of: np.ndarray, sample_shape):
        self.parts, self.part_of, self.row_of = parts, part_of, row_of
        self.sample_shape = tuple(int(d) for d in sample_shape)

    @staticmethod
    def of(array: np.ndarray, sample_shape: tuple[int, ...] | None = None) -> ArrayStream:
        """Every row of ``array`` (reshaped to ``sample_shape``, e.g. a channel added to signals)."""
        return ArrayStream(
            (array,),
            np.zeros(len(array), np.int32),
            np.arange(len(array), dtype=np.int64),
            sample_shape or array.shape[1:],
        )

    def __len__(self) -> int:
        return len(self.row_of)

    def subset(self, positions: np.ndarray) -> ArrayStream:
        return ArrayStream(self.parts, self.part_of[positions], self.row_of[positions], self.sample_shape)

    def concatenate(self, other: SampleStream) -> ArrayStream:
        if not isinstance(other, ArrayStream) or other.sample_shape != self.sample_shape:
            raise DataError("cannot join memory-mapped samples of different shapes")
        return ArrayStream(
            self.parts + other.parts,
            np.concatenate([self.part_of, other.part_of + len(self.parts)]),
            np.concatenate([self.row_of, other.row_of]),
            self.sample_shape,
        )

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """The samples at ``positions`` as float32, read part by part in file order."""
        out = np.empty((len(positions), *self.sample_shape), np.float32)
        parts, rows = self.part_of[positions], self.row_of[positions]
        for part in np.unique(parts):
            chosen = np.flatnonzero(parts == part)
            order = np.argsort(rows[chosen], kind="stable")
            values = self.parts[part][rows[chosen][order]]
            out[chosen[order]] = values.reshape(len(order), *self.sample_shape)
        return out

    def __getitem__(self, key) -> np.ndarray:
        positions = np.arange(len(self))[key]
        if np.ndim(positions) == 0:
            return self.rows(np.array([positions]))[0]
        return self.rows(np.asarray(positions, dtype=np.int64))

    def element(self, position):
        tf = tensorflow()
        value = tf.numpy_function(lambda p: self.rows(np.array([p]))[0], [position], tf.float32, stateful=False)
        value.set_shape(self.sample_shape)
        return value


def fingerprint(x: Inputs) -> str:
    """What identifies a split's inputs, for outputs cached on disk: the files (with their sizes and times) and
    the view that decodes them, the rows of memory-mapped arrays, or the values held in memory."""
    digest = hashlib.sha256(repr((type(x).__name__, tuple(x.shape))).encode())
    if isinstance(x, FileStream):
        digest.update(json.dumps([x.source.what, x.view.describe()], sort_keys=True, default=str).encode())
        for path in x.paths:
            status = os.stat(path)
            digest.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    elif isinstance(x, ArrayStream):
        for part in x.parts:
            digest.update(repr((getattr(part, "filename", None), part.shape, str(part.dtype))).encode())
        digest.update(x.part_of.tobytes() + x.row_of.tobytes())
    else:
        digest.update(memoryview(np.ascontiguousarray(x)).cast("B"))
    return digest.hexdigest()
