"""Training checkpoints: every validation checkpoint of a training run is saved, so an interrupted run resumes.

One ``.npz`` per role (teacher, student_kd, student_scratch) holds the model's weights, the
optimizer's state (so the learning-rate schedule and Adam's moments continue), the best
weights so far and the history, written atomically: a run killed mid-write keeps the
previous checkpoint. ``teacher-outputs/`` holds the teachers' cached outputs
(``edgekd.distill.teacher_outputs``), which a resumed run reads instead of recomputing.
The folder carries a fingerprint of the config; a different run never resumes from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.artifacts import write_bytes_atomic, write_text_atomic
from edgekd.errors import OutputError
from edgekd.inputs import read_npz_arrays

FINGERPRINT_FILE = "fingerprint.json"
LOCK_FILE = "lock"
# Decisions a run made from a measurement, kept for its resume (``CheckpointFolder.decision``).
DECISION_PREFIX = "decision-"
TEACHER_OUTPUTS = "teacher-outputs"


@dataclass
class TrainingState:
    """Where a training run stands after ``completed`` of its checkpoints."""

    completed: int
    weights: list[np.ndarray]
    optimizer: list[np.ndarray]
    best_weights: list[np.ndarray] | None
    history: dict


def fingerprint(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def checkpoint_folder_for(output: Path) -> Path:
    """Beside the output folder (which only appears when the run completes), hidden."""
    output = Path(output)
    return output.parent / f".{output.name}.checkpoints"


class CheckpointFolder:
    """The checkpoints of one run; ``open`` refuses a folder left by a run with another config."""

    def __init__(self, folder: Path, config: dict):
        self.folder = Path(folder)
        self.config_fingerprint = fingerprint(config)

    def open(self, fresh: bool = False) -> bool:
        """Create or reuse the folder, locked for this run; True when it holds checkpoints to resume from."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock()
        marker = self.folder / FINGERPRINT_FILE
        if fresh:
            for stale in [marker, *self.folder.glob("*.npz"), *self.folder.glob(f"{DECISION_PREFIX}*.json")]:
                stale.unlink(missing_ok=True)
            shutil.rmtree(self.teacher_outputs, ignore_errors=True)
        if marker.exists() or any(self.folder.glob("*.npz")):
            try:
                found = json.loads(marker.read_text())["fingerprint"]
            except (OSError, ValueError, KeyError, TypeError):
                found = None
            if found != self.config_fingerprint:
                self.close()
                raise OutputError(
                    f"{self.folder} holds checkpoints of a run with a different config; "
                    "rerun with `fresh` to discard them, or choose another `out`"
                )
            return any(self.folder.glob("*.npz"))
        write_text_atomic(marker, json.dumps({"fingerprint": self.config_fingerprint}))
        return False

    def decision(self, name: str, decide):
        """What ``decide()`` returned the first time this run asked (kept in the folder), so a resume decides alike.

        For choices that rest on a measurement (a timing): a run resumed on a busier machine must
        train what its first attempt trained. The value must be JSON (None included).
        """
        path = self.folder / f"{DECISION_PREFIX}{name}.json"
        try:
            return json.loads(path.read_text())["value"]
        except (OSError, ValueError, KeyError, TypeError):
            value = decide()
            write_text_atomic(path, json.dumps({"value": value}))
            return value

    def _lock(self) -> None:
        """One run per folder: a second run would interleave checkpoints with the first's."""
        self._lock_file = open(self.folder / LOCK_FILE, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.close()
            raise OutputError(
                f"another edgekd run is using {self.folder}; wait for it to finish or choose another `out`"
            ) from None

    def close(self) -> None:
        lock_file, self._lock_file = getattr(self, "_lock_file", None), None
        if lock_file is not None:
            lock_file.close()

    @property
    def teacher_outputs(self) -> Path:
        """Where the teachers' cached outputs live."""
        return self.folder / TEACHER_OUTPUTS

    def holds_work(self) -> bool:
        """Whether a rerun has something to resume from: a checkpoint, or teacher outputs already cached."""
        return any(self.folder.glob("*.npz")) or any(self.teacher_outputs.glob("*.npy"))

    def role(self, role: str) -> RoleCheckpoint:
        return RoleCheckpoint(self.folder / f"{role}.npz")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.close()


class RoleCheckpoint:
    """The latest checkpoint of one training run."""

    def __init__(self, path: Path):
        self.path = path

    def save(self, state: TrainingState) -> None:
        arrays = {f"w{i}": w for i, w in enumerate(state.weights)}
        arrays.update({f"o{i}": v for i, v in enumerate(state.optimizer)})
        arrays.update({f"b{i}": w for i, w in enumerate(state.best_weights or [])})
        meta = {
            "completed": state.completed,
            "history": state.history,
            "counts": [len(state.weights), len(state.optimizer), len(state.best_weights or [])],
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes_atomic(self.path, buffer.getvalue())

    def load(self) -> TrainingState | None:
        if not self.path.exists():
            return None
        data = read_npz_arrays(self.path, "checkpoint", OutputError, "rerun with `fresh` to start over")
        try:
            meta = json.loads(bytes(data["meta"]).decode())
            weights, optimizer, best = meta["counts"]
            return TrainingState(
                completed=int(meta["completed"]),
                weights=[data[f"w{i}"] for i in range(weights)],
                optimizer=[data[f"o{i}"] for i in range(optimizer)],
                best_weights=[data[f"b{i}"] for i in range(best)] or None,
                history=meta["history"],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OutputError(
                f"checkpoint {self.path} is unreadable ({exc}); rerun with `fresh` to start over"
            ) from None


@contextlib.contextmanager
def checkpointed(output: Path, config: dict, fresh: bool, say=print) -> Iterator[CheckpointFolder]:
    """Checkpoints for a run writing ``output``: resumed when present, kept on failure, removed on success.

    A run that fails before its first checkpoint leaves no folder behind.
    """
    folder = CheckpointFolder(checkpoint_folder_for(output), config)
    if folder.open(fresh):
        say(f"resuming from the checkpoints in {folder.folder} (`fresh` starts over)")
    try:
        yield folder
    except BaseException as exc:
        if not folder.holds_work():
            folder.remove()
        else:
            folder.close()
            if isinstance(exc, KeyboardInterrupt):
                say(f"checkpoints kept in {folder.folder}: run the same command again with `out` {output} to resume")
        raise
    folder.remove()
