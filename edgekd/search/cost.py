"""What a candidate costs on the device, before any training: counted, converted, measured or estimated.

MACs and parameters are counted from the Keras model. Flash and RAM come from its int8
conversion (untrained weights take the same bytes as trained ones): the file's size, and
the tensor arena, measured by TensorFlow Lite Micro on a microcontroller profile and
estimated from the activations elsewhere. Latency and energy are estimated on the int8 file
from the device's calibration (published points, ``edgekd.profiles.estimate``), or measured
on the device itself with ``measure``.
Every figure carries its ``source`` and ``method``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekd.errors import BenchmarkError, ConfigError
from edgekd.profiles.estimate import energy_available
from edgekd.profiles.readers import NO_READER
from edgekd.search.budget import BUDGET_KEYS

# A candidate measured with ``measure`` runs long enough for a stable median on a board
# (sub-millisecond students make thousands of runs in this time), and short enough that a
# 20-trial search spends under a minute measuring.
MEASURE_RUNS = 50
MEASURE_SECONDS = 0.5
MEASURE_WARMUP = 5
# Figures that need the int8 conversion of a candidate.
CONVERTED = ("flash_kb", "ram_kb")
TIMED = ("latency_ms", "energy_mj")


@dataclass(frozen=True)
class Figure:
    """One cost figure, where it came from (counted, measured, estimated) and how."""

    value: float
    source: str
    method: str

    def as_dict(self) -> dict:
        return {"value": round(self.value, 6), "source": self.source, "method": self.method}


@dataclass(frozen=True)
class Cost:
    """A candidate's figures by budget key (``macs``, ``ram_kb`` …)."""

    figures: dict[str, Figure]

    def value(self, key: str) -> float:
        return self.figures[key].value

    def over(self, budgets: dict[str, float], partial: bool = False) -> list[str]:
        """Each budget the candidate exceeds, as ``ram_kb 301.2 > 256 (measured)``.

        A cost that stopped early lacks the later figures, and is over a budget already; a
        ``partial`` one (still being worked out) is checked on the figures it has.
        """
        over = [
            f"{key} {self.figures[key].value:.6g} > {limit:g} ({self.figures[key].source})"
            for key, limit in budgets.items()
            if key in self.figures and self.figures[key].value > limit
        ]
        missing = [key for key in budgets if key not in self.figures]
        if missing and not over and not partial:
            raise ValueError(f"a cost without the {', '.join(missing)} figure cannot be checked against its budget")
        return over

    def as_dict(self) -> dict:
        return {key: figure.as_dict() for key, figure in self.figures.items()}

    @staticmethod
    def from_dict(document: dict) -> Cost:
        return Cost({key: Figure(item["value"], item["source"], item["method"]) for key, item in document.items()})


