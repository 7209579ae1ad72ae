#!/usr/bin/env python3
"""Fit the device latency model to the published points and print its leave-one-model-out error per device.

    python scripts/calibrate_devices.py [--points] [--json]

Reads devices/calibration/ (measurements.yaml and the per-class counts in models.yaml),
fits every calibration device (floor and per-precision scale; relative costs per operator
class shared within a kernel library), then refits once per published model with that
model left out and predicts its points on every device from the rest. The table shows, per
device, the median and the worst absolute percentage error of those held-out predictions:
never the error on points the fit has seen. ``--points`` adds every held-out prediction.
The goal is a median of at most 25% wherever a device has four or more points; every
device is listed, those that miss included.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL = 0.25


def main() -> int:
    from edgekd.profiles.calibration import builtin_calibration
    from edgekd.profiles.validation import device_table
    from edgekd.results.table import markdown_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", action="store_true", help="also list every held-out prediction")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    calibration = builtin_calibration()
    rows, validations = device_table(calibration)
    if args.json:
        print(json.dumps({"devices": rows, "held_out": [vars(v) for v in validations]}, indent=2))
        return 0
    headers = ["device", "measured on", "kernel library", "points", "floor", "held out", "median error", "worst error",
               "goal"]  # fmt: skip
    body = []
    for row in rows:
        median, worst = row["median_error"], row["worst_error"]
        goal = (
            "n/a (fewer than 4 points)"
            if row["points"] < 4
            else ("met" if median is not None and median <= GOAL else "MISSED")
        )
        body.append(
            [
                row["device"],
                row["description"],
                row["library"],
                row["points"],
                row["floor"],
                row["held_out"],
                f"{100 * median:.0f}%" if median is not None else "n/a",
                f"{100 * worst:.0f}%" if worst is not None else "n/a",
                goal,
            ]
        )
    print(
        f"Leave-one-model-out validation, {datetime.date.today().isoformat()} "
        f"({len(calibration.points)} published points, {len(calibration.models)} models):\n"
    )
    print(markdown_table(headers, body))
    if args.points:
        print()
        print(
            markdown_table(
                ["device", "model", "precision", "published", "held-out estimate", "error"],
                [
                    [
                        v.device,
                        v.model,
                        v.precision,
                        f"{v.measured_ms:.4g} ms",
                        f"{v.predicted_ms:.4g} ms",
                        f"{100 * v.error:+.0f}%" if v.predicted_ms >= v.measured_ms else f"{-100 * v.error:.0f}%",
                    ]
                    for v in validations
                ],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
