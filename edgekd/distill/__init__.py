"""Distillation: losses registered by name, the training loop, the Distiller and the distillation stage.

Calling the package runs :func:`edgekd.api.distill`: ``edgekd.distill(teacher="t.keras", data=...)``.
"""

from edgekd.callable_package import make_callable

make_callable(__name__)
