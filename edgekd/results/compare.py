"""Comparisons: model vs model and device vs device, from stored runs or results files, against a baseline row.

Rows come from benchmarks (a model on a device, measured) and, for devices named with
``--device`` that no run measured, from the device's calibration (estimated from published
points, with an interval and a basis; labelled so). A measured row on a calibrated device
carries the estimate beside it and how far the estimate was off. Ratios are against the baseline row on the same device
(``teacher`` by default: the first model whose name starts with it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgekd.errors import EdgekdError
from edgekd.results.document import RESULTS_SCHEMA_VERSION
from edgekd.results.estimates import error_against, estimate_record


class CompareError(EdgekdError):
    """Nothing to compare, or results that cannot be compared."""


@dataclass
class Row:
    run: str
    model: str
    device: str
    accuracy: float | None
    size_bytes: int | None
    macs: int | None
    p50_ms: float | None
    p90_ms: float | None
    energy_mj: float | None
    energy_source: str | None
    latency_source: str
    status: str = "ok"
    # Estimated rows: the interval from the calibration's held-out error, and the basis. Measured rows on a
    # calibrated device: the estimate beside the measurement, and how far it was off (signed, of the measurement).
    interval_ms: tuple[float, float] | None = None
    basis: str | None = None
    estimated_ms: float | None = None
    estimate_error: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def check_schemas(documents: list[tuple[str, dict]]) -> None:
    """Refuse results whose results.json schema this edgekd does not read (naming which)."""
    foreign = [(name, doc.get("schema_version")) for name, doc in documents]
    foreign = [(name, v) for name, v in foreign if v != RESULTS_SCHEMA_VERSION]
    if foreign:
        listed = ", ".join(f"{name} (schema {version})" for name, version in foreign)
        raise CompareError(
            f"cannot compare results of another schema version: {listed}; this edgekd reads schema "
            f"{RESULTS_SCHEMA_VERSION}. Re-run them with this version, or compare them with the edgekd that wrote them"
        )


def measured_rows(run: str, document: dict) -> list[Row]:
    models = document.get("models") or {}
    rows = []
    for bench in document.get("benchmarks") or []:
        record = models.get(bench.get("model")) or {}
        latency = bench.get("latency_ms") or {}
        energy = bench.get("energy") or {}
        rows.append(
            Row(
                run=run,
                model=bench.get("model", "?"),
                device=bench.get("device", "?"),
                accuracy=record.get("accuracy"),
                size_bytes=record.get("size_bytes", bench.get("size_bytes")),
                macs=record.get("macs"),
                p50_ms=latency.get("p50"),
                p90_ms=latency.get("p90"),
                energy_mj=energy.get("value_mj"),
                energy_source=energy.get("source"),
                latency_source=bench.get("latency_source", "measured") if bench.get("ok") else "failed",
                status="ok" if bench.get("ok") else f"failed: {bench.get('error', '')}",
            )
        )
    if not rows:
        # A run without benchmarks (distill): its models, on no device.
        for role, record in models.items():
            rows.append(
                Row(
                    run,
                    role,
                    "-",
                    record.get("accuracy"),
                    record.get("size_bytes"),
                    record.get("macs"),
                    None,
                    None,
                    None,
                    None,
                    "none",
                )
            )
    return rows


def estimated_rows(run: str, document: dict, device: str) -> list[Row]:
    """The run's .tflite models on ``device``, from its calibration (published points; see devices/calibration).

    A model the calibration cannot speak for gets no row; ``no_estimate`` says why.
    """
    rows = []
    for role, record in (document.get("models") or {}).items():
        found = estimate_record(role, record, device).estimate
        if found is None:
            continue
        rows.append(
            Row(
                run=run,
                model=role,
                device=device,
                accuracy=record.get("accuracy"),
                size_bytes=record.get("size_bytes"),
                macs=record.get("macs"),
                p50_ms=found.latency_ms,
                p90_ms=None,
                energy_mj=found.energy_mj,
                energy_source="estimated" if found.energy_mj is not None else None,
                latency_source="estimated",
                interval_ms=found.latency_interval_ms,
                basis=found.basis,
            )
        )
    return rows


def no_estimate(documents: list[tuple[str, dict]], devices: tuple[str, ...]) -> list[str]:
    """Why a named device has no estimated row for a .tflite of a run that did not measure it: one line each."""
    lines = []
    for run, document in documents:
        measured = {b.get("device") for b in document.get("benchmarks") or [] if b.get("ok")}
        for device in devices:
            if device in measured:
                continue
            for role, record in (document.get("models") or {}).items():
                if str(record.get("format", "")).startswith("tflite"):
                    found = estimate_record(role, record, device)
                    if found.estimate is None:
                        lines.append(f"{role} on {device} ({run}): no estimate: {found.reason}")
    return lines


def with_estimates(rows: list[Row], documents: list[tuple[str, dict]]) -> None:
    """Put the calibrated estimate beside each measured row, with how far it was off the measurement."""
    records = {run: document.get("models") or {} for run, document in documents}
    for row in rows:
        record = records.get(row.run, {}).get(row.model)
        if row.latency_source != "measured" or not row.p50_ms or not record:
            continue
        found = estimate_record(row.model, record, row.device).estimate
        if found is not None:
            row.estimated_ms, row.interval_ms, row.basis = found.latency_ms, found.latency_interval_ms, found.basis
            row.estimate_error = error_against(found.latency_ms, row.p50_ms)


def build_rows(
    documents: list[tuple[str, dict]], devices: tuple[str, ...] = (), models: tuple[str, ...] = ()
) -> list[Row]:
    check_schemas(documents)
    rows: list[Row] = []
    for run, document in documents:
        measured = measured_rows(run, document)
        rows += measured
        for device in devices:
            if not any(r.device == device and r.latency_source == "measured" for r in measured):
                rows += estimated_rows(run, document, device)
    with_estimates(rows, documents)
    if devices:
        rows = [r for r in rows if r.device in devices]
    if models:
        rows = [r for r in rows if r.model in models]
    if not rows:
        raise CompareError(
            "nothing to compare: the selected runs hold no models or benchmarks"
            + (f" for device(s) {', '.join(devices)}" if devices else "")
            + (f" and model(s) {', '.join(models)}" if models else "")
        )
    return rows


def baseline_for(row: Row, rows: list[Row], baseline: str) -> Row | None:
    """The baseline model's row on the same device, preferring the same run and the same source."""
    candidates = [r for r in rows if r.model.startswith(baseline) and r.device == row.device and r.status == "ok"]
    candidates.sort(key=lambda r: (r.run != row.run, r.latency_source != row.latency_source))
    return candidates[0] if candidates else None


