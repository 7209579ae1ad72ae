"""DATA specs: ``mnist1d[:key=value,...]``, ``npz:PATH``, ``images:DIR``.

Each scheme is a loader registered by name; an unknown scheme lists the ones that exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgekd.data.dataset import Dataset
from edgekd.errors import DataError, known_names
from edgekd.progress import SILENT, Reporter

Loader = Callable[[str, dict[str, str], Reporter], Dataset]
_LOADERS: dict[str, Loader] = {}
_HELP: dict[str, str] = {}


def register(scheme: str, help_text: str) -> Callable[[Loader], Loader]:
    """Register a loader for ``scheme:``; the loader gets the argument and key=value options."""

    def decorate(loader: Loader) -> Loader:
        _LOADERS[scheme] = loader
        _HELP[scheme] = help_text
        return loader

    return decorate


@dataclass(frozen=True)
class DataSpec:
    """A parsed DATA spec."""

    scheme: str
    argument: str
    options: dict[str, str]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.argument}" if self.argument else self.scheme


def parse_spec(text: str) -> DataSpec:
    """Parse ``scheme[:argument]``; for ``mnist1d`` the argument is ``key=value`` options.

    >>> parse_spec("npz:data/train.npz").argument
    'data/train.npz'
    """
    _ensure_builtins()
    text = (text or "").strip()
    if not text:
        raise DataError(f"empty DATA spec; use one of: {spec_grammar()}")
    scheme, _, argument = text.partition(":")
    if scheme not in _LOADERS:
        raise DataError(
            f"unknown DATA scheme {scheme!r} in {text!r}; known: {known_names(_LOADERS)} ({spec_grammar()})"
        )
    options: dict[str, str] = {}
    if scheme == "mnist1d" and argument:
        for item in argument.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise DataError(f"cannot parse option {item!r} in {text!r}; write mnist1d:samples=10000,transfer=40000")
            options[key.strip()] = value.strip()
        argument = ""
    elif scheme != "mnist1d" and not argument:
        raise DataError(f"DATA spec {text!r} needs a path: {scheme}:PATH")
    return DataSpec(scheme, argument, options)


def load_dataset(text: str, reporter: Reporter = SILENT) -> Dataset:
    """Parse a DATA spec and load it, showing progress (and the labels' caveats) on ``reporter``."""
    spec = parse_spec(text)
    dataset = _LOADERS[spec.scheme](spec.argument, spec.options, reporter)
    for warning in dataset.warnings():
        reporter.say(f"edgekd: warning: {warning}")
    return dataset


def spec_grammar() -> str:
    _ensure_builtins()
    return "; ".join(_HELP[name] for name in sorted(_HELP))


def _ensure_builtins() -> None:
    # Built-in loaders register themselves on import, exactly as a plugin would.
    from edgekd.data import images, mnist1d, npz  # noqa: F401
