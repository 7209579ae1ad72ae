"""DATA specs: ``scheme:[PATH][,key=value...]``, e.g. ``mnist1d:samples=3000``, ``images:photos,size=96x96``.

Each scheme is a loader registered by name with the options it takes; an unknown scheme or
option lists the ones that exist, and option values are checked when the spec is parsed,
before any data is read. Options may also come from the config (``data.options``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from edgekd.data.dataset import Dataset
from edgekd.errors import DataError, known_names
from edgekd.progress import SILENT, Reporter

Loader = Callable[[str, dict[str, str], Reporter], Dataset]


@dataclass(frozen=True)
class Scheme:
    """A registered loader: whether it reads a path, the options it takes, and how their values are checked."""

    loader: Loader
    help_text: str
    options: tuple[str, ...] = ()
    takes_path: bool = True
    # Raises DataError for a bad option value (a size that is not WxH, an unknown preprocess name).
    check_options: Callable[[dict[str, str]], object] | None = None


_SCHEMES: dict[str, Scheme] = {}


def register(
    scheme: str,
    help_text: str,
    options: tuple[str, ...] = (),
    takes_path: bool = True,
    check_options: Callable[[dict[str, str]], object] | None = None,
) -> Callable[[Loader], Loader]:
    """Register a loader for ``scheme:``; the loader gets the path and the key=value options."""

    def decorate(loader: Loader) -> Loader:
        _SCHEMES[scheme] = Scheme(loader, help_text, tuple(options), takes_path, check_options)
        return loader

    return decorate


@dataclass(frozen=True)
class DataSpec:
    """A parsed DATA spec."""

    scheme: str
    argument: str
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.argument}" if self.argument else self.scheme


def parse_spec(text: str, options: Mapping[str, object] | None = None) -> DataSpec:
    """Parse ``scheme[:PATH][,key=value...]``, merged with ``options`` (from the config), and check the options.

    >>> parse_spec("npz:data/train.npz").argument
    'data/train.npz'
    >>> parse_spec("images:photos,size=96x96").options
    {'size': '96x96'}
    """
    _ensure_builtins()
    text = (text or "").strip()
    if not text:
        raise DataError(f"empty DATA spec; use one of: {spec_grammar()}")
    scheme_name, _, argument = text.partition(":")
    if scheme_name not in _SCHEMES:
        raise DataError(
            f"unknown DATA scheme {scheme_name!r} in {text!r}; known: {known_names(_SCHEMES)} ({spec_grammar()})"
        )
    scheme = _SCHEMES[scheme_name]
    items = argument.split(",") if argument else []
    path = items.pop(0).strip() if items and scheme.takes_path and "=" not in items[0] else ""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataError(f"cannot parse option {item!r} in {text!r}; write key=value ({scheme.help_text})")
        parsed[key.strip()] = value.strip()
    for key, value in (options or {}).items():
        if key in parsed and parsed[key] != str(value):
            raise DataError(f"option {key} is {parsed[key]!r} in the DATA spec but {value!r} in `data.options`")
        parsed[key] = str(value)
    unknown = sorted(set(parsed) - set(scheme.options))
    if unknown:
        known = ", ".join(sorted(scheme.options)) or "none"
        raise DataError(f"unknown {scheme_name} option(s) {', '.join(unknown)}; known: {known}")
    if scheme.takes_path and not path:
        raise DataError(f"DATA spec {text!r} needs a path: {scheme_name}:PATH")
    if scheme.check_options is not None:
        scheme.check_options(parsed)
    return DataSpec(scheme_name, path, parsed)


def load_dataset(text: str, reporter: Reporter = SILENT, options: Mapping[str, object] | None = None) -> Dataset:
    """Parse a DATA spec and load it, showing progress (and the labels' caveats) on ``reporter``."""
    spec = parse_spec(text, options)
    dataset = _SCHEMES[spec.scheme].loader(spec.argument, spec.options, reporter)
    for warning in dataset.warnings():
        reporter.say(f"edgekd: warning: {warning}")
    return dataset


def spec_grammar() -> str:
    _ensure_builtins()
    return "; ".join(_SCHEMES[name].help_text for name in sorted(_SCHEMES))


def _ensure_builtins() -> None:
    # Built-in loaders register themselves on import, exactly as a plugin would.
    from edgekd.data import audio, images, mnist1d, npz  # noqa: F401
