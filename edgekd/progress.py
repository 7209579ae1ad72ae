"""Progress for long steps: stage lines on stderr and tqdm bars in a terminal.

Stage lines always print (they are useful in CI logs); bars appear only when stderr is a
terminal, so piped and captured output stays readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

from edgekd import interrupts
from edgekd.untrusted import for_terminal


class Reporter:
    """Prints numbered stage lines and hands out progress bars.

    >>> reporter = Reporter(total_stages=3)
    >>> with reporter.stage("training teacher"):
    ...     pass
    """

    def __init__(self, total_stages: int = 0, quiet: bool = False, stream=None, rename=None):
        self.total_stages = total_stages
        self.quiet = quiet
        self.stream = stream or sys.stderr
        # How a line names settings where it is shown (a command line names its flags).
        self.rename = rename or (lambda line: line)
        self._index = 0
        self.durations: dict[str, float] = {}

    def say(self, message: str) -> None:
        """One line on the stream; names from files in it are shown without control characters."""
        if not self.quiet:
            print(for_terminal(self.rename(message)), file=self.stream, flush=True)

    @contextmanager
    def stage(self, title: str, key: str | None = None) -> Iterator[None]:
        """Announce a stage, time it, and record its duration under ``key``."""
        self._index += 1
        counter = f"[{self._index}/{self.total_stages}] " if self.total_stages else ""
        self.say(f"{counter}{title} ...")
        started = time.perf_counter()
        interrupts.check()
        yield
        interrupts.check()
        elapsed = time.perf_counter() - started
        self.durations[key or title] = round(elapsed, 3)
        self.say(f"{' ' * len(counter)}done in {elapsed:.1f} s")

    def bar(self, total: int, description: str, unit: str = "it", position: int | None = None) -> tqdm:
        """A progress bar on stderr, shown only in a terminal; ``position`` stacks concurrent bars.

        The description names folders and devices from files: tqdm writes it as it is, to a terminal.
        """
        return tqdm(
            total=total,
            desc=for_terminal(description),
            unit=unit,
            position=position,
            file=self.stream,
            leave=False,
            disable=True if self.quiet else None,
            dynamic_ncols=True,
        )


SILENT = Reporter(quiet=True)
