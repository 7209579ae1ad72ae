"""An external power meter's log: a CSV that a USB meter or lab supply writes while the benchmark runs.

Rows are ``time, watts`` (no header), or have a header naming a time column (``time``,
``timestamp`` or ``unix``) and either ``watts``/``power_w`` or ``volts`` and ``amps``. Times
are Unix seconds or ISO 8601. Power is the mean of the samples between the benchmark's start
and finish (so it includes loading and warm-up, which the method says).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import statistics
from pathlib import Path

from edgekd.errors import BenchmarkError
from edgekd.inputs import open_regular_file

_TIME = ("time", "timestamp", "unix", "t")
_WATTS = ("watts", "power_w", "w", "power")


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        moment = _dt.datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.UTC)
        return moment.timestamp()


def meter_samples(path: Path) -> list[tuple[float, float]]:
    """(unix time, watts) for every row; raises ValueError naming the first row it cannot read
    (``BenchmarkError`` for a path that is missing or not a regular file)."""
    with (
        open_regular_file(path, "external meter log", BenchmarkError) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle,
    ):
        rows = [row for row in csv.reader(handle) if row and not row[0].startswith("#")]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    has_header = any(name in header for name in _TIME)
    if has_header:
        time_at = next(header.index(n) for n in _TIME if n in header)
        watts_at = next((header.index(n) for n in _WATTS if n in header), None)
        volts_at = header.index("volts") if "volts" in header else None
        amps_at = header.index("amps") if "amps" in header else None
        if watts_at is None and (volts_at is None or amps_at is None):
            raise ValueError(f"header {rows[0]} has no watts column and no volts and amps columns")
        rows = rows[1:]
    samples = []
    for number, row in enumerate(rows, start=2 if has_header else 1):
        try:
            if not has_header:
                samples.append((_seconds(row[0]), float(row[1])))
            elif watts_at is not None:
                samples.append((_seconds(row[time_at]), float(row[watts_at])))
            else:
                samples.append((_seconds(row[time_at]), float(row[volts_at]) * float(row[amps_at])))
        except (ValueError, IndexError):
            raise ValueError(f"row {number} ({','.join(row)[:60]!r}) is not time,watts") from None
    return samples


def mean_power(path: Path, start: float, end: float) -> tuple[float | None, str | None]:
    """(mean watts between ``start`` and ``end``, or None; the reason when None)."""
    path = Path(path).expanduser()
    try:
        samples = meter_samples(path)
    except BenchmarkError as exc:
        return None, str(exc)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"external meter log {path}: {exc}"
    window = [watts for moment, watts in samples if start <= moment <= end]
    if not window:
        return None, f"external meter log {path} has no samples between the benchmark's start and finish"
    return statistics.fmean(window), None
