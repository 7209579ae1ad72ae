"""The search stage, from one pipeline config (read as its ``SearchStageConfig``): check, cost, study, finalists, outputs.

Everything that can be refused is refused before the first candidate trains: the budget
keys (when the config loads), a device with no figure for a budget, and a budget that no
candidate can meet (each family's smallest candidate is costed first). The output folder
holds the study's database, so running the same search again continues it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekd.artifacts import write_bytes_atomic, write_json_atomic, write_text_atomic
from edgekd.errors import ConfigError, EdgekdError, ModelError
from edgekd.profiles.estimate import macs_within
from edgekd.progress import SILENT, Reporter
from edgekd.search.budget import describe
from edgekd.search.config import SearchStageConfig
from edgekd.search.cost import Cost, CostModel, smallest_costs
from edgekd.search.engine import (
    FAILED,
    FINGERPRINTS,
    OFF_GRID,
    TrialRunner,
    counted_trials,
    finished_trials,
    open_study,
    run_trials,
    shown_url,
    storage_url,
)
from edgekd.search.finalists import (  # noqa: F401 (AUTO_START, behind_reference, _finalist_candidates re-exported)
    AUTO_START,
    _finalist_candidates,
    _finalists,
    _Trainer,
    behind_reference,
    recipe_chooser_first,
)
from edgekd.search.folder import SEARCH_FILE, check_search_folder
from edgekd.search.report import front_plot, front_trials, search_document, search_html, trial_rows
from edgekd.search.reuse import distilled_start
from edgekd.search.space import SPACE, Candidate, check_families, smallest

PLOT_FILE = "front.png"
REPORT_FILE = "report.html"
# Samples that calibrate each candidate's int8 conversion for its flash and RAM figures (the
# figures do not depend on them; the conversion needs some).
COST_SAMPLES = 32


class SearchError(EdgekdError):
    """A search that found nothing to hand on (every trial over budget or failed)."""


@dataclass
class SearchResult:
    """What a search hands on: its folder, search.json's document, and the chosen student's files (if any)."""

    out: Path
    document: dict

    @property
    def chosen(self) -> dict | None:
        return self.document.get("chosen")

    def to_document(self) -> dict:
        return self.document


def search_settings(config: SearchStageConfig, data_fingerprint: str, teacher_fingerprint: str) -> dict:
    """What a study's trials depend on: a study made with other settings is not continued.

    The data and the teacher count by what they hold, not by their paths: a file replaced by
    other data under the same name is another study.
    """
    search = config.search
    families = check_families(search.families)
    return {
        FINGERPRINTS: {"data": data_fingerprint, "teacher": teacher_fingerprint},
        "data": config.data.spec,
        "data_options": dict(config.data.options),
        "teacher": config.teacher.path,
        "device": search.device,
        "budgets": dict(search.budgets),
        "measure": search.measure,
        "families": list(families),
        # The choices each option's sampler draws from: Optuna cannot continue a study whose choices changed.
        "space": {family: {option: list(choices) for option, choices in SPACE[family].items()} for family in families},
        "recipe": search.recipe,
        "trial_fraction": search.trial_fraction,
        "epochs": config.student.epochs,
        "batch_size": config.student.batch_size,
        "learning_rate": config.student.learning_rate,
        "transfer_set": config.distill.transfer_set,
        "seed": config.seed,
        "study_name": search.study_name,
    }


def preflight(config: SearchStageConfig, out: Path) -> None:
    """Cheap checks before the data loads: a teacher file, a known data spec, a usable output folder."""
    from edgekd.data.spec import parse_spec

    if not config.teacher.path:
        raise ConfigError(
            "a search distils from a trained teacher: give `teacher.path` (train one with `edgekd distill "
            "--train-teacher`)"
        )
    if config.teacher.ensemble:
        raise ConfigError("a search distils from one teacher; leave out `teacher.ensemble`")
    if not Path(config.teacher.path).exists():
        raise ModelError(f"teacher model {config.teacher.path} does not exist; check `teacher.path`")
    parse_spec(config.data.spec, config.data.options)
    storage_url(out, config.search.storage)  # a database whose driver is missing fails before any loading
    check_search_folder(out, config.search.storage)


def run_search(
    config: SearchStageConfig, out: Path, reporter: Reporter = SILENT, say=lambda line: None
) -> SearchResult:
    """Search ``config.search``'s space for the most accurate students within its budgets on its device.

    Writes into ``out``: the study (study.db, unless ``storage`` names another database),
    search.json, front.png, report.html, and with finalists student.keras and student_int8.tflite.
    """
    from edgekd.data.representative import representative_samples
    from edgekd.data.spec import load_dataset
    from edgekd.distill.distiller import check_model_fits_data
    from edgekd.distill.recipes import parse_recipe
    from edgekd.frameworks import seed_everything
    from edgekd.models.complexity import counted_macs
    from edgekd.models.io import load_model, model_fingerprint

    started = time.perf_counter()
    out = Path(out)
    preflight(config, out)
    config, board_memory = _with_board_memory(config)
    search = config.search
    seed_everything(config.seed, config.deterministic)
    with reporter.stage("loading data and the teacher", "data"):
        dataset = load_dataset(config.data.spec, reporter, config.data.options)
        teacher = load_model(config.teacher.path, trust=config.teacher.trust_model)
        check_model_fits_data(teacher, dataset.for_teacher(), "teacher")
    data_seconds = time.perf_counter() - started
    recipe = parse_recipe(search.recipe, dataset.num_classes)
    families = check_families(search.families)
    representative = representative_samples(dataset.x_train, COST_SAMPLES, config.seed)
    costs = CostModel.for_search(search.device, search.budgets, search.measure, representative)

    def build(candidate: Candidate):
        # The same candidate starts from the same weights in every trial and worker.
        seed_everything(config.seed, config.deterministic)
        return candidate.build(dataset.input_shape, dataset.num_classes)

    with reporter.stage("costing each family's smallest candidate", "bounds"):
        _check_reachable(families, build, costs, search.budgets)
    if board_memory is not None:
        say(board_memory)
    setup_seconds = time.perf_counter() - started
    url = storage_url(out, search.storage)
    fingerprints = (dataset.fingerprint(), model_fingerprint(Path(config.teacher.path)))
    settings = search_settings(config, *fingerprints)
    study = _open_in(out, url, search.study_name, settings, config.seed, given=search.storage is not None)
    # Counted once: a SavedModel teacher's count is a float conversion.
    teacher_macs = counted_macs(teacher)
    _start_from_auto(
        study, dataset, families, costs, search.budgets, lambda: int(teacher_macs * config.student.max_mac_fraction)
    )
    trainer = _Trainer(config, teacher, dataset, recipe, reporter)
    runner = TrialRunner(families, build, costs, search.budgets, trainer.short, say, teacher_macs)
    already = counted_trials(study)
    if already:
        say(f"continuing the study in {shown_url(url)}: {already} of {search.trials} trials done")
    with reporter.stage(f"searching ({search.trials} trials, {describe(search.budgets)} on {search.device})", "trials"):
        complete = run_trials(study, runner, search.trials)
    if not complete:
        say(
            f"stopped after {finished_trials(study)} trials with {counted_trials(study)} scored: the budgets leave "
            f"fewer than {search.trials} candidates to score (or the sampler rarely finds them)"
        )
    search_seconds = time.perf_counter() - started
    rows = trial_rows(study)
    objectives = {
        "accuracy": "val_accuracy",
        "speed": costs.speed_key,
        "memory": costs.memory_key,
        "directions": ["maximize", "minimize", "minimize"],
    }
    finalists, chosen = [], _earlier_choice(out)
    front = front_trials(study)
    if front and search.finalists:
        finalist_trials = with_auto_start(front[: search.finalists], study, search.finalists)
        distilled = distilled_start(finalist_trials, config, dataset, fingerprints, build, trainer, say)
        with reporter.stage(f"training {len(finalist_trials)} finalists fully", "finalists"):
            finalists, chosen = _finalists(
                finalist_trials, build, trainer, dataset, config, out, costs.profile, distilled
            )
    finalist_seconds = time.perf_counter() - started - search_seconds
    document = search_document(
        {**settings, "trials": search.trials, "finalists": search.finalists},
        objectives,
        shown_url(url),
        rows,
        finalists,
        chosen,
        {
            # Loading the data and the teacher (which `edgekd distill` does too, before its distillation stage).
            "data": round(data_seconds, 3),
            # That, and costing each family's smallest candidate.
            "setup": round(setup_seconds, 3),
            # Everything before the finalists: setup and the trials.
            "search": round(search_seconds, 3),
            "finalists": round(finalist_seconds, 3),
            "total": round(time.perf_counter() - started, 3),
        },
    )
    write_json_atomic(out / SEARCH_FILE, document)
    plot = front_plot(document)
    if plot is not None:
        write_bytes_atomic(out / PLOT_FILE, plot)
    write_text_atomic(out / REPORT_FILE, search_html(document, plot))
    if not front:
        raise SearchError(
            f"no trial within {describe(search.budgets)} trained in {len(rows)} trials ({out / SEARCH_FILE} says why "
            "each stopped); run the search again with more `trials` to continue it, or loosen the budgets"
        )
    return SearchResult(out, document)


def _with_board_memory(config: SearchStageConfig) -> tuple[SearchStageConfig, str | None]:
    """The config with a microcontroller's flash and RAM as budgets where none were given, and the line that says so."""
    from edgekd.profiles.loader import get_profile
    from edgekd.search.budget import with_board_memory

    budgets, line = with_board_memory(dict(config.search.budgets), get_profile(config.search.device).profile)
    if line is None:
        return config, None
    return config.model_copy(update={"search": config.search.model_copy(update={"budgets": budgets})}), line


