"""Packages that are also the API function of their name: ``edgekd.distill(...)``, ``quantize(...)``, ``search(...)``.

``edgekd/distill/``, ``edgekd/quantize/`` and ``edgekd/search/`` are packages (the pipeline's stages), and the
Python API offers functions of the same names. Once a package is imported, Python binds
its name on ``edgekd`` to the package, so a plain function could never be reached there.
Each of these packages makes itself callable instead: calling it runs the API function
(``edgekd.api.distill`` / ``quantize`` / ``search``), and its modules stay where they are.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types


class _CallablePackage(types.ModuleType):
    def _function(self):
        from edgekd import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self):
        # inspect.signature(edgekd.distill) shows the function's parameters, not (*args, **kwargs).
        return inspect.signature(self._function())

    def __reduce__(self):
        # Pickled by name (to hand it to a process pool), as a module function would be.
        return importlib.import_module, (self.__name__,)


def make_callable(name: str) -> None:
    """Make the package ``name`` (``edgekd.distill``) call ``edgekd.api.<last part of name>``."""
    sys.modules[name].__class__ = _CallablePackage
