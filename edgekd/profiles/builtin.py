"""Where the built-in device profiles and their calibration data are installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def builtin_folder() -> Path:
    """The built-in profiles, installed inside the package as ``edgekd.builtin_devices``."""
    spec = importlib.util.find_spec("edgekd.builtin_devices")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    # Running from a source checkout that was not installed: the top-level devices/ folder.
    return Path(__file__).resolve().parents[2] / "devices"
