"""Run Coral's edgetpu_compiler when it is installed, and read its log."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from edgekd.artifacts import write_bytes_atomic
from edgekd.errors import ConversionError
from edgekd.modelfile.edgetpu import CompilerLog, parse_compiler_log

HOW_TO_GET = (
    "edgetpu_compiler is not on PATH; it runs on x86-64 Debian/Ubuntu only and comes from Coral's apt "
    "repository (package edgetpu-compiler, see coral.ai/docs/edgetpu/compiler); until then edgekd's "
    "rule-based verdict (`edgekd inspect --edgetpu`) is the estimate"
)


def compiler_available() -> bool:
    return shutil.which("edgetpu_compiler") is not None


def compile_for_edgetpu(tflite_path: Path, out_dir: Path, timeout_seconds: float = 300.0) -> tuple[Path, CompilerLog]:
    """Compile ``tflite_path`` into ``out_dir/<stem>_edgetpu.tflite``; returns that path and the parsed log."""
    executable = shutil.which("edgetpu_compiler")
    if executable is None:
        raise ConversionError(HOW_TO_GET)
    with tempfile.TemporaryDirectory(prefix=".edgetpu-", dir=out_dir) as scratch:
        try:
            completed = subprocess.run(  # noqa: S603 - edgetpu_compiler found with shutil.which, fixed flags
                # Absolute: a model named "-x.tflite" is never read as one of the compiler's options.
                [executable, "-s", "-o", scratch, str(Path(tflite_path).absolute())],
                capture_output=True,
                text=True,
                timeout=timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(f"edgetpu_compiler did not finish within {timeout_seconds:.0f} s") from None
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            tail = " ".join(output.strip().splitlines()[-2:])[:300]
            raise ConversionError(f"edgetpu_compiler failed (exit {completed.returncode}): {tail}")
        log = parse_compiler_log(output)
        produced = Path(scratch) / f"{tflite_path.stem}_edgetpu.tflite"
        if not produced.is_file():
            raise ConversionError(f"edgetpu_compiler reported success but wrote no {produced.name}")
        target = out_dir / produced.name
        write_bytes_atomic(target, produced.read_bytes())
    return target, log