def _start_from_auto(
    study, dataset, families, costs: CostModel, budgets: dict[str, float], default_macs: Callable[[], int]
) -> None:
    """A new study tries first the student ``--student auto`` would size for the budgets' MACs (its exact options,
    which the space's grid may not hold): the search starts from edgekd's own answer and looks for better.

    The MAC limit is the MAC budget, or the convolution MACs the device's calibration fits in the latency
    budget after its floor; without
    either (a memory or energy budget alone) it is ``default_macs()``, the share of the teacher's
    MACs ``edgekd distill`` gives its auto student, and a start over the other budgets is pruned
    untrained like any trial.
    """
    from edgekd.models.builders import get_builder
    from edgekd.models.sizing import SizeBudget, auto_student

    if not _needs_auto_start(study):
        return
    limits = [budgets["macs"]] if "macs" in budgets else []
    within = macs_within(costs.profile, budgets["latency_ms"]) if "latency_ms" in budgets else None
    if within and not costs.measure:
        limits.append(within)
    if not limits:
        limits.append(default_macs())
    params = int(budgets["params"]) if "params" in budgets else None
    try:
        sized = auto_student(dataset.input_shape, dataset.num_classes, SizeBudget(int(min(limits)), params))
    except EdgekdError:
        return  # no auto student fits: the search starts from its sampler alone
    if sized.builder not in families:
        return
    defaults = get_builder(sized.builder).defaults
    # Every option of the space spelled out, so that a start on a grid point has the grid's spec
    # (a repeat of it is recognised, and the front holds it once).
    exact = {**{option: float(defaults[option]) for option in SPACE[sized.builder]}, **sized.options}
    options = {}
    for option, choices in SPACE[sized.builder].items():
        fitting = [choice for choice in choices if choice <= exact[option]]
        options[f"{sized.builder}.{option}"] = fitting[-1] if fitting else choices[0]
    # The trial trains the auto student itself, off the grid: rounded down to the grid (conv at
    # width 1.5 for auto's 1.68 on MNIST-1D, 16% fewer MACs) it was a weaker student than the
    # one it stands for, and the search's answer lost to `edgekd distill`'s by 0.65 points.
    spec = Candidate(sized.builder, exact).spec
    study.enqueue_trial({"family": sized.builder, **options}, user_attrs={AUTO_START: True, OFF_GRID: spec})


