"""The quantization stage's section of the pipeline config."""

from __future__ import annotations

from pydantic import Field, field_validator

from edgekd.errors import ConfigError
from edgekd.validation import Section


class QuantizeConfig(Section):
    mode: str = "int8"
    representative_samples: int = Field(default=500, ge=1)
    max_drop: float = Field(default=1.0, ge=0, description="warn past this many points lost to conversion")
    strict: bool = Field(default=False, description="fail (and write nothing) when a check fails, instead of warning")
    allow_float_ops: bool = Field(default=False, description="keep ops without an integer kernel in float")

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        # Checked when the config loads, not after the teacher and both students trained.
        from edgekd.quantize.modes import get_mode

        try:
            get_mode(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value
