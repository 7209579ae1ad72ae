"""The benchmark stage's section of the pipeline config."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from edgekd.bench.settings import BenchSettingError, check_bench_setting
from edgekd.bench.thermal import DEFAULT_COOLDOWN_SECONDS
from edgekd.validation import Section


class BenchConfig(Section):
    """The benchmark's numbers follow the same rules as ``BenchSettings`` (``edgekd.bench.settings.BENCH_RULES``)."""

    devices: list[str] = Field(default_factory=lambda: ["host"])
    runs: int = 200
    min_seconds: float = 1.0
    warmup: int = 20
    threads: int | None = None
    cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS

    @field_validator("runs", "min_seconds", "warmup", "threads", "cooldown_seconds")
    @classmethod
    def _follows_bench_rules(cls, value, info: ValidationInfo):
        try:
            check_bench_setting(info.field_name, value)
        except BenchSettingError as exc:
            raise PydanticCustomError("bench_setting", "{rule}", {"rule": exc.rule}) from None
        return value
