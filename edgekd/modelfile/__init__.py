"""The model file: what a .tflite holds, read without running it through a stage.

``inspect`` reads a .tflite's operators, tensors and sizes; ``checks`` says which mode wrote it
and which ops stay float; ``workload`` classifies its arithmetic for the device cost models;
``edgetpu`` says what the Edge TPU compiler will map; ``verify`` runs the flatbuffers verifier
before LiteRT opens an untrusted file. Quantize, bench, export, profiles and search all read
these; this package reads nothing of edgekd above errors and inputs.
"""
