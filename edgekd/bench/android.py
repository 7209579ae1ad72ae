"""Android readings taken over adb around and during a benchmark: battery power and thermal state.

Battery power is ``|current_now| (µA) x voltage_now (µV)`` from the battery's sysfs folder,
sampled in a background thread while benchmark_model runs. It is the whole phone's draw, and
only while the phone is not charging: over a USB cable the battery current is net of the
charger's, so a charging phone gives no measurement (the reason is recorded; use
``adb tcpip`` and unplug). Thermal state is ``dumpsys thermalservice``'s status (0-6) and
temperatures, read before and after the runs.
"""

from __future__ import annotations

import re
import statistics
import threading
from collections.abc import Callable

BATTERY = "/sys/class/power_supply/battery"
THERMAL_STATUS_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")
# android.hardware.thermal TemperatureType: CPU 0, GPU 1, BATTERY 2, SKIN 3.
_HOT_TYPES = {0, 1, 3}
_TEMPERATURE = re.compile(r"Temperature\{mValue=(-?[\d.]+), mType=(-?\d+), mName=([^,]*), mStatus=(\d+)\}")


def parse_battery(text: str) -> float:
    """Watts from ``cat current_now voltage_now`` (two integers, µA then µV; the current's sign differs by vendor)."""
    numbers = re.findall(r"-?\d+", text)
    if len(numbers) < 2:
        raise ValueError(f"expected current_now and voltage_now, got {text.strip()[:80]!r}")
    microamps, microvolts = abs(int(numbers[0])), int(numbers[1])
    return microamps * microvolts / 1e12


def parse_thermalservice(text: str) -> dict:
    """``dumpsys thermalservice`` → status (0-6), its name, and the hottest CPU/GPU/skin temperature."""
    status = re.search(r"Thermal Status:\s*(\d+)", text)
    # Prefer the HAL's current readings to the service's cache when both are printed.
    current = text.split("Current temperatures from HAL:", 1)
    readings = _TEMPERATURE.findall(current[1] if len(current) == 2 else text)
    hot = [float(value) for value, kind, _name, _status in readings if int(kind) in _HOT_TYPES and float(value) > 0]
    result: dict = {"max_temp_c": max(hot) if hot else None}
    if status:
        code = int(status.group(1))
        result["android_status"] = code
        result["android_status_name"] = THERMAL_STATUS_NAMES[code] if code < len(THERMAL_STATUS_NAMES) else str(code)
    return result


class BatterySampler:
    """Reads the battery every ``interval`` seconds in a thread, between ``start`` and ``stop``."""

    def __init__(self, read: Callable[[], str], interval: float = 0.5):
        self._read = read
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[float] = []
        self.error: str | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(parse_battery(self._read()))
            except Exception as exc:  # noqa: BLE001 - any failure ends sampling and is reported, never raised
                self.error = str(exc)
                return
            self._stop.wait(self._interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.samples:
            return {"reader": "android_battery", "mean_w": statistics.fmean(self.samples), "samples": len(self.samples)}
        return {"reader": "android_battery", "error": self.error or "no samples during the measured runs"}
