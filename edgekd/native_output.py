"""Capture what native code (TensorFlow's C++ logging, the TFLite converter) writes to fds 1 and 2.

Python-level redirection does not catch C++ writes, so this swaps the file descriptors
themselves for the duration of a block. The captured text is kept so that a failure can
quote the converter's own explanation instead of losing it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


class CapturedText:
    """Holds what was written while capturing; ``text`` is filled in when the block exits."""

    text: str = ""


@contextlib.contextmanager
def captured_native_output() -> Iterator[CapturedText]:
    """Redirect fds 1 and 2 to a temporary file for the duration of the block."""
    captured = CapturedText()
    if os.environ.get("EDGEKD_SHOW_NATIVE_OUTPUT"):
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(sys.__stdout__), contextlib.redirect_stderr(sys.__stderr__):
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