def _needs_auto_start(study) -> bool:
    """A new study, or one whose auto start was interrupted (Ctrl-C, a dead worker) before it finished.

    A start that failed for a reason of its own (say, an op TFLM lacks) is not tried again.
    """
    if not study.trials:
        return True
    starts = [trial for trial in study.trials if trial.user_attrs.get(AUTO_START)]
    return bool(starts) and all(
        trial.state.name == "FAIL" and trial.user_attrs.get("status") != FAILED for trial in starts
    )


def with_auto_start(best: list, study, count: int) -> list:
    """The finalists: the front's ``count`` most accurate, with the auto student the study started from in the last
    place when it trained and is not among them (and ``count`` is at least 2).

    Short trainings rank students only roughly: on MNIST-1D the auto start (conv, 12,240 MACs,
    63% after a tenth of the budget) was off the front, behind a 9,440-MAC DS-CNN at 66%, and the
    search shipped a MobileNet at 92.90% int8, while the same conv trained fully reached 93.90% in
    another search. As a finalist it makes the search's answer at least as good on validation as
    edgekd's own, for no extra training.
    """
    if count < 2:
        return best
    start = next((trial for trial in study.trials if trial.user_attrs.get(AUTO_START) and trial.values), None)
    if start is None or start.user_attrs.get("candidate") in {trial.user_attrs.get("candidate") for trial in best}:
        return best
    return [*best[: count - 1], start]


