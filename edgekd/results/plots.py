"""The report's plots, drawn with matplotlib (Agg, no display) into PNG bytes.

Each function takes a results document and returns ``(title, png_bytes, caption)`` or None
when the document holds nothing to draw (no benchmarks, no energy figures, ...). Captions
say where the figures come from.
"""

from __future__ import annotations

import io

from edgekd.untrusted import for_terminal

Plot = tuple[str, bytes, str]

# Rows a bar or range plot draws (half an inch each). A run of hundreds of benchmarks made a figure
# of hundreds of inches that took minutes to draw, and past about 1,200 rows matplotlib refuses
# its height (2^16 pixels): the plots draw the first rows, the tables beside them list every one.
MAX_ROWS = 40


def _first_rows(items: list, caption: str) -> tuple[list, str]:
    """At most MAX_ROWS of ``items``, and the caption saying so when some were left out."""
    if len(items) <= MAX_ROWS:
        return items, caption
    return items[:MAX_ROWS], f"{caption} The first {MAX_ROWS} of {len(items)} are drawn; the tables list every one."


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain(label: object) -> str:
    """A label drawn as the text it is: matplotlib reads text between two '$' as math (and fails on most names).

    Control characters are shown as ``\\xNN``: no font has a glyph for them, and matplotlib's
    missing-glyph warning would echo them raw to the terminal.
    """
    return for_terminal(label).replace("$", r"\$")


def _png(figure) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _ok(document: dict) -> list[dict]:
    return [b for b in document.get("benchmarks") or [] if b.get("ok") and (b.get("latency_ms") or {}).get("p50")]


def model_accuracy(document: dict, model: str) -> float | None:
    """Accuracy of a benchmarked .tflite, from its record (measured through LiteRT)."""
    record = (document.get("models") or {}).get(model) or {}
    return record.get("accuracy")


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both lower latency and higher accuracy, by latency."""
    front, best = [], float("-inf")
    for latency, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if accuracy > best:
            front.append((latency, accuracy))
            best = accuracy
    return front


def accuracy_vs_latency(document: dict) -> Plot | None:
    points = [(b, model_accuracy(document, b["model"])) for b in _ok(document)]
    points = [(b, a) for b, a in points if a is not None]
    if not points:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for device in sorted({b["device"] for b, _ in points}):
        mine = [(b["latency_ms"]["p50"], 100 * a, b["model"]) for b, a in points if b["device"] == device]
        axes.scatter([m[0] for m in mine], [m[1] for m in mine], label=_plain(device), s=40)
        # Past MAX_ROWS points their names would only cover one another.
        for latency, accuracy, name in mine if len(points) <= MAX_ROWS else ():
            axes.annotate(_plain(name), (latency, accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = pareto_front([(m[0], m[1]) for m in mine])
        if len(front) > 1:
            axes.plot([f[0] for f in front], [f[1] for f in front], linestyle="--", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("latency p50 (ms, log scale, measured)")
    axes.set_ylabel("test accuracy (%)")
    axes.legend(title="device", fontsize=8)
    axes.grid(alpha=0.3)
    caption = "Each point is a .tflite on a device; dashed: the Pareto front (nothing both faster and more accurate)."
    return "Accuracy vs latency", _png(figure), caption


def energy_per_device(document: dict) -> Plot | None:
    bars = [b for b in _ok(document) if (b.get("energy") or {}).get("value_mj") is not None]
    if not bars:
        return None
    caption = "Solid bars are measured (power sampled during the runs); hatched bars are estimated from the profile."
    bars, caption = _first_rows(bars, caption)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.5 + 0.45 * len(bars)))
    labels = [_plain(f"{b['model']} on {b['device']}") for b in bars]
    values = [b["energy"]["value_mj"] for b in bars]
    hatches = ["" if b["energy"]["source"] == "measured" else "//" for b in bars]
    for index, (value, hatch) in enumerate(zip(values, hatches, strict=True)):
        axes.barh(index, value, hatch=hatch, color="#4c72b0" if not hatch else "#dd8452")
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("energy per inference (mJ)")
    axes.grid(axis="x", alpha=0.3)
    return "Energy per inference", _png(figure), caption


def model_sizes(document: dict) -> Plot | None:
    records = [(role, r) for role, r in (document.get("models") or {}).items() if r.get("size_bytes")]
    if not records:
        return None
    records, caption = _first_rows(records, "Sizes of the files as written (.keras files include the optimizer state).")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.5 + 0.4 * len(records)))
    axes.barh(range(len(records)), [r["size_bytes"] / 1024 for _, r in records], color="#55a868")
    axes.set_yticks(
        range(len(records)), [_plain(f"{role} ({r.get('format', '?')})") for role, r in records], fontsize=8
    )
    axes.set_xlabel("size on disk (KiB)")
    axes.grid(axis="x", alpha=0.3)
    return "Model size", _png(figure), caption


def training_curves(document: dict) -> Plot | None:
    training = [(k, v) for k, v in (document.get("training") or {}).items() if v.get("val_accuracy")]
    if not training:
        return None
    training, caption = _first_rows(
        training, "Validation accuracy at each of the 10 checkpoints of every training run."
    )
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 3.8))
    for run, history in training:
        per_checkpoint = history.get("steps_per_checkpoint") or 1
        steps = [per_checkpoint * (i + 1) for i in range(len(history["val_accuracy"]))]
        axes.plot(steps, [100 * v for v in history["val_accuracy"]], marker="o", markersize=3, label=_plain(run))
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("validation accuracy (%)")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return "Training curves", _png(figure), caption


def latency_distribution(document: dict) -> Plot | None:
    benches = _ok(document)
    if not benches:
        return None
    benches, caption = _first_rows(
        benches,
        "From the recorded percentiles: the line runs from the fastest run to p99 (or p90 where only that exists).",
    )
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.6 + 0.5 * len(benches)))
    for index, bench in enumerate(benches):
        latency = bench["latency_ms"]
        low, high = latency.get("min", latency["p50"]), latency.get("p99") or latency.get("p90") or latency["p50"]
        axes.plot([low, high], [index, index], color="#999999", linewidth=1)
        for key, marker, color in (("p50", "o", "C0"), ("p90", ">", "C1"), ("p99", "s", "C2")):
            if latency.get(key) is not None:
                axes.scatter(
                    [latency[key]], [index], marker=marker, color=color, s=30, label=key if index == 0 else None
                )
    axes.set_yticks(range(len(benches)), [_plain(f"{b['model']} on {b['device']}") for b in benches], fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("latency (ms, log scale, measured)")
    axes.legend(fontsize=8)
    axes.grid(axis="x", alpha=0.3)
    return "Latency distribution", _png(figure), caption


PLOTS = (accuracy_vs_latency, energy_per_device, model_sizes, training_curves, latency_distribution)


def all_plots(document: dict) -> list[Plot]:
    return [plot for plot in (draw(document) for draw in PLOTS) if plot is not None]