class CostModel:
    """Costs candidates on one device for one search: only the figures the budgets and objectives need.

    Built through :meth:`for_search`, which refuses a budget the device has no figure for
    before anything is built.
    """

    def __init__(self, entry, keys: tuple[str, ...], measure: bool, representative: np.ndarray):
        self.entry, self.keys, self.measure, self.representative = entry, keys, measure, representative

    @property
    def profile(self):
        return self.entry.profile

    @staticmethod
    def for_search(device: str, budgets: dict[str, float], measure: bool, representative: np.ndarray) -> CostModel:
        """The cost model of ``device``, after checking it has a figure for every budget."""
        from edgekd.bench.stage import check_devices
        from edgekd.profiles.loader import get_profile

        entry = get_profile(device)
        profile = entry.profile
        power = profile.power_model
        if measure and profile.is_microcontroller:
            raise ConfigError(
                f"`measure`: {profile.name} is a microcontroller, which edgekd cannot run models on (your firmware "
                "toolchain flashes it); leave out `measure`: its flash and RAM are measured through TensorFlow Lite "
                "Micro on this host"
            )
        if measure:
            check_devices([device])
        timed = [key for key in TIMED if key in budgets]
        if timed and not measure and profile.estimate is None:
            # A microcontroller cannot be measured by edgekd: only a calibrated estimate would do.
            remedy = "" if profile.is_microcontroller else "add `measure` to measure it on the device, "
            raise ConfigError(
                f"budget {timed[0]}: device {profile.name} has no calibration to estimate it from (no published "
                f"measurements; estimate.calibration in its profile); {remedy}or budget macs instead"
            )
        estimated_energy = not measure and profile.estimate is not None and energy_available(profile)
        if (
            "energy_mj" in budgets
            and power.active_watts is None
            and not estimated_energy
            and (not measure or profile.power.reader == NO_READER)
        ):
            raise ConfigError(
                f"budget energy_mj: device {profile.name} has no power figure (power_model.active_watts in its "
                "profile, or a calibration with measured power)"
                + ("" if measure else " and energy is not measured without `measure`")
                + "; add the figure to the profile, or budget latency_ms instead"
            )
        keys = ["macs", "params"]
        if profile.is_microcontroller or measure or any(key in budgets for key in CONVERTED):
            keys += CONVERTED
        # An estimate needs the candidate's int8 file: estimated figures are kept where budgeted, and on a
        # microcontroller (converted anyway) also as the search's objectives.
        if measure or timed or (profile.estimate is not None and profile.is_microcontroller):
            keys.append("latency_ms")
            if power.active_watts is not None or "energy_mj" in budgets or estimated_energy:
                keys.append("energy_mj")
        return CostModel(entry, tuple(keys), measure, representative)

    @property
    def speed_key(self) -> str:
        """The objective the search minimises for speed: latency where the device has a figure, else MACs."""
        return "latency_ms" if "latency_ms" in self.keys else "macs"

    @property
    def memory_key(self) -> str:
        """The objective the search minimises for memory: the tensor arena where it is known, else parameters."""
        return "ram_kb" if "ram_kb" in self.keys else "params"

    def cost(self, model, label: str, budgets: dict[str, float] | None = None) -> Cost:
        """``model``'s figures; raises the device's refusal (an op TFLM lacks, a failed measurement) as an error.

        With ``budgets``, a candidate the counted figures already put over one is not converted
        or measured: its cost holds those figures, and for flash and RAM lower bounds counted
        from the Keras model (source ``lower bound``). Converting and measuring an int8 file
        took a few seconds per candidate on a microcontroller profile, most of them over budget.
        """
        from edgekd.models.complexity import model_macs, model_params

        macs, params = model_macs(model), model_params(model)
        figures = {
            "macs": Figure(macs, "counted", "multiply-accumulates of the Keras model's layers, one sample"),
            "params": Figure(params, "counted", "weights of the Keras model"),
        }
        if budgets:
            early = {**figures, **self._bounds(model, budgets)}
            if Cost(early).over(budgets, partial=True):
                return Cost(early)
        data = None
        if any(key in self.keys for key in CONVERTED):
            data = self._int8(model)
            figures.update(self._memory(data, label))
        if "latency_ms" in self.keys and not self.measure:
            data = data or self._int8(model)
            figures.update(self._estimated(data, label))
        if self.measure and "latency_ms" in self.keys:
            figures.update(self._measured(data or self._int8(model), label))
        return Cost(figures)

    def _bounds(self, model, budgets: dict[str, float]) -> dict[str, Figure]:
        """Lower bounds on the converted figures the budgets limit, from the Keras model alone."""
        from edgekd.models.complexity import int8_activation_bytes, int8_weight_bytes

        bounds = {}
        if "flash_kb" in budgets and "flash_kb" in self.keys:
            bounds["flash_kb"] = Figure(
                int8_weight_bytes(model) / 1024,
                "lower bound",
                "the int8 kernels' bytes, which the .tflite holds besides biases and its graph (the candidate was "
                "over a budget before conversion, so it was not converted)",
            )
        if "ram_kb" in budgets and "ram_kb" in self.keys:
            bounds["ram_kb"] = Figure(
                int8_activation_bytes(model) / 1024,
                "lower bound",
                "the largest input plus output of one op at one byte per value, which the arena holds together "
                "(the candidate was over a budget before conversion, so it was not converted)",
            )
        return bounds

    def _int8(self, model) -> bytes:
        from edgekd.quantize.convert import convert

        return convert(model, "int8", self.representative)

    def _memory(self, data: bytes, label: str) -> dict[str, Figure]:
        from edgekd.export.fit import device_arena
        from edgekd.modelfile.inspect import inspect_tflite

        arena, refusal = device_arena(data, inspect_tflite(data, label), label, self.profile)
        if refusal is not None:
            raise refusal
        arena_document = arena.as_dict()
        method = arena_document["method"]
        if arena_document.get("not_measured_because"):
            method += f" (not measured: {arena_document['not_measured_because']})"
        return {
            "flash_kb": Figure(len(data) / 1024, "counted", "size of the int8 .tflite"),
            "ram_kb": Figure(arena.bytes / 1024, arena_document["source"], method),
        }

    def _estimated(self, data: bytes, label: str) -> dict[str, Figure]:
        """Latency and energy from the device's calibration, on the candidate's int8 file."""
        from edgekd.modelfile.inspect import inspect_tflite
        from edgekd.profiles.estimate import NoEstimate, estimate_report

        try:
            found = estimate_report(self.profile, inspect_tflite(data, label))
        except NoEstimate as exc:
            raise ConfigError(f"{label}: {exc}") from None
        low, high = found.latency_interval_ms
        figures = {
            "latency_ms": Figure(
                found.latency_ms,
                "estimated",
                f"calibrated estimate on {self.profile.name} ({low:.4g} to {high:.4g} ms): {found.basis}",
            )
        }
        if "energy_mj" in self.keys:
            if found.energy_mj is None:
                raise ConfigError(f"{label}: no energy estimate on {self.profile.name}: it has no power figure")
            figures["energy_mj"] = Figure(found.energy_mj, "estimated", f"estimated latency x {found.power_basis}")
        return figures

    def _measured(self, data: bytes, label: str) -> dict[str, Figure]:
        from edgekd.bench.settings import BenchSettings
        from edgekd.bench.stage import bench_stage
        from edgekd.progress import SILENT

        settings = BenchSettings(runs=MEASURE_RUNS, min_seconds=MEASURE_SECONDS, warmup=MEASURE_WARMUP)
        with tempfile.TemporaryDirectory(prefix="edgekd-search-") as folder:
            path = Path(folder) / "candidate_int8.tflite"
            path.write_bytes(data)
            (result,) = bench_stage([(label, path)], [self.profile.name], settings, SILENT)
        if not result.ok:
            raise BenchmarkError(f"{label} could not be measured on {self.profile.name}: {result.error}")
        document = result.as_dict()
        source = document.get("latency_source", "measured")
        figures = {
            "latency_ms": Figure(
                result.latency_ms["p50"], source, f"median of {result.latency.count} runs on {self.profile.name}"
            )
        }
        energy = result.energy or {}
        if "energy_mj" in self.keys:
            if energy.get("value_mj") is None:
                raise BenchmarkError(
                    f"{label}: no energy figure on {self.profile.name}: {energy.get('reason', 'no power reading')}; "
                    "budget latency_ms instead, or give the profile power_model.active_watts"
                )
            figures["energy_mj"] = Figure(energy["value_mj"], energy["source"], energy.get("method", ""))
        return figures


def smallest_costs(costs: list[tuple[str, Cost]], budgets: dict[str, float]) -> None:
    """Refuse budgets that the cheapest candidate of every family exceeds: no candidate can meet them.

    ``costs``: (candidate spec, cost) of each family's smallest candidate.
    """
    for key, limit in budgets.items():
        spec, cheapest = min(costs, key=lambda pair: pair[1].value(key))
        figure = cheapest.figures[key]
        if figure.value > limit:
            raise ConfigError(
                f"no candidate can meet budget {key}={limit:g}: the smallest {key} of any candidate is "
                f"{figure.value:.6g} {BUDGET_KEYS[key].unit} ({spec}, {figure.source}); raise the budget"
            )
