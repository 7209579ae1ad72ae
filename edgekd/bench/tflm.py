"""TensorFlow Lite Micro itself, on the host: the arena its recording allocator measures, the ops it lacks, its outputs.

The PyPI package ``tflite-micro`` wraps TFLM's own C++ interpreter and kernels (the
reference kernels, not a board's optimized ones). Built with its recording allocator, the
interpreter counts every byte it takes from the tensor arena: the activations its memory
planner packs (the head) and what stays for the model's lifetime (the tail: persistent
tensors, quantization data, node structs, kernel buffers). ``print_allocations`` writes
those figures from native code to file descriptor 2, and a model TFLM cannot run can
crash the process, so the interpreter runs in a child process whose stderr is parsed here.
The child imports only numpy and tflite_micro, never edgekd or anything the model names.

Two limits of a host measurement, said wherever the figure is shown: the host build is
64-bit, so the structs in the tail hold 8-byte pointers where a Cortex-M or Xtensa core
holds 4-byte ones (the board needs somewhat less for them); and a board's optimized
kernels (CMSIS-NN, ESP-NN) may ask for scratch buffers that the reference kernels do not.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.errors import ModelError

# The arena the child offers TFLM: untouched pages cost nothing, and no microcontroller in
# reach has a tenth of it, so a model that needs more does not fit any of them anyway.
ARENA_CEILING_BYTES = 256 * 1024 * 1024
TIME_LIMIT_S = 600.0
# The smallest arena is searched to this granularity (TFLM aligns its buffers to 16 bytes).
ARENA_STEP_BYTES = 16
METHOD = (
    "measured: the smallest arena in which TensorFlow Lite Micro (tflite-micro {version}, reference kernels, "
    "on this 64-bit host) allocates and runs the model; a 32-bit board needs somewhat less for TFLM's structs, "
    "and optimized kernels such as CMSIS-NN or ESP-NN may add scratch buffers"
)

CHILD = r"""
import json, os, re, resource, sys, tempfile, time
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model_path, ceiling, step, inputs_path, outputs_path = sys.argv[1:6]
ceiling, step = int(ceiling), int(step)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
data = open(model_path, "rb").read()


def build(arena):
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena)
    detail = interpreter.get_input_details(0)
    interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
    interpreter.invoke()
    return interpreter


def works(arena):
    # Each probe runs in a forked copy: at some arena sizes just too small, TFLM's failure path
    # crashes (SIGSEGV after "Node FULLY_CONNECTED failed to prepare", tflite-micro 0.dev2026), and
    # a crash there means that size does not work, not that the model cannot be measured.
    pid = os.fork()
    if pid == 0:
        try:
            build(arena)
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def allocations(interpreter):
    # print_allocations writes from C++ to file descriptor 2: catch the descriptor itself.
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            interpreter.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode(errors="replace")


try:
    interpreter = build(ceiling)
except Exception as exc:
    print(json.dumps({"ok": False, "error": " ".join(str(exc).split())[:300] or type(exc).__name__}))
    sys.exit(2)
recorded = allocations(interpreter)
detail = interpreter.get_input_details(0)
samples = np.load(inputs_path) if inputs_path else np.zeros((0, *detail["shape"][1:]), detail["dtype"])
outputs = []
started = time.perf_counter()
for index in range(len(samples)):
    interpreter.set_input(samples[index : index + 1], 0)
    interpreter.invoke()
    outputs.append(interpreter.get_output(0).copy())
seconds = time.perf_counter() - started
if outputs_path:
    np.save(outputs_path, np.concatenate(outputs))
# The recorder counts what stays allocated; kernels also take temporary memory while they are
# prepared, so the smallest arena that works is searched for, in (low, high] with high known to work.
total = re.search(r"Arena allocation total (\d+) bytes", recorded)
low = int(total.group(1)) - 1 if total else 0
high = max(low + step, 2 * low)
while high < ceiling and not works(high):
    low, high = high, min(ceiling, 2 * high)
while high - low > step:
    middle = (low + high) // 2
    if works(middle):
        high = middle
    else:
        low = middle
