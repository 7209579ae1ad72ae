"""The search stage's settings: its section of the pipeline config, and what else of the config it reads."""

from __future__ import annotations

from typing import Protocol

from pydantic import Field, ValidationInfo, field_validator

from edgekd.data.config import DataConfig
from edgekd.distill.config import DistillConfig, StudentConfig, TeacherConfig
from edgekd.errors import ConfigError
from edgekd.quantize.config import QuantizeConfig
from edgekd.validation import Section


class SearchConfig(Section):
    """``edgekd search``: the student families and sizes tried, the device's budgets, and the study that tries them."""

    device: str = Field(default="host", description="the device profile whose figures the budgets read")
    budgets: dict[str, float] = Field(
        default_factory=dict,
        description="limits per key: macs, params, flash_kb, ram_kb, latency_ms, energy_mj (e.g. {latency_ms: 20})",
    )
    measure: bool = Field(
        default=False, description="measure each candidate's latency (and energy) on the device instead of estimating"
    )
    trials: int = Field(
        default=20,
        ge=1,
        description="candidates scored (trained, repeated or failed; over-budget ones do not count) before it stops",
    )
    families: list[str] = Field(
        default_factory=list, description="student families to search (default: every family of the space)"
    )
    recipe: str = Field(
        default="kd:temperature=4,alpha=0.5", description="the distillation recipe every candidate trains with"
    )
    trial_fraction: float = Field(
        default=0.1, gt=0, le=1, description="fraction of the full training budget each trial trains for"
    )
    finalist_recipe: str = Field(
        default="auto",
        description="how finalists train: auto (the auto student the study started from, else the most accurate "
        "finalist, chooses among the candidate recipes on validation, as `distill` does, and the others train with "
        "its choice) or a recipe",
    )
    finalists: int = Field(
        default=2, ge=0, description="best trials on the front trained on the full budget (0: trials only)"
    )
    storage: str | None = Field(
        default=None,
        description="the study's database URL (default: sqlite in the output folder); share it "
        "between workers, e.g. postgresql://user@host/db",
    )
    study_name: str = Field(default="edgekd-search", min_length=1)

    @field_validator("budgets")
    @classmethod
    def _known_budgets(cls, value: dict[str, float]) -> dict[str, float]:
        from edgekd.search.budget import check_budgets

        try:
            return check_budgets(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: list[str]) -> list[str]:
        from edgekd.search.space import check_families

        try:
            check_families(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("recipe", "finalist_recipe")
    @classmethod
    def _a_recipe(cls, value: str, info: ValidationInfo) -> str:
        from edgekd.distill.recipes import AUTO, parse_recipe

        if info.field_name == "finalist_recipe" and value == AUTO:
            return value
        try:
            parse_recipe(value, None)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


class SearchStageConfig(Protocol):
    """What the search stage reads: the whole pipeline's sections, since each candidate runs the pipeline.

    ``edgekd.config.PipelineConfig`` is one; the stage never imports the pipeline config above it
    (it derives a candidate's config with ``model_copy``, as a pydantic model does).
    """

    seed: int
    deterministic: bool
    data: DataConfig
    teacher: TeacherConfig
    student: StudentConfig
    distill: DistillConfig
    quantize: QuantizeConfig
    search: SearchConfig

    def model_copy(self, *, update: dict | None = None, deep: bool = False) -> SearchStageConfig: ...
