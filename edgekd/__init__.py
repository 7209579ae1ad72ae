"""edgekd: distil a large Keras model into a small int8 TFLite model, with the evidence.

The package is laid out along the pipeline: ``data`` → ``models`` → ``distill`` →
``quantize`` → ``bench`` (on ``profiles``) → ``results``; ``pipeline`` orders the stages
from one config object, ``api`` is the Python interface and ``cli`` the command line.

    import edgekd
    run = edgekd.demo(quick=True)

``edgekd.distill``, ``quantize``, ``benchmark``, ``run``, ``demo`` and ``search`` are loaded on first
use, so ``import edgekd`` stays fast (TensorFlow loads when a model does).
"""

from edgekd.version import __version__ as __version__

_API = ("distill", "quantize", "benchmark", "run", "demo", "search")


def __getattr__(name: str):
    if name in ("distill", "quantize", "search"):
        # The packages of those names, which call their API function (see edgekd.callable_package).
        import importlib

        return importlib.import_module(f"edgekd.{name}")
    if name in _API:
        from edgekd import api

        return getattr(api, name)
    if name == "EdgekdError":
        from edgekd.errors import EdgekdError

        return EdgekdError
    raise AttributeError(f"module 'edgekd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "EdgekdError"])
