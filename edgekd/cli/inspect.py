"""``edgekd inspect``: what is inside a .tflite file, without running it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekd.cli.common import echo, emit_json, json_option
from edgekd.results.table import count, format_table, kib
from edgekd.untrusted import for_terminal


@click.command()
@click.argument("model_path", metavar="FILE.tflite", type=click.Path(path_type=Path))
@click.option(
    "--edgetpu", is_flag=True, help="Add an Edge TPU verdict: which ops would map, where the graph splits, why."
)
@click.option(
    "--device",
    help="Say whether the model fits this device (quantization, flash and RAM) and estimate its latency and energy "
    "there from the device's calibration.",
)
@json_option
def inspect(model_path: Path, edgetpu: bool, device: str | None, as_json: bool) -> None:
    """Show inputs/outputs (dtype, shape, quantization), ops with MACs, tensor dtypes, parameters and size.

    \b
    Examples:
      edgekd inspect runs/demo-20261125-120000/student_int8.tflite
      edgekd inspect student_int8.tflite --edgetpu
      edgekd inspect student_int8.tflite --device nano33ble
    """
    from edgekd.modelfile.checks import detected_mode
    from edgekd.modelfile.edgetpu import edgetpu_verdict
    from edgekd.modelfile.inspect import read_model_file

    data, report = read_model_file(model_path)
    document = report.as_dict()
    document["detected_mode"] = detected_mode(report)
    verdict = edgetpu_verdict(report) if edgetpu else None
    if verdict is not None:
        document["edgetpu"] = verdict.as_dict()
    if device:
        document["fit"] = _fit(device, data, model_path, report)
        document["estimate"], unavailable = _estimate(device, report)
        if unavailable:
            document["estimate_unavailable"] = unavailable
    metadata = _carried_metadata(model_path, data)
    if metadata:
        document["metadata"] = metadata
    if as_json:
        emit_json(document)
        return
    echo(
        f"{for_terminal(model_path)}: {kib(report.size_bytes)}, {count(report.params)} parameters, "
        f"{count(report.macs)} MACs per inference"
    )
    echo()
    rows = []
    for role, tensors in (("input", report.inputs), ("output", report.outputs)):
        for tensor in tensors:
            quantization = (
                f"scale={tensor.scale[0]:.6g} zero_point={tensor.zero_point[0] if tensor.zero_point else 0}"
                if len(tensor.scale) == 1
                else (f"per-channel ({len(tensor.scale)})" if tensor.scale else "none")
            )
            rows.append([role, tensor.name, tensor.dtype, list(tensor.shape_signature), quantization])
    echo(format_table(("", "name", "dtype", "shape", "quantization"), rows))
    echo()
    echo(format_table(("op", "count", "MACs"), [[op["op"], op["count"], count(op["macs"])] for op in document["ops"]]))
    echo()
    echo("tensor dtypes: " + ", ".join(f"{dtype} x{n}" for dtype, n in report.tensor_dtypes.items()))
    for note in report.notes:
        echo(f"note: {for_terminal(note)}")
    if verdict is not None:
        echo()
        echo(f"Edge TPU: {for_terminal(verdict.summary())}")
        for problem in verdict.model_problems[1:]:
            echo(f"  also: {for_terminal(problem)}")
        rows = [[v.index, v.op, "Edge TPU" if v.on_edgetpu else "CPU", v.reason] for v in verdict.ops]
        echo(format_table(("#", "op", "runs on", "why"), rows))
        for note in verdict.notes:
            echo(f"note: {for_terminal(note)}")
        echo(f"rules: {document['edgetpu']['op_table']}")
    if metadata:
        echo()
        echo("metadata (" + for_terminal(", ".join(sorted({m["source"] for m in metadata.values()}))) + "):")
        for key, entry in metadata.items():
            echo(f"  {key}: {for_terminal(entry['value'])}")
    if device:
        fit = document["fit"]
        verdict_text = {True: "fits", False: "does NOT fit", None: "fit unknown (the profile gives no flash/RAM)"}
        echo()
        echo(f"{device}: {verdict_text[fit['fits']]}")
        flash, ram = fit["flash"], fit["ram"]
        echo(f"  flash: model {flash['needed']:,} bytes of {_bytes(flash['available'])}")
        echo(f"  RAM: tensor arena {ram['needed']:,} bytes of {_bytes(ram['available'])}, {ram['method']}")
        if ram.get("not_measured_because") and ram["not_measured_because"] not in fit["problems"]:
            echo(f"  (not measured: {for_terminal(ram['not_measured_because'])})")
        for problem in fit["problems"]:
            echo(f"  {for_terminal(problem)}")
        echo(f"  {fit['note']}")
        _echo_estimate(device, document["estimate"], document.get("estimate_unavailable"))


CARRIED_KEYS = (
    "labels",
    "input_normalization",
    "input_layout",
    "accuracy",
    "accuracy_source",
    "data",
    "edgekd_version",
)


def _carried_metadata(model_path: Path, data: bytes) -> dict:
    """What the model carries: inside the file first, then the sidecars edgekd wrote beside it, each with its source."""
    from edgekd.export.embedded import read_embedded_metadata
    from edgekd.export.metadata import results_metadata
    from edgekd.results.document import MAX_NESTING, nesting_depth

    found: dict = {}

    def take(document: dict, source: str) -> None:
        for key in CARRIED_KEYS:
            if document.get(key) is not None and key not in found:
                found[key] = {"value": document[key], "source": source}

    take(read_embedded_metadata(data) or {}, "inside the .tflite (edgekd_metadata)")
    deployed = model_path.with_name(model_path.name + ".json")
    if deployed.is_file():
        try:
            document = json.loads(deployed.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            document = None  # an unreadable sidecar carries nothing; the model itself is still inspected
        if isinstance(document, dict) and nesting_depth(document) <= MAX_NESTING:
            take(document, deployed.name)
    if model_path.with_suffix(".results.json").is_file():
        take(results_metadata(model_path), model_path.with_suffix(".results.json").name)
    return found


def _bytes(value: int | None) -> str:
    return f"{value:,} bytes" if value is not None else "unknown"


def _fit(device: str, data: bytes, model_path: Path, report) -> dict:
    """Quantization the device runs, the ops its runtime lacks, and flash and RAM against its limits (a report,
    not a refusal)."""
    from edgekd.export.fit import device_arena, fit_report
    from edgekd.modelfile.checks import detected_mode
    from edgekd.profiles.loader import get_profile

    profile = get_profile(device).profile
    arena, refusal = device_arena(data, report, str(model_path), profile)
    fit = fit_report(report, arena, profile, refusal)
    mode = detected_mode(report)
    if not profile.supports(mode):
        reason = f": {profile.quantization.reason}" if profile.quantization.reason else ""
        fit["problems"].insert(0, f"{device} runs only {', '.join(profile.quantization.supported)}, not {mode}{reason}")
        fit["fits"] = False
    return fit


def _estimate(device: str, report) -> tuple[dict | None, str | None]:
    """The calibrated estimate on ``device`` as a dict, or None and the one-line reason there is none."""
    from edgekd.profiles.estimate import NoEstimate, estimate_report
    from edgekd.profiles.loader import get_profile

    try:
        return estimate_report(get_profile(device).profile, report).as_dict(), None
    except NoEstimate as exc:
        return None, str(exc)


def _echo_estimate(device: str, found: dict | None, unavailable: str | None) -> None:
    from edgekd.readable import readable_time

    if found is None:
        echo(f"  estimate: none ({for_terminal(unavailable)})")
        return
    low, high = found["latency_interval_ms"]
    line = (
        f"  estimated (nothing ran on {device}): {readable_time(found['latency_ms'])} per inference "
        f"({readable_time(low)} to {readable_time(high)})"
    )
    if found["energy_mj"] is not None:
        e_low, e_high = found["energy_interval_mj"]
        line += f", {found['energy_mj']:.3g} mJ ({e_low:.3g} to {e_high:.3g} mJ)"
    echo(line)
    if found["floor_ms"] is not None:
        echo(f"  per-invoke floor there: {readable_time(found['floor_ms'])} (fitted)")
    echo(f"  basis: {for_terminal(found['basis'])}")
    if found["power_basis"]:
        echo(f"  power: {for_terminal(found['power_basis'])}")
