"""Quantization: conversion modes, .tflite evaluation through LiteRT, inspection and the quantization stage.

Calling the package runs :func:`edgekd.api.quantize`: ``edgekd.quantize("m.keras", data=..., out=...)``.
"""

from edgekd.callable_package import make_callable

make_callable(__name__)
