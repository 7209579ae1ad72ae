"""The search stage, from one pipeline config (read as its ``SearchStageConfig``): check, cost, study, finalists, outputs.

Everything that can be refused is refused before the first candidate trains: the budget
keys (when the config loads), a device with no figure for a budget, and a budget that no
candidate can meet (each family's smallest candidate is costed first). The output folder
holds the study's database, so running the same search again continues it.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    Score,
    TrialRunner,
    counted_trials,
    finished_trials,
    open_study,
    redacted,
    run_trials,
    storage_url,
    trial_candidate,
)
from edgekd.search.folder import SEARCH_FILE, check_search_folder
from edgekd.search.report import front_plot, front_trials, search_document, search_html, trial_rows
from edgekd.search.space import SPACE, Candidate, check_families, smallest

# Marks the trial a new study starts from: the auto student for its budgets.
AUTO_START = "auto_start"
PLOT_FILE = "front.png"
REPORT_FILE = "report.html"
# The chosen student's check through TFLM (one invoke per sample, reference kernels): the whole
# test split of a microcontroller-sized dataset, and a bounded time on a large one.
TFLM_SAMPLES = 2000
# Samples that calibrate each candidate's int8 conversion for its flash and RAM figures (the
# figures do not depend on them; the conversion needs some).
COST_SAMPLES = 32
# How far behind the first finalist's curve, from half the budget on, a later finalist stops.
FINALIST_MARGIN = 0.02


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
    from edgekd.distill.stage import teacher_macs
    from edgekd.frameworks import seed_everything
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
    settings = search_settings(config, dataset.fingerprint(), model_fingerprint(Path(config.teacher.path)))
    study = _open_in(out, url, search.study_name, settings, config.seed, given=search.storage is not None)
    _start_from_auto(
        study,
        dataset,
        families,
        costs,
        search.budgets,
        lambda: int(teacher_macs(teacher) * config.student.max_mac_fraction),
    )
    trainer = _Trainer(config, teacher, dataset, recipe, reporter)
    runner = TrialRunner(families, build, costs, search.budgets, trainer.short, say, teacher_macs(teacher))
    already = counted_trials(study)
    if already:
        say(f"continuing the study in {redacted(url)}: {already} of {search.trials} trials done")
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
        with reporter.stage(f"training {len(finalist_trials)} finalists fully", "finalists"):
            finalists, chosen = _finalists(finalist_trials, build, trainer, dataset, config, out, costs.profile)
    finalist_seconds = time.perf_counter() - started - search_seconds
    document = search_document(
        {**settings, "trials": search.trials, "finalists": search.finalists},
        objectives,
        redacted(url),
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


def recipe_chooser_first(finalists: list) -> list:
    """The finalists in training order: the auto start first, since the recipe is chosen on the first one.

    The auto student then chooses its recipe as ``edgekd distill --method auto`` does (on
    validation, among the same candidates), and trains with it from its own initial
    weights; the search ships another finalist only when it does better on validation. It was
    also the cheaper model to choose on: 34 s for the conv on MNIST-1D, where the front's 4-block
    MobileNet had taken 104 s.
    """
    return sorted(finalists, key=lambda trial: not trial.user_attrs.get(AUTO_START))


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


class _Trainer:
    """Distils candidates from the teacher, whose outputs are computed once for every candidate of this worker."""

    def __init__(self, config: SearchStageConfig, teacher, dataset, recipe, reporter: Reporter):
        from edgekd.distill.distiller import DistillationSettings, TrainingRun
        from edgekd.distill.trainer import TrainingControl
        from edgekd.inputs import parse_size

        budget = config.distill.cache_budget
        self.settings = DistillationSettings(
            epochs=config.student.epochs,
            batch_size=config.student.batch_size,
            learning_rate=config.student.learning_rate,
            seed=config.seed,
            use_transfer_set=config.distill.transfer_set,
            train_control=False,
            training=TrainingControl(None, config.student.patience),
            teacher_outputs=config.distill.teacher_outputs,
            cache_budget=parse_size(budget) if budget is not None else None,
        )
        self.teacher, self.dataset, self.recipe, self.reporter = teacher, dataset, recipe, reporter
        self.fraction = config.search.trial_fraction
        self.run = TrainingRun.prepare([teacher], dataset, (1.0,), self.settings)

    def train(self, model, fraction: float, description: str, recipe=None, stop_when=None) -> tuple[Score, object]:
        """Distil ``model`` in place with ``recipe`` (the trials' by default) on ``fraction`` of the full budget.

        Returns its score and its training history; ``stop_when(history)``, asked at every
        checkpoint, may stop it early with a reason.
        """
        from dataclasses import replace

        from edgekd.distill.distiller import check_setup, validation_score

        recipe = recipe or self.recipe
        if not recipe.is_control:
            check_setup([self.teacher], model, self.dataset, recipe.objective, self.settings, recipe.augmentations)
        started = time.perf_counter()
        budget = self.run.budget(fraction)
        run = self.run
        if stop_when is not None:
            run = replace(
                run, settings=replace(self.settings, training=replace(self.settings.training, stop_when=stop_when))
            )
        history, _, _ = run.train(model, recipe, budget, "search", description, self.reporter)
        accuracy, loss = validation_score(model, self.run.x_val, self.run.y_val)
        steps = len(history.val_accuracy) * history.steps_per_checkpoint if history.stopped_early else history.steps
        return Score(accuracy, loss, steps, time.perf_counter() - started), history

    def short(self, model, description: str) -> Score:
        return self.train(model, self.fraction, description)[0]

    @property
    def full_checkpoints(self) -> int:
        return self.run.budget(1.0).checkpoints

    def select_recipe(self, model, candidates) -> tuple:
        """``auto``'s choice for ``model`` (left at its initial weights): each candidate recipe trains briefly."""
        from edgekd.distill.distiller import SELECTION_FRACTION, select_recipe

        recipe, scores = select_recipe(self.run, model, candidates, SELECTION_FRACTION, self.reporter)
        return recipe, [score.as_dict() for score in scores]


def behind_reference(first: str, curve: list[float], checkpoints: int, margin: float = FINALIST_MARGIN):
    """A finalist's stopping rule: from half its budget on, stop once its best validation accuracy is more than
    ``margin`` behind the best the first finalist had reached by the same checkpoint (``curve``).

    The rule of median stopping (Golovin et al., "Google Vizier", KDD 2017), against one curve:
    a student that far behind at half its budget rarely overtakes, and one that stops that far
    behind cannot be chosen, since the first finalist ends at least where it was. On MNIST-1D
    a second finalist (a ResNet) took 84 s to train fully, the search 3.0x the distillation
    stage, and ended far below the auto student.
    """
    half = math.ceil(checkpoints / 2)

    def stop_when(history) -> str | None:
        reached = len(history.val_accuracy)
        if reached < half or not curve:
            return None
        mine, theirs = max(history.val_accuracy), max(curve[:reached])
        if mine + margin >= theirs:
            return None
        return (
            f"stopped at checkpoint {reached} of {checkpoints}: its best {mine:.2%} on validation was more than "
            f"{margin:.0%} behind the {theirs:.2%} {first} had reached by then"
        )

    return stop_when


def _finalist_candidates(finalist_recipe: str, named: list[str] | None, dataset) -> tuple:
    """The recipes ``auto`` chooses among for the finalists, as ``edgekd distill`` would (the config's
    ``distill.candidates``, else the defaults), or () for a fixed recipe."""
    from edgekd.distill.recipes import AUTO, default_candidates, parse_candidates

    if finalist_recipe != AUTO:
        return ()
    candidates = parse_candidates(named or default_candidates(dataset.modality), dataset.num_classes)
    if named:
        return candidates  # the user's own: a conflict with the data is an error, as in `distill`
    # Augmentations need one view for teacher and student (as in edgekd.distill.stage.recipes_for).
    return tuple(r for r in candidates if not (r.augmentations and dataset.teacher is not None))


def _finalists(front, build, trainer: _Trainer, dataset, config: SearchStageConfig, out: Path, profile):
    """Train the best of the front on the full budget; the best on validation is saved, converted and checked."""
    from edgekd.distill.recipes import AUTO, parse_recipe
    from edgekd.distill.stage import keras_record
    from edgekd.models.io import save_model
    from edgekd.quantize.stage import QuantizeSettings, convert_and_check

    finalists, best = [], None
    finalist_recipe = config.search.finalist_recipe
    candidates = _finalist_candidates(finalist_recipe, config.distill.candidates, dataset)
    recipe = None if finalist_recipe == AUTO else parse_recipe(finalist_recipe, dataset.num_classes)
    chosen_on, selection_seconds, reference = None, None, None
    for trial in recipe_chooser_first(front):
        candidate = trial_candidate(trial)
        model = build(candidate)
        selection = None
        if candidates and recipe is None:
            # The recipe is chosen once and the other finalists train with it: choosing per finalist
            # cost 1.2 full trainings each (8 recipes at 15%), most of a search's time. The trade: a
            # later finalist might have done better with its own choice.
            choosing = time.perf_counter()
            recipe, selection = trainer.select_recipe(model, candidates)
            chosen_on, selection_seconds = candidate.spec, round(time.perf_counter() - choosing, 3)
        score, history = trainer.train(
            model, 1.0, f"finalist {candidate.spec} ({recipe.spec})", recipe, stop_when=reference
        )
        if reference is None:
            # The first finalist (the auto student, when it is one) trained its whole budget: the others
            # are measured against its curve.
            reference = behind_reference(candidate.spec, history.val_accuracy, trainer.full_checkpoints)
        finalists.append(
            {
                "trial": trial.number,
                "candidate": candidate.spec,
                "recipe": recipe.spec,
                "recipe_selection": selection,
                "recipe_chosen_on": chosen_on,
                "recipe_selection_seconds": selection_seconds if selection else None,
                "why": "the auto student the study started from"
                if trial.user_attrs.get(AUTO_START)
                else "on the front",
                "val_accuracy": round(score.val_accuracy, 6),
                "val_accuracy_source": "the Keras model on the validation split, after the full training budget",
                "short_val_accuracy": round(trial.values[0], 6),
                "steps": score.steps,
                "seconds": round(score.seconds, 3),
                "stopped": history.stop_reason,
                "cost": trial.user_attrs.get("cost"),
            }
        )
        if best is None or (score.val_accuracy, -trial.values[1]) > (best[1].val_accuracy, -best[2].values[1]):
            best = (model, score, trial, candidate, recipe)
    model, score, trial, candidate, recipe = best
    save_model(model, out / "student.keras")
    keras = keras_record("student", model, dataset, out / "student.keras", student={"spec": candidate.spec})
    quantize = QuantizeSettings(
        representative_samples=config.quantize.representative_samples,
        max_drop=config.quantize.max_drop,
        seed=config.seed,
    )
    int8 = convert_and_check(
        model, "student_int8", "int8", dataset, out / "student_int8.tflite", reference_role="student", settings=quantize
    )
    chosen = {
        "trial": trial.number,
        "candidate": candidate.spec,
        "recipe": recipe.spec,
        "why": "the most accurate finalist on the validation split after the full training budget",
        "cost": trial.user_attrs.get("cost"),
        "models": {"student": keras.as_dict(), "student_int8": int8.as_dict()},
    }
    on_device = _through_tflm(out / "student_int8.tflite", dataset, profile)
    if on_device is not None:
        chosen["tflite_micro"] = on_device
    return finalists, chosen


def _through_tflm(path: Path, dataset, profile) -> dict | None:
    """On a device that runs TensorFlow Lite Micro: the chosen int8 file's fit (its flash, the arena TFLM
    measures) and its accuracy through TFLM's own kernels on the test split, against LiteRT's on the same inputs.

    The search costed the arena already; this is the check a user flashing the file would make
    (``edgekd bench --device MCU --accuracy``), so the chosen student arrives with it.
    """
    from edgekd.bench.accuracy import AccuracyData, compare_outputs, host_outputs
    from edgekd.bench.tflm import TflmError, run_tflm, version
    from edgekd.export.fit import fit_report
    from edgekd.modelfile.inspect import inspect_tflite
    from edgekd.profiles.schema import Interpreter

    if profile.runtime.interpreter is not Interpreter.TFLITE_MICRO:
        return None
    data = path.read_bytes()
    report = inspect_tflite(data, path.name)
    count = min(len(dataset.y_test), TFLM_SAMPLES)
    samples = AccuracyData(np.asarray(dataset.x_test[:count]), np.asarray(dataset.y_test[:count]), "the test split")
    raw = samples.raw_inputs(report, path.name)
    try:
        run = run_tflm(data, path.name, raw)
    except TflmError as exc:  # not installed, or a refusal the costing did not meet: say so, keep the student
        return {"device": profile.name, "not_measured_because": str(exc)}
    runtime = f"TensorFlow Lite Micro {version()} (reference kernels, run on the host)"
    accuracy = compare_outputs(run.outputs, host_outputs(data, raw), samples.y, report.outputs[0], runtime)
    return {
        "fit": fit_report(report, run.arena, profile),
        "accuracy": {**accuracy.as_dict(), "source": f"the .tflite through {runtime} on the test split"},
    }
