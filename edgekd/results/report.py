"""report.md: a readable account of a run, every figure with its source.

Every value from the document is escaped as it goes in (a results.json may come from
anywhere): plain text through ``for_markdown``, names in code spans through ``markdown_code``.
"""

from __future__ import annotations

from edgekd.results.answer import basis_lines, compute_answer
from edgekd.results.table import (
    ACCURACY_HEADERS,
    BENCH_HEADERS,
    MODEL_HEADERS,
    SELECTION_HEADERS,
    accuracy_rows,
    bench_rows,
    count,
    device_lines,
    energy_notes,
    markdown_table,
    model_rows,
    per_class_headers,
    per_class_rows,
    per_class_sentence,
    selection_rows,
    selection_sentence,
    shipped_sentence,
    teacher_check_sentence,
)
from edgekd.untrusted import for_markdown as text
from edgekd.untrusted import markdown_code as code


def render_markdown(document: dict) -> str:
    data = document.get("data") or {}
    versions = document.get("versions") or {}
    lines = [
        f"# edgekd {text(document.get('kind'))} report",
        "",
        f"Created {text(document.get('created'))} with edgekd {text(document.get('edgekd_version'))} "
        f"(TensorFlow {text(versions.get('tensorflow'))}, LiteRT {text(versions.get('ai-edge-litert'))}).",
        "",
        "## Data",
        "",
        f"{code(data.get('name'))}: inputs {tuple(data.get('input_shape', []))}, {count(data.get('num_classes'))} "
        f"classes, {count(data.get('train_samples'))} train / {count(data.get('test_samples'))} test samples, "
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
        lines += [
            "## Distillation",
            "",
            f"Method {code(distillation['method'])} ({text(method_parameters(distillation))}), "
            f"{count(distillation.get('transfer_samples'))} transfer samples, "
            f"{distillation['budget']['steps']} steps of batch {distillation['budget']['batch_size']} for each student.",
            "",
            f"**{text(distillation['verdict'])}.**",
            "",
            *distillation_details(distillation, document.get("training") or {}),
            *selection_lines(distillation),
        ]
        if efficiency_sentence(distillation):
            lines += [efficiency_sentence(distillation), ""]
    benchmarks = document.get("benchmarks") or []
    if benchmarks:
        lines += [
            "## Benchmarks",
            "",
            "Latency of the .tflite files through LiteRT on each device, measured there (an emulated device's is the "
            "emulator's); energy says whether it was measured or estimated.",
            "",
            markdown_table(BENCH_HEADERS, bench_rows(benchmarks)),
            "",
        ]
        if accuracy_rows(benchmarks):
            lines += [
                "Accuracy on the device: its outputs on the test samples against the host's LiteRT on the same inputs.",
                "",
                markdown_table(ACCURACY_HEADERS, accuracy_rows(benchmarks)),
                "",
            ]
        lines += [f"- {text(note)}" for note in energy_notes(benchmarks)]
        lines += [f"- {text(line)}" for line in device_lines(benchmarks)]
        env = next((b.get("environment") for b in benchmarks if b["ok"]), None)
        if env:
            lines += [
                text(
                    f"- Environment: {env.get('runtime')} {env.get('runtime_version')}, {env.get('threads')} "
                    f"thread(s), {env.get('machine')} {env.get('system')}, CPUs {env.get('affinity')}."
                ),
                "",
            ]
    if compute_answer(document):
        lines += ["## The compute answer", "", *[f"- {text(line)}" for line in compute_answer(document)], ""]
        if basis_lines(document):
            lines += ["What each estimate stands on:", "", *[f"- {text(line)}" for line in basis_lines(document)], ""]
    if document.get("timings_s"):
        lines += [
            "## Stage timings",
            "",
            markdown_table(("stage", "seconds"), [[k, f"{v:.1f}"] for k, v in document["timings_s"].items()]),
            "",
        ]
    return "\n".join(lines)


def efficiency_sentence(distillation: dict) -> str | None:
    """The student's share of the teacher's MACs and accuracy; a share that is undefined says why."""
    fraction, kept = distillation.get("student_mac_fraction"), distillation.get("accuracy_kept")
    if fraction is None and kept is None:
        return None
    known = [f"needs {100 * fraction:.2f}% of the teacher's MACs"] if fraction is not None else []
    known += [f"keeps {100 * kept:.1f}% of the teacher's accuracy"] if kept is not None else []
    unknown = [] if fraction is not None else ["its share of the teacher's MACs is unknown (they could not be counted)"]
    if kept is None:
        unknown.append("its share of the teacher's accuracy is undefined (the teacher scored 0% on the test split)")
    return "; ".join([f"The student {' and '.join(known)}", *unknown]) + "."


def method_parameters(distillation: dict) -> str:
    """``temperature=1.0, alpha=0.0`` for one method; ``kd: temperature=1.0 ...; fitnet x 0.5: ...`` for a sum."""
    hidden = {"method", "weight"}

    def one(entry: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in entry.items() if k not in hidden and v != "") or "defaults"

    terms = distillation.get("terms")
    if not terms:
        known = {k: v for k, v in distillation.items() if k in _METHOD_KEYS}
        return one(known)
    return "; ".join(f"{t['method']} x {t['weight']:g}: {one(t)}" for t in terms)


# Keys a single method's description may carry in the distillation summary (its parameters).
_METHOD_KEYS = {
    "temperature",
    "alpha",
    "beta",
    "gamma",
    "warmup",
    "distance",
    "angle",
    "teacher_layer",
    "student_layer",
}


def distillation_details(distillation: dict, training: dict) -> list[str]:
    """How the teachers were used, which features were matched, and what happened to long runs."""
    lines = []
    outputs = distillation.get("teacher_outputs")
    if outputs:
        augment = distillation.get("augment") or []
        how = (
            f"run online on augmented inputs ({', '.join(augment)})"
            if augment
            else ("cached once before training" if outputs == "cached" else "run online")
        )
        reason = distillation.get("teacher_outputs_reason")
        if reason and not augment:
            how += f" ({reason})"
        lines.append(f"- Teacher outputs: {text(how)}.")
    ensemble = distillation.get("ensemble")
    if ensemble:
        names = [t.get("path", t.get("role", "?")) for t in ensemble["teachers"]]
        weights = ", ".join(f"{n} x {w:g}" for n, w in zip(names, ensemble["weights"], strict=True))
        lines.append(f"- Soft targets averaged over {len(names)} teachers: {text(weights)}.")
    for feature in distillation.get("features") or []:
        lines.append(
            f"- {code(feature['key'])}: teacher layer {code(feature['teacher_layer'])} {feature['teacher_shape']} "
            f"<- student layer {code(feature['student_layer'])} {feature['student_shape']}"
            + (" through a trainable adapter (not exported)" if feature["adapter"] else "")
            + "."
        )
    strategy = distillation.get("strategy")
    if strategy and strategy.get("name") != "default":
        lines.append(f"- Trained under {code(strategy['name'])} with {strategy['replicas']} replica(s).")
    for role, history in training.items():
        if history.get("stopped_early"):
            lines.append(
                f"- {text(role)} stopped early after {len(history.get('loss') or [])} of 10 validation checkpoints."
            )
        if history.get("resumed_from"):
            points = ", ".join(str(p) for p in history["resumed_from"])
            lines.append(f"- {text(role)} was resumed from checkpoint {points} after an interruption.")
    return [*lines, ""] if lines else []


def selection_lines(distillation: dict) -> list[str]:
    """The recipes ``auto`` tried, each with its validation score, and which model the run ships and why."""
    lines = []
    if distillation.get("teacher_check"):
        lines += [text(teacher_check_sentence(distillation["teacher_check"])), ""]
    selection = distillation.get("selection")
    if selection:
        lines += [
            text(selection_sentence(selection)),
            "",
            markdown_table(SELECTION_HEADERS, selection_rows(selection)),
            "",
        ]
    shipped = distillation.get("shipped")
    if shipped:
        lines += [text(shipped_sentence(shipped)), ""]
    per_class = distillation.get("per_class")
    if per_class:
        lines += [
            text(per_class_sentence(per_class)),
            "",
            markdown_table(per_class_headers(per_class), per_class_rows(per_class)),
            "",
        ]
    return lines
