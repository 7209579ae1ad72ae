"""``edgekd search``: real candidates costed on real profiles, real short distillations, a real Optuna SQLite study.

The data is small (600 MNIST-1D samples, two epochs for the full budget), so accuracies
mean nothing here; what is checked is the bookkeeping a search promises: a candidate
over a budget is never trained, an interrupted or repeated search continues its study,
two workers share one study, and bad budgets fail before any training.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edgekd.distill.recipes import DEFAULT_CANDIDATES
from tests.conftest import assert_clean_failure, invoke, snapshot

DATA = "mnist1d:samples=600,transfer=0"
# Two epochs over 480 training samples: 15 steps for the full budget, so finalists train in seconds.
SMALL = ("--data", DATA, "--epochs", "2", "--batch-size", "64")


def _search(teacher: Path, out: Path, *args: str):
    return invoke("search", "--teacher", str(teacher), "--out", str(out), *SMALL, *args)


def _document(out: Path) -> dict:
    return json.loads((out / "search.json").read_text())


# --- the space and the budgets, without training -------------------------------------------------


def test_every_family_of_the_space_is_a_student_builder_with_those_options():
    from edgekd.frameworks import Framework
    from edgekd.models.builders import get_builder
    from edgekd.models.complexity import model_macs
    from edgekd.search.space import SPACE, Candidate, smallest

    for family, options in SPACE.items():
        builder = get_builder(family)
        assert builder.framework is Framework.TF_KERAS, family
        assert set(options) <= set(builder.defaults), family
        for option, choices in options.items():
            assert list(choices) == sorted(choices), f"{family}.{option}: smallest first"
        # The smallest candidate bounds the family: the largest costs more.
        largest = Candidate(family, {option: choices[-1] for option, choices in options.items()})
        shape = (40, 1)
        assert model_macs(smallest(family).build(shape, 10)) < model_macs(largest.build(shape, 10)), family


@pytest.mark.parametrize("shape", [(40, 1), (8, 8, 1)], ids=["signal", "image"])
def test_the_memory_bounds_counted_before_conversion_never_exceed_the_converted_figures(shape):
    """The bounds prune candidates without converting them, so a bound above the real figure would drop a student
    that fits. The largest candidate of each family is the closest call (kernels are most of its file)."""
    import numpy as np

    from edgekd.models.complexity import int8_activation_bytes, int8_weight_bytes
    from edgekd.search.cost import CostModel
    from edgekd.search.space import SPACE, Candidate, smallest

    representative = np.random.default_rng(0).random((8, *shape), dtype=np.float32)
    costs = CostModel.for_search("nano33ble", {}, False, representative)
    for family, options in SPACE.items():
        for candidate in (smallest(family), Candidate(family, {key: choices[-1] for key, choices in options.items()})):
            model = candidate.build(shape, 10)
            cost = costs.cost(model, candidate.spec)
            flash, arena = cost.value("flash_kb") * 1024, cost.value("ram_kb") * 1024
            assert cost.figures["ram_kb"].source == "measured", candidate.spec
            assert 0 < int8_weight_bytes(model) <= flash, candidate.spec
            assert 0 < int8_activation_bytes(model) <= arena, candidate.spec


def test_a_microcontroller_search_gets_calibrated_latency_and_energy():
    import numpy as np

    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.profiles.estimate import estimate_report
    from edgekd.profiles.loader import get_profile
    from edgekd.search.cost import CostModel
    from edgekd.search.space import Candidate

    representative = np.random.default_rng(0).random((8, 40, 1), dtype=np.float32)
    costs = CostModel.for_search("nano33ble", {"latency_ms": 50, "energy_mj": 5}, False, representative)
    assert costs.speed_key == "latency_ms"
    model = Candidate.parse("conv:width=1").build((40, 1), 10)
    cost = costs.cost(model, "conv:width=1")
    latency, energy = cost.figures["latency_ms"], cost.figures["energy_mj"]
    assert latency.source == energy.source == "estimated" and "stm32l4r5-tflm" in latency.method
    found = estimate_report(get_profile("nano33ble").profile, inspect_tflite(costs._int8(model)))
    assert latency.value == pytest.approx(found.latency_ms) and energy.value == pytest.approx(found.energy_mj)


def test_a_candidate_over_a_memory_budget_by_its_bound_is_not_converted(monkeypatch):
    import numpy as np

    from edgekd.search.cost import CostModel
    from edgekd.search.space import Candidate

    costs = CostModel.for_search("nano33ble", {}, False, np.zeros((4, 40, 1), np.float32))
    large, small = (Candidate.parse(spec).build((40, 1), 10) for spec in ("conv:width=4", "conv:width=0.25"))
    converted = []
    convert = costs._int8
    monkeypatch.setattr(costs, "_int8", lambda model: converted.append(model) or convert(model))
    # conv:width=4 holds 12,704 int8 weights: over 8 KiB of flash before any conversion.
    cost = costs.cost(large, "conv:width=4", {"flash_kb": 8})
    assert not converted and set(cost.figures) == {"macs", "params", "flash_kb"}
    assert cost.figures["flash_kb"].source == "lower bound" and cost.value("flash_kb") == pytest.approx(12704 / 1024)
    assert cost.over({"flash_kb": 8}) == ["flash_kb 12.4062 > 8 (lower bound)"]
    # Within the bound it is converted and measured as before; without budgets, always.
    assert costs.cost(small, "conv:width=0.25", {"flash_kb": 8}).figures["ram_kb"].source == "measured"
    assert costs.cost(large, "conv:width=4").figures["flash_kb"].source == "counted"
    assert len(converted) == 2


def test_budgets_parse_and_unknown_keys_list_the_known_ones():
    from edgekd.errors import ConfigError
    from edgekd.search.budget import budget_key_names, parse_budgets

    assert parse_budgets(["latency_ms=20", "ram_kb=256"]) == {"latency_ms": 20.0, "ram_kb": 256.0}
    with pytest.raises(ConfigError, match="unknown budget key 'latncy_ms'; known: " + ", ".join(budget_key_names())):
        parse_budgets(["latncy_ms=20"])
    with pytest.raises(ConfigError, match="positive number of KiB"):
        parse_budgets(["ram_kb=0"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_budgets(["macs=1", "macs=2"])


def test_a_password_in_the_storage_url_never_reaches_the_outputs():
    from edgekd.redact import redacted, scrubbed

    assert redacted("postgresql://me:secret@db.example/edgekd") == "postgresql://me:***@db.example/edgekd"
    assert redacted("sqlite:////tmp/study.db") == "sqlite:////tmp/study.db"
    # libpq and SQLAlchemy also take the password as a query parameter (and drivers a token).
    assert redacted("postgresql://me@db/edgekd?sslmode=require&password=hunter2") == (
        "postgresql://me@db/edgekd?sslmode=require&password=***"
    )
    assert redacted("mysql://me:p%40ss@db/x?PASSWD=a;token=t0k#x") == "mysql://me:***@db/x?PASSWD=***;token=***#x"
    assert redacted("sqlite:////tmp/a@b:c/study.db") == "sqlite:////tmp/a@b:c/study.db", "a path is no password"
    # A driver's message may quote the URL, or the password alone (decoded).
    url = "postgresql://me:p%40ssw0rd@[bad/db?password=hunter2"
    message = scrubbed(f"Could not parse SQLAlchemy URL from string '{url}' (p@ssw0rd, hunter2)", url)
    assert "hunter2" not in message and "ssw0rd" not in message and "postgresql://me:***@[bad" in message


def test_a_search_whose_search_json_was_replaced_continues_without_it(teacher_file, tmp_path):
    out = tmp_path / "search"
    flags = ("--family", "mlp", "--trials", "1", "--finalists", "0", "--budget", "macs=1000")
    first = _search(teacher_file, out, *flags)
    assert first.exit_code == 0, first.stderr
    for replaced in ("[]", '{"chosen": {"candidate": 7}}', "[" * 100_000):
        (out / "search.json").write_text(replaced)
        (out / "student.keras").write_bytes(b"an earlier student")
        again = _search(teacher_file, out, *flags)
        assert again.exit_code == 0, again.stderr
        assert "1 of 1 trials done" in again.stderr and _document(out)["chosen"] is None


# --- a search, end to end ---------------------------------------------------------------------------


def _enqueue(out: Path, *specs: str) -> None:
    """Ask the study in ``out`` (made here if new) to try these candidates first, in this order."""
    import optuna

    from edgekd.models.students import parse_builder_spec
    from edgekd.search.engine import DIRECTIONS

    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=f"sqlite:///{out / 'study.db'}", study_name="edgekd-search", directions=list(DIRECTIONS),
        load_if_exists=True,
    )  # fmt: skip
    for spec in specs:
        family, options = parse_builder_spec(spec)
        study.enqueue_trial({"family": family, **{f"{family}.{key}": value for key, value in options.items()}})


def test_a_search_prunes_over_budget_trials_untrained_and_continues_its_study(teacher_file, tmp_path):
    out = tmp_path / "search"
    budget = 3000  # MACs: conv:width=4 needs 71,040, mlp:hidden=8 400
    _enqueue(out, "conv:width=4", "mlp:hidden=8", "mlp:hidden=8")
    flags = ("--budget", f"macs={budget}", "--family", "conv", "--family", "mlp")
    first = _search(teacher_file, out, *flags, "--trials", "5", "--finalists", "2")
    assert first.exit_code == 0, first.stderr
    document = _document(out)
    trials = document["trials"]
    assert [(t["candidate"], t["status"]) for t in trials[:3]] == [
        ("conv:width=4", "over budget"),
        ("mlp:hidden=8", "trained"),
        ("mlp:hidden=8", "repeat"),
    ]
    assert trials[2]["val_accuracy"] == trials[1]["val_accuracy"] and "trial 1" in trials[2]["reason"]
    # --trials counts the candidates scored; those over budget come on top, costed but never trained.
    scored = [t for t in trials if t["status"] != "over budget"]
    assert len(scored) == 5 and {t["status"] for t in scored} <= {"trained", "repeat", "stopped early"}
    # A trial behind a cheaper one at half its budget stopped there, scored, and says why.
    for trial in (t for t in scored if t["status"] == "stopped early"):
        assert trial["val_accuracy"] is not None and trial["reason"].startswith("stopped at half its budget")
        assert not trial["on_front"]
    for trial in trials:
        macs = trial["cost"]["macs"]
        assert macs["source"] == "counted"
        if trial["status"] == "over budget":
            # Never trained: no steps, no accuracy, and the reason names the budget it broke.
            assert macs["value"] > budget and trial["steps"] is None and trial["val_accuracy"] is None
            assert f"macs {macs['value']:.6g} > {budget}" in trial["reason"]
        else:
            assert macs["value"] <= budget and trial["steps"] > 0 and 0 <= trial["val_accuracy"] <= 1
    assert 1 in document["front"] and 2 not in document["front"], "a repeat is not a second point of the front"
    chosen = document["chosen"]
    assert chosen["candidate"] in {t["candidate"] for t in trials if t["on_front"]}
    # The most accurate finalist chose the recipe as `edgekd distill --method auto` would, on
    # validation; any other finalist trained with that recipe rather than choosing again.
    finalist, *others = document["finalists"]
    assert chosen["recipe"] == finalist["recipe"] != "control"
    assert len(finalist["recipe_selection"]) == len(DEFAULT_CANDIDATES) and finalist["recipe"] in {
        score["recipe"] for score in finalist["recipe_selection"]
    }
    assert finalist["recipe_chosen_on"] == finalist["candidate"]
    for other in others:
        assert other["recipe"] == finalist["recipe"] and other["recipe_selection"] is None
        assert other["recipe_chosen_on"] == finalist["candidate"]
    assert chosen["models"]["student_int8"]["accuracy_source"].startswith("the .tflite through the LiteRT")
    assert chosen["cost"]["macs"]["value"] <= budget
    for name in ("study.db", "search.json", "front.png", "report.html", "student.keras", "student_int8.tflite"):
        assert (out / name).is_file(), name
    # The report: one page with the outcome, the finalists, the front plot embedded and every trial with its reason.
    page = (out / "report.html").read_text()
    assert "<h2>Finalists</h2>" in page and page.count("data:image/png;base64,") == 1
    assert f"macs {trials[0]['cost']['macs']['value']:.6g} &gt; {budget}" in page
    assert f"Chosen: {chosen['candidate']}" in page and "http" not in page.replace("http-equiv", "")
    assert "Pareto front" in first.stdout and "Chosen:" in first.stdout

    # The same search with more trials continues the study: the first five are kept as they were.
    again = _search(teacher_file, out, *flags, "--trials", "7", "--finalists", "1", "--finalist-recipe", "dist")
    assert again.exit_code == 0, again.stderr
    assert "continuing the study" in again.stderr and "5 of 7 trials done" in again.stderr
    resumed = _document(out)["trials"]
    kept = ("number", "candidate", "status", "val_accuracy", "cost", "worker")
    assert len([t for t in resumed if t["status"] != "over budget"]) == 7
    assert [{k: t[k] for k in kept} for t in resumed[: len(trials)]] == [{k: t[k] for k in kept} for t in trials]
    # Nothing left to do: a third run trains no trial.
    third = _search(teacher_file, out, *flags, "--trials", "7", "--finalists", "0")
    assert third.exit_code == 0, third.stderr
    assert "edgekd: trial " not in third.stderr
    assert len(_document(out)["trials"]) == len(resumed)
    # The student saved earlier is still the one search.json names, and it says so.
    assert "earlier run" in _document(out)["chosen"]["note"] and (out / "student.keras").is_file()


def test_a_new_search_starts_from_the_exact_auto_student_which_chooses_the_finalists_recipe(teacher_file, tmp_path):
    out = tmp_path / "search"
    # Auto-sizing gives conv at width 1.5422 (12,700 MACs) for 13,500 MACs: the first trial trains
    # that student, off the space's grid (whose next width down is 1.5, 10,800 MACs).
    flags = ("--budget", "macs=13500", "--family", "conv", "--family", "mlp", "--trials", "2", "--finalists", "2")
    result = _search(teacher_file, out, *flags)
    assert result.exit_code == 0, result.stderr
    document = _document(out)
    first = document["trials"][0]
    assert (first["candidate"], first["status"]) == ("conv:width=1.5422", "trained")
    assert first["cost"]["macs"]["value"] == 12700
    # It is a finalist (on the front, or in the last place), trained first: the recipe is chosen on
    # it, as `edgekd distill --method auto` chooses for it, and the other finalist reuses the choice.
    finalist, other = document["finalists"]
    assert finalist["candidate"] == "conv:width=1.5422" and finalist["recipe_chosen_on"] == "conv:width=1.5422"
    assert len(finalist["recipe_selection"]) == len(DEFAULT_CANDIDATES) and finalist["recipe_selection_seconds"] > 0
    assert other["recipe"] == finalist["recipe"] and other["recipe_selection"] is None
    # The first finalist trains its whole budget; a later one may stop behind its curve, and says so.
    assert finalist["stopped"] is None and (other["stopped"] is None or "behind" in other["stopped"])
    assert set(document["seconds"]) == {"data", "setup", "search", "finalists", "total"}
    assert document["seconds"]["total"] >= document["seconds"]["search"] + document["seconds"]["finalists"] - 0.01


def test_a_search_from_a_distill_runs_teacher_takes_its_auto_student_instead_of_training_it_again(tmp_path):
    """The teacher's run raced auto's candidates on the auto student and trained the winner fully: the search's
    auto-start finalist is that student, unless something differs, which the search says."""
    # Candidates named (the tiny data's steps are so cheap that auto's own would leave the augmenting ones out).
    candidates = ("kd:temperature=1,alpha=0", "dist")
    config = tmp_path / "search.yaml"
    config.write_text("distill:\n  candidates: [" + ", ".join(f"'{recipe}'" for recipe in candidates) + "]\n")
    run = tmp_path / "run"
    named = [flag for recipe in candidates for flag in ("--candidate", recipe)]
    result = invoke("distill", "--train-teacher", "--teacher-epochs", "1", *SMALL, *named, "--out", str(run))
    assert result.exit_code == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["data"]["fingerprint"] and results["models"]["teacher"]["fingerprint"]
    budget = ("--budget", f"macs={results['models']['student_kd']['macs']}", "--family", "conv", "--family", "mlp")
    flags = (*budget, "--config", str(config), "--trials", "2", "--finalists", "2")
    result = _search(run / "teacher.keras", tmp_path / "search", *flags)
    assert result.exit_code == 0, result.stderr
    first = _document(tmp_path / "search")["finalists"][0]
    assert first["reused"]["from"].startswith(str(run / "student_kd.keras"))
    assert "taken from" in result.stderr and first["reused"]["training_seconds"] > 0
    distilled = results["training"]["student_kd"]
    assert first["recipe"] == results["distillation"]["recipe"] and first["steps"] == distilled["steps"]
    assert first["recipe_selection"] == results["distillation"]["selection"]["candidates"]
    assert first["recipe_selection_seconds"] is None and first["stopped"] is None
    assert first["val_accuracy"] == pytest.approx(distilled["best_val_accuracy"], abs=1e-6)
    # Another budget than the run's: the student is trained anew, and the search says why.
    one = ("--trials", "1", "--finalists", "1")
    result = _search(run / "teacher.keras", tmp_path / "again", *budget, "--config", str(config), *one, "--epochs", "3")
    assert result.exit_code == 0, result.stderr
    assert "student.epochs was 2, this search's is 3" in result.stderr
    first = _document(tmp_path / "again")["finalists"][0]
    assert "reused" not in first and first["recipe_selection_seconds"] > 0
    # A run whose choice left candidates out chose among fewer than the search would: not taken either.
    results["distillation"]["selection"]["left_out"] = "too costly"
    (run / "results.json").write_text(json.dumps(results))
    result = _search(run / "teacher.keras", tmp_path / "fewer", *budget, "--config", str(config), *one)
    assert result.exit_code == 0 and "auto left candidates out there" in result.stderr


def test_with_memory_budgets_alone_a_new_search_starts_from_the_auto_student_distill_would_size(teacher_file, tmp_path):
    out = tmp_path / "search"
    # No MAC or latency budget: the auto student `edgekd distill` sizes, 5% of the teacher's 340,480
    # MACs (conv at width 1.6818, the demo's student).
    flags = ("--device", "nano33ble", "--budget", "ram_kb=64", "--trials", "1", "--finalists", "0")
    result = _search(teacher_file, out, *flags)
    assert result.exit_code == 0, result.stderr
    first = _document(out)["trials"][0]
    assert (first["candidate"], first["status"]) == ("conv:width=1.6818", "trained")


def test_on_a_microcontroller_the_boards_memory_bounds_the_search_and_no_student_outgrows_the_teacher(
    teacher_file, tmp_path
):
    out = tmp_path / "search"
    # The DS-CNN at width 2 with 4 blocks needs more MACs than the 340,480-MAC teacher on MNIST-1D.
    _enqueue(out, "dscnn:blocks=4,resolution=1,width=2", "mlp:hidden=8")
    flags = ("--device", "nano33ble", "--family", "dscnn", "--family", "mlp", "--trials", "1", "--finalists", "0")
    result = _search(teacher_file, out, *flags)
    assert result.exit_code == 0, result.stderr
    assert "nano33ble is a microcontroller: its memory bounds the search (flash_kb=1024, ram_kb=256" in result.stderr
    document = _document(out)
    assert document["settings"]["budgets"] == {"flash_kb": 1024.0, "ram_kb": 256.0}
    larger, trained = document["trials"][:2]
    assert larger["status"] == "larger than the teacher" and larger["val_accuracy"] is None
    assert "not fewer than the teacher's 340,480" in larger["reason"]
    # It did not count: --trials 1 still trained a candidate.
    assert trained["status"] == "trained" and len(document["trials"]) == 2


def test_a_budget_given_for_a_boards_memory_overrides_the_boards_figure():
    from edgekd.profiles.loader import get_profile
    from edgekd.search.budget import with_board_memory

    board = get_profile("nano33ble").profile
    budgets, line = with_board_memory({"ram_kb": 64.0, "latency_ms": 5.0}, board)
    assert budgets == {"ram_kb": 64.0, "latency_ms": 5.0, "flash_kb": 1024.0} and "flash_kb=1024" in line
    assert with_board_memory({"ram_kb": 64.0, "flash_kb": 100.0}, board) == ({"ram_kb": 64.0, "flash_kb": 100.0}, None)
    assert with_board_memory({}, get_profile("rpi4").profile) == ({}, None)


def test_the_auto_start_takes_the_last_finalist_place_when_the_front_leaves_it_out():
    from types import SimpleNamespace

    from edgekd.search.stage import AUTO_START, with_auto_start

    def trial(candidate, values=(0.5, 1.0, 1.0), start=False):
        return SimpleNamespace(user_attrs={"candidate": candidate, AUTO_START: start}, values=values)

    start, a, b, c = trial("conv:width=1.5", start=True), trial("mlp:hidden=8"), trial("dscnn"), trial("resnet")
    study = SimpleNamespace(trials=[start, a, b, c])
    assert with_auto_start([a, b], study, 2) == [a, start]
    assert with_auto_start([a, b, c], study, 3) == [a, b, start]
    assert with_auto_start([a], study, 2) == [a, start], "a front shorter than the finalists asked gains a place"
    assert with_auto_start([start, a], study, 2) == [start, a], "already a finalist"
    assert with_auto_start([a], study, 1) == [a], "one finalist asked: the front's best alone"
    pruned = SimpleNamespace(trials=[trial("conv:width=4", values=None, start=True), a])
    assert with_auto_start([a], pruned, 2) == [a], "an auto start over budget never trained"


def test_the_auto_start_spells_out_every_option_of_the_space_and_returns_after_an_interruption():
    from types import SimpleNamespace

    from edgekd.search.engine import FAILED, OFF_GRID
    from edgekd.search.space import SPACE, Candidate
    from edgekd.search.stage import AUTO_START, _start_from_auto

    class Study:
        def __init__(self, trials=()):
            self.trials, self.enqueued = list(trials), []

        def enqueue_trial(self, params, user_attrs):
            self.enqueued.append((params, user_attrs))

    digits = SimpleNamespace(input_shape=(8, 8, 1), num_classes=10)
    costs = SimpleNamespace(
        profile=SimpleNamespace(power_model=SimpleNamespace(int8_macs_per_second=None)), measure=False
    )
    study = Study()
    _start_from_auto(study, digits, tuple(SPACE), costs, {"macs": 44334}, lambda: 0)
    ((params, attrs),) = study.enqueued
    start = Candidate.parse(attrs[OFF_GRID])
    # On 8x8 images auto sizes a MobileNet; its spec names every option the space has (blocks
    # included, at the builder's default), so a start on a grid point reads as that grid point.
    assert start.family == "mobilenet" and set(start.options) == set(SPACE["mobilenet"]) and attrs[AUTO_START]
    assert all(params[f"mobilenet.{key}"] <= value for key, value in start.options.items())

    def trial(state, status=None):
        return SimpleNamespace(state=SimpleNamespace(name=state), user_attrs={AUTO_START: True, "status": status})

    other = SimpleNamespace(state=SimpleNamespace(name="COMPLETE"), user_attrs={})
    for trials, again in (
        ([trial("FAIL"), other], True),  # interrupted: tried again when the search resumes
        ([trial("FAIL", FAILED), other], False),  # failed for a reason of its own
        ([trial("COMPLETE"), other], False),
        ([other], False),  # a study that never had one (its first trials were asked for)
    ):
        study = Study(trials)
        _start_from_auto(study, digits, tuple(SPACE), costs, {"macs": 44334}, lambda: 0)
        assert bool(study.enqueued) is again, trials


def test_the_finalists_choose_among_the_configs_candidate_recipes_as_distill_does():
    from types import SimpleNamespace

    from edgekd.distill.recipes import DEFAULT_CANDIDATES
    from edgekd.search.stage import _finalist_candidates

    one_view = SimpleNamespace(num_classes=10, teacher=None, modality="signal")
    named = _finalist_candidates("auto", ["kd:temperature=2,alpha=0.5", "control"], one_view)
    assert [recipe.spec for recipe in named] == ["kd:temperature=2,alpha=0.5", "control"]
    assert len(_finalist_candidates("auto", None, one_view)) == len(DEFAULT_CANDIDATES)
    assert _finalist_candidates("dist", ["control"], one_view) == ()


def test_a_later_finalist_stops_once_it_falls_behind_the_first_finalists_curve_from_half_its_budget():
    from types import SimpleNamespace

    from edgekd.search.stage import behind_reference

    rule = behind_reference("conv:width=1.6818", [0.5, 0.7, 0.8, 0.85, 0.9, 0.9, 0.91, 0.92, 0.93, 0.93], 10)

    def at(*curve):
        return rule(SimpleNamespace(val_accuracy=list(curve)))

    assert at(0.1, 0.1, 0.1, 0.1) is None, "before half its budget nothing stops"
    assert at(0.5, 0.6, 0.7, 0.8, 0.88) is None, "within 2 points of 0.90"
    reason = at(0.5, 0.6, 0.7, 0.8, 0.87)
    assert reason.startswith("stopped at checkpoint 5 of 10") and "87.00%" in reason and "90.00%" in reason
    assert "conv:width=1.6818" in reason
    assert at(0.5, 0.6, 0.7, 0.8, 0.87, 0.9) is None, "compared with the first finalist at the same point"
    assert behind_reference("x", [], 10)(SimpleNamespace(val_accuracy=[0.1] * 6)) is None


def test_a_trial_behind_one_that_costs_no_more_stops_at_half_its_budget():
    """Dominated beyond the margin at the same checkpoint: it could not reach the front, and stops there."""
    from types import SimpleNamespace

    import optuna

    from edgekd.search.cost import Cost, Figure
    from edgekd.search.stopping import dominated_stop

    def cost(macs, ram):
        return Cost({"macs": Figure(macs, "counted", "x"), "ram_kb": Figure(ram, "measured", "y")})

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for macs, ram, first, final in ((1000, 10, 0.80, 0.85), (5000, 40, 0.90, 0.92), (2000, 5, 0.95, 0.96)):
        attrs = {"cost": cost(macs, ram).as_dict(), "first_val_accuracy": first}
        study.add_trial(optuna.trial.create_trial(values=[final, macs, ram], user_attrs=attrs))
    # A trial from before this rule (no first checkpoint recorded) is no reference.
    study.add_trial(optuna.trial.create_trial(values=[0.99, 10, 1], user_attrs={"cost": cost(10, 1).as_dict()}))

    def at(rule, *curve, checkpoints=2):
        return rule(SimpleNamespace(val_accuracy=list(curve), steps=10 * checkpoints, steps_per_checkpoint=10))

    keys = ("macs", "ram_kb")
    # 6,000 MACs and 40 KiB: trials 0, 1 and 2 all cost no more; trial 2 was the best of them at half (95%).
    rule = dominated_stop(study, cost(6000, 40), keys, number=9)
    reason = at(rule, 0.92)
    assert reason.startswith("stopped at half its budget") and "trial 2" in reason and "95.00%" in reason
    assert at(rule, 0.93) is None, "within 2 points of the best that costs no more"
    assert at(rule, 0.5, 0.5) is None, "asked at the first checkpoint only"
    assert at(rule, 0.5, checkpoints=1) is None, "a one-checkpoint budget has ended: nothing to stop"
    # Cheaper on RAM than every trial with a first checkpoint: nothing costs no more, nothing stops it.
    assert dominated_stop(study, cost(6000, 4), keys, number=9) is None
    # Only trial 0 costs no more (1,000 MACs, 10 KiB): 0.80 at half.
    rule = dominated_stop(study, cost(1500, 30), keys, number=9)
    assert at(rule, 0.79) is None and "trial 0" in at(rule, 0.77)
    assert (
        dominated_stop(optuna.create_study(directions=["maximize", "minimize", "minimize"]), cost(1, 1), keys, 0)
        is None
    )


def test_a_cost_missing_a_budgets_figure_is_not_passed_silently():
    from edgekd.search.cost import Cost, Figure

    partial = Cost({"macs": Figure(900, "counted", "")})
    assert partial.over({"macs": 1000}) == []
    assert partial.over({"macs": 1000, "latency_ms": 1}, partial=True) == []
    with pytest.raises(ValueError, match="latency_ms"):
        partial.over({"macs": 1000, "latency_ms": 1})
    # Over one budget already: the missing figure changes nothing.
    assert partial.over({"macs": 800, "latency_ms": 1}) == ["macs 900 > 800 (counted)"]


def test_a_candidate_larger_than_the_teacher_says_why_and_does_not_count(teacher_file, tmp_path):
    out = tmp_path / "search"
    # 371,200 MACs: more than the teacher's 340,480 (distillation would refuse it): pruned before training.
    _enqueue(out, "resnet:resolution=1,stacks=3,width=1", "mlp:hidden=8")
    result = _search(teacher_file, out, "--family", "resnet", "--family", "mlp", "--trials", "1", "--finalists", "0")
    assert result.exit_code == 0, result.stderr
    larger, trained = _document(out)["trials"]
    assert larger["status"] == "larger than the teacher" and "not fewer than the teacher's 340,480" in larger["reason"]
    assert larger["val_accuracy"] is None and trained["status"] == "trained"
    assert "larger than the teacher, not trained" in result.stderr


def test_interrupted_trials_do_not_count_towards_the_total(tmp_path):
    import optuna

    from edgekd.search.engine import FAILED, counted_trials, open_study

    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", "s", {"device": "host"}, seed=0)
    interrupted = study.ask()
    study.tell(interrupted, state=optuna.trial.TrialState.FAIL)
    failed = study.ask()
    failed.set_user_attr("status", FAILED)
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    over_budget = study.ask()
    study.tell(over_budget, state=optuna.trial.TrialState.PRUNED)
    trained = study.ask()
    study.tell(trained, [0.5, 1.0, 1.0])
    assert counted_trials(study) == 2


_OPEN_ONE = """
import sys
from edgekd.search.engine import open_study
open_study(sys.argv[1], "s", {"device": "host"}, seed=0)
"""


def test_workers_opening_a_new_sqlite_study_together_all_open_it(tmp_path):
    # Optuna creates the tables and stamps their version in separate transactions; before the
    # openers took turns, 8 processes on a new file failed with "table ... already exists" in
    # 4 of 10 rounds (and one of CI's two search workers failed the same way).
    # Three new files, since one round of the race caught the old code about three times in four.
    for round_ in range(3):
        database = tmp_path / f"new{round_}.db"
        openers = [
            subprocess.Popen(  # noqa: S603 - this interpreter, edgekd's own module
                [sys.executable, "-c", _OPEN_ONE, f"sqlite:///{database}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(8)
        ]
        for opener in openers:
            _, stderr = opener.communicate(timeout=120)
            assert opener.returncode == 0, stderr
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT COUNT(*) FROM studies").fetchone() == (1,)


def test_a_study_made_for_other_budgets_is_not_continued(teacher_file, tmp_path):
    out = tmp_path / "search"
    first = _search(teacher_file, out, "--family", "mlp", "--trials", "1", "--finalists", "0")
    assert first.exit_code == 0, first.stderr
    before = snapshot(out)
    changed = _search(teacher_file, out, "--family", "mlp", "--trials", "2", "--budget", "macs=5000")
    assert_clean_failure(changed, "made for other settings", "budgets")
    assert snapshot(out) == before


def test_a_study_is_not_continued_on_other_data_or_another_teacher_under_the_same_paths(teacher_file, tmp_path):
    import shutil
    import zipfile

    import numpy as np

    def arrays(seed: int) -> dict:
        rng = np.random.default_rng(seed)
        return {
            "x_train": rng.standard_normal((300, 40, 1)).astype(np.float32),
            "y_train": rng.integers(0, 10, 300),
            "x_test": rng.standard_normal((60, 40, 1)).astype(np.float32),
            "y_test": rng.integers(0, 10, 60),
        }

    data, teacher = tmp_path / "data.npz", tmp_path / "teacher.keras"
    np.savez(data, **arrays(0))
    shutil.copy(teacher_file, teacher)
    out = tmp_path / "search"
    argv = (
        "search",
        "--teacher",
        str(teacher),
        "--out",
        str(out),
        "--data",
        f"npz:{data}",
        "--epochs",
        "1",
        "--family",
        "mlp",
        "--finalists",
        "0",
    )
    first = invoke(*argv, "--trials", "1")
    assert first.exit_code == 0, first.stderr
    before = snapshot(out)
    np.savez(data, **arrays(1))  # other data under the same name
    assert_clean_failure(invoke(*argv, "--trials", "2"), "made for other settings", "fingerprints")
    np.savez(data, **arrays(0))
    with zipfile.ZipFile(teacher, "a") as archive:  # another file under the teacher's name (it still loads)
        archive.writestr("notes.txt", "retrained")
    assert_clean_failure(invoke(*argv, "--trials", "2"), "made for other settings", "fingerprints")
    assert snapshot(out) == before


def test_budget_flags_add_to_the_configs_budgets(teacher_file, tmp_path):
    config = tmp_path / "search.yaml"
    config.write_text("schema_version: 1\nsearch: {budgets: {macs: 7000, params: 100000}}\n")
    out = tmp_path / "search"
    result = _search(
        teacher_file,
        out,
        "--config",
        str(config),
        "--budget",
        "params=2000",
        "--family",
        "mlp",
        "--trials",
        "1",
        "--finalists",
        "0",
    )
    assert result.exit_code == 0, result.stderr
    document = _document(out)
    assert document["settings"]["budgets"] == {"macs": 7000, "params": 2000}
    assert all(t["cost"]["macs"]["value"] <= 7000 for t in document["trials"] if t["status"] == "trained")


def test_a_microcontroller_budget_reads_the_arena_tensorflow_lite_micro_measures(teacher_file, tmp_path):
    from edgekd.search.cost import CostModel

    config = tmp_path / "search.yaml"
    config.write_text(
        "schema_version: 1\n"
        f"data: {{spec: '{DATA}'}}\n"
        f"teacher: {{path: '{teacher_file}'}}\n"
        "student: {epochs: 2, batch_size: 64}\n"
        "quantize: {representative_samples: 20}\n"
        "search: {device: nano33ble, budgets: {ram_kb: 2.5, flash_kb: 64}, families: [conv], trials: 3, finalists: 1,\n"
        "  finalist_recipe: dist}\n"
    )
    out = tmp_path / "search"
    result = invoke("search", "--config", str(config), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    document = _document(out)
    assert document["settings"]["device"] == "nano33ble" and document["objectives"]["memory"] == "ram_kb"
    for trial in document["trials"]:
        ram, flash = trial["cost"]["ram_kb"], trial["cost"]["flash_kb"]
        if ram["source"] == "lower bound":
            # Over budget before its conversion: the bound counted from the Keras model already exceeds it.
            assert trial["status"] == "over budget" and ram["value"] > 2.5 and "ram_kb" in trial["reason"]
            continue
        assert ram["source"] == "measured" and "TensorFlow Lite Micro" in ram["method"]
        assert flash["source"] == "counted"
        assert (trial["status"] == "over budget") == (ram["value"] > 2.5 or flash["value"] > 64)
    # The chosen student's int8 file is the one the figures describe: TFLM measures the same arena for it.
    from edgekd.bench.tflm import run_tflm

    arena = run_tflm((out / "student_int8.tflite").read_bytes(), "student").arena
    assert arena.bytes / 1024 == pytest.approx(document["chosen"]["cost"]["ram_kb"]["value"], rel=0.05)
    # ... and the chosen student arrives checked through TFLM's own kernels: its fit on the board
    # and its accuracy on the whole test split, against LiteRT's on the same int8 inputs.
    micro = document["chosen"]["tflite_micro"]
    assert micro["fit"]["fits"] is True and micro["fit"]["ram"]["needed"] == arena.bytes
    assert micro["fit"]["flash"]["needed"] == (out / "student_int8.tflite").stat().st_size
    accuracy = micro["accuracy"]
    assert accuracy["samples"] == 120 and "TensorFlow Lite Micro" in accuracy["source"]
    assert accuracy["host_accuracy"] == pytest.approx(
        document["chosen"]["models"]["student_int8"]["accuracy"], abs=1e-6
    )
    assert accuracy["agreement_with_host"] >= 0.95
    assert "on nano33ble: fits" in result.stdout and "TensorFlow Lite Micro" in result.stdout
    assert CostModel  # the cost model is what the search used (imported for the reader)


def test_two_workers_share_one_sqlite_study(teacher_file, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = [
        subprocess.Popen(  # noqa: S603 - this interpreter, edgekd's own CLI
            [
                sys.executable,
                "-m",
                "edgekd",
                "search",
                "--teacher",
                str(teacher_file),
                *SMALL,
                "--family",
                "mlp",
                "--family",
                "conv",
                "--trials",
                "6",
                "--finalists",
                "0",
                "--storage",
                storage,
                "--out",
                str(tmp_path / f"worker{index}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for index in (1, 2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    with sqlite3.connect(tmp_path / "shared.db") as connection:
        states = [s for (s,) in connection.execute("SELECT state FROM trials")]
        workers_seen = {
            value
            for (value,) in connection.execute("SELECT value_json FROM trial_user_attributes WHERE key = 'worker'")
        }
    # Each worker stops once the study holds six finished trials; one may finish the trial it had started.
    assert 6 <= len(states) <= 7 and set(states) <= {"COMPLETE", "PRUNED"}
    assert len(workers_seen) == 2, "both workers ran trials of the one study"
    # Each worker's table is the whole shared study.
    tables = [_document(tmp_path / f"worker{index}")["trials"] for index in (1, 2)]
    assert max(len(table) for table in tables) == len(states)


def _worker(teacher_file: Path, out: Path, storage: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - this interpreter, edgekd's own CLI
        [sys.executable, "-m", "edgekd", "search", "--teacher", str(teacher_file), *SMALL, "--family", "mlp",
         "--family", "conv", "--storage", storage, "--out", str(out), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip


def test_two_workers_share_one_study_on_a_real_postgresql_server(teacher_file, tmp_path):
    import psycopg

    from tests.postgres import PostgresServer

    with PostgresServer() as url:
        workers = [
            _worker(teacher_file, tmp_path / f"worker{i}", url, "--trials", "6", "--finalists", "0") for i in (1, 2)
        ]
        for worker in workers:
            _, stderr = worker.communicate(timeout=300)
            assert worker.returncode == 0, stderr
        with psycopg.connect(url) as connection:
            numbers = [n for (n,) in connection.execute("SELECT number FROM trials ORDER BY number")]
            states = {s for (s,) in connection.execute("SELECT state FROM trials")}
            seen = {
                w for (w,) in connection.execute("SELECT value_json FROM trial_user_attributes WHERE key = 'worker'")
            }
        # Every trial is counted once (one row, one number), and the study stops at six (one more may finish).
        assert numbers == list(range(len(numbers))) and 6 <= len(numbers) <= 7
        assert states <= {"COMPLETE", "PRUNED"} and len(seen) == 2, "both workers ran trials of the one study"
        # Once they are done, one more run trains the chosen student from every worker's trials.
        final = _worker(
            teacher_file, tmp_path / "final", url, "--trials", "6", "--finalists", "1", "--finalist-recipe", "dist"
        )
        _, stderr = final.communicate(timeout=300)
        assert final.returncode == 0, stderr
    document = _document(tmp_path / "final")
    assert [t["number"] for t in document["trials"]] == numbers
    assert {t["worker"] for t in document["trials"]} == {json.loads(w) for w in seen}
    assert document["chosen"]["trial"] in document["front"], "the chosen student comes from the shared front"
    # The study is named as the user wrote its URL, not with the driver edgekd chose for Optuna.
    assert document["study"]["storage"] == url


def test_the_python_api_runs_the_same_search(teacher_file, tmp_path):
    import edgekd

    result = edgekd.search(
        teacher_file,
        data=DATA,
        budgets=["params=3000"],
        families=["mlp"],
        trials=2,
        finalists=1,
        finalist_recipe="dist",
        out=tmp_path / "search",
        say=lambda line: None,
        config_overrides={"student": {"epochs": 2, "batch_size": 64}},
    )
    assert result.chosen["candidate"].startswith("mlp:")
    assert result.chosen["cost"]["params"]["value"] <= 3000
    assert (tmp_path / "search" / "student_int8.tflite").is_file()


# --- bad input: one line each, before any training, nothing written ------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--budget", "latncy_ms=20"], ["unknown budget key 'latncy_ms'", "known: energy_mj, flash_kb, latency_ms"]),
        (["--budget", "latency_ms=20"], ["budget latency_ms: device host has no calibration", "--measure"]),
        (["--budget", "macs=10"], ["no candidate can meet budget macs=10", "smallest macs of any candidate is 400"]),
        (["--device", "nano33ble", "--budget", "ram_kb=0.5"], ["ram_kb=0.5", "measured"]),
        (["--device", "nano33ble", "--measure"], ["--measure", "microcontroller"]),
        (
            ["--device", "galaxy-a52", "--budget", "energy_mj=5"],
            ["budget energy_mj: device galaxy-a52 has no calibration"],
        ),
        (["--family", "transformer"], ["unknown student family 'transformer'", "known: conv, dscnn"]),
    ],
    ids=[
        "unknown key",
        "no figure",
        "unreachable",
        "unreachable arena",
        "measure an mcu",
        "no calibration",
        "unknown family",
    ],  # fmt: skip
)
def test_bad_search_input_fails_in_one_line_before_training(args, fragments, teacher_file, tmp_path):
    before = snapshot(tmp_path)
    result = _search(teacher_file, tmp_path / "out", *args)
    line = assert_clean_failure(result, *fragments)
    assert "trial" not in result.stderr.replace(line, "")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_search_continues_only_an_edgekd_search_not_files_named_like_one(tmp_path):
    # Before: a folder holding another program's study.db was "continued": Optuna's 13 tables went into
    # that database; a site's own search.json made the search write report.html over the site's.
    from edgekd.errors import OutputError
    from edgekd.search.engine import open_study
    from edgekd.search.folder import check_search_folder

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    with sqlite3.connect(theirs / "study.db") as connection:
        connection.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    site = tmp_path / "site"
    site.mkdir()
    (site / "search.json").write_text('[{"title": "Home", "url": "/"}]')
    (site / "report.html").write_text("<p>the site's own report</p>")
    before = snapshot(tmp_path)
    for folder in (theirs, site):
        with pytest.raises(OutputError, match="holds no edgekd search to continue"):
            check_search_folder(folder, None)
    assert snapshot(tmp_path) == before
    stopped = tmp_path / "stopped"  # a search killed before its first search.json: the study alone
    stopped.mkdir()
    open_study(f"sqlite:///{stopped / 'study.db'}", "edgekd-search", {"device": "host"}, seed=0)
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "search.json").write_text('{"schema_version": 1, "kind": "search", "trials": []}')
    for folder in (stopped, finished):
        check_search_folder(folder, None)
