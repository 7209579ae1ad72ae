"""The exception family every user-facing failure belongs to.

The library raises these; only ``edgekd.cli`` turns them into a message and an exit code.
Each message names the value, what was expected and what to do about it.
"""

from __future__ import annotations


class EdgekdError(Exception):
    """A failure the user can act on; its message is shown as one line, without a traceback."""

    exit_code = 1


class DataError(EdgekdError):
    """A dataset spec, file or array that cannot be used."""


class ModelError(EdgekdError):
    """A model file that cannot be loaded, or a model that does not fit the task."""


class ConfigError(EdgekdError):
    """A YAML config or command-line value that does not parse or validate."""


class ProfileError(EdgekdError):
    """A device profile that is missing, malformed, or asks for something not supported."""


class ConversionError(EdgekdError):
    """TFLite conversion failed."""


class BenchmarkError(EdgekdError):
    """A benchmark could not run or produced unusable output."""


class OutputError(EdgekdError):
    """An output path that exists, cannot be written, or would be overwritten."""


def known_names(names) -> str:
    """Format registry keys for an 'unknown X; known: a, b, c' message."""
    return ", ".join(sorted(names)) or "(none)"
