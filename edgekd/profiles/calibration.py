"""The calibration data device estimates stand on: published measurements, each with its source.

Two files in ``devices/calibration/`` (grammar in devices/README.md, "Calibration data"):

- ``measurements.yaml``: the sources, the calibration devices (a board or phone with its
  runtime and kernel library, a clock for microcontrollers, and the power its source
  measured under load where one did), and the points: a published model's latency (and
  energy) on one of those devices, in one precision, naming its source;
- ``models.yaml``: each published model's work per operator class, counted from a rebuilt
  int8 .tflite by ``scripts/calibration_models.py``.

Both are plain data, read with ``yaml.safe_load`` and validated once; a point without a
source, with a latency that is not positive, or naming a model or device that is not
defined is refused with the file and the point named.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgekd.errors import ProfileError, known_names
from edgekd.modelfile.workload import Workload
from edgekd.profiles.builtin import builtin_folder
from edgekd.validation import parse_yaml_mapping, read_text_file, validate

SCHEMA_VERSION = 1
PRECISIONS = ("int8", "float32")
# The precision a .tflite's mode computes in (QAT converts to int8); other modes have no calibration.
PRECISION_OF_MODE = {"int8": "int8", "qat": "int8", "float32": "float32"}


def precision_of(mode: str | None) -> str | None:
    return PRECISION_OF_MODE.get(mode or "")


class CalibrationError(ProfileError):
    """Calibration data that is missing, malformed, or cannot support a fit."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    cite: str = Field(min_length=1, description="where the figures were read: page, repository and file, paper")


class CalibrationDevice(_Strict):
    description: str
    kind: Literal["cpu", "mcu", "edgetpu"]
    core: str
    # Devices of one kernel library share the relative cost of each operator class.
    library: str
    # Microcontrollers: the clock the points were measured at; their cost is fitted in cycles.
    clock_mhz: float | None = Field(default=None, gt=0)
    power_w: float | None = Field(default=None, gt=0)
    idle_w: float | None = Field(default=None, ge=0)
    power_source: str | None = None
    # Another calibration device on the same board whose per-op and per-invoke costs this one shares (its own
    # published models being too large to show them); see edgekd.profiles.fit.
    floor_from: str | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.kind == "mcu" and self.clock_mhz is None:
            raise ValueError("a microcontroller's points are fitted in cycles: give its clock_mhz")
        if self.power_w is not None and not self.power_source:
            raise ValueError("power_w needs the power_source that measured it")
        return self


class Library(_Strict):
    """A kernel library's settings: whether its per-op and per-invoke costs are fitted, and why."""

    floor: bool = False
    note: str = Field(min_length=1, description="why the floor is (or is not) fitted: which points show it")


