"""The pipeline config: one typed object, parsed once from YAML (``edgekd run``) or built in (``edgekd demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from edgekd.bench.runners import BenchSettingError, check_bench_setting
from edgekd.bench.thermal import DEFAULT_COOLDOWN_SECONDS
from edgekd.errors import ConfigError
from edgekd.validation import MAX_SEED, parse_yaml_mapping, read_text_file, validate

CONFIG_VERSION = 1


class Section(BaseModel):
    # NaN and infinity are never meaningful settings (a NaN minimum would benchmark forever).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(Section):
    spec: str = Field(
        default="mnist1d", description="DATA spec: mnist1d[:options], npz:PATH, images:DIR or audio:DIR (,key=value...)"
    )
    options: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="the DATA spec's options as a mapping, e.g. {size: 96x96, preprocess: mobilenet_v2}",
    )


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
        default=None, ge=1, description="stop after this many validation checkpoints (of 10) without improvement"
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


class BenchConfig(Section):
    """The benchmark's numbers follow the same rules as ``BenchSettings`` (``edgekd.bench.runners.BENCH_RULES``)."""

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


class PipelineConfig(Section):
    schema_version: int = CONFIG_VERSION
    seed: int = 0
    deterministic: bool = Field(
        default=False,
        description="TensorFlow op determinism: the same config, machine and library versions give bit-identical "
        "training (slower; results still differ across machines and versions)",
    )
    data: DataConfig = DataConfig()
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    distill: DistillConfig = DistillConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    bench: BenchConfig = BenchConfig()
    search: SearchConfig = SearchConfig()

    @field_validator("seed")
    @classmethod
    def _seed_fits_32_bits(cls, seed: int) -> int:
        if not 0 <= seed <= MAX_SEED:
            raise PydanticCustomError(
                "seed", "must be from 0 to {most} (numpy and Keras take 32-bit seeds)", {"most": MAX_SEED}
            )
        return seed

    def input_files(self) -> list[Path]:
        """The existing files and folders this config reads: teachers, a student file, the data.

        A teacher is not copied into a run's output, so a forced run into the folder holding it
        would delete it with the earlier output (see ``edgekd.outputs``).
        """
        from edgekd.data.spec import parse_spec
        from edgekd.errors import DataError

        named = [self.teacher.path, *self.teacher.ensemble, self.student.spec]
        try:
            named.append(parse_spec(self.data.spec, self.data.options).argument)
        except DataError:
            pass  # refused, with its reason, when the data loads
        return [Path(name) for name in named if name and Path(name).exists()]


DEMO_CONFIG_YAML = """\
# edgekd demo: the built-in pipeline on MNIST-1D (generated offline).
schema_version: 1
seed: 0
data:
  # 10,000 labelled samples (8,000 train / 2,000 test) and a 40,000-sample unlabelled
  # transfer set from another seed, which the teacher labels for distillation.
  spec: mnist1d:samples=10000,transfer=40000
teacher:
  builder: cnn          # 1-D CNN, about 340 K MACs
  epochs: 60
  batch_size: 128
  learning_rate: 0.001
  # The demo's teacher trains on labels alone for all 60 epochs (its figures are the README's).
  augment: []
  label_smoothing: 0.0
  patience: null
student:
  spec: auto            # the largest student within 1/20 of the teacher's MACs (`conv` for signals)
  max_mac_fraction: 0.05
  epochs: 30            # over labelled + transfer set; the scratch control gets as many steps
  batch_size: 128
  learning_rate: 0.003
distill:
  # Candidate recipes train briefly, the best on validation trains fully, and the run ships
  # the distilled student or the scratch control, whichever is better on validation.
  method: auto
  transfer_set: true
  control: true
quantize:
  mode: int8
  representative_samples: 500
bench:
  devices: [host]
  runs: 200
  min_seconds: 1.0
  warmup: 20
"""


# The same pipeline on a reduced budget: about a minute and a half on two cores instead of three, to
# check an installation. Every stage runs; the figures are smaller-data figures, and the CLI
# says so next to them. The test suite's end-to-end run is this config (tests/conftest.py):
# on it the teacher reaches about 85% and distillation beats the scratch control.
QUICK_DEMO_OVERRIDES = {
    "data": {"spec": "mnist1d:samples=3000,transfer=3000"},
    "teacher": {"epochs": 25, "batch_size": 64, "learning_rate": 0.003},
    "student": {"epochs": 20, "batch_size": 64},
    "quantize": {"representative_samples": 100},
    "bench": {"runs": 50, "min_seconds": 0.1, "warmup": 5},
}


def parse_config(text: str, source: str = "config") -> PipelineConfig:
    """Parse YAML text into a ``PipelineConfig``; errors name the field and the problem."""
    config = validate(PipelineConfig, parse_yaml_mapping(text, source, ConfigError, "a config"), source, ConfigError)
    if config.schema_version != CONFIG_VERSION:
        raise ConfigError(f"{source}: schema_version {config.schema_version} is not supported; use {CONFIG_VERSION}")
    return config


def load_config(path: Path) -> PipelineConfig:
    path = Path(path)
    return parse_config(read_text_file(path, ConfigError, "config"), str(path))


def demo_config(quick: bool = False) -> PipelineConfig:
    """The built-in demo config; ``quick`` gives the reduced budget of ``edgekd demo --quick``."""
    if quick:
        document = parse_yaml_mapping(DEMO_CONFIG_YAML, "built-in demo config", ConfigError, "a config")
        for section, values in QUICK_DEMO_OVERRIDES.items():
            document[section] = {**document[section], **values}
        return validate(PipelineConfig, document, "built-in quick demo config", ConfigError)
    return parse_config(DEMO_CONFIG_YAML, "built-in demo config")
