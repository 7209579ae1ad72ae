"""The metadata a model carries: what `edgekd quantize` recorded beside it (accuracy, its source, the data)."""

from __future__ import annotations

import json
from pathlib import Path


def results_metadata(model_path: Path) -> dict:
    """What `edgekd quantize` recorded beside the file: accuracy, its source, the data and its labels."""
    sidecar = model_path.with_suffix(".results.json")
    if not sidecar.is_file():
        return {"accuracy": None, "accuracy_source": f"no {sidecar.name} beside the model"}
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8"))
        record = next(iter(document.get("models", {}).values()))
    except (OSError, ValueError, StopIteration, AttributeError):
        return {"accuracy": None, "accuracy_source": f"{sidecar.name} is unreadable"}
    data = document.get("data") or {}
    return {
        "accuracy": record.get("accuracy"),
        "accuracy_source": record.get("accuracy_source"),
        "data": data.get("name"),
        "labels": data.get("class_names") or None,
        "input_layout": data.get("input_shape"),
    }
