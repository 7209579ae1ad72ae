"""The microcontroller runner: TensorFlow Lite Micro's own kernels, run on the host, for outputs (not latency).

A microcontroller is flashed by its firmware toolchain, so edgekd never reaches it; but the
interpreter a board runs is TFLM, and TFLM runs on the host (``edgekd.bench.tflm``). Given
accuracy inputs, this runner returns TFLM's outputs for them and the arena TFLM measured,
in the shape of an agent's answer. It measures no latency: the host's speed says nothing
about a Cortex-M's, and the reference kernels are not the board's optimized ones.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from edgekd.bench.accuracy import encode_outputs
from edgekd.bench.settings import BenchSettings
from edgekd.errors import BenchmarkError
from edgekd.profiles.schema import DeviceProfile


def no_latency_on(profile: DeviceProfile) -> BenchmarkError:
    """Why a microcontroller has no latency benchmark here, and what edgekd offers instead."""
    return BenchmarkError(
        f"device {profile.name!r} is a microcontroller flashed by its firmware toolchain; edgekd cannot time "
        f"benchmarks there. Check the fit with `edgekd inspect MODEL --device {profile.name}`, check its outputs "
        f"through TensorFlow Lite Micro with `edgekd bench MODEL --device {profile.name} --accuracy DATA`, and build "
        f"the firmware from `edgekd export MODEL --format c --device {profile.name}`"
    )


class MicroRunner:
    """Runs the model's accuracy inputs through TFLM on the host; refuses a latency benchmark."""

    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict:
        from edgekd.bench.tflm import run_tflm, version

        if settings.inputs is None:
            raise no_latency_on(profile)
        data = Path(model_path).read_bytes()
        run = run_tflm(data, str(model_path), np.load(settings.inputs, allow_pickle=False))
        return {
            "ok": True,
            "outputs": encode_outputs(run.outputs),
            "tensor_arena": run.arena.as_dict(),
            "environment": {
                "runtime": "tflite-micro",
                "runtime_version": version(),
                "kernels": "TFLite Micro reference kernels, run on the host (not the board's optimized ones)",
                "machine": f"{platform.machine()}, the host (not the board)",
                "python": platform.python_version(),
            },
        }

    def probe(self, profile: DeviceProfile) -> dict:
        raise no_latency_on(profile)

    def temperature(self, profile: DeviceProfile, settings: BenchSettings) -> float | None:
        return None  # TFLM runs on the host here: there is no board to cool
