"""The SSH runner: copy the model and the agent to a temporary folder on the device, run, clean up.

Files land on the device under fixed names inside a fresh ``mktemp -d`` folder, so no local
file name ever reaches the remote shell, and every remote argument is quoted. The first
contact is retried a bounded number of times when the connection fails in a way that may
pass (see :mod:`edgekd.transport.ssh`); the folder is removed whatever happens.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.bench.op_profile import profile_ops
from edgekd.bench.runners import AGENT, agent_arguments, run_agent, zone_temperature
from edgekd.bench.settings import BenchSettings
from edgekd.errors import BenchmarkError
from edgekd.profiles.schema import DeviceProfile
from edgekd.transport.channel import remote_command, removed_afterwards
from edgekd.transport.ssh import RETRIES, SshChannel

# mktemp -d on the device: a fresh folder of mode 0700 that no other user can have prepared.
SCRATCH_TEMPLATE = "/tmp/edgekd.XXXXXXXX"  # noqa: S108 - a template on the device, made unique there by mktemp


class SshRunner:
    """Benchmarks through OpenSSH; returns the agent's raw JSON like every runner."""

    def run(self, model_path: Path, profile: DeviceProfile, settings: BenchSettings) -> dict:
        return self._agent(
            profile, settings.timeout_seconds, Path(model_path), agent_arguments(profile, settings), settings
        )

    def probe(self, profile: DeviceProfile) -> dict:
        """Reach the device and report its Python, TFLite runtime and machine (`edgekd devices check`)."""
        return self._agent(profile, 60, None, ["--probe"])

    def temperature(self, profile: DeviceProfile, settings: BenchSettings) -> float | None:
        return zone_temperature(SshChannel.from_profile(profile), settings.power_root)

    def _agent(
        self,
        profile: DeviceProfile,
        timeout: float,
        model_path: Path | None,
        arguments: list[str],
        settings: BenchSettings | None = None,
    ) -> dict:
        channel = SshChannel.from_profile(profile)
        with removed_afterwards(channel, _scratch_folder(channel)) as folder:
            model_argument = []
            if model_path is not None:
                channel.send(model_path, f"{folder}/model.tflite", model_path.name)
                model_argument = [f"{folder}/model.tflite"]
            if settings is not None and settings.inputs is not None:
                channel.send(Path(settings.inputs), f"{folder}/inputs.npy", "the accuracy inputs")
                arguments = [*arguments, "--inputs", f"{folder}/inputs.npy"]
            channel.send(AGENT, f"{folder}/agent.py", "the benchmark agent")
            python = profile.runtime.python or "python3"
            result = run_agent(channel, python, f"{folder}/agent.py", [*model_argument, *arguments], timeout)
            if settings is not None and settings.profile_ops:
                binary = settings.benchmark_binary or profile.runtime.benchmark_binary
                result["op_profile"] = profile_ops(channel, binary, f"{folder}/model.tflite", profile, settings)
            return result


def _scratch_folder(channel: SshChannel) -> str:
    """A fresh temporary folder on the device: the first contact, so the one call retried."""
    answer = channel.run(remote_command("mktemp", "-d", SCRATCH_TEMPLATE), timeout=30, retries=RETRIES)
    folder = channel.checked(answer, "creating a temporary folder").stdout.strip()
    if not folder.startswith(SCRATCH_TEMPLATE.rstrip("X")):
        raise BenchmarkError(f"{channel.device}: could not create a temporary folder on the device (got {folder!r})")
    return folder
