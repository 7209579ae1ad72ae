"""What a search found: every trial with its status, the Pareto front, the finalists and the chosen student.

``search_document`` turns the study into search.json's document (one function serialises
it); ``trial_table`` and ``front_plot`` show it. Every figure keeps its source (counted,
measured, estimated; accuracies say which split and which model).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.search.engine import FAILED, REPEAT, TRAINED

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
        trained = _status(trial) in (TRAINED, REPEAT)
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


def trial_table(document: dict) -> list[list]:
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
                (trial["reason"] or "")[:90],
            ]
        )
    return rows


def front_plot(document: dict) -> bytes | None:
    """Validation accuracy against the speed and the memory figure: every trained trial, the front, the chosen one."""
    from edgekd.results.plots import _plain, _png, _pyplot

    trained = [t for t in document["trials"] if t["val_accuracy"] is not None and t["status"] == TRAINED]
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
