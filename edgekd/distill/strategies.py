"""tf.distribute strategies for training, by name.

``mirrored`` replicates training over the machine's GPUs, or over its logical CPU devices
when it has none (``EDGEKD_CPU_DEVICES=N`` splits the CPU into N of them, see
``edgekd.frameworks``); ``multiworker`` reads the cluster from ``TF_CONFIG`` and
runs as a single worker without it.
"""

from __future__ import annotations

from collections.abc import Callable

from edgekd.errors import ConfigError, known_names
from edgekd.frameworks import tensorflow


def _mirrored():
    tf = tensorflow()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])


def _multiworker():
    return tensorflow().distribute.MultiWorkerMirroredStrategy()


_STRATEGIES: dict[str, Callable[[], object] | None] = {
    "default": None,
    "mirrored": _mirrored,
    "multiworker": _multiworker,
}


def strategy_names() -> list[str]:
    return list(_STRATEGIES)


def check_strategy(name: str) -> None:
    if name not in _STRATEGIES:
        raise ConfigError(f"unknown training strategy {name!r}; known: {known_names(_STRATEGIES)}")


def make_strategy(name: str):
    """The strategy object, or None for TensorFlow's default (no distribution)."""
    check_strategy(name)
    factory = _STRATEGIES[name]
    return factory() if factory is not None else None
