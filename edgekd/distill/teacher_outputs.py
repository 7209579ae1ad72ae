"""The teachers' outputs on the distillation set: computed once, written to memory-mapped files, reused.

Logits are kept per teacher, so recipes at different temperatures each get the ensemble
averaged at their own temperature; features are the first teacher's.

Each teacher's logits, and the first teacher's features a recipe reads, are one ``NAME.npy``
in the run's checkpoint folder (``.<out>.checkpoints/teacher-outputs/``) beside
``NAME.json``, which says what it holds: the teacher's weights, the inputs (files and view,
or values) and the output, all hashed. A file is written as ``NAME.npy.partial`` and renamed
when complete, so an interrupted write is never read. Every epoch, every candidate ``auto``
tries and a resumed run read the same file; a changed teacher or data writes a new one.
Without a checkpoint folder (the Python API on arrays) the outputs stay in memory.

The cache has a budget: by default half of the memory available when the run starts (the
training step reads it at random positions, which should come from the page cache, not the
disk) and never more than half of the free disk it is written to. Outputs past the budget
are not cached: the teacher runs online in every step instead, and the run says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.artifacts import write_text_atomic
from edgekd.data.samples import Inputs, fingerprint, is_stream
from edgekd.distill.features import ResolvedFeature, flatten_feature, tap_model
from edgekd.distill.step import LABELS, TEACHER_LOGITS, ensemble_logits, feature_target
from edgekd.errors import ModelError
from edgekd.inputs import available_memory_bytes, describe_size
from edgekd.models.evaluate import as_logits, predict
from edgekd.progress import SILENT, Reporter

# Cached targets up to this size are loaded into memory for training (one copy, as before
# caching existed); larger ones are read from the memory-mapped file a batch at a time.
IN_MEMORY_TARGETS = 256 << 20
# Outputs predicted per call while caching, in bytes: bounds the memory a feature map takes on
# its way to disk, while logits alone go in one call (each call costs a pipeline and a trace).
CHUNK_BYTES = 256 << 20


@dataclass(frozen=True)
class CacheBudget:
    """How many bytes of teacher outputs may be cached, and where the limit comes from (for messages)."""

    limit: int
    source: str

    @staticmethod
    def default(folder: Path | None) -> CacheBudget:
        memory = available_memory_bytes() // 2
        if folder is None:
            return CacheBudget(memory, "half of the memory available")
        disk = shutil.disk_usage(_existing(folder)).free // 2
        if disk < memory:
            return CacheBudget(disk, f"half of the free disk under {folder}")
        return CacheBudget(memory, "half of the memory available")

    def __str__(self) -> str:
        return f"{describe_size(self.limit)} ({self.source})"


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def model_fingerprint(model) -> str:
    """The model's name, architecture-independent: its weights, hashed."""
    digest = hashlib.sha256(model.name.encode())
    for weight in model.get_weights():
        digest.update(repr((weight.shape, str(weight.dtype))).encode())
        digest.update(memoryview(np.ascontiguousarray(weight)).cast("B"))
    return digest.hexdigest()


class OutputStore:
    """Named arrays of teacher outputs: memory-mapped files in ``folder`` (written once, reused), or in memory."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder is not None else None
        self.reused: list[str] = []

    def find(self, name: str, identity: str) -> np.ndarray | None:
        """The array written earlier under ``name`` for ``identity``, memory-mapped; None if absent or stale."""
        if self.folder is None:
            return None
        data, label = self.folder / f"{name}.npy", self.folder / f"{name}.json"
        try:
            if json.loads(label.read_text()).get("identity") != identity:
                return None
            array = np.load(data, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        self.reused.append(name)
        return array

    def create(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A writable array for ``name``: a new memory-mapped ``.partial`` file, or memory."""
        if self.folder is None:
            return np.empty(shape, np.float32)
        self.folder.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(self.folder / f"{name}.npy.partial", "w+", np.float32, shape)

    def commit(self, name: str, identity: str, array: np.ndarray) -> np.ndarray:
        """Make a completely written array readable under ``name``; returns it, memory-mapped read-only."""
        if self.folder is None:
            return array
        array.flush()
        del array
        partial = self.folder / f"{name}.npy.partial"
        os.replace(partial, self.folder / f"{name}.npy")
        write_text_atomic(self.folder / f"{name}.json", json.dumps({"identity": identity}))
        return np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)


