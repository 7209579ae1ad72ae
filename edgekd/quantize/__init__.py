"""Quantization: conversion modes, .tflite evaluation through LiteRT, inspection and the quantization stage.

Calling the package runs :func:`edgekd.api.quantize`: ``edgekd.quantize("m.keras", data=..., out=...)``.
The package top (``edgekd/__init__.py``) makes it callable; this package knows nothing of the API.
"""
