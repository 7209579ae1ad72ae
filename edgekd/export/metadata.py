"""The metadata a model carries: labels, input normalization and layout, accuracy, MACs, edgekd version.

It is assembled from the file itself (shapes, quantization, MACs) and from what
`edgekd quantize` recorded beside it (accuracy, its source, the data and its labels), then
written beside the model as JSON and inside it (:mod:`edgekd.export.embedded`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgekd.modelfile.inspect import ModelReport


def results_metadata(model_path: Path) -> dict:
    """What `edgekd quantize` recorded beside the file: accuracy, its source, the data and its labels."""
    sidecar = model_path.with_suffix(".results.json")
    if not sidecar.is_file():
        return {"accuracy": None, "accuracy_source": f"no {sidecar.name} beside the model"}
    from edgekd.results.document import DocumentError, read_results_file

    try:
        document = read_results_file(sidecar)
        record = next(iter((document.get("models") or {}).values()))
    except (DocumentError, StopIteration):
        return {"accuracy": None, "accuracy_source": f"{sidecar.name} is unreadable"}
    data = document.get("data") or {}
    return {
        "accuracy": record.get("accuracy"),
        "accuracy_source": record.get("accuracy_source"),
        "data": data.get("name"),
        "labels": data.get("class_names") or None,
        "input_layout": data.get("input_shape"),
        "data_normalization": data.get("normalization"),
    }


def input_normalization(report: ModelReport, data_normalization: dict | None) -> list[dict]:
    """How a caller turns its data into each input tensor: the data's own scaling, then the quantization."""
    steps = []
    for tensor in report.inputs:
        step: dict = {"input": tensor.name, "dtype": tensor.dtype}
        if data_normalization:
            step["data"] = data_normalization
        if tensor.scale:
            step["quantization"] = {
                "scale": tensor.scale[0],
                "zero_point": tensor.zero_point[0] if tensor.zero_point else 0,
                "formula": "q = round(x / scale) + zero_point",
            }
        steps.append(step)
    return steps


def model_metadata(model_path: Path, report: ModelReport) -> dict:
    """The document a deployed or exported model carries (inside it and beside it)."""
    from edgekd.version import __version__

    recorded = results_metadata(model_path)
    return {
        "model": model_path.name,
        "labels": recorded.get("labels"),
        "input_layout": [list(t.shape_signature) for t in report.inputs],
        "input_normalization": input_normalization(report, recorded.pop("data_normalization", None)),
        "inputs": [t.as_dict() for t in report.inputs],
        "outputs": [t.as_dict() for t in report.outputs],
        "accuracy": recorded.get("accuracy"),
        "accuracy_source": recorded.get("accuracy_source"),
        "data": recorded.get("data"),
        "macs": report.macs,
        "edgekd_version": __version__,
    }


def shipped_fields(source: bytes, shipped: bytes, inside: str) -> dict:
    """What identifies the bytes that leave edgekd: their size and hash, the source's hash, where the metadata is."""
    return {
        "size_bytes": len(shipped),
        "sha256": hashlib.sha256(shipped).hexdigest(),
        "source_sha256": hashlib.sha256(source).hexdigest(),
        "metadata_inside": inside,
    }
