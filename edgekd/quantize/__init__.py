"""Quantization: conversion modes, .tflite evaluation through LiteRT, and .tflite inspection."""
