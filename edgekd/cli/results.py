"""``edgekd results``, ``edgekd compare`` and ``edgekd report``: what the results store holds, side by side, as a report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekd.cli.common import db_option, echo, emit_json, force_option, json_option
from edgekd.errors import OutputError
from edgekd.untrusted import csv_text, for_terminal


def _store(db: Path | None, create: bool = False):
    from edgekd.results.store import ResultsStore

    return ResultsStore(db, create=create)


def _load(ref: str, db: Path | None) -> tuple[str, dict]:
    """A run id in the store, ``latest``, or a results.json file (or a run folder holding one), checked."""
    from edgekd.results.document import read_results_file
    from edgekd.results.store import StoreError

    # ASCII digits only: str.isdigit() is also true of "²" and other digits int() does not read.
    if ref == "latest" or (ref.isascii() and ref.isdigit()):
        with _store(db) as store:
            run_id = store.latest_id() if ref == "latest" else int(ref)
            return f"run {run_id}", store.document(run_id)
    path = Path(ref)
    if path.suffix == ".tflite" and path.is_file():
        return str(path), _tflite_document(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise StoreError(f"{ref} is neither a run id in the store nor a results file; see edgekd results list")
    return str(path), read_results_file(path)


def _tflite_document(path: Path) -> dict:
    """A bare .tflite as a one-model results document (no run, no benchmark), so compare can estimate it."""
    from edgekd.modelfile.checks import detected_mode
    from edgekd.modelfile.edgetpu import edgetpu_verdict
    from edgekd.modelfile.inspect import read_model_file
    from edgekd.modelfile.workload import workload
    from edgekd.results.document import RESULTS_SCHEMA_VERSION

    _, report = read_model_file(path)
    mode = detected_mode(report)
    record = {
        "role": path.stem,
        "accuracy": None,
        "params": report.params,
        "macs": report.macs,
        "size_bytes": report.size_bytes,
        "path": str(path),
        "format": f"tflite ({mode})",
        "detected_mode": mode,
        "workload": workload(report, edgetpu_verdict(report)).as_dict(),
    }
    return {"schema_version": RESULTS_SCHEMA_VERSION, "models": {path.stem: record}, "benchmarks": []}


@click.group()
def results() -> None:
    """The results store: every run of demo, run, distill, quantize and bench.

    \b
    Example:
      edgekd results list --kind demo
    """


@results.command("list")
@click.option("--kind", help="Only runs of this command (demo, run, distill, quantize, bench).")
@click.option("--device", help="Only runs that benchmarked this device.")
@click.option("--model", help="Only runs with this model (role or benchmarked file name).")
@click.option("--since", help="Only runs created at or after this ISO date, e.g. 2026-11-01.")
@click.option(
    "--limit", type=click.IntRange(1, 2**63 - 1), default=50, show_default=True, help="At most this many runs."
)
@db_option
@json_option
def list_runs(kind, device, model, since, limit, db, as_json) -> None:
    """List stored runs, newest first.

    \b
    Examples:
      edgekd results list
      edgekd results list --device rpi4 --since 2026-11-01 --json
    """
    from edgekd.results.table import format_table

    with _store(db, create=True) as store:
        runs = store.runs(kind=kind, device=device, model=model, since=since, limit=limit)
    if as_json:
        emit_json([run.__dict__ for run in runs])
        return
    if not runs:
        echo("no runs stored yet (edgekd demo, distill, quantize, bench and run record theirs)")
        return
    echo(
        format_table(
            ("id", "kind", "created", "models", "benchmarks", "output"),
            [[r.id, r.kind, r.created, r.models, r.benchmarks, r.out_path or "-"] for r in runs],
        )
    )


@results.command("show")
@click.argument("run_id", type=int)
@db_option
@json_option
def show(run_id, db, as_json) -> None:
    """Show one run: its models, benchmarks and artifacts (with SHA-256).

    RUN_ID is a number from `edgekd results list`.

    \b
    Example:
      edgekd results show 12
    """
    from edgekd.results.table import BENCH_HEADERS, MODEL_HEADERS, bench_rows, format_table, model_rows

    with _store(db) as store:
        document = store.document(run_id)
        artifacts = store.artifacts(run_id)
    if as_json:
        emit_json({"id": run_id, "document": document, "artifacts": artifacts})
        return
    echo(for_terminal(f"run {run_id}: {document.get('kind')} created {document.get('created')}"))
    if document.get("models"):
        echo(format_table(MODEL_HEADERS, model_rows(document["models"])))
    if document.get("distillation"):
        echo(for_terminal(document["distillation"]["verdict"]))
    if document.get("benchmarks"):
        echo(format_table(BENCH_HEADERS, bench_rows(document["benchmarks"])))
    for artifact in artifacts:
        echo(f"  {artifact['sha256'][:16]}  {artifact['size_bytes']:>10,}  {for_terminal(artifact['path'])}")


@results.command("export")
@click.option("--csv", "as_csv", is_flag=True, help="One row per model and benchmark.")
@click.option("--json", "as_json", is_flag=True, help="Every run's full document.")
@click.option("--out", type=click.Path(path_type=Path), help="Write here instead of stdout.")
@force_option
@db_option
def export(as_csv, as_json, out, force, db) -> None:
    """Export the store as CSV or JSON.

    \b
    Examples:
      edgekd results export --csv --out results.csv
      edgekd results export --json > runs.json
    """
    from edgekd.artifacts import check_output_file, write_text_atomic
    from edgekd.results.compare import CompareError, build_rows

    if as_csv == as_json:
        raise OutputError("choose one of --csv or --json")
    from edgekd.results.store import default_store_path

    if out:  # never the store itself: `--out results.db --force` replaced every run with their CSV
        check_output_file(out, force, reads=(Path(db) if db else default_store_path(),))
    with _store(db, create=True) as store:
        documents = [(str(run.id), store.document(run.id)) for run in reversed(store.runs())]
    if as_json:
        text = json.dumps([{"id": int(i), **doc} for i, doc in documents], indent=2) + "\n"
    else:
        rows = []
        for run_id, document in documents:
            try:
                rows += [r.as_dict() for r in build_rows([(run_id, document)])]
            except CompareError:  # a run with nothing in it contributes no rows
                continue
        text = csv_text(list(rows[0]) if rows else ["run"], rows)
    if out:
        write_text_atomic(out, text, replace=force)
        echo(f"wrote {out}", err=True)
    else:
        echo(text, nl=False)


@click.command()
@click.argument("refs", nargs=-1)
@click.option(
    "--device",
    "devices",
    multiple=True,
    help="Only this device (repeatable); estimated from its profile if unmeasured.",
)
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--since", help="With no REFS: the runs created since this ISO date.")
@click.option(
    "--baseline", default="teacher", show_default=True, help="Ratios against the model whose name starts with this."
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@db_option
@json_option
def compare(refs, devices, models, since, baseline, as_csv, db, as_json) -> None:
    """Compare models and devices: accuracy, size, MACs, latency, energy, and ratios against a baseline.

    REFS are run ids, results.json files (or run folders), .tflite files, or `latest`; with
    none, the latest run (or every run matching --device/--model/--since). A device named
    with --device that a run did not measure is estimated from its calibration (published
    points; an interval from their held-out error), labelled so; a measured row shows the
    estimate beside it and how far it was off.

    \b
    Examples:
      edgekd compare
      edgekd compare 12 14 --device rpi4 --device host
      edgekd compare runs/demo --device rpi4 --device coral-usb
      edgekd compare student_int8.tflite --device nano33ble
    """
    from edgekd.results.compare import CompareError, build_rows, no_estimate, ratios
    from edgekd.results.table import device_lines, format_table, kib, milliseconds, percent

    if refs:
        documents = [_load(ref, db) for ref in refs]
    elif since or models:
        with _store(db) as store:
            selected = store.runs(since=since, model=models[0] if len(models) == 1 else None)
            documents = [(f"run {r.id}", store.document(r.id)) for r in reversed(selected)]
        if not documents:
            raise CompareError("nothing to compare: no stored run matches these filters (see edgekd results list)")
    else:
        documents = [_load("latest", db)]
    missing = no_estimate(documents, tuple(devices))
    try:
        rows = build_rows(documents, tuple(devices), tuple(models))
    except CompareError:
        if missing:
            raise CompareError(f"nothing to compare: {missing[0]}") from None
        raise
    lines = ratios(rows, baseline)
    if as_json:
        emit_json({"rows": [r.as_dict() for r in rows], "ratios": lines, "baseline": baseline, "no_estimate": missing})
        return
    if as_csv:
        echo(csv_text(list(rows[0].as_dict()), [r.as_dict() for r in rows]), nl=False)
        return
    table = [
        [
            r.run,
            r.model,
            r.device,
            percent(r.accuracy),
            kib(r.size_bytes),
            f"{r.macs:,}" if r.macs else "n/a",
            milliseconds(r.p50_ms),
            milliseconds(r.p90_ms),
            f"{r.energy_mj:.4g} mJ ({r.energy_source})" if r.energy_mj is not None else "n/a",
            r.latency_source if r.status == "ok" else r.status,
            _estimate_cell(r),
        ]
        for r in rows
    ]
    headers = (
        "run",
        "model",
        "device",
        "accuracy",
        "size",
        "MACs",
        "p50 ms",
        "p90 ms",
        "energy/inference",
        "latency",
        "estimate",
    )
    echo(format_table(headers, table))
    if any(r.latency_source == "estimated" for r in rows):
        echo(
            "Estimated rows come from the device's calibration (published points; the interval is their held-out "
            "error); nothing was run there. Basis: "
            + "; ".join(sorted({f"{r.device}: {r.basis}" for r in rows if r.latency_source == "estimated"}))
        )
    for line in missing:
        echo(for_terminal(line))
    if any(r.latency_source == "emulated" for r in rows):
        echo(
            "Emulated rows ran under qemu on this host: their outputs are the emulated runtime's, their latency "
            "is the emulator's and says nothing about the real board."
        )
    if lines:
        echo()
        for line in lines:
            echo(for_terminal(line["text"]))
    benchmarks = [b for _, document in documents for b in document.get("benchmarks") or []]
    benchmarks = [b for b in benchmarks if (not devices or b.get("device") in devices)]
    where_the_time_goes = device_lines(benchmarks)
    if where_the_time_goes:
        echo()
        for line in where_the_time_goes:
            echo(for_terminal(line))
    elif not any(r.model.startswith(baseline) for r in rows):
        echo(f"\nno {for_terminal(repr(baseline))} row to compare against (--baseline names the model to divide by)")


@click.command()
@click.argument("ref", default="latest")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder for report.html and report.md (default: report-<run>); a run's own folder gets them beside its outputs.",
)
@force_option
@db_option
def report(ref, out, force, db) -> None:
    """Write a self-contained HTML report (plots embedded) and its Markdown twin for a run.

    REF is a run id, `latest` (default) or a results.json file or run folder.

    \b
    Example:
      edgekd report 12 --out reports/run12
    """
    from edgekd.outputs import output_kind, staged_output_files, staged_output_folder
    from edgekd.results.html import write_report

    name, document = _load(ref, db)
    out = out or Path(f"report-{name.replace('run ', '').replace('/', '_')}")
    if out.is_dir() and not out.is_symlink() and output_kind(out) not in (None, "report"):
        # A run's own folder: the report's two files go in beside the run's outputs, which stay.
        pages = [out / "report.html", out / "report.md"]
        with staged_output_files(pages, force) as staging:
            write_report(document, staging / "report.html")
    else:
        with staged_output_folder(out, force, kind="report") as staging:
            write_report(document, staging / "report.html")
    echo(f"Report: {out / 'report.html'} (and report.md)")


def _estimate_cell(row) -> str:
    """An estimated row's interval; a measured row's estimate and how far it was off; else blank."""
    if row.interval_ms is None:
        return ""
    low, high = row.interval_ms
    if row.latency_source == "estimated":
        return f"{low:.3g}-{high:.3g} ms"
    return f"{row.estimated_ms:.3g} ms ({100 * row.estimate_error:+.0f}% off)"
