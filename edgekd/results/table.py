"""Plain-text tables for the terminal (and Markdown tables for reports)."""

from __future__ import annotations

from collections.abc import Sequence

from edgekd.untrusted import for_markdown, for_terminal


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; cells are shown without control characters."""
    cells = [[str(h) for h in headers]] + [["" if c is None else for_terminal(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; every cell is plain text (no HTML, no cell break) whatever the document held."""
    head = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join("" if c is None else for_markdown(c) for c in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def kib(size: int | None) -> str:
    return "n/a" if size is None else f"{size / 1024:.1f} KiB"


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def milliseconds(value: float | None) -> str:
    # Three significant figures: tiny models run in microseconds, large ones in tens of ms.
    if value is None:
        return "n/a"
    return f"{value:.3g}" if value < 100 else f"{value:.1f}"


def energy(entry: dict | None) -> str:
    if not entry or entry.get("value_mj") is None:
        return "n/a"
    return f"{entry['value_mj']:.4g} mJ ({entry.get('source') or 'source not recorded'})"


MODEL_HEADERS = ("model", "format", "accuracy", "measured by", "params", "MACs", "size")


def learned_percent(record: dict) -> str:
    """The accuracy, marked when it is within a few points of chance (the model learned nothing usable)."""
    return percent(record.get("accuracy")) + (" (did not learn)" if record.get("did_not_learn") else "")


def model_rows(models: dict) -> list[list[str]]:
    """One row per model record; a figure the record lacks shows as n/a."""
    return [
        [
            role,
            m.get("format") or "n/a",
            learned_percent(m),
            (m.get("accuracy_source") or "n/a").split(" on ")[0],
            count(m.get("params")),
            count(m.get("macs")),
            kib(m.get("size_bytes")),
        ]
        for role, m in models.items()
    ]


BENCH_HEADERS = ("model", "device", "runs", "mean ms", "p50 ms", "p90 ms", "p99 ms", "energy/inference", "status")


def device_label(benchmark: dict) -> str:
    """The device, marked when it is emulated: its latency must never pass for the real board's."""
    emulated = benchmark.get("emulated_of")
    return f"{benchmark['device']} (emulated {emulated}: latency not the board's)" if emulated else benchmark["device"]


def bench_rows(benchmarks: list[dict]) -> list[list[str]]:
    rows = []
    for b in benchmarks:
        latency = b.get("latency_ms") or {}
        status = "ok" if b["ok"] else f"failed: {b.get('error', '')}"
        if b["ok"] and b.get("warnings"):
            status = "ok, " + "; ".join(b["warnings"])
        rows.append(
            [
                b["model"],
                device_label(b),
                b.get("runs", "n/a"),
                milliseconds(latency.get("mean")),
                milliseconds(latency.get("p50")),
                milliseconds(latency.get("p90")),
                milliseconds(latency.get("p99")),
                energy(b.get("energy")),
                status,
            ]
        )
    return rows


ACCURACY_HEADERS = (
    "model",
    "device",
    "samples",
    "top-1 on device",
    "top-1 host LiteRT",
    "agreement",
    "largest difference",
    "runtime on device",
)


def difference(accuracy: dict) -> str:
    """The largest output difference, in quantization steps for an integer output."""
    if accuracy.get("largest_difference_steps") is not None:
        steps = accuracy["largest_difference_steps"]
        return f"{steps} step{'s' if steps != 1 else ''} ({accuracy['largest_difference']:.3g})"
    return f"{accuracy['largest_difference']:.3g}"


def accuracy_rows(benchmarks: list[dict]) -> list[list[str]]:
    """One row per benchmark that checked the device's outputs against the host's LiteRT."""
    rows = []
    for b in benchmarks:
        checked = b.get("accuracy")
        if not b["ok"] or not checked:
            continue
        rows.append(
            [
                b["model"],
                device_label(b),
                checked["samples"],
                percent(checked["accuracy"]),
                percent(checked["host_accuracy"]),
                percent(checked["agreement_with_host"]),
                difference(checked),
                checked["runtime"],
            ]
        )
    return rows


def energy_notes(benchmarks: list[dict]) -> list[str]:
    """One line per device whose energy is absent, saying why (a blank column would hide it)."""
    notes, seen = [], set()
    for b in benchmarks:
        reason = (b.get("energy") or {}).get("reason")
        if b["ok"] and reason and b["device"] not in seen:
            seen.add(b["device"])
            notes.append(f"Energy on {b['device']} is absent: {reason}.")
    return notes


def overhead_lines(benchmarks: list[dict]) -> list[str]:
    """One line per timed benchmark that carries the device's per-invoke floor (a one-op model's p50)."""
    from edgekd.bench.overhead import InvokeOverhead, overhead_sentence

    lines = []
    for b in benchmarks:
        floor, p50 = b.get("invoke_overhead"), (b.get("latency_ms") or {}).get("p50")
        if b["ok"] and floor and p50:
            overhead = InvokeOverhead(p50_ms=floor["p50_ms"], runs=floor["runs"])
            lines.append(overhead_sentence(b["model"], device_label(b), p50, overhead))
    return lines


def device_lines(benchmarks: list[dict]) -> list[str]:
    """Everything said beside the latency table: the per-invoke floor, where the time goes, heat and drift."""
    return overhead_lines(benchmarks) + profile_lines(benchmarks) + thermal_lines(benchmarks)


def _celsius(value: float | None) -> str:
    return f"{value:.1f} °C" if value is not None else "temperature unreadable"


def thermal_lines(benchmarks: list[dict]) -> list[str]:
    """A sustained run's drift and temperature, and every cool-down waited for, one line each."""
    lines = []
    for b in benchmarks:
        if not b["ok"]:
            continue
        where = f"{b['model']} on {device_label(b)}"
        sustained = b.get("sustained")
        if sustained and sustained.get("windows"):
            first, last = sustained["windows"][0], sustained["windows"][-1]
            of = sustained.get("drift_of", "mean_ms")
            drift = sustained.get("drift_pct")
            change = f" ({drift:+.1f}%)" if drift is not None else ""
            line = (
                f"{where}: sustained {sustained['seconds']:g} s, {of.removesuffix('_ms')} latency "
                f"{first[of]:.3g} ms in the first window, {last[of]:.3g} ms in the last{change}"
            )
            if sustained.get("temperature_rise_c") is not None:
                line += f"; hottest zone {first['max_temp_c']:.1f} → {last['max_temp_c']:.1f} °C"
            lines.append(line + " (measured)")
        cooldown = b.get("cooldown")
        if cooldown and cooldown["waited_s"] >= 1:
            state = "reached" if cooldown["reached"] else "not reached"
            lines.append(
                f"{where}: waited {cooldown['waited_s']:.0f} s for the device to cool to {cooldown['target_c']:.1f} °C "
                f"({state}; {_celsius(cooldown.get('end_c'))} when the model started)"
            )
    return lines


def profile_lines(benchmarks: list[dict]) -> list[str]:
    """Where the time goes, one line per benchmark with an op profile (or the reason it has none)."""
    from edgekd.bench.op_profile import OpProfile, OpTime, profile_sentence

    lines = []
    for b in benchmarks:
        profile = b.get("op_profile")
        if not b["ok"] or not profile:
            continue
        if profile.get("error"):
            lines.append(f"{b['model']} on {device_label(b)}: no op profile ({profile['error']})")
            continue
        # Only the fields OpTime has: later edgekd versions may record more of each op.
        ops = tuple(
            OpTime(**{f: op[f] for f in ("op", "count", "ms", "share", "on_delegate")})
            for op in profile.get("ops") or ()
        )
        fields = ("nodes_executed", "delegated_nodes", "model_nodes", "delegate")
        lines.append(profile_sentence(b["model"], device_label(b), OpProfile(ops, *(profile.get(f) for f in fields))))
    return lines


MODE_HEADERS = ("mode", "size", "accuracy", "drop (points)", "agreement", "host p50 ms", "checks")


def mode_rows(models: dict, benchmarks: list[dict]) -> list[list[str]]:
    """One row per conversion mode: size, accuracy through LiteRT, agreement with Keras, host latency."""
    latency = {b["model"]: (b.get("latency_ms") or {}).get("p50") for b in benchmarks if b["ok"]}
    return [
        [
            m["mode"],
            kib(m["size_bytes"]),
            percent(m["accuracy"]),
            f"{m['accuracy_drop_points']:+.2f}",
            percent(m["agreement_with_keras"]),
            milliseconds(latency.get(role)),
            "ok" if not m["warnings"] else f"{len(m['warnings'])} warning(s)",
        ]
        for role, m in models.items()
    ]


SELECTION_HEADERS = ("recipe", "validation accuracy", "validation loss", "steps", "seconds")


def selection_rows(selection: dict) -> list[list[str]]:
    """One row per recipe ``auto`` tried on the short budget."""
    return [
        [c["recipe"], percent(c["val_accuracy"]), f"{c['val_loss']:.4f}", c["steps"], f"{c['seconds']:.1f}"]
        for c in selection["candidates"]
    ]


def selection_sentence(selection: dict) -> str:
    left_out = f" ({selection['left_out']})" if selection.get("left_out") else ""
    further = [f"{100 * rung:.0f}%" for rung in selection.get("rungs", [])[1:]]
    on = f", the better ones (the best of each kind, with and without augmentation) on to {', '.join(further)}"
    return (
        f"Recipes tried for {100 * selection['fraction_of_budget']:.0f}% of the budget each"
        f"{on if further else ''}, scored on the validation split ({selection['seconds']:.1f} s in all){left_out}; "
        f"{selection['chosen']} trained on to the full budget:"
    )


def shipped_sentence(shipped: dict) -> str:
    return f"Shipped as student.keras: {shipped['role']}, because {shipped['reason']}."


def teacher_check_sentence(check: dict) -> str:
    """The teacher against the control on validation, before distillation."""
    return f"Teacher check: {check['message']}."


PER_CLASS_ROLES = {"teacher": "teacher", "student_kd": "distilled", "student_scratch": "control"}


def per_class_headers(per_class: dict) -> tuple[str, ...]:
    return ("class", "test samples", *(PER_CLASS_ROLES[r] for r in PER_CLASS_ROLES if r in per_class["accuracy"]), "")


def per_class_rows(per_class: dict) -> list[list[str]]:
    """One row per class: each model's test accuracy on it, and a flag where the distilled student fell behind."""
    flagged = set(per_class.get("flagged") or ())
    roles = [role for role in PER_CLASS_ROLES if role in per_class["accuracy"]]
    return [
        [
            name,
            count(per_class["test_samples"][index]),
            *(percent(per_class["accuracy"][role][index]) for role in roles),
            "distilled far below the control" if index in flagged else "",
        ]
        for index, name in enumerate(per_class["classes"])
    ]


def per_class_sentence(per_class: dict) -> str:
    flagged = per_class.get("flagged") or []
    if not flagged:
        return "Accuracy per class on the test split:"
    names = ", ".join(str(per_class["classes"][index]) for index in flagged)
    return (
        f"Accuracy per class on the test split; the distilled student is far below the control on {names} (it may "
        "have learned the teacher's mistakes there):"
    )
