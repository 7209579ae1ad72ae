"""The distillation stage's settings: the teacher, student and distill sections of the pipeline config."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from edgekd.validation import Section

# The most teachers ``ensemble_size`` trains: each member is a whole teacher's training, so five
# already take five times the teacher's time, and averaging more gains little (Hansen & Salamon 1990).
MAX_TEACHER_ENSEMBLE = 5


class TeacherConfig(Section):
    path: str | None = Field(default=None, description="a Keras model file; omit to train one")
    builder: str = Field(
        default="resnet_teacher", description="the builder of a trained teacher (resnet_teacher: sized for the input)"
    )
    epochs: int = Field(default=60, ge=1)
    batch_size: int = Field(default=128, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    trust_model: bool = False
    ensemble: list[str] = Field(
        default_factory=list, description="more teacher files whose soft targets are averaged with the first's"
    )
    weights: list[float] | None = Field(
        default=None, description="one weight per teacher (path first, then ensemble) for the averaged soft targets"
    )
    augment: list[str] | None = Field(
        default=None,
        description="augmentations a trained teacher sees (default: the data's: crop, colour for images; "
        "time_shift, time_mask, freq_mask for audio features; shift, noise for signals; [] for none)",
    )
    label_smoothing: float = Field(default=0.1, ge=0, lt=1, description="label smoothing of a trained teacher")
    patience: int | None = Field(
        default=5,
        ge=1,
        description="a trained teacher stops after this many validation checkpoints (of 20) without improvement; "
        "its best checkpoint is kept (null: train every epoch)",
    )
    ensemble_size: int = Field(
        default=1,
        description=f"teachers trained from different seeds whose soft targets are averaged (1 to {MAX_TEACHER_ENSEMBLE})",
    )
    time_budget_s: float | None = Field(
        default=None, gt=0, description="seconds the trained teachers may take: no member starts that would not fit"
    )

    @field_validator("ensemble_size")
    @classmethod
    def _members(cls, value: int) -> int:
        if not 1 <= value <= MAX_TEACHER_ENSEMBLE:
            raise PydanticCustomError(
                "ensemble_size",
                "{value} members: give 1 to {most} (each member trains a whole teacher; {most} already take {most} "
                "times the teacher's time)",
                {"value": value, "most": MAX_TEACHER_ENSEMBLE},
            )
        return value


class StudentConfig(Section):
    spec: str = Field(default="auto", description="builder[:key=value], auto, or a Keras model file")
    max_mac_fraction: float = Field(
        default=0.05, gt=0, le=1, description="auto students stay within this fraction of the teacher's MACs"
    )
    max_params: int | None = Field(
        default=None, ge=1, description="auto students also stay within this many parameters (a flash budget, say)"
    )
    epochs: int | None = Field(
        default=None,
        ge=1,
        description="epochs over the distillation set (default: 30, and at least 1,500 steps); the control gets "
        "the same number of steps",
    )
    batch_size: int = Field(default=128, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0)
    patience: int | None = Field(
        default=None, ge=1, description="stop after this many validation checkpoints (of 20) without improvement"
    )


class DistillConfig(Section):
    method: str = Field(
        default="auto",
        description="auto (choose among candidate recipes on validation), a method, or several joined by + (kd+fitnet)",
    )
    candidates: list[str] | None = Field(
        default=None,
        description="recipes auto tries, e.g. kd:temperature=4,alpha=0.5, dist, kd:augment=mixup, control "
        "(default: edgekd.distill.recipes.DEFAULT_CANDIDATES)",
    )
    params: dict[str, float | str] | None = Field(
        default=None,
        description="parameters as key or method.key (method.weight weighs a term); omitted ones take defaults",
    )
    transfer_set: bool = True
    control: bool = True
    augment: list[str] = Field(
        default_factory=list, description="augmentations (shift, noise, mixup); the teacher then runs online"
    )
    strategy: str = Field(default="default", description="tf.distribute strategy: default, mirrored, multiworker")
    teacher_outputs: Literal["auto", "cached", "online"] = Field(
        default="auto",
        description="auto: cached once on disk when they fit `cache_budget`, else the teacher runs in every step; "
        "cached: refuse a run whose outputs do not fit; online: the teacher runs in every step",
    )
    cache_budget: str | None = Field(
        default=None,
        description="bytes of teacher outputs that may be cached, e.g. 4GiB (default: half the available memory, "
        "and at most half the free disk)",
    )

    @field_validator("cache_budget")
    @classmethod
    def _a_size(cls, value: str | None) -> str | None:
        if value is not None:
            from edgekd.inputs import parse_size

            parse_size(value)  # its ValueError names the value and the grammar
        return value


class DistillStageConfig(Protocol):
    """What the teacher and distillation stages read: the seed, ``--deterministic`` and the teacher, student and
    distill sections.

    ``edgekd.config.PipelineConfig`` is one; the stage never imports the pipeline config above it.
    """

    seed: int
    deterministic: bool
    teacher: TeacherConfig
    student: StudentConfig
    distill: DistillConfig
