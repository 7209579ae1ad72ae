"""What ``edgekd quantize`` is asked to do, checked as a whole before any model loads.

Errors name the settings (``max_drop``); the CLI names its flags instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

import numpy as np

from edgekd.errors import ConfigError
from edgekd.quantize.compress import Compression
from edgekd.quantize.modes import DEFAULT_OPTIONS, QuantizeOptions, get_mode, mode_names
from edgekd.validation import check_seed

# Besides the post-training modes: quantization-aware training first, or every mode compared.
QAT = "qat"
ALL = "all"
# The kind of folder `--mode all` writes (see edgekd.artifacts.output_kind).
QUANTIZE_FOLDER = "quantize"


def quantize_mode_names() -> list[str]:
    return [*mode_names(), QAT, ALL]


def _whole(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


_FIELD_TYPES = (
    *((name, _whole, "a whole number") for name in ("representative_samples", "qat_epochs")),
    *((name, _number, "a finite number") for name in ("max_drop", "temperature", "alpha")),
    *((name, lambda v: isinstance(v, bool), "true or false") for name in ("strict", "debug", "edgetpu", "trust_model")),
    ("mode", lambda v: isinstance(v, str), "the name of a quantization mode"),
    ("teacher", lambda v: v is None or isinstance(v, str | Path), "the path of a teacher model"),
)


@dataclass(frozen=True)
class QuantizeSettings:
    """What a quantization is asked to do, checked as a whole when built (every rule lives here)."""

    mode: str = "int8"
    options: QuantizeOptions = DEFAULT_OPTIONS
    representative_samples: int = 500
    # Warn (or with strict, fail) past this many points of accuracy lost to conversion.
    max_drop: float = 1.0
    strict: bool = False
    seed: int = 0
    qat_epochs: int = 3
    # QAT only: keep distilling from this teacher, at this temperature and hard-label weight.
    teacher: str | None = None
    temperature: float = 1.0
    alpha: float = 0.0
    compression: Compression = field(default_factory=Compression)
    debug: bool = False
    edgetpu: bool = False
    trust_model: bool = False

    def __post_init__(self) -> None:
        # The Python API passes these as given: a wrong type is refused here, before any model loads.
        check_seed(self.seed, ConfigError)
        for name, accepts, kind in _FIELD_TYPES:
            if not accepts(getattr(self, name)):
                raise ConfigError(f"`{name}` {getattr(self, name)!r} must be {kind}")
        mode = self.mode
        if mode not in quantize_mode_names():
            get_mode(mode)  # the registry's error lists every mode
        if not math.isfinite(self.max_drop) or self.max_drop < 0:
            raise ConfigError(f"`max_drop` {self.max_drop} must be a number of accuracy points, 0 or more")
        if self.representative_samples < 1:
            raise ConfigError(f"`representative_samples` {self.representative_samples} must be at least 1")
        if mode == QAT and self.qat_epochs < 1:
            raise ConfigError(f"`qat_epochs` {self.qat_epochs} must be at least 1")
        if self.compression.active and mode == QAT:
            raise ConfigError("`prune`/`clusters` go with post-training modes; QAT after them would undo the sparsity")
        if self.debug and mode == ALL:
            raise ConfigError("`debug` works on one mode at a time; choose `mode` int8 or int16x8")
        if self.debug and mode != QAT and not get_mode(mode).integer_only:
            raise ConfigError(
                f"`debug` compares integer layers with float ones; it needs `mode` int8 or int16x8, not {mode}"
            )
        if self.teacher and mode != QAT:
            raise ConfigError("`teacher` is for `mode` qat (distillation during quantization-aware training)")
        if self.edgetpu and mode not in ("int8", QAT):
            raise ConfigError(
                f"`edgetpu` needs `mode` int8: the Edge TPU runs only fully 8-bit quantized models, not {mode}"
            )

    @property
    def conversion_mode(self) -> str:
        """The post-training mode the converter runs (QAT converts to int8)."""
        return "int8" if self.mode == QAT else self.mode


# The settings a caller that names none gets.
DEFAULT_SETTINGS = QuantizeSettings()
