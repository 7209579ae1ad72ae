"""edgekd: distil a large Keras model into a small int8 TFLite model, with the evidence.

The package is laid out along the pipeline: ``data`` → ``models`` → ``distill`` →
``quantize`` → ``bench`` (on ``profiles``) → ``results``; ``pipeline`` orders the stages
from one config object, ``api`` is the Python interface and ``cli`` the command line
(the floors and what each may import: docs/architecture.md).

    import edgekd
    run = edgekd.demo(quick=True)

``edgekd.distill``, ``quantize``, ``benchmark``, ``run``, ``demo`` and ``search`` are loaded on first
use, so ``import edgekd`` stays fast (TensorFlow loads when a model does).
"""

import sys
import types

from edgekd.version import __version__ as __version__

_API = ("distill", "quantize", "benchmark", "run", "demo", "search")

# Stage packages that are also the API function of their name. Once a package is imported,
# Python binds its name on ``edgekd`` to the package, so a plain function could never be
# reached there: the package top makes each of these packages callable as it is bound
# (``edgekd.distill(...)`` runs ``edgekd.api.distill``), and the stage packages know nothing
# of the API above them.
_CALLABLE_PACKAGES = ("distill", "quantize", "search")


class _CallablePackage(types.ModuleType):
    """A stage package that, called, runs the API function of its name."""

    def _function(self):
        from edgekd import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self):
        # inspect.signature(edgekd.distill) shows the function's parameters, not (*args, **kwargs).
        import inspect

        return inspect.signature(self._function())

    def __reduce__(self):
        # Pickled by name (to hand it to a process pool), as a module function would be.
        import importlib

        return importlib.import_module, (self.__name__,)


class _Package(types.ModuleType):
    """The ``edgekd`` module itself: binding one of the stage packages on it makes that package callable."""

    def __setattr__(self, name: str, value) -> None:
        if name in _CALLABLE_PACKAGES and type(value) is types.ModuleType and value.__name__ == f"edgekd.{name}":
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _CALLABLE_PACKAGES:
        # The packages of those names, which call their API function (made callable as they are bound).
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
