"""What every transport offers: run one quoted shell line on the device, and put bytes or a file there.

A transport overrides :meth:`Channel.run` and :meth:`Channel.upload`; the benchmark runners
and deploy build on those two and on the checked forms below, so that a failure reads the
same whichever way the device is reached. Every command is one shell line in which every
word was quoted by :func:`remote_command`: no local file name or profile value is ever
parsed by the device's shell.
"""

from __future__ import annotations

import abc
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import BenchmarkError

# Models of a few megabytes over a slow Wi-Fi link or USB 2 take well under this.
UPLOAD_TIMEOUT_S = 300


class TransportError(BenchmarkError):
    """The device could not be reached, or a command or an upload on it failed.

    ``retryable`` says whether trying again could help (a refused connection may be a
    device still booting; a refused host key never changes by itself).
    """

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class NoAnswer(TransportError):
    """The device did not answer within the time allowed."""


@dataclass(frozen=True)
class Answer:
    """What a command on the device returned."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def detail(self) -> str:
        """The line that says why a command failed: the last of stderr, else of stdout."""
        lines = self.stderr.strip().splitlines()[-1:] or self.stdout.strip().splitlines()[-1:] or ["no output"]
        return lines[0][:200]


def remote_command(*words: str) -> str:
    """One shell command line with every word quoted for the remote shell."""
    return " ".join(shlex.quote(word) for word in words)


class Channel(abc.ABC):
    """How commands run and bytes travel to one device, named ``device`` in every message."""

    # Where a shell user may write on the device; relative paths start from it ("": the login folder).
    home = ""

    def __init__(self, device: str):
        self.device = device

    def user_path(self, path: str) -> str:
        """A path the user gave, as the device's commands read it (relative ones start at :attr:`home`)."""
        # './-x' is the same file as '-x', and no tool on the device reads it as an option.
        return f"./{path}" if path.startswith("-") else path

    @abc.abstractmethod
    def run(self, command: str, timeout: float = 60) -> Answer:
        """Run ``command`` (quoted words) on the device and return its answer, whatever its exit status.

        Raises :class:`TransportError` when the device cannot be reached and :class:`NoAnswer`
        when it does not answer within ``timeout`` seconds.
        """

    @abc.abstractmethod
    def upload(self, source: bytes | Path, remote: str) -> Answer:
        """Put ``source`` (bytes, or a local file) at ``remote`` on the device; errors as for :meth:`run`."""

    def checked(self, answer: Answer, what: str) -> Answer:
        """``answer``, unless its exit status is non-zero: then a TransportError saying ``what`` failed."""
        if answer.returncode != 0:
            raise TransportError(f"{self.device}: {what} failed: {answer.detail}")
        return answer

    def run_checked(self, command: str, what: str, timeout: float = 60) -> Answer:
        """:meth:`run`, with a non-zero exit status raised as a TransportError saying ``what`` failed."""
        return self.checked(self.run(command, timeout), what)

    def send(self, source: bytes | Path, remote: str, what: str) -> None:
        """:meth:`upload`, with a failure raised as a TransportError naming ``what`` was sent."""
        answer = self.upload(source, remote)
        if answer.returncode != 0:
            raise TransportError(f"{self.device}: uploading {what} failed: {answer.detail} (no permission? disk full?)")


@contextmanager
def removed_afterwards(channel: Channel, folder: str) -> Iterator[str]:
    """Yield ``folder`` (already made on the device) and remove it afterwards, whatever happened."""
    try:
        yield folder
    finally:
        try:
            channel.run(remote_command("rm", "-rf", "--", folder), timeout=30)
        except TransportError:
            pass  # the device went away; its scratch space is its own to clean
