"""Every field of a results document that a reader uses is checked when the document is read.

A results.json may come from anywhere (another machine, an older edgekd, a hand edit), so
the document with every optional record edgekd writes (device accuracy, the per-invoke
floor, a sustained run's windows, a cool-down, an op profile, auto's recipe selection, the
shipped model) has each field in turn removed or replaced by a value of another type, and
every reader (the schema, report.md, report.html, compare, the terminal tables, the compute
answer) must then either work or raise one EdgekdError: never a KeyError or a TypeError.
"""

from __future__ import annotations

import copy
import functools

import pytest

from tests.test_results import sample_document

WRONG = {"missing": None, "a string": "x", "a list": [], "an object": {}, "null": None, "a number": 1.5}


def every_field_document() -> dict:
    """A run's document holding every record the readers read, shaped as the writers write them."""
    document = sample_document()
    document["models"]["student_int8"] = {
        "role": "student_int8",
        "accuracy": 0.8,
        "accuracy_source": "the .tflite through the LiteRT interpreter on the test split",
        "size_bytes": 200,
        "macs": 50,
        "params": 40,
        "format": "tflite (int8)",
        "did_not_learn": False,
    }
    document["benchmarks"] = [
        {
            "model": "student_int8",
            "device": "host",
            "runner": "local",
            "ok": True,
            "runs": 10,
            "latency_ms": {"mean": 0.011, "min": 0.009, "p50": 0.01, "p90": 0.012, "p99": 0.02},
            "latency_source": "measured",
            "energy": {"value_mj": 0.002, "source": "estimated"},
            "environment": {"runtime": "ai_edge_litert", "threads": 1},
            "warnings": ["long tail"],
            "emulated_of": "rpi5",
            "accuracy": {
                "runtime": "LiteRT",
                "samples": 10,
                "accuracy": 0.5,
                "host_accuracy": 0.5,
                "agreement_with_host": 1.0,
                "largest_difference": 0.0,
                "largest_difference_steps": 0,
            },
            "invoke_overhead": {"p50_ms": 0.001, "runs": 100, "share_of_p50": 0.1},
            "sustained": {
                "seconds": 10.0,
                "windows": [
                    {"p50_ms": 0.01, "mean_ms": 0.011, "max_temp_c": 50.0},
                    {"p50_ms": 0.012, "max_temp_c": 55.0},
                ],
                "drift_pct": 20.0,
                "drift_of": "p50_ms",
                "temperature_rise_c": 5.0,
            },
            "cooldown": {"target_c": 50.0, "start_c": 60.0, "end_c": 52.0, "waited_s": 30.0, "reached": False},
            "op_profile": {
                "ops": [{"op": "CONV_2D", "count": 2, "ms": 0.005, "share": 0.8, "on_delegate": True}],
                "nodes_executed": 3,
                "delegate": "xnnpack",
                "delegated_nodes": 2,
                "model_nodes": 5,
            },
        },
        {"model": "teacher_float32", "device": "rpi4", "ok": False, "error": "ssh failed", "warnings": []},
    ]
    document["distillation"] = {
        "method": "kd",
        "temperature": 4.0,
        "verdict": "distillation helped",
        "budget": {"steps": 10, "batch_size": 8},
        "student_mac_fraction": 0.1,
        "accuracy_kept": 0.9,
        "terms": [{"method": "kd", "weight": 1.0, "temperature": 4.0}],
        "ensemble": {"teachers": [{"path": "a.keras"}], "weights": [1.0]},
        "features": [
            {
                "key": "fitnet",
                "teacher_layer": "t",
                "student_layer": "s",
                "teacher_shape": [None, 4],
                "student_shape": [None, 4],
                "adapter": True,
            }
        ],
        "strategy": {"name": "mirrored", "replicas": 2},
        "teacher_outputs": "online",
        "teacher_outputs_reason": "past the cache budget",
        "selection": {
            "candidates": [{"recipe": "kd", "val_accuracy": 0.5, "val_loss": 1.2, "steps": 2, "seconds": 0.5}],
            "chosen": "kd",
            "fraction_of_budget": 0.1,
            "seconds": 0.5,
        },
        "shipped": {"role": "student_kd", "reason": "better on validation"},
    }
    document["training"] = {
        "student_kd": {
            "loss": [1.0],
            "val_accuracy": [0.5],
            "steps_per_checkpoint": 1,
            "stopped_early": True,
            "resumed_from": [1],
        }
    }
    document["timings_s"] = {"distill": 1.0}
    return document


