"""The device-profile schema: plain data, validated once at load, unknown keys rejected.

The grammar is documented in ``devices/README.md``; ``schema_version`` lets it evolve.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transport(str, enum.Enum):
    LOCAL = "local"
    SSH = "ssh"
    ADB = "adb"
    # Microcontrollers: flashed by the user's firmware toolchain; edgekd exports and checks fit.
    NONE = "none"


class Delegate(str, enum.Enum):
    XNNPACK = "xnnpack"
    GPU = "gpu"
    NNAPI = "nnapi"
    EDGETPU = "edgetpu"
    NONE = "none"


class Hardware(Strict):
    soc: str
    cpu: str
    cores: int = Field(ge=1)
    clock_ghz: float = Field(gt=0)
    memory_mb: int | None = Field(default=None, ge=1)
    # What an application may spend on one model (file plus activations): less than memory_mb on a
    # phone or a board that runs other work. Deploy refuses models above it.
    memory_budget_mb: int | None = Field(default=None, ge=1)
    accelerator: str | None = None
    # Microcontrollers: on-chip flash for the model (with the firmware) and RAM for the tensor arena.
    flash_kb: int | None = Field(default=None, ge=1)
    ram_kb: int | None = Field(default=None, ge=1)

    @property
    def model_budget_mb(self) -> int | None:
        """The memory a model may use: the budget when the profile sets one, else all of memory_mb."""
        return self.memory_budget_mb if self.memory_budget_mb is not None else self.memory_mb


class Runtime(Strict):
    interpreter: str = Field(description="ai_edge_litert, tflite_runtime or benchmark_model")
    python: str | None = Field(default="python3", description="Python on the device, for the agent")
    delegates: list[Delegate] = Field(
        default_factory=lambda: [Delegate.XNNPACK], description="available delegates; benchmarks use the first"
    )
    delegate_library: str | None = Field(
        default=None, description="shared library for the first delegate (default: libedgetpu.so.1 for edgetpu)"
    )
    allow_cpu_fallback: bool = Field(
        default=False, description="run on the CPU (and say so) when the delegate fails to load, instead of failing"
    )
    default_threads: int = Field(default=1, ge=1)
    benchmark_binary: str | None = None
    cpu_affinity: str | None = Field(default=None, description="taskset mask, e.g. f0 for big cores")


class Quantization(Strict):
    supported: list[str]
    reason: str | None = Field(default=None, description="why modes are limited, when they are")


class Connection(Strict):
    type: Transport
    host: str | None = None
    user: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    key_file: str | None = None
    known_hosts: str | None = None
    serial: str | None = None


class PowerSource(Strict):
    reader: str = Field(
        default="none", description="none, rapl, vcgencmd_pmic, ina2xx, android_battery, tegrastats, external_csv"
    )
    # external_csv: the log an external meter writes on the machine running edgekd.
    csv: str | None = None
    notes: str | None = None

    @field_validator("csv")
    @classmethod
    def _csv_needs_its_reader(cls, value, info):
        if value is not None and info.data.get("reader") != "external_csv":
            raise ValueError("csv is only read with reader: external_csv")
        return value


class PowerModel(Strict):
    """Figures for estimating energy and latency when nothing can be measured."""

    idle_watts: float | None = Field(default=None, ge=0)
    active_watts: float | None = Field(default=None, ge=0)
    int8_macs_per_second: float | None = Field(default=None, gt=0)
    float_macs_per_second: float | None = Field(default=None, gt=0)
    notes: str | None = None


class DeviceProfile(Strict):
    schema_version: int
    name: str
    display_name: str
    kind: str = Field(description="host, sbc, phone, accelerator or mcu")
    hardware: Hardware
    runtime: Runtime
    quantization: Quantization
    transport: Connection
    power: PowerSource = PowerSource()
    power_model: PowerModel = PowerModel()
    sources: list[str] = Field(default_factory=list)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported; this edgekd reads version {SCHEMA_VERSION}")
        return value

    def supports(self, mode: str) -> bool:
        return mode in self.quantization.supported
