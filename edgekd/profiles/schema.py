"""The device-profile schema: plain data, validated once at load, unknown keys rejected.

The grammar is documented in ``devices/README.md``; ``schema_version`` lets it evolve.
"""

from __future__ import annotations

import enum
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgekd.errors import known_names
from edgekd.profiles.readers import NO_READER, POWER_READERS, check_power_reader
from edgekd.untrusted import has_control_characters

SCHEMA_VERSION = 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Profile values that reach a command line (ssh, ssh-keyscan, adb, taskset, the agent's flags).
# A profile is data from wherever the user got it: a value starting with '-' would be read as an
# option (ssh's -oProxyCommand= runs a command), and a control character can split or hide a word.
_HOST = re.compile(r"[A-Za-z0-9_.:%\[\]-]+")
_USER = re.compile(r"[A-Za-z0-9_.@$-]+")
_SERIAL = re.compile(r"[A-Za-z0-9_.:@-]+")
_TASKSET_MASK = re.compile(r"(0x)?[0-9A-Fa-f]+")


def _no_option_or_control(value: str | None) -> str | None:
    if value is None:
        return value
    if value.startswith("-"):
        raise ValueError(f"{value!r} starts with '-', which a command would read as an option")
    if not value.strip():
        raise ValueError("is empty")
    if has_control_characters(value):
        raise ValueError(f"{value!r} holds a control character")
    return value


def _word(value: str | None, pattern: re.Pattern, allowed: str) -> str | None:
    if _no_option_or_control(value) is not None and not pattern.fullmatch(value):
        raise ValueError(f"{value!r} may hold only {allowed}")
    return value


class Transport(str, enum.Enum):
    LOCAL = "local"
    SSH = "ssh"
    ADB = "adb"
    # Microcontrollers: flashed by the user's firmware toolchain; edgekd exports and checks fit.
    NONE = "none"


class Interpreter(str, enum.Enum):
    """What runs the model on the device."""

    AI_EDGE_LITERT = "ai_edge_litert"
    TFLITE_RUNTIME = "tflite_runtime"
    # LiteRT's benchmark tool: phones, which have no Python for the agent.
    BENCHMARK_MODEL = "benchmark_model"
    # Microcontrollers: linked into the user's firmware.
    TFLITE_MICRO = "tflite-micro"


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
    interpreter: Interpreter
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

    @field_validator("python", "delegate_library", "benchmark_binary")
    @classmethod
    def _command_word(cls, value: str | None) -> str | None:
        return _no_option_or_control(value)

    @field_validator("cpu_affinity")
    @classmethod
    def _hex_mask(cls, value: str | None) -> str | None:
        return _word(value, _TASKSET_MASK, "a hexadecimal CPU mask such as f0")


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

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        return _word(value, _HOST, "letters, digits and . _ - : % [ ] (a host name or an IP address)")

    @field_validator("user")
    @classmethod
    def _user_name(cls, value: str | None) -> str | None:
        return _word(value, _USER, "letters, digits and . _ - @ $")

    @field_validator("serial")
    @classmethod
    def _adb_serial(cls, value: str | None) -> str | None:
        return _word(value, _SERIAL, "letters, digits and . _ - : @ (as `adb devices` lists it)")

    @field_validator("key_file", "known_hosts")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return _no_option_or_control(value)


class PowerSource(Strict):
    reader: str = Field(default=NO_READER, description=", ".join(POWER_READERS))
    # external_csv: the log an external meter writes on the machine running edgekd.
    csv: str | None = None
    notes: str | None = None

    @field_validator("reader")
    @classmethod
    def _known_reader(cls, value: str) -> str:
        return check_power_reader(value)

    @field_validator("csv")
    @classmethod
    def _csv_needs_its_reader(cls, value, info):
        if value is not None and info.data.get("reader") != "external_csv":
            raise ValueError("csv is only read with reader: external_csv")
        return value


class PowerModel(Strict):
    """The power a source measured on the device, for energy estimates when nothing can be measured."""

    idle_watts: float | None = Field(default=None, ge=0)
    active_watts: float | None = Field(default=None, ge=0)
    # Earlier profiles estimated latency as MACs / a throughput: a straight line through MACs that ignores the
    # per-invoke floor and the op mix. Such a figure is refused with the way to the calibrated estimate.
    int8_macs_per_second: float | None = None
    float_macs_per_second: float | None = None
    notes: str | None = None

    @field_validator("int8_macs_per_second", "float_macs_per_second")
    @classmethod
    def _no_macs_line(cls, value: float | None) -> float | None:
        if value is not None:
            raise ValueError(
                "MACs-per-second throughputs are no longer read: latency estimates stand on published measurements; "
                "remove the field and name a calibration device in estimate.calibration (see devices/README.md)"
            )
        return value


class EstimateSource(Strict):
    """Where a profile's latency and energy estimates come from: a device of the calibration data
    (``devices/calibration``), and how this device relates to it."""

    calibration: str = Field(description="a calibration device whose published points the estimates stand on")
    # An accelerator: the calibration device that runs the ops it does not take (its host CPU).
    cpu_fallback: str | None = None
    # A device with no points of its own, extrapolated from another by a published ratio of their latencies.
    speedup: float | None = Field(default=None, gt=0)
    speedup_source: str | None = None
    # Energy: the calibration device whose measured power stands in when the profile has no power_model figure
    # (default: estimate.calibration's own, where its source measured one).
    power_from: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _ratio_has_source(self):
        if self.speedup is not None and not self.speedup_source:
            raise ValueError("a speedup needs the speedup_source that measured it")
        return self

    @field_validator("calibration", "cpu_fallback", "power_from")
    @classmethod
    def _known_calibration(cls, value: str | None) -> str | None:
        if value is not None:
            from edgekd.profiles.calibration import builtin_calibration

            devices = builtin_calibration().devices
            if value not in devices:
                raise ValueError(
                    f"unknown calibration device {value!r}; known: {known_names(devices)} "
                    "(devices/calibration/measurements.yaml)"
                )
        return value


class Cost(Strict):
    """What an hour of the device costs (a cloud instance's on-demand price), with where the price comes from."""

    hourly_usd: float = Field(gt=0)
    source: str = Field(min_length=1, description="where the price was read, and when")


class Emulation(Strict):
    """A device that stands in for another by emulating its userland on this host (``edgekd devices emulate``).

    Its outputs, accuracy, memory and failures are the emulated runtime's own; its latency is
    the emulator's and is never presented as the real device's.
    """

    of: str = Field(description="the board it emulates; `edgekd devices emulate NAME` builds it")

    @field_validator("of")
    @classmethod
    def _known_recipe(cls, value: str) -> str:
        from edgekd.profiles.emulated import get_recipe

        get_recipe(value)
        return value


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
    emulation: Emulation | None = None
    estimate: EstimateSource | None = None
    cost: Cost | None = None
    sources: list[str] = Field(default_factory=list)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported; this edgekd reads version {SCHEMA_VERSION}")
        return value

    def supports(self, mode: str) -> bool:
        return mode in self.quantization.supported

    @property
    def is_microcontroller(self) -> bool:
        """Flashed by the user's firmware toolchain: edgekd exports for it and checks the fit, and never reaches it."""
        return self.transport.type is Transport.NONE