class Point(_Strict):
    device: str
    model: str
    precision: Literal["int8", "float32"]
    latency_ms: float
    energy_mj: float | None = None
    source: str = Field(default="", validate_default=True)
    detail: str | None = None

    @field_validator("latency_ms")
    @classmethod
    def _positive_latency(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"latency_ms must be a positive number of milliseconds, got {value}")
        return value

    @field_validator("energy_mj")
    @classmethod
    def _positive_energy(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"energy_mj must be a positive number of millijoules, got {value}")
        return value

    @field_validator("source")
    @classmethod
    def _has_source(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("every point names its source (an id in `sources`); a figure without a source stays out")
        return value


class Measurements(_Strict):
    schema_version: int
    sources: dict[str, Source]
    devices: dict[str, CalibrationDevice]
    libraries: dict[str, Library] = Field(default_factory=dict)
    points: list[Point]

    @field_validator("schema_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported; this edgekd reads {SCHEMA_VERSION}")
        return value


class _Counts(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    architecture: str
    macs: int = Field(ge=0)
    total: dict
    edgetpu: dict | None = None
    cpu_fallback: dict | None = None


class ModelCounts(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    schema_version: int
    models: dict[str, _Counts]


@dataclass(frozen=True)
class PublishedModel:
    """A published model's workload, whole and as an Edge TPU splits it."""

    name: str
    architecture: str
    total: Workload
    edgetpu: Workload | None
    cpu_fallback: Workload | None


@dataclass(frozen=True)
class Calibration:
    """The validated calibration data: sources, devices, points and the models they name."""

    sources: dict[str, Source]
    devices: dict[str, CalibrationDevice]
    points: tuple[Point, ...]
    models: dict[str, PublishedModel]
    folder: Path
    libraries: dict[str, Library] = field(default_factory=dict)

    def library_floor(self, library: str) -> bool:
        """Whether ``library``'s per-op and per-invoke costs are fitted (measurements.yaml, ``libraries``)."""
        return library in self.libraries and self.libraries[library].floor

    def points_on(self, device: str) -> list[Point]:
        return [p for p in self.points if p.device == device]

    def device(self, name: str) -> CalibrationDevice:
        if name not in self.devices:
            raise CalibrationError(
                f"unknown calibration device {name!r}; known: {known_names(self.devices)} "
                f"(devices/calibration/measurements.yaml)"
            )
        return self.devices[name]


def calibration_folder() -> Path:
    return builtin_folder() / "calibration"


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CalibrationError(f"calibration file {path} is missing; reinstall edgekd or restore the file")
    return parse_yaml_mapping(
        read_text_file(path, CalibrationError, "calibration file"), str(path), CalibrationError, "calibration data"
    )


def load_calibration(folder: Path) -> Calibration:
    """Read and cross-check ``measurements.yaml`` and ``models.yaml`` in ``folder``."""
    measurements_path, models_path = folder / "measurements.yaml", folder / "models.yaml"
    measurements = validate(Measurements, _read(measurements_path), str(measurements_path), CalibrationError)
    counts = validate(ModelCounts, _read(models_path), str(models_path), CalibrationError)
    models = {
        name: PublishedModel(
            name,
            entry.architecture,
            Workload.from_dict(entry.total),
            Workload.from_dict(entry.edgetpu) if entry.edgetpu else None,
            Workload.from_dict(entry.cpu_fallback) if entry.cpu_fallback else None,
        )
        for name, entry in counts.models.items()
    }
    for name, device in measurements.devices.items():
        source = measurements.devices.get(device.floor_from) if device.floor_from else None
        if device.floor_from and (source is None or source.kind != device.kind or device.floor_from == name):
            raise CalibrationError(
                f"{measurements_path}: device {name!r}: floor_from {device.floor_from!r} must name another "
                f"calibration device of kind {device.kind}; known: {known_names(measurements.devices)}"
            )
        if device.power_source and device.power_source not in measurements.sources:
            raise CalibrationError(
                f"{measurements_path}: device {name!r}: power_source {device.power_source!r} is not defined in "
                f"sources; known: {known_names(measurements.sources)}"
            )
    seen = set()
    for number, point in enumerate(measurements.points, 1):
        where = f"{measurements_path}: point {number} ({point.device}, {point.model})"
        if point.source not in measurements.sources:
            raise CalibrationError(
                f"{where}: source {point.source!r} is not defined in sources; known: "
                f"{known_names(measurements.sources)}. Add the source, or leave the figure out"
            )
        if point.device not in measurements.devices:
            raise CalibrationError(
                f"{where}: device {point.device!r} is not defined in devices; known: "
                f"{known_names(measurements.devices)}"
            )
        if point.model not in models:
            raise CalibrationError(
                f"{where}: model {point.model!r} has no counts in {models_path}; add it to "
                "scripts/calibration_models.py and run it"
            )
        key = (point.device, point.model, point.precision)
        if key in seen:
            raise CalibrationError(f"{where}: a second {point.precision} point for this model on this device")
        seen.add(key)
    for name in measurements.devices:
        if not any(point.device == name for point in measurements.points):
            raise CalibrationError(
                f"{measurements_path}: device {name!r} has no point: too few points to fit it; add its published "
                "points (each with its source) or remove the device"
            )
    unknown = sorted(set(measurements.libraries) - {d.library for d in measurements.devices.values()})
    if unknown:
        raise CalibrationError(
            f"{measurements_path}: libraries {', '.join(unknown)} name no device's library; known: "
            f"{known_names({d.library: d for d in measurements.devices.values()})}"
        )
    return Calibration(
        measurements.sources,
        measurements.devices,
        tuple(measurements.points),
        models,
        folder,
        dict(measurements.libraries),
    )


@functools.cache
def builtin_calibration() -> Calibration:
    """The calibration data shipped with edgekd (read once per process)."""
    return load_calibration(calibration_folder())
