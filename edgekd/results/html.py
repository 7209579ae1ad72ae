"""The HTML report: one self-contained file (plots embedded as PNG data, no scripts, no network).

Sections: the pipeline summary, the accuracy table, the distillation verdict, the
benchmarks, the plots (``edgekd.results.plots``) and the caveats. ``report.md`` is its
Markdown twin (``edgekd.results.report``), with the same tables and caveats.
"""

from __future__ import annotations

import base64
from pathlib import Path

from edgekd.artifacts import write_text_atomic
from edgekd.results.answer import basis_lines, compute_answer
from edgekd.results.plots import all_plots
from edgekd.results.report import efficiency_sentence, render_markdown
from edgekd.results.table import (
    ACCURACY_HEADERS,
    BENCH_HEADERS,
    MODEL_HEADERS,
    SELECTION_HEADERS,
    accuracy_rows,
    bench_rows,
    device_lines,
    energy_notes,
    model_rows,
    per_class_headers,
    per_class_rows,
    per_class_sentence,
    selection_rows,
    selection_sentence,
    shipped_sentence,
    teacher_check_sentence,
)
from edgekd.untrusted import for_html, for_markdown

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1rem 0; } figure img { max-width: 100%; } figcaption { font-size: 0.85rem; color: #555; }
.verdict { font-weight: bold; } .caveat { color: #8a4b00; }
"""


def caveats(document: dict) -> list[str]:
    """What a reader should know before trusting the figures: estimates, throttling, spread, failures."""
    notes = list(energy_notes(document.get("benchmarks") or []))
    for bench in document.get("benchmarks") or []:
        where = f"{bench.get('model')} on {bench.get('device')}"
        if not bench.get("ok"):
            notes.append(f"{where}: the benchmark failed ({bench.get('error', 'no reason recorded')}).")
        for warning in bench.get("warnings") or []:
            notes.append(f"{where}: {warning}")
        if bench.get("ok") and bench.get("latency_source") not in (None, "measured"):
            notes.append(f"{where}: latency is {bench['latency_source']}, not measured.")
    for role, record in (document.get("models") or {}).items():
        for warning in record.get("warnings") or []:
            notes.append(f"{role}: {warning}")
    distillation = document.get("distillation") or {}
    if distillation and "gain_over_control_points" not in distillation:
        notes.append(distillation.get("verdict", "no scratch control: distillation's gain is unknown"))
    return notes


def html_table(headers, rows) -> str:
    head = "".join(f"<th>{for_html(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{for_html(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_figure(title: str, png: bytes, caption: str) -> str:
    """A plot embedded as PNG data, with its caption."""
    data = base64.b64encode(png).decode()
    return (
        f'<figure><img alt="{for_html(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{for_html(title)}.</b> {for_html(caption)}</figcaption></figure>"
    )


def html_head(title: str) -> list[str]:
    """The opening of a self-contained page, up to its title."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{for_html(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{for_html(title)}</h1>",
    ]


def render_html(document: dict, title: str | None = None) -> str:
    title = title or f"edgekd {document.get('kind', 'run')} report"
    parts = [*html_head(title), f"<p>{for_html(_summary(document))}</p>"]
    models = document.get("models") or {}
    if models:
        parts += ["<h2>Accuracy</h2>", "<p>Top-1 on the test split; each row says what measured it.</p>"]
        parts.append(html_table(MODEL_HEADERS, model_rows(models)))
    distillation = document.get("distillation")
    if distillation:
        parts += ["<h2>Distillation</h2>", f'<p class="verdict">{for_html(distillation["verdict"])}</p>']
        if efficiency_sentence(distillation):
            parts.append(f"<p>{for_html(efficiency_sentence(distillation))}</p>")
        if distillation.get("teacher_check"):
            parts.append(f"<p>{for_html(teacher_check_sentence(distillation['teacher_check']))}</p>")
        if distillation.get("selection"):
            parts.append(f"<p>{for_html(selection_sentence(distillation['selection']))}</p>")
            parts.append(html_table(SELECTION_HEADERS, selection_rows(distillation["selection"])))
        if distillation.get("shipped"):
            parts.append(f"<p>{for_html(shipped_sentence(distillation['shipped']))}</p>")
        per_class = distillation.get("per_class")
        if per_class:
            parts.append(f"<p>{for_html(per_class_sentence(per_class))}</p>")
            parts.append(html_table(per_class_headers(per_class), per_class_rows(per_class)))
    benchmarks = document.get("benchmarks") or []
    if benchmarks:
        parts += ["<h2>Benchmarks</h2>", html_table(BENCH_HEADERS, bench_rows(benchmarks))]
        where_the_time_goes = device_lines(benchmarks)
        if where_the_time_goes:
            parts.append("<ul>" + "".join(f"<li>{for_html(line)}</li>" for line in where_the_time_goes) + "</ul>")
        if accuracy_rows(benchmarks):
            parts += [
                "<p>Accuracy on the device: its outputs on the test samples against the host's LiteRT.</p>",
                html_table(ACCURACY_HEADERS, accuracy_rows(benchmarks)),
            ]
    answer = compute_answer(document)
    if answer:
        parts += [
            "<h2>The compute answer</h2>",
            "<ul>" + "".join(f"<li>{for_html(a)}</li>" for a in answer) + "</ul>",
        ]
        if basis_lines(document):
            parts += [
                "<p>What each estimate stands on:</p>",
                "<ul>" + "".join(f"<li>{for_html(b)}</li>" for b in basis_lines(document)) + "</ul>",
            ]
    plots = all_plots(document)
    if plots:
        parts.append("<h2>Plots</h2>")
    for plot_title, png, caption in plots:
        parts.append(html_figure(plot_title, png, caption))
    notes = caveats(document)
    parts.append("<h2>Caveats</h2>")
    parts.append(
        "<ul>" + "".join(f'<li class="caveat">{for_html(n)}</li>' for n in notes) + "</ul>"
        if notes
        else "<p>None: every figure above was measured, and no run warned.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(document: dict) -> str:
    versions = document.get("versions") or {}
    data = document.get("data") or {}
    pieces = [
        f"{document.get('kind', 'run')} created {document.get('created', '?')}",
        f"edgekd {document.get('edgekd_version', '?')}",
        f"TensorFlow {versions.get('tensorflow', '?')}, LiteRT {versions.get('ai-edge-litert', '?')}",
    ]
    if data.get("name"):
        pieces.append(
            f"data {data['name']} ({data.get('train_samples', '?')} train / {data.get('test_samples', '?')} test)"
        )
    return "; ".join(pieces) + "."


def render_markdown_with_caveats(document: dict) -> str:
    notes = caveats(document)
    text = render_markdown(document).rstrip() + "\n\n## Caveats\n\n"
    text += (
        "\n".join(f"- {for_markdown(n)}" for n in notes)
        if notes
        else "None: every figure was measured, and no run warned."
    )
    return text + "\n\nThe plots are in report.html.\n"


def write_report(document: dict, html_path: Path, folder: Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and its Markdown twin ``report.md`` beside it, atomically."""
    html_path = Path(html_path)
    markdown_path = html_path.with_suffix(".md")
    write_text_atomic(html_path, render_html(document))
    write_text_atomic(markdown_path, render_markdown_with_caveats(document))
    return html_path, markdown_path
