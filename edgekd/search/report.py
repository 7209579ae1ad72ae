"""What a search found: every trial with its status, the Pareto front, the finalists and the chosen student.

``search_document`` turns the study into search.json's document (one function serialises
it); ``trial_table`` and ``front_plot`` show it. Every figure keeps its source (counted,
measured, estimated; accuracies say which split and which model).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.search.engine import FAILED, REPEAT, STOPPED, TRAINED
from edgekd.untrusted import for_html

SEARCH_SCHEMA_VERSION = 1
ACCURACY_SOURCE = "the Keras model on the validation split, after the trial's short distillation"


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table shows it."""

    number: int
    candidate: str
    status: str
    reason: str | None
    val_accuracy: float | None
    steps: int | None
    cost: dict
    on_front: bool = False
    worker: str | None = None

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "candidate": self.candidate,
            "status": self.status,
            "reason": self.reason,
            "val_accuracy": None if self.val_accuracy is None else round(self.val_accuracy, 6),
            "val_accuracy_source": ACCURACY_SOURCE if self.val_accuracy is not None else None,
            "steps": self.steps,
            "cost": self.cost,
            "on_front": self.on_front,
            "worker": self.worker,
        }


def _status(trial) -> str:
    state = trial.state.name
    if state == "RUNNING":
        return "running"
    if state == "FAIL" and trial.user_attrs.get("status") != FAILED:
        return "interrupted"
    if state == "WAITING":
        return "waiting"
    return trial.user_attrs.get("status", state.lower())


def trial_rows(study) -> list[TrialRow]:
    """Every trial of the study, by number, with the front's trials marked."""
    front = {t.number for t in front_trials(study)}
    rows = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        attrs = trial.user_attrs
        trained = _status(trial) in (TRAINED, STOPPED, REPEAT)
        reason = attrs.get("reason")
        if reason is None and trial.state.name == "FAIL" and _status(trial) == "interrupted":
            reason = "stopped before it finished (interrupted, or its worker died); another trial took its place"
        rows.append(
            TrialRow(
                trial.number,
                attrs.get("candidate", "?"),
                _status(trial),
                reason,
                attrs.get("val_accuracy") if trained else None,
                attrs.get("steps") if trained else None,
                attrs.get("cost") or {},
                trial.number in front,
                attrs.get("worker"),
            )
        )
    return rows


def front_trials(study) -> list:
    """The Pareto-optimal trials (accuracy against the speed and memory figures), one per candidate, most accurate first."""
    seen, front = set(), []
    for trial in sorted(study.best_trials, key=lambda t: (-t.values[0], t.number)):
        spec = trial.user_attrs.get("candidate")
        if spec not in seen:
            seen.add(spec)
            front.append(trial)
    return front


def search_document(
    settings: dict,
    objectives: dict,
    storage: str,
    rows: list[TrialRow],
    finalists: list[dict],
    chosen: dict | None,
    seconds: dict,
) -> dict:
    """search.json: the settings, every trial, the front, the finalists and the chosen student."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return {
        "schema_version": SEARCH_SCHEMA_VERSION,
        "kind": "search",
        "settings": settings,
        "objectives": objectives,
        "study": {"storage": storage, "name": settings.get("study_name")},
        "counts": counts,
        "trials": [row.as_dict() for row in rows],
        "front": [row.number for row in rows if row.on_front],
        "finalists": finalists,
        "chosen": chosen,
        "seconds": seconds,
    }


TABLE_HEADERS = ("trial", "candidate", "status", "val acc", "speed", "memory", "front", "reason")


def _figure(cost: dict, key: str) -> str:
    figure = cost.get(key)
    if not figure:
        return ""
    return f"{number(figure['value'])} {key} ({figure['source']})"


def number(value: float) -> str:
    """Counts as counts (12,480), measurements to four significant digits."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:.4g}"


def trial_table(document: dict, reason_width: int | None = 90) -> list[list]:
    """Rows for ``format_table(TABLE_HEADERS, ...)``: each trial with its figures and where they came from."""
    speed, memory = document["objectives"]["speed"], document["objectives"]["memory"]
    rows = []
    for trial in document["trials"]:
        accuracy = trial["val_accuracy"]
        rows.append(
            [
                trial["number"],
                trial["candidate"],
                trial["status"],
                "" if accuracy is None else f"{accuracy:.2%}",
                _figure(trial["cost"], speed),
                _figure(trial["cost"], memory),
                "*" if trial["on_front"] else "",
                (trial["reason"] or "")[:reason_width],
            ]
        )
    return rows


