"""The results.json document: what every command that produces artifacts writes.

Schema (documented in the README): ``schema_version``, ``kind``, ``created``,
``edgekd_version``, ``versions``, ``seeds``, ``config``, ``data``, ``models`` (role →
record), ``distillation``, ``benchmarks`` (list), ``timings_s``.
"""

from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata

import edgekd

RESULTS_SCHEMA_VERSION = 1
_PACKAGES = ("tensorflow", "keras", "tf-keras", "ai-edge-litert", "numpy", "mnist1d")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "edgekd": edgekd.__version__}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def new_document(kind: str, config: dict | None = None, seeds: dict | None = None) -> dict:
    """An empty results document stamped with time, versions and machine."""
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "kind": kind,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "edgekd_version": edgekd.__version__,
        "versions": library_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "seeds": seeds or {},
        "config": config or {},
        "data": {},
        "models": {},
        "benchmarks": [],
        "timings_s": {},
    }


def model_record(
    role: str,
    *,
    accuracy: float | None,
    accuracy_source: str,
    params: int | None,
    macs: int | None,
    size_bytes: int,
    path: str,
    fmt: str,
    **extra,
) -> dict:
    """One entry of ``models``: every figure with where it came from."""
    return {
        "role": role,
        "accuracy": None if accuracy is None else round(float(accuracy), 6),
        "accuracy_source": accuracy_source,
        "params": params,
        "macs": macs,
        "size_bytes": int(size_bytes),
        "path": path,
        "format": fmt,
        **extra,
    }
