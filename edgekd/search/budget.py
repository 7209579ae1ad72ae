"""Budgets: what a searched student may cost, one registered key each, with the figure it limits.

``latency_ms=20`` limits the latency per inference on the device, ``ram_kb=256`` the tensor
arena, and so on. A key says which cost figure it reads (``edgekd.search.cost``) and how a
value of the key becomes that figure's unit.

>>> parse_budgets(["latency_ms=20", "ram_kb=256"])
{'latency_ms': 20.0, 'ram_kb': 256.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgekd.errors import ConfigError, known_names


@dataclass(frozen=True)
class BudgetKey:
    """One kind of limit: its name (as ``--budget`` takes it), its unit, and what it limits."""

    name: str
    unit: str
    description: str


BUDGET_KEYS: dict[str, BudgetKey] = {
    key.name: key
    for key in (
        BudgetKey("macs", "MACs", "multiply-accumulates per inference, counted from the model's layers"),
        BudgetKey("params", "parameters", "weights of the model, counted"),
        BudgetKey("flash_kb", "KiB", "size of the int8 .tflite (what a board keeps in flash)"),
        BudgetKey(
            "ram_kb",
            "KiB",
            "tensor arena of the int8 .tflite: measured by TensorFlow Lite Micro on a microcontroller profile, "
            "estimated from its activations elsewhere",
        ),
        BudgetKey(
            "latency_ms",
            "ms",
            "latency per inference on the device: estimated on the int8 file from the device's calibration "
            "(published measurements), or measured with `measure`",
        ),
        BudgetKey(
            "energy_mj",
            "mJ",
            "energy per inference: the estimated latency times the power a source measured under load "
            "(estimated), or measured with `measure` where the device has a power reader",
        ),
    )
}


def budget_key_names() -> list[str]:
    return sorted(BUDGET_KEYS)


def check_budgets(budgets: dict[str, float]) -> dict[str, float]:
    """Known keys and positive finite limits; the error lists the known keys."""
    for key, value in budgets.items():
        if key not in BUDGET_KEYS:
            raise ConfigError(f"unknown budget key {key!r}; known: {known_names(BUDGET_KEYS)}")
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"budget {key}={value} must be a positive number of {BUDGET_KEYS[key].unit}")
    return {key: float(value) for key, value in budgets.items()}


def parse_budgets(items: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["latency_ms=20"]`` → ``{"latency_ms": 20.0}``, checked."""
    budgets: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise ConfigError(
                f"budget {item!r} should be KEY=VALUE, e.g. latency_ms=20; keys: {known_names(BUDGET_KEYS)}"
            )
        if key in budgets:
            raise ConfigError(f"budget {key} is given twice")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"budget {item!r}: {value.strip()!r} is not a number") from None
        budgets[key] = number
    return check_budgets(budgets)


def describe(budgets: dict[str, float]) -> str:
    return ", ".join(f"{key}={value:g}" for key, value in budgets.items()) or "no budget"


# A microcontroller's memory, as budgets: the key and the profile's hardware field it reads.
BOARD_MEMORY = (("flash_kb", "flash_kb"), ("ram_kb", "ram_kb"))


def with_board_memory(budgets: dict[str, float], profile) -> tuple[dict[str, float], str | None]:
    """On a microcontroller profile, its flash and RAM as budgets where ``budgets`` gives none (a model that does not
    fit the board cannot run on it); returns the budgets and the line that says so (None when nothing was added)."""
    if not profile.is_microcontroller:
        return budgets, None
    added = {
        key: float(getattr(profile.hardware, field))
        for key, field in BOARD_MEMORY
        if key not in budgets and getattr(profile.hardware, field, None)
    }
    if not added:
        return budgets, None
    return {**budgets, **added}, (
        f"{profile.name} is a microcontroller: its memory bounds the search ({describe(added)}, from its profile); "
        "a flash_kb or ram_kb in `search.budgets` replaces the board's figure"
    )
