"""``run``, ``demo`` and ``distill``: the trained runs, into a staging folder that becomes ``out``, resumable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgekd.api.store import default_run_folder, opened_store, record_document, say_on_stderr
from edgekd.config import PipelineConfig, demo_config, load_config
from edgekd.errors import ConfigError
from edgekd.progress import SILENT, Reporter
from edgekd.validation import validate


def run_config(config: PipelineConfig, out: Path | str | None = None, *, kind: str = "run", **options):
    """Every stage of ``config`` into ``out`` (created atomically, resumable): the engine of ``run`` and ``demo``.

    ``options``: ``force``, ``fresh``, ``db``, ``record``, ``reporter``, ``say`` (see ``_trained_run``).
    """
    from edgekd.pipeline import run_pipeline
    from edgekd.results.html import write_report

    def stages(staging: Path, reporter: Reporter, checkpoints):
        run = run_pipeline(config, staging, reporter, kind=kind, checkpoints=checkpoints)
        write_report(run.to_document(), staging / "report.html", staging)
        return run

    return _trained_run(config, out, kind, stages, **options)


def distill_config(config: PipelineConfig, out: Path | str | None = None, quantize: bool = True, **options):
    """The training stages of ``config`` (what ``edgekd distill`` runs), and unless ``quantize`` is False the
    shipped student as student_int8.tflite checked through LiteRT; ``options`` as ``run_config``'s."""
    from edgekd.pipeline import distill_only

    def stages(staging: Path, reporter: Reporter, checkpoints):
        return distill_only(config, staging, reporter, checkpoints, quantize)

    return _trained_run(config, out, "distill", stages, **options)


def _trained_run(
    config: PipelineConfig,
    out: Path | str | None,
    kind: str,
    stages,
    *,
    force: bool = False,
    fresh: bool = False,
    db: Path | str | None = None,
    record: bool = True,
    reporter: Reporter = SILENT,
    say=say_on_stderr,
):
    """Run ``stages`` into a staging folder that becomes ``out`` once complete, resumable from checkpoints.

    The store is opened (and its lock checked) first, the output and checkpoints next, so a
    bad ``db`` or ``out`` fails before any training; the run is recorded before the folder
    appears, and neither happens if a stage fails. ``force`` replaces an existing ``out``,
    ``fresh`` discards checkpoints of an interrupted run, ``record=False`` skips the store.
    """
    from edgekd.outputs import staged_output_folder
    from edgekd.results.store import artifact_files

    out = Path(out) if out is not None else default_run_folder(kind)
    finished = []

    def record_run() -> None:  # once the folder is in place, so the store never names a folder that is not there
        record_document(store, finished[0].to_document(), out, artifact_files(out), say)

    reads = config.input_files()
    with opened_store(db, record, say) as store:
        if store is not None:
            reads.append(store.path)  # a store inside the folder would go with it, every run in it
        with _checkpoints(out, config, fresh, force, say, kind, reads) as checkpoints:
            with staged_output_folder(out, force, kind=kind, commit=record_run, reads=reads) as staging:
                finished.append(stages(staging, reporter, checkpoints))
    return replace(finished[0], out=out)


def _checkpoints(out: Path, config: PipelineConfig, fresh: bool, force: bool, say, kind: str, reads: list[Path]):
    from edgekd.distill.checkpoints import checkpointed
    from edgekd.outputs import check_output_folder

    # The output's folder is checked first: the checkpoints live beside it.
    check_output_folder(out, force, kind, reads)
    return checkpointed(out, config.model_dump(mode="json"), fresh, say=say)


def run(config: PipelineConfig | Path | str, out: Path | str | None = None, deterministic: bool = False, **options):
    """``edgekd run CONFIG.yaml``: ``config`` is a ``PipelineConfig`` or the path of a YAML config."""
    if not isinstance(config, PipelineConfig):
        config = load_config(Path(config))
    if deterministic:
        config = config.model_copy(update={"deterministic": True})
    return run_config(config, out, **options)


def demo(quick: bool = False, out: Path | str | None = None, deterministic: bool = False, **options):
    """``edgekd demo``: the whole pipeline on MNIST-1D, generated offline (``quick``: a reduced budget)."""
    config = demo_config(quick=quick)
    if deterministic:
        config = config.model_copy(update={"deterministic": True})
    return run_config(config, out, kind="demo", **options)


def distill(
    teacher: Path | str | None = None,
    *,
    data: str = "mnist1d",
    out: Path | str | None = None,
    student: str = "auto",
    method: str = "auto",
    candidates: list[str] | None = None,
    params: dict | None = None,
    epochs: int | None = None,
    seed: int = 0,
    trust_model: bool = False,
    deterministic: bool = False,
    quantize: bool = True,
    **options,
):
    """``edgekd distill``: distil a student from ``teacher`` (a .keras file; None trains one) next to its control.

    The shipped student is also converted to student_int8.tflite and checked through LiteRT
    (``quantize=False`` skips it). Other settings of ``PipelineConfig`` go through
    ``config_overrides`` as a nested dict.
    """
    overrides = options.pop("config_overrides", {})
    document = {
        "seed": seed,
        "deterministic": deterministic,
        "data": {"spec": data},
        "teacher": {"path": str(teacher) if teacher is not None else None, "trust_model": trust_model},
        "student": {"spec": student, "epochs": epochs},
        "distill": {"method": method, "candidates": candidates, "params": params},
        "bench": {"devices": []},
    }
    for section, values in overrides.items():
        document[section] = {**document.get(section, {}), **values} if isinstance(values, dict) else values
    config = validate(PipelineConfig, document, "distill settings", ConfigError)
    return distill_config(config, out, quantize, **options)