def _paths(value, prefix=()):
    if prefix:
        yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _changed(document: dict, path: tuple, wrong: str) -> dict:
    document = copy.deepcopy(document)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if wrong == "missing":
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(WRONG[wrong])
    return document


def _read_every_way(document: dict) -> None:
    """What every reader does with a document: schema, report.md and .html, compare, the tables, the answer."""
    from edgekd.results.compare import build_rows, ratios
    from edgekd.results.document import parse_document
    from edgekd.results.html import render_html
    from edgekd.results.report import render_markdown
    from edgekd.results.table import BENCH_HEADERS, MODEL_HEADERS, bench_rows, device_lines, format_table, model_rows

    parse_document(document, "doc.json")
    render_markdown(document)
    render_html(document)
    ratios(build_rows([("doc.json", document)]), "teacher")
    format_table(MODEL_HEADERS, model_rows(document.get("models") or {}))
    benchmarks = document.get("benchmarks") or []
    format_table(BENCH_HEADERS, bench_rows(benchmarks))
    device_lines(benchmarks)


def test_the_document_with_every_field_reads_every_way():
    document = every_field_document()
    _read_every_way(document)
    from edgekd.results.table import device_lines

    lines = " ".join(device_lines(document["benchmarks"]))
    assert "sustained 10 s" in lines and "waited 30 s" in lines and "CONV_2D" in lines, lines


def test_every_field_a_reader_uses_is_checked_when_read(monkeypatch):
    from edgekd.errors import EdgekdError
    from edgekd.profiles import loader
    from edgekd.results import html

    # The plots read the same checked fields; drawing each of ~2,000 documents would take minutes.
    monkeypatch.setattr(html, "all_plots", lambda document: [])
    # The compute answer reads every built-in profile for each document: once is enough here.
    monkeypatch.setattr(loader, "get_profile", functools.cache(loader.get_profile))
    document = every_field_document()
    crashes = {}
    for path in _paths(document):
        for wrong in WRONG:
            try:
                _read_every_way(_changed(document, path, wrong))
            except EdgekdError:
                pass
            except Exception as exc:  # noqa: BLE001 - any other exception is what this test finds
                crashes[f"{'.'.join(map(str, path))} {wrong}"] = f"{type(exc).__name__}: {exc}"
    assert not crashes, f"{len(crashes)} changes crash a reader: {dict(list(crashes.items())[:10])}"


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("distillation", "selection"), "auto", "distillation.selection"),
        (("distillation", "shipped"), {"role": "student_kd"}, "distillation.shipped.reason"),
        (("benchmarks", 0, "accuracy"), {"accuracy": "50%"}, "benchmarks.0.accuracy"),
        (("benchmarks", 0, "sustained", "windows"), "ten", "benchmarks.0.sustained.windows"),
        (("benchmarks", 0, "cooldown", "waited_s"), "30 s", "benchmarks.0.cooldown.waited_s"),
        (("benchmarks", 0, "op_profile", "ops"), [{"op": "ADD"}], "benchmarks.0.op_profile.ops.0"),
        (("benchmarks", 0, "invoke_overhead", "p50_ms"), None, "benchmarks.0.invoke_overhead.p50_ms"),
    ],
)
def test_the_fields_named_in_issue_26_are_one_clear_error(tmp_path, path, value, field):
    import json

    from tests.conftest import assert_clean_failure, invoke

    document = every_field_document()
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    assert_clean_failure(invoke("compare", str(bad)), "bad.json", field)
    assert_clean_failure(invoke("report", str(bad), "--out", str(tmp_path / "report")), "bad.json", field)


def test_a_run_of_thousands_of_benchmarks_reports_in_plots_of_a_page(tmp_path):
    # Half an inch a row: 1,300 rows made a latency figure taller than matplotlib draws (2^16 pixels), after
    # minutes of drawing. The plots draw the first rows and say so; the tables keep every benchmark.
    import json

    from tests.conftest import invoke

    document = every_field_document()
    first = document["benchmarks"][0]
    document["benchmarks"] = [{**first, "model": f"m{i}"} for i in range(1300)]
    document["models"] = {f"m{i}": dict(document["models"]["student_int8"]) for i in range(1300)}
    many = tmp_path / "many.json"
    many.write_text(json.dumps(document))
    result = invoke("report", str(many), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("The first 40 of 1300 are drawn") == 3, "latency, energy and model sizes"
    assert "m1299" in (tmp_path / "report" / "report.md").read_text()
