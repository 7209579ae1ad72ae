"""edgekd: distil a large Keras model into a small int8 TFLite model, with the evidence.

The package is laid out along the pipeline: ``data`` → ``models`` → ``distill`` →
``quantize`` → ``bench`` (on ``profiles``) → ``results``; ``pipeline`` wires the stages
together from one config object and ``cli`` is the thin command-line edge.
"""

__version__ = "0.1.0"
