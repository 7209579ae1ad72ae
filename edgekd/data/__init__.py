"""Datasets: the embedded MNIST-1D default, ``.npz`` files and image folders."""

from edgekd.data.dataset import Dataset
from edgekd.data.representative import representative_samples
from edgekd.data.spec import load_dataset, parse_spec, spec_grammar

__all__ = ["Dataset", "load_dataset", "parse_spec", "representative_samples", "spec_grammar"]
