"""Distillation: losses registered by name, the training loop, the Distiller and the distillation stage.

Calling the package runs :func:`edgekd.api.distill`: ``edgekd.distill(teacher="t.keras", data=...)``.
The package top (``edgekd/__init__.py``) makes it callable; this package knows nothing of the API.
"""
