"""Packages that are also the API function of their name: ``edgekd.distill(...)`` and ``edgekd.quantize(...)``.

``edgekd/distill/`` and ``edgekd/quantize/`` are packages (the pipeline's stages), and the
Python API offers functions of the same names. Once a package is imported, Python binds
its name on ``edgekd`` to the package, so a plain function could never be reached there.
Each of these packages makes itself callable instead: calling it runs the API function
(``edgekd.api.distill`` / ``quantize``), and its modules stay where they are.
"""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from edgekd import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


def make_callable(name: str) -> None:
    """Make the package ``name`` (``edgekd.distill``) call ``edgekd.api.<last part of name>``."""
    sys.modules[name].__class__ = _CallablePackage
