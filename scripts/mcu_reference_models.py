#!/usr/bin/env python3
"""MLPerf Tiny's reference architectures on the three microcontroller profiles: params, MACs, flash, measured arena.

    python scripts/mcu_reference_models.py [--reference FILE.tflite ...] [--json]

Builds the ``resnet`` (ResNet-8, image classification, 32x32x3, 10 classes) and ``dscnn``
(DS-CNN, keyword spotting, 49x10x1, 12 classes) student families at their reference size,
converts each to int8 with random calibration samples (the memory figures depend on the
architecture, not on trained weights), and reports parameters, MACs, the .tflite's size
(flash), the tensor arena TensorFlow Lite Micro measures, the activation-only estimate
beside it, and the fit verdict on esp32-s3, nano33ble and stm32h7. ``--reference`` adds
int8 .tflite files measured the same way (MLPerf Tiny's own trained models, from
mlcommons/tiny ``benchmark/training/*/trained_models``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

# This checkout's edgekd, whatever else is installed: the figures are the checkout's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# (family, input shape, classes): the shapes of MLPerf Tiny's image-classification and keyword-spotting tasks.
FAMILIES = (("resnet", (32, 32, 3), 10), ("dscnn", (49, 10, 1), 12))
MCU_PROFILES = ("esp32-s3", "nano33ble", "stm32h7")
CALIBRATION_SAMPLES = 32


def built_models(folder: Path) -> list[tuple[str, Path]]:
    """Each family at its reference size, converted to int8 with random calibration samples."""
    import numpy as np

    from edgekd.models.builders import get_builder
    from edgekd.quantize.convert import convert

    models = []
    rng = np.random.default_rng(0)
    for family, shape, classes in FAMILIES:
        model = get_builder(family).build(shape, classes)
        samples = rng.standard_normal((CALIBRATION_SAMPLES, *shape)).astype(np.float32)
        path = folder / f"edgekd_{family}_int8.tflite"
        path.write_bytes(convert(model, "int8", samples))
        models.append((f"edgekd {family} (built here)", path))
    return models


def measure(name: str, path: Path) -> dict:
    """Params, MACs, flash, the measured and estimated arenas, and the fit on every MCU profile."""
    from edgekd.bench.tflm import run_tflm
    from edgekd.export.arena import estimate_arena
    from edgekd.export.fit import fit_report
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.profiles.loader import get_profile

    data = path.read_bytes()
    report = inspect_tflite(data, str(path))
    arena = run_tflm(data, str(path)).arena
    fits = {device: fit_report(report, arena, get_profile(device).profile) for device in MCU_PROFILES}
    return {
        "model": name,
        "params": report.params,
        "macs": report.macs,
        "flash_bytes": len(data),
        "arena_bytes": arena.bytes,
        "arena_recorded": arena.as_dict()["recorded"],
        "activation_estimate_bytes": estimate_arena(report).bytes,
        "fits": {device: fit["fits"] for device, fit in fits.items()},
        "ram_share": {device: arena.bytes / fit["ram"]["available"] for device, fit in fits.items()},
    }


def table(rows: list[dict]) -> str:
    from edgekd.bench.tflm import version
    from edgekd.results.table import markdown_table

    headers = ["model", "params", "MACs", "flash (.tflite)", "arena (TFLM)", "activations only", *MCU_PROFILES]
    body = [
        [
            row["model"],
            f"{row['params']:,}",
            f"{row['macs']:,}",
            f"{row['flash_bytes']:,} B",
            f"{row['arena_bytes']:,} B",
            f"{row['activation_estimate_bytes']:,} B",
            *(
                f"{'fits' if row['fits'][device] else 'does NOT fit'} ({100 * row['ram_share'][device]:.0f}% of RAM)"
                for device in MCU_PROFILES
            ),
        ]
        for row in rows
    ]
    return markdown_table(headers, body) + f"\n\nArena measured with tflite-micro {version()} on this host."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, nargs="*", default=[], help="int8 .tflite files to measure too")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekd-mcu-") as scratch:
        models = built_models(Path(scratch)) + [(path.name, path) for path in args.reference]
        rows = [measure(name, path) for name, path in models]
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