def chunks(x: Inputs, output_bytes_per_sample: int) -> Iterator[tuple[int, Inputs]]:
    """(start, samples) covering ``x`` in order, ``CHUNK_BYTES`` of outputs each: slices of arrays, lazy subsets."""
    size = max(256, CHUNK_BYTES // max(1, output_bytes_per_sample))
    for start in range(0, len(x), size):
        stop = min(start + size, len(x))
        yield start, x.subset(np.arange(start, stop)) if is_stream(x) else x[start:stop]


def target_array(array: np.ndarray) -> np.ndarray:
    """What training reads: small cached outputs in memory, large ones left memory-mapped (gathered per batch)."""
    return np.asarray(array) if array.nbytes <= IN_MEMORY_TARGETS else array


def array_bytes(count: int, shape: tuple[int, ...]) -> int:
    return 4 * count * math.prod(shape)


class TeacherOutputs:
    """The teachers' outputs on the distillation set, computed once and shared by every recipe that trains on them."""

    def __init__(
        self,
        teachers: list,
        weights: tuple[float, ...],
        inputs: Inputs,
        labels: np.ndarray,
        store: OutputStore | None = None,
        budget: CacheBudget | None = None,
    ):
        # ``inputs``: the distillation set as the teachers see it.
        self.teachers, self.weights, self.inputs, self.labels = teachers, weights, inputs, labels
        self.store = store or OutputStore(None)
        self.budget = budget or CacheBudget.default(self.store.folder)
        self._logits: dict[int, np.ndarray] = {}
        self._features: dict[str, np.ndarray] = {}
        self._identities: list[str] | None = None

    @staticmethod
    def _name(feature: ResolvedFeature) -> str:
        key = f"{feature.request.key}:{feature.teacher_layer}:{feature.grid}"
        return f"features-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def _identity(self, index: int) -> str:
        """The teacher's weights and the inputs it sees (hashed once: both take a pass over their bytes)."""
        if self._identities is None:
            inputs = fingerprint(self.inputs)
            self._identities = [f"{model_fingerprint(teacher)}:{inputs}" for teacher in self.teachers]
        return self._identities[index]

    def bytes_needed(self, features: tuple[ResolvedFeature, ...]) -> int:
        """What a recipe's cached targets take: every teacher's logits and the features it reads."""
        count = len(self.inputs)
        logits = sum(array_bytes(count, (int(t.output_shape[-1]),)) for t in self.teachers)
        return logits + sum(array_bytes(count, f.teacher_shape.on_grid(f.grid).flat) for f in features)

    def _reuse(self, features: tuple[ResolvedFeature, ...]) -> None:
        for index in range(len(self.teachers)):
            if index not in self._logits:
                found = self.store.find(f"logits-{index}", f"{self._identity(index)}:logits")
                if found is not None:
                    self._logits[index] = found
        for feature in features:
            name = self._name(feature)
            if name not in self._features:
                found = self.store.find(name, f"{self._identity(0)}:{name}")
                if found is not None:
                    self._features[name] = found

    def _compute(self, features: tuple[ResolvedFeature, ...], reporter: Reporter) -> None:
        reused_before = len(self.store.reused)
        self._reuse(features)
        if len(self.store.reused) > reused_before:
            reporter.say(f"edgekd: reusing the teacher outputs cached in {self.store.folder}")
        jobs = []
        for index, teacher in enumerate(self.teachers):
            wanted = tuple(f for f in features if self._name(f) not in self._features) if index == 0 else ()
            if wanted or index not in self._logits:
                jobs.append((index, teacher, wanted))
        if not jobs:
            return
        with reporter.bar(len(self.inputs) * len(jobs), "caching teacher outputs", unit="samples") as bar:
            for index, teacher, wanted in jobs:
                self._cache_one(index, teacher, wanted, bar)

    def _cache_one(self, index: int, teacher, wanted: tuple[ResolvedFeature, ...], bar) -> None:
        """One pass of one teacher over the inputs, a chunk at a time, each output written as it comes."""
        model = tap_model(teacher, wanted, "teacher") if wanted else teacher
        names = [f"logits-{index}", *(self._name(f) for f in wanted)]
        arrays: dict[str, np.ndarray] = {}
        per_sample = array_bytes(1, (int(teacher.output_shape[-1]),))
        per_sample += sum(array_bytes(1, f.teacher_shape.on_grid(f.grid).flat) for f in wanted)
        for start, chunk in chunks(self.inputs, per_sample):
            outputs = predict(model, chunk)
            outputs = list(outputs) if wanted else [outputs]
            values = [as_logits(outputs[0], teacher.name)]
            for feature, value in zip(wanted, outputs[1:], strict=True):
                value = flatten_feature(np.asarray(value, dtype=np.float32), feature.teacher_shape, feature.grid)
                if not np.all(np.isfinite(value)):
                    raise ModelError(f"the teacher's layer {feature.teacher_layer!r} produced NaN or Inf")
                values.append(value)
            for name, value in zip(names, values, strict=True):
                if name not in arrays:
                    arrays[name] = self.store.create(name, (len(self.inputs), *value.shape[1:]))
                arrays[name][start : start + len(value)] = value
            bar.update(len(chunk))
        for name, array in arrays.items():
            identity = f"{self._identity(index)}:{'logits' if name.startswith('logits') else name}"
            done = self.store.commit(name, identity, array)
            if name.startswith("logits"):
                self._logits.setdefault(index, done)
            else:
                self._features[name] = done

    def targets(
        self, features: tuple[ResolvedFeature, ...], temperature: float, reporter: Reporter = SILENT
    ) -> dict[str, np.ndarray]:
        """Labels, the (ensembled) teacher logits at ``temperature`` and the requested features."""
        self._compute(features, reporter)
        logits = [target_array(self._logits[index]) for index in range(len(self.teachers))]
        targets: dict[str, np.ndarray] = {LABELS: self.labels}
        targets[TEACHER_LOGITS] = np.asarray(ensemble_logits(logits, self.weights, temperature), dtype=np.float32)
        for feature in features:
            targets[feature_target(feature.request.key)] = target_array(self._features[self._name(feature)])
        return targets
