"""report.md: a readable account of a run, every figure with its source."""

from __future__ import annotations

from edgekd.results.table import (
    BENCH_HEADERS,
    MODEL_HEADERS,
    bench_rows,
    count,
    energy_notes,
    markdown_table,
    model_rows,
)


def render_markdown(document: dict) -> str:
    data = document.get("data", {})
    lines = [
        f"# edgekd {document['kind']} report",
        "",
        f"Created {document['created']} with edgekd {document['edgekd_version']} "
        f"(TensorFlow {document['versions'].get('tensorflow')}, LiteRT {document['versions'].get('ai-edge-litert')}).",
        "",
        "## Data",
        "",
        f"`{data.get('name')}`: inputs {tuple(data.get('input_shape', []))}, {data.get('num_classes')} classes, "
        f"{count(data.get('train_samples'))} train / {count(data.get('test_samples'))} test samples, "
        f"{count(data.get('unlabeled_samples'))} unlabelled transfer samples.",
        "",
    ]
    if document.get("models"):
        lines += [
            "## Models",
            "",
            "Accuracy is top-1 on the test split.",
            "",
            markdown_table(MODEL_HEADERS, model_rows(document["models"])),
            "",
        ]
    distillation = document.get("distillation")
    if distillation:
        params = ", ".join(f"{k}={v}" for k, v in distillation.items() if k in ("temperature", "alpha"))
        lines += [
            "## Distillation",
            "",
            f"Method `{distillation['method']}` ({params}), {count(distillation.get('transfer_samples'))} transfer samples, "
            f"{distillation['budget']['steps']} steps of batch {distillation['budget']['batch_size']} for each student.",
            "",
            f"**{distillation['verdict']}.**",
            "",
        ]
        if distillation.get("student_mac_fraction") is not None:
            lines += [
                f"The student needs {100 * distillation['student_mac_fraction']:.2f}% of the teacher's MACs and keeps "
                f"{100 * distillation['accuracy_kept']:.1f}% of its accuracy.",
                "",
            ]
    benchmarks = document.get("benchmarks") or []
    if benchmarks:
        lines += [
            "## Benchmarks (measured)",
            "",
            "Latency of the .tflite files through LiteRT on each device; energy says whether it was measured or estimated.",
            "",
            markdown_table(BENCH_HEADERS, bench_rows(benchmarks)),
            "",
        ]
        lines += [f"- {note}" for note in energy_notes(benchmarks)]
        env = next((b.get("environment") for b in benchmarks if b["ok"]), None)
        if env:
            lines += [
                f"- Environment: {env.get('runtime')} {env.get('runtime_version')}, {env.get('threads')} thread(s), "
                f"{env.get('machine')} {env.get('system')}, CPUs {env.get('affinity')}.",
                "",
            ]
    if document.get("timings_s"):
        lines += [
            "## Stage timings",
            "",
            markdown_table(("stage", "seconds"), [[k, f"{v:.1f}"] for k, v in document["timings_s"].items()]),
            "",
        ]
    return "\n".join(lines)