def _earlier_choice(out: Path) -> dict | None:
    """The student an earlier run of this search saved in ``out`` (still there when this run trains no finalist).

    search.json is read as any file from outside (it may have been edited or replaced): one
    that is not a regular file, not JSON, or not shaped as edgekd writes it holds no choice.
    """
    from edgekd.inputs import read_regular_file
    from edgekd.validation import parse_json

    try:
        data = read_regular_file(out / SEARCH_FILE, "search file", SearchError, limit=64 << 20)
        document = parse_json(data, str(out / SEARCH_FILE), SearchError, "a search's search.json")
    except SearchError:
        return None
    chosen = document.get("chosen") if isinstance(document, dict) else None
    if not _shaped_as_written(chosen) or not (out / "student.keras").exists():
        return None
    note = "saved by an earlier run of this search; trials since then were not trained fully (`finalists` 0)"
    return {**chosen, "note": chosen.get("note", note)}


def _shaped_as_written(chosen) -> bool:
    """Whether ``chosen`` holds what the summary prints of a chosen student (``_finalists`` writes it)."""
    if not isinstance(chosen, dict) or not isinstance(chosen.get("models"), dict):
        return False
    if not (isinstance(chosen.get("candidate"), str) and isinstance(chosen.get("why"), str)):
        return False
    if not isinstance(chosen.get("trial"), int) or not isinstance(chosen.get("tflite_micro", {}), dict):
        return False
    records = [chosen["models"].get(role) for role in ("student", "student_int8")]
    return all(
        isinstance(record, dict)
        and isinstance(record.get("accuracy"), int | float)
        and isinstance(record.get("accuracy_source"), str)
        for record in records
    )


def _open_in(out: Path, url: str, name: str, settings: dict, seed: int, given: bool):
    """The study, with ``out`` created for it; a folder created here is removed again if the study cannot open."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return open_study(url, name, settings, seed, given)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _check_reachable(families, build, costs: CostModel, budgets: dict[str, float]) -> None:
    """Cost each family's smallest candidate; refuse budgets none of them meets (no candidate can)."""
    if not budgets:
        return
    costed: list[tuple[str, Cost]] = []
    problems = []
    for family in families:
        candidate = smallest(family)
        try:
            costed.append((candidate.spec, costs.cost(build(candidate), candidate.spec)))
        except EdgekdError as exc:
            problems.append(str(exc) if candidate.spec in str(exc) else f"{candidate.spec}: {exc}")
    if not costed:
        raise ModelError(f"no family's smallest candidate could be costed: {problems[0]}")
    smallest_costs(costed, budgets)