def ratio_line(row: Row, base: Row) -> str | None:
    """``student_int8 on rpi4: 14.2x faster, 11.8x less energy per inference, -0.8 points (measured)``."""
    if row is base or row.status != "ok":
        return None
    parts = []
    if row.p50_ms and base.p50_ms:
        speed = base.p50_ms / row.p50_ms
        parts.append(f"{speed:.1f}x faster" if speed >= 1 else f"{1 / speed:.1f}x slower")
    if row.energy_mj and base.energy_mj:
        energy = base.energy_mj / row.energy_mj
        parts.append(f"{energy:.1f}x less energy per inference" if energy >= 1 else f"{1 / energy:.1f}x more energy")
    if row.accuracy is not None and base.accuracy is not None:
        parts.append(f"{100 * (row.accuracy - base.accuracy):+.1f} points")
    if not parts:
        return None
    sources = {row.latency_source, base.latency_source}
    label = next((source for source in ("estimated", "emulated") if source in sources), "measured")
    return f"{row.model} on {row.device}: {', '.join(parts)} against {base.model} ({label})"


def ratios(rows: list[Row], baseline: str) -> list[dict]:
    out = []
    for row in rows:
        base = baseline_for(row, rows, baseline)
        line = ratio_line(row, base) if base is not None else None
        if line is None:
            continue
        out.append(
            {
                "model": row.model,
                "device": row.device,
                "run": row.run,
                "baseline": base.model,
                "speedup": base.p50_ms / row.p50_ms if row.p50_ms and base.p50_ms else None,
                "energy_ratio": base.energy_mj / row.energy_mj if row.energy_mj and base.energy_mj else None,
                "accuracy_delta_points": 100 * (row.accuracy - base.accuracy)
                if row.accuracy is not None and base.accuracy is not None
                else None,
                "text": line,
            }
        )
    return out
