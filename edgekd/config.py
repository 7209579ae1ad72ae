"""The pipeline config: one typed object, parsed once from YAML (``edgekd run``) or built in (``edgekd demo``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

# Each stage owns its section of the config (its own settings, checked by its own registries);
# the pipeline config composes them. The names stay importable from here.
from edgekd.bench.config import BenchConfig
from edgekd.data.config import DataConfig
from edgekd.distill.config import MAX_TEACHER_ENSEMBLE, DistillConfig, StudentConfig, TeacherConfig
from edgekd.errors import ConfigError
from edgekd.quantize.config import QuantizeConfig
from edgekd.search.config import SearchConfig
from edgekd.validation import MAX_SEED, Section, parse_yaml_mapping, read_text_file, validate

__all__ = [
    "MAX_SEED",
    "MAX_TEACHER_ENSEMBLE",
    "BenchConfig",
    "DataConfig",
    "DistillConfig",
    "PipelineConfig",
    "QuantizeConfig",
    "SearchConfig",
    "Section",
    "StudentConfig",
    "TeacherConfig",
    "demo_config",
    "load_config",
    "parse_config",
]

CONFIG_VERSION = 1


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