print(json.dumps({"ok": True, "allocations": recorded, "seconds": seconds, "smallest_arena": high}))
"""

ALLOCATION = re.compile(r"\[RecordingMicroAllocator\] Arena allocation (total|head|tail) (\d+) bytes")
PART = re.compile(r"\[RecordingMicroAllocator\] '([^']+)' used (\d+) bytes")
# TFLM names a builtin op it lacks; for a custom op it says only CUSTOM, so the model's own
# custom-op names are read from the file.
MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([^']+)'|Failed to get registration from op code (\w+)")
EDGETPU_OP = "edgetpu-custom-op"


class TflmError(ModelError):
    """TensorFlow Lite Micro cannot run the model (an op it lacks, a model it cannot allocate)."""


class TflmNotInstalled(TflmError):
    """This host has no ``tflite-micro``: a fact about the host, not the model."""


@dataclass(frozen=True)
class TflmArena:
    """The arena TFLM needs: the smallest that works, and what its recording allocator counts as kept in it.

    ``recorded`` is head (activations, planned) plus tail (what lives as long as the model:
    persistent tensors, quantization data, node structs, kernel buffers). ``bytes`` is larger
    by the temporary memory kernels take while they are prepared, which the recorder does not keep.
    """

    bytes: int
    recorded: int
    head: int
    tail: int
    parts: dict[str, int]
    method: str

    measured = True

    def as_dict(self) -> dict:
        return {
            "bytes": self.bytes,
            "source": "measured",
            "recorded": {"total": self.recorded, "head": self.head, "tail": self.tail, "parts": self.parts},
            "method": self.method,
        }


@dataclass(frozen=True)
class TflmRun:
    """What one child run of TFLM gave: the arena, and the raw outputs when inputs were given."""

    arena: TflmArena
    outputs: np.ndarray | None
    seconds: float


def available() -> bool:
    """Whether the ``tflite-micro`` package is installed (``pip install 'edgekd[mcu]'``)."""
    import importlib.util

    return importlib.util.find_spec("tflite_micro") is not None


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("tflite-micro")
    except PackageNotFoundError:
        return "not installed"


def run_tflm(data: bytes, source: str, inputs: np.ndarray | None = None, time_limit_s: float = TIME_LIMIT_S) -> TflmRun:
    """Load ``data`` in TFLM (in a child process) and invoke it on ``inputs`` (raw tensor values, one sample per
    row) or once on zeros; raises :class:`TflmError` naming the op TFLM lacks or why it cannot allocate."""
    custom = _custom_ops(data, source)
    if EDGETPU_OP in custom:
        raise TflmError(
            f"{source} is compiled for the Edge TPU ({EDGETPU_OP}); TensorFlow Lite Micro cannot run it: "
            "give the int8 .tflite from before edgetpu_compiler"
        )
    if not available():
        raise TflmNotInstalled(
            "TensorFlow Lite Micro is not installed here (pip install 'edgekd[mcu]', the tflite-micro package)"
        )
    with tempfile.TemporaryDirectory(prefix="edgekd-tflm-") as folder:
        model = Path(folder) / "model.tflite"
        model.write_bytes(data)
        inputs_path = outputs_path = ""
        if inputs is not None:
            inputs_path, outputs_path = str(Path(folder) / "inputs.npy"), str(Path(folder) / "outputs.npy")
            np.save(inputs_path, inputs)
        argv = [sys.executable, "-I", "-c", CHILD, str(model), str(ARENA_CEILING_BYTES), str(ARENA_STEP_BYTES)]
        argv += [inputs_path, outputs_path]
        try:
            completed = subprocess.run(  # noqa: S603 - fixed argv: this interpreter and our own child code
                argv, capture_output=True, timeout=time_limit_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise TflmError(f"{source}: TensorFlow Lite Micro did not finish within {time_limit_s:.0f} s") from None
        stderr = completed.stderr.decode(errors="replace")
        answer = _last_json(completed.stdout.decode(errors="replace"))
        if completed.returncode != 0 or not answer.get("ok"):
            raise TflmError(_failure(source, completed.returncode, stderr, answer.get("error"), custom))
        outputs = np.load(outputs_path) if outputs_path else None
    arena = parse_allocations(answer.get("allocations", ""), int(answer["smallest_arena"]))
    return TflmRun(arena, outputs, float(answer.get("seconds", 0.0)))


def parse_allocations(text: str, smallest: int) -> TflmArena:
    """The arena from ``print_allocations``' lines (``[RecordingMicroAllocator] Arena allocation total 2768 bytes``)
    and the smallest arena found to work."""
    totals = {kind: int(value) for kind, value in ALLOCATION.findall(text)}
    if "total" not in totals:
        raise TflmError("TensorFlow Lite Micro printed no arena allocation total; its output format has changed")
    return TflmArena(
        bytes=-(-max(smallest, totals["total"]) // ARENA_STEP_BYTES) * ARENA_STEP_BYTES,
        recorded=totals["total"],
        head=totals.get("head", 0),
        tail=totals.get("tail", 0),
        parts={name: int(value) for name, value in PART.findall(text)},
        method=METHOD.format(version=version()),
    )


def _custom_ops(data: bytes, source: str) -> list[str]:
    from edgekd.modelfile.inspect import inspect_tflite

    return sorted(
        {op.op.split(":", 1)[1] for op in inspect_tflite(data, source).operators if op.op.startswith("CUSTOM:")}
    )


def _failure(source: str, returncode: int, stderr: str, error: str | None, custom: list[str]) -> str:
    """One line: the op TFLM lacks, an arena past the ceiling, or TFLM's own last words."""
    missing = MISSING_OP.search(stderr)
    if missing:
        name = missing.group(1) or missing.group(2)
        if name == "CUSTOM":
            return (
                f"{source} uses the custom op {', '.join(custom) or '(unnamed)'}, which TensorFlow Lite Micro does "
                "not provide: register its kernel in the firmware, or choose a student without it"
            )
        return (
            f"{source} uses {name}, an op TensorFlow Lite Micro lacks, so no microcontroller can run it: "
            "replace that layer, or choose a student without it (TFLM names the first such op only)"
        )
    if "Failed to allocate" in stderr:
        return (
            f"{source} needs a tensor arena larger than {ARENA_CEILING_BYTES // (1024 * 1024)} MB under TensorFlow "
            "Lite Micro: far past any microcontroller's RAM"
        )
    if returncode < 0:
        return f"{source}: TensorFlow Lite Micro crashed ({signal.Signals(-returncode).name}) while loading it"
    last = [line for line in stderr.splitlines() if line.strip() and "RecordingMicroAllocator" not in line]
    detail = error or (last[-1] if last else f"exit {returncode}")
    return f"{source}: TensorFlow Lite Micro cannot load it: {' '.join(detail.split())[:200]}"


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            return document
    return {}
