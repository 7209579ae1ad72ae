"""Ctrl-C that takes effect at safe points, because TensorFlow loses a KeyboardInterrupt raised inside it.

Measured: a KeyboardInterrupt raised while TensorFlow executes a compiled function or a
prediction vanishes in its C++ runtime, and the command went on to finish as if nothing
had happened. So, while a command runs, SIGINT only records the request; training checks it
after every compiled call, stages and output commits check it, and each raises
KeyboardInterrupt from plain Python, where it propagates. A second Ctrl-C raises at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_requested = threading.Event()


def _handle(signum, frame) -> None:
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since the command started."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """For the duration of a command (main thread only): SIGINT is deferred to the next ``check``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _handle)
    try:
        yield
        check()
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