def front_plot(document: dict) -> bytes | None:
    """Validation accuracy against the speed and the memory figure: every trained trial, the front, the chosen one."""
    from edgekd.results.plots import _plain, _png, _pyplot

    trained = [t for t in document["trials"] if t["val_accuracy"] is not None and t["status"] in (TRAINED, STOPPED)]
    if not trained:
        return None
    plt = _pyplot()
    objectives = document["objectives"]
    chosen = (document.get("chosen") or {}).get("trial")
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key in zip(axes, (objectives["speed"], objectives["memory"]), strict=True):
        points = [(t["cost"][key]["value"], t["val_accuracy"], t) for t in trained if key in t["cost"]]
        axis.scatter([p[0] for p in points], [p[1] for p in points], color="0.7", label="trained trial")
        front = sorted((p for p in points if p[2]["on_front"]), key=lambda p: p[0])
        # The front is three-dimensional: in each projection its points are marked, not joined.
        axis.plot(
            [p[0] for p in front],
            [p[1] for p in front],
            "o",
            color="tab:blue",
            label=_plain(f"on the front (accuracy, {objectives['speed']}, {objectives['memory']})"),
        )
        for x, y, trial in front:
            axis.annotate(_plain(trial["candidate"]), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for x, y, trial in points:
            if trial["number"] == chosen:
                axis.plot([x], [y], "*", color="tab:red", markersize=14, label="chosen")
        sources = sorted({t["cost"][key]["source"] for _, _, t in points})
        axis.set_xlabel(_plain(f"{key} ({', '.join(sources)})"))
        axis.set_ylabel("validation accuracy (short training)")
        axis.legend(fontsize=7)
    figure.suptitle(_plain(f"search on {document['settings'].get('device')}: accuracy against cost"))
    return _png(figure)


def summary_lines(document: dict) -> list[str]:
    """The counts, the front and the chosen student, each figure with its source."""
    counts = ", ".join(f"{count} {status}" for status, count in sorted(document["counts"].items()))
    lines = [f"{len(document['trials'])} trials: {counts}"]
    by_number = {trial["number"]: trial for trial in document["trials"]}
    speed, memory = document["objectives"]["speed"], document["objectives"]["memory"]
    lines.append(f"Pareto front (validation accuracy after short training, {speed}, {memory}):")
    for trial_number in document["front"]:
        trial = by_number[trial_number]
        cost = trial["cost"]
        lines.append(
            f"  trial {trial_number} {trial['candidate']}: {trial['val_accuracy']:.2%}, "
            + ", ".join(f"{number(cost[k]['value'])} {k} ({cost[k]['source']})" for k in (speed, memory) if k in cost)
        )
    chosen = document.get("chosen")
    if chosen:
        models = chosen["models"]
        int8 = models["student_int8"]
        lines.append(
            f"Chosen: {chosen['candidate']} (trial {chosen['trial']}), {chosen['why']}: int8 accuracy "
            f"{int8['accuracy']:.2%} ({int8['accuracy_source']}); Keras {models['student']['accuracy']:.2%} "
            f"({models['student']['accuracy_source']})"
        )
        lines.extend(_microcontroller_lines(chosen.get("tflite_micro")))
    return lines


def _microcontroller_lines(micro: dict | None) -> list[str]:
    """The chosen student on a TFLM device: its fit and its accuracy through TFLM's kernels."""
    if micro is None:
        return []
    if "not_measured_because" in micro:
        return [f"  on {micro['device']}: not checked through TensorFlow Lite Micro: {micro['not_measured_because']}"]
    fit, accuracy = micro["fit"], micro["accuracy"]
    verdict = "fits" if fit["fits"] else "does NOT fit: " + "; ".join(fit["problems"])
    return [
        f"  on {fit['device']}: {verdict}; flash {fit['flash']['needed']:,} B, tensor arena {fit['ram']['needed']:,} B "
        f"({fit['ram']['source']}); int8 accuracy {accuracy['accuracy']:.2%} on {accuracy['samples']:,} test samples "
        f"({accuracy['source']}), top-1 agreement with LiteRT {accuracy['agreement_with_host']:.2%}"
    ]


FINALIST_HEADERS = (
    "trial",
    "candidate",
    "why",
    "recipe",
    "short val acc",
    "full val acc",
    "train s",
    "recipe choice s",
)


def search_html(document: dict, plot: bytes | None) -> str:
    """report.html: the outcome, the finalists, the front plot and every trial, in one self-contained page."""

    from edgekd.results.html import html_figure, html_head, html_table

    settings = document["settings"]
    budgets = ", ".join(f"{key}={value:g}" for key, value in settings.get("budgets", {}).items()) or "none"
    parts = html_head(f"edgekd search on {settings.get('device')}")
    parts.append(
        f"<p>Teacher {for_html(str(settings.get('teacher')))}; data {for_html(str(settings.get('data')))}; "
        f"budgets {for_html(budgets)}; {document['settings'].get('trials')} trials asked; "
        f"{document['seconds'].get('total', 0):.0f} s in all.</p>"
    )
    parts.append("<ul>" + "".join(f"<li>{for_html(line.strip())}</li>" for line in summary_lines(document)) + "</ul>")
    finalists = document.get("finalists") or []
    if finalists:
        parts += [
            "<h2>Finalists</h2>",
            "<p>Trained on the full budget; accuracies are the Keras model's on the validation split.</p>",
            html_table(FINALIST_HEADERS, [_finalist_row(finalist) for finalist in finalists]),
        ]
    if plot is not None:
        parts += [
            "<h2>The front</h2>",
            html_figure(
                "Accuracy against cost",
                plot,
                "Validation accuracy after each trial's short training against the speed and the memory figure "
                "(each axis says where its figures came from); the front is three-dimensional, so each view marks "
                "its points without joining them.",
            ),
        ]
    parts += ["<h2>Every trial</h2>", html_table(TABLE_HEADERS, trial_table(document, reason_width=None))]
    parts.append("</body></html>")
    return "\n".join(parts)


def _finalist_row(finalist: dict) -> list:
    chose = finalist.get("recipe_selection_seconds")
    return [
        finalist["trial"],
        finalist["candidate"],
        finalist["why"],
        finalist["recipe"]
        + (
            ""
            if chose
            else " (chosen by the teacher's run)"
            if finalist.get("reused")
            else f" (chosen on {finalist.get('recipe_chosen_on') or 'the config'})"
        ),
        f"{finalist['short_val_accuracy']:.2%}",
        f"{finalist['val_accuracy']:.2%}",
        f"{finalist['seconds']:.1f}"
        + (
            f" (trained {finalist['reused']['training_seconds']:.1f} s in the teacher's run)"
            if finalist.get("reused")
            else ""
        ),
        "" if not chose else f"{chose:.1f}",
    ]
