"""Verify an untrusted .tflite before edgekd parses it: in a child process, with a time and a memory limit.

Model files come from the internet. The LiteRT interpreter runs the flatbuffers verifier
over the whole buffer when it builds a model (every offset and vector length in bounds),
then resolves the ops and plans the tensors; ``invoke`` runs the kernels once on zeros.
All of that is native code, so it runs in a child process: a crash there (a signal), a
hang (the time limit) or a huge allocation (``RLIMIT_AS``) becomes one clear error here,
never a crash of the CLI. The child imports only numpy and the interpreter, never
edgekd or anything named in the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from edgekd.errors import ModelError

TIME_LIMIT_S = 60.0
MEMORY_LIMIT_MB = 4096


def memory_limit_mb() -> int:
    """The child's address-space limit: ``EDGEKD_VERIFY_MEMORY_MB`` or 4096."""
    try:
        return int(os.environ.get("EDGEKD_VERIFY_MEMORY_MB", MEMORY_LIMIT_MB))
    except ValueError:
        return MEMORY_LIMIT_MB


# Errors that mean the file is sound but this host's interpreter lacks an op it names
# (an Edge TPU custom op, a newer op version): the file is inspected, and runs where its delegate is.
MISSING_OP_MARKERS = ("custom op", "didn't find op", "unsupported op", "op builtin_code out of range")

CHILD = r"""
import json, resource, sys
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    from tflite_runtime.interpreter import Interpreter
import numpy as np
data = sys.stdin.buffer.read()
# The limit counts what the imports mapped: it bounds what the model makes the interpreter allocate.
limit = int(sys.argv[1]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
stage = "building the interpreter (flatbuffer verification, op resolution)"
try:
    interpreter = Interpreter(model_content=data)
    stage = "allocating tensors"
    interpreter.allocate_tensors()
    if sys.argv[2] == "1":
        stage = "running it once on zeros"
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
        interpreter.invoke()
except MemoryError:
    print(json.dumps({"ok": False, "stage": stage, "error": "out of memory"}))
    sys.exit(3)
except Exception as exc:
    print(json.dumps({"ok": False, "stage": stage, "error": " ".join(str(exc).split())[:300] or type(exc).__name__}))
    sys.exit(2)
print(json.dumps({"ok": True, "stage": stage}))
"""


@dataclass(frozen=True)
class Verification:
    """What the interpreter made of the file: loaded (and ran), or a note why this host could not."""

    loaded: bool
    note: str | None = None


# Files already verified in this process (by content): `bench` checks each model per device.
_VERIFIED: dict[tuple[str, bool, float, int], Verification] = {}


def verify_model(
    data: bytes,
    source: str,
    run_once: bool = False,
    time_limit_s: float = TIME_LIMIT_S,
    memory_mb: int | None = None,
) -> Verification:
    """Raise ModelError unless the LiteRT interpreter accepts ``data``; ``run_once`` also invokes it."""
    limit_mb = memory_mb if memory_mb is not None else memory_limit_mb()
    key = (hashlib.sha256(data).hexdigest(), run_once, time_limit_s, limit_mb)
    if key not in _VERIFIED:
        _VERIFIED[key] = _verify_in_child(data, source, run_once, time_limit_s, limit_mb)
    return _VERIFIED[key]


def _verify_in_child(data: bytes, source: str, run_once: bool, time_limit_s: float, limit_mb: int) -> Verification:
    argv = [sys.executable, "-I", "-c", CHILD, str(limit_mb), "1" if run_once else "0"]
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and our own child code
            argv, input=data, capture_output=True, timeout=time_limit_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise ModelError(
            f"{source}: the TFLite interpreter did not finish loading it within {time_limit_s:.0f} s; "
            "the file is damaged or hostile"
        ) from None
    if completed.returncode < 0:
        name = signal.Signals(-completed.returncode).name
        raise ModelError(
            f"{source}: the TFLite interpreter crashed ({name}) while loading it, in a separate process; "
            "the file is damaged or hostile"
        )
    lines = completed.stdout.decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        detail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        if "memoryerror" in detail[0].lower() or "bad_alloc" in detail[0].lower():
            answer = {"ok": False, "stage": "loading", "error": "out of memory"}
        else:
            raise ModelError(
                f"{source}: the TFLite interpreter failed while loading it (exit {completed.returncode}: "
                f"{detail[0][:200]}); the file is damaged"
            ) from None
    if answer.get("ok"):
        return Verification(loaded=True)
    error = answer.get("error", "")
    if error == "out of memory":
        raise ModelError(
            f"{source}: loading it needed more than {limit_mb} MB while {answer.get('stage')}; "
            "a damaged file can declare huge tensors (raise EDGEKD_VERIFY_MEMORY_MB if the model is really that big)"
        )
    if any(marker in error.lower() for marker in MISSING_OP_MARKERS):
        return Verification(loaded=False, note=f"this host's interpreter cannot build it: {error}")
    hint = (
        f" (under a {limit_mb} MB memory limit; raise EDGEKD_VERIFY_MEMORY_MB if the model really needs more)"
        if answer.get("stage") != "building the interpreter (flatbuffer verification, op resolution)"
        else ""
    )
    raise ModelError(
        f"{source} is not a usable TFLite model: the interpreter failed {answer.get('stage')}: {error}{hint}"
    )
