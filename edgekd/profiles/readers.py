"""Power readers by name: what each measures and which part of edgekd reads it.

A profile's ``power.reader`` is checked against this registry when the profile loads (it lives with
the profile schema, below bench, which reads the same names). The
on-device agent (``edgekd/bench/agent.py``) keeps its own table, since it imports nothing from edgekd;
``tests/test_power.py`` ties that table to ``AGENT_READERS``.
"""

from __future__ import annotations

from edgekd.errors import known_names

NO_READER = "none"
EXTERNAL_CSV = "external_csv"

POWER_READERS = {
    NO_READER: "no power reading (energy is estimated from power_model, or absent)",
    "rapl": "Intel RAPL package energy, sampled by the agent",
    "ina2xx": "an INA219/INA226/INA260 through hwmon, sampled by the agent",
    "android_battery": "the battery's current x voltage, sampled by the agent (over adb: by the runner)",
    "vcgencmd_pmic": "the Raspberry Pi 5 PMIC's SoC-side rails, sampled by the agent",
    "tegrastats": "a Jetson's total input power from tegrastats, sampled by the agent",
    EXTERNAL_CSV: "an external meter's log (power.csv), read on this machine",
}

# The readers the agent implements; a runner passes these to it (other readers are read elsewhere or not at all).
AGENT_READERS = frozenset({"rapl", "ina2xx", "android_battery", "vcgencmd_pmic", "tegrastats"})


def check_power_reader(name: str) -> str:
    """``name`` if it is a registered reader; a ValueError listing the known ones otherwise."""
    if name not in POWER_READERS:
        raise ValueError(f"unknown power reader {name!r}; known: {known_names(POWER_READERS)}")
    return name
